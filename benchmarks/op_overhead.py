"""Per-op overhead of the engine: a chain of N ``tanh(x * a + b)`` on a 16-element float64 vector.

Each link is 3 ops (mul, add, tanh); we time forward + backward of the whole chain and report
microseconds per op, best of several interleaved runs, next to PyTorch (CPU, 1 thread) in the same
process when it is installed.

    python benchmarks/op_overhead.py [--links 1000] [--repeats 7]
"""

from __future__ import annotations

# isort: off
from _common import best_of, import_torch  # first: one thread before NumPy loads

import numpy as np

from tinygrad_w2v import Tensor, cli

# isort: on

OPS_PER_LINK = 3


def chain_ours(links: int):
    rng = np.random.default_rng(0)
    x0, a0, b0 = (rng.standard_normal(16) * 0.5 for _ in range(3))

    def run():
        a = Tensor(a0, requires_grad=True)
        b = Tensor(b0, requires_grad=True)
        x = Tensor(x0, requires_grad=True)
        for _ in range(links):
            x = (x * a + b).tanh()
        x.sum().backward()
        return a.grad

    return run


def chain_torch(torch, links: int):
    rng = np.random.default_rng(0)
    x0, a0, b0 = (torch.from_numpy(rng.standard_normal(16) * 0.5) for _ in range(3))

    def run():
        a = a0.clone().requires_grad_()
        b = b0.clone().requires_grad_()
        x = x0.clone().requires_grad_()
        for _ in range(links):
            x = torch.tanh(x * a + b)
        x.sum().backward()
        return a.grad

    return run


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=cli.integer(1), default=1000)
    parser.add_argument("--repeats", type=cli.integer(1), default=7)
    args = parser.parse_args()
    torch = import_torch()
    runners = {"tinygrad_w2v": chain_ours(args.links)}
    if torch is not None:
        runners["pytorch"] = chain_torch(torch, args.links)
    ops = args.links * OPS_PER_LINK
    best = {name: float("inf") for name in runners}
    for _ in range(args.repeats):  # interleaved, so both see the same machine noise
        for name, run in runners.items():
            best[name] = min(best[name], best_of(run, 1))
    print(f"chain of {args.links} x tanh(x*a+b) = {ops} ops, 16-element float64, forward+backward, "
          f"best of {args.repeats}")
    for name, seconds in best.items():
        print(f"{name:>14}: {seconds / ops * 1e6:6.2f} us/op")
    if "pytorch" in best:
        print(f"ratio tinygrad_w2v / pytorch time per op: {best['tinygrad_w2v'] / best['pytorch']:.2f}")


if __name__ == "__main__":
    cli.run(main)
