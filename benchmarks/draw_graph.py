"""How long Graphviz's ``dot`` takes to lay out ``draw_graph``'s pictures of one BPTT window of an LSTM
language model (1 layer, 35 steps: 616 ops), drawn collapsed (the default above 200 ops) and in full,
next to the same graph drawn the old way (a box per tensor, no scopes, an edge straight from each shared
weight to every step), which is what used to freeze a notebook.

    python benchmarks/draw_graph.py [--steps 35] [--repeats 3] [--old-timeout 120]
"""

from __future__ import annotations

# isort: off
from _common import best_of  # first: one thread before NumPy loads
import argparse
import subprocess
import time

import numpy as np

from tinygrad_w2v.models.rnnlm import RNNLM, lm_loss
from tinygrad_w2v.tape import graph_nodes
from tinygrad_w2v.viz import draw_graph, track_grad_norms

# isort: on


def old_style_source(root) -> str:
    """The graph as the first ``draw_graph`` drew it: every tensor a box, every op an ellipse, no frames."""
    lines, seen = ["digraph {", "rankdir=LR"], set()
    for node in graph_nodes(root):
        lines.append(f'op{id(node)} [label="{node.op}" shape=ellipse]')
        lines.append(f'op{id(node)} -> t{id(node)}')
        lines.append(f't{id(node)} [label="{tuple(node.out_shape)}" shape=box]')
        for t in node.inputs:
            src = f"t{id(t.grad_fn)}" if t.grad_fn is not None else f"t{id(t)}"
            if t.grad_fn is None and id(t) not in seen:
                seen.add(id(t))
                lines.append(f'{src} [label="{tuple(t.shape)}" shape=box]')
            lines.append(f"{src} -> op{id(node)}")
    return "\n".join(lines + ["}"])


def dot_seconds(source: str, timeout: float) -> float:
    start = time.perf_counter()
    subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, text=True, timeout=timeout, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=35)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--old-timeout", type=float, default=120.0)
    args = parser.parse_args()
    model = RNNLM(50, 8, 8, cell="lstm", seed=0)
    x = np.random.default_rng(0).integers(0, 50, (2, args.steps))
    log_probs, _ = model(x)
    loss = lm_loss(log_probs, np.roll(x, -1, axis=1))
    n_ops = len(graph_nodes(loss))
    old = old_style_source(loss)
    with track_grad_norms():
        loss.backward()
    print(f"LSTM language model, {args.steps} steps: {n_ops} ops; dot -Tsvg, best of {args.repeats}")
    for label, collapse in (("collapsed (default)", True), ("in full", False)):
        source = draw_graph(loss, show_grads=True, collapse=collapse, max_ops=n_ops).source
        print(f"  {label:>20}: {best_of(lambda s=source: dot_seconds(s, 600), args.repeats):6.2f} s")
    try:
        print(f"  {'old style':>20}: {dot_seconds(old, args.old_timeout):6.2f} s")
    except subprocess.TimeoutExpired:
        print(f"  {'old style':>20}: not finished after {args.old_timeout:.0f} s")


if __name__ == "__main__":
    main()
