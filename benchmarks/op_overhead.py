"""Per-op overhead of the engine: a chain of N ``tanh(x * a + b)`` on a 16-element float64 vector, in three
modes, each beside PyTorch (CPU, 1 thread) in the same process when it is installed:

- first order: forward + ``backward()`` (the number the trainers feel);
- second order: forward, ``grad(..., create_graph=True)`` with respect to ``a``, then the gradient of its
  sum (a Hessian-vector product), beside ``torch.autograd.grad(create_graph=True)``;
- forward mode: ``func.jvp`` of the chain in ``x``, beside ``torch.func.jvp``.

Each link is 3 ops (mul, add, tanh); we report microseconds per op of the chain, best of several
interleaved runs.

    python benchmarks/op_overhead.py [--links 1000] [--repeats 7]
"""

from __future__ import annotations

# isort: off
from _common import best_of, import_torch  # first: one thread before NumPy loads

import numpy as np

from tinygrad_w2v import Tensor, cli, func, grad

# isort: on

OPS_PER_LINK = 3


def _inputs():
    rng = np.random.default_rng(0)
    return tuple(rng.standard_normal(16) * 0.5 for _ in range(3))


def ours(links: int) -> dict:
    x0, a0, b0 = _inputs()

    def chain(x, a, b):
        for _ in range(links):
            x = (x * a + b).tanh()
        return x

    def first():
        a, b, x = (Tensor(v, requires_grad=True) for v in (a0, b0, x0))
        chain(x, a, b).sum().backward()
        return a.grad

    def second():
        a, b, x = (Tensor(v, requires_grad=True) for v in (a0, b0, x0))
        (g,) = grad(chain(x, a, b).sum(), a, create_graph=True)
        return grad(g.sum(), a)

    def forward():
        a, b = Tensor(a0), Tensor(b0)
        return func.jvp(lambda x: chain(x, a, b), (Tensor(x0),), (Tensor(np.ones(16)),))

    return {"first order": first, "second order": second, "forward mode": forward}


def theirs(torch, links: int) -> dict:
    x0, a0, b0 = (torch.from_numpy(v) for v in _inputs())

    def chain(x, a, b):
        for _ in range(links):
            x = torch.tanh(x * a + b)
        return x

    def first():
        a, b, x = (v.clone().requires_grad_() for v in (a0, b0, x0))
        chain(x, a, b).sum().backward()
        return a.grad

    def second():
        a, b, x = (v.clone().requires_grad_() for v in (a0, b0, x0))
        (g,) = torch.autograd.grad(chain(x, a, b).sum(), a, create_graph=True)
        return torch.autograd.grad(g.sum(), a)

    def forward():
        return torch.func.jvp(lambda x: chain(x, a0, b0), (x0,), (torch.ones(16, dtype=x0.dtype),))

    return {"first order": first, "second order": second, "forward mode": forward}


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=cli.integer(1), default=1000)
    parser.add_argument("--repeats", type=cli.integer(1), default=7)
    args = parser.parse_args()
    torch = import_torch()
    runners = {"tinygrad_w2v": ours(args.links)}
    if torch is not None:
        runners["pytorch"] = theirs(torch, args.links)
    ops = args.links * OPS_PER_LINK
    best = {(who, mode): float("inf") for who, modes in runners.items() for mode in modes}
    for _ in range(args.repeats):  # interleaved, so both see the same machine noise
        for who, modes in runners.items():
            for mode, run in modes.items():
                best[who, mode] = min(best[who, mode], best_of(run, 1))
    print(f"chain of {args.links} x tanh(x*a+b) = {ops} ops, 16-element float64, best of {args.repeats}")
    per_op = {key: seconds / ops * 1e6 for key, seconds in best.items()}
    for mode in runners["tinygrad_w2v"]:
        line = f"{mode:>13}: tinygrad_w2v {per_op['tinygrad_w2v', mode]:6.2f} us/op"
        if torch is not None:
            ratio = per_op["tinygrad_w2v", mode] / per_op["pytorch", mode]
            line += f"   pytorch {per_op['pytorch', mode]:6.2f} us/op   ratio {ratio:.2f}"
        print(line)
    ratio = per_op["tinygrad_w2v", "forward mode"] / per_op["tinygrad_w2v", "first order"]
    print(f"forward mode / our first-order reverse mode, per op: {ratio:.2f}")


if __name__ == "__main__":
    cli.run(main)
