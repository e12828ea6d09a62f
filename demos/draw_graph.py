"""Draw two computation graphs with graphviz and write them as SVG and PNG files.

1. a negative-sampling word2vec loss for one (context, target) pair and 3 noise words;
2. a vanilla RNN unrolled for 3 steps (each step a ``name_scope``) with a softmax cross-entropy at the end.

    python demos/draw_graph.py [--out out/graphs] [--show-grads]

With ``--show-grads`` the backward runs inside ``track_grad_norms()`` and every node shows the norm of
its gradient.

Needs the ``viz`` extra (the graphviz Python package) and Graphviz's ``dot`` program.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinygrad_w2v import Tensor, cli, name_scope
from tinygrad_w2v.viz import draw_graph, track_grad_norms, wengert_list


def negative_sampling_loss(rng: np.random.Generator) -> Tensor:
    """-log sigmoid(h . w_target) - sum_k log sigmoid(-h . w_noise_k), h = mean of the context vectors."""
    W_in = Tensor(rng.standard_normal((10, 4)) * 0.1, requires_grad=True, name="W_in")
    W_out = Tensor(rng.standard_normal((10, 4)) * 0.1, requires_grad=True, name="W_out")
    h = W_in.gather(np.array([1, 3])).mean(axis=0)
    h.name = "h"
    words = W_out.gather(np.array([2, 7, 5, 9]))  # target, then 3 noise words
    scores = (words * h).sum(axis=1)
    signs = np.array([1.0, -1.0, -1.0, -1.0])
    loss = -(scores * signs).log_sigmoid().sum()
    loss.name = "loss"
    return loss


def rnn_three_steps(rng: np.random.Generator) -> Tensor:
    """h_t = tanh(x_t W_x + h_{t-1} W_h + b) for t = 1..3, then -log softmax(h_3 W_o)[target]."""
    W_x = Tensor(rng.standard_normal((4, 5)) * 0.3, requires_grad=True, name="W_x")
    W_h = Tensor(rng.standard_normal((5, 5)) * 0.3, requires_grad=True, name="W_h")
    b = Tensor(np.zeros(5), requires_grad=True, name="b")
    W_o = Tensor(rng.standard_normal((5, 6)) * 0.3, requires_grad=True, name="W_o")
    h = Tensor(np.zeros((1, 5)), name="h0")
    for t in range(3):
        with name_scope(f"t={t + 1}"):
            x = Tensor(rng.standard_normal((1, 4)), name=f"x{t + 1}")
            h = (x @ W_x + h @ W_h + b).tanh()
            h.name = f"h{t + 1}"
    loss = -(h @ W_o).log_softmax(axis=-1)[0, 2]
    loss.name = "loss"
    return loss


def main() -> None:
    parser = cli.ArgumentParser(description="Draw computation graphs to SVG and PNG.")
    parser.add_argument("--out", type=cli.writable_dir, default=Path("out/graphs"), help="output directory")
    parser.add_argument("--show-grads", action="store_true", help="run backward and show gradient norms")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, build in [("negative_sampling", negative_sampling_loss), ("rnn_3_steps", rnn_three_steps)]:
        loss = build(rng)
        if args.show_grads:
            with track_grad_norms():
                loss.backward()
        print(f"{name}: {len(wengert_list(loss).splitlines())} ops")
        print(wengert_list(loss))
        graph = draw_graph(loss, show_grads=args.show_grads)
        for fmt in ("svg", "png"):
            path = Path(graph.render(args.out / name, format=fmt, cleanup=True))
            print(f"wrote {path.resolve()}")


if __name__ == "__main__":
    cli.run(main)
