"""Higher-order derivatives and the two modes of autodiff, on small examples you can check by hand.

1. The n-th derivatives of tanh, each the gradient of the one before (``grad(..., create_graph=True)``):
   the graph of each order is drawn, and its op count printed, so you can watch it grow.
2. Newton's method on a non-convex 2-D function, with ``func.grad`` and ``func.hessian``.
3. The Jacobian of a tall function (few inputs, many outputs) and of a wide one (many inputs, few outputs),
   each computed with ``jacfwd`` (one forward pass per input) and ``jacrev`` (one backward pass per output),
   timed: forward mode wins on the tall one, reverse mode on the wide one.

    python demos/higher_order.py [--order 4] [--size 200] [--out out/higher_order]

Drawing needs the ``viz`` extra and Graphviz's ``dot`` (without them the pictures are skipped, with a note).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from tinygrad_w2v import Tensor, cli, func, grad
from tinygrad_w2v.tape import graph_nodes


def tanh_derivatives(order: int, x0: float) -> list[Tensor]:
    """``[tanh(x), tanh'(x), ..., tanh^(order)(x)]`` at ``x0``, each recorded so the next can differentiate it."""
    x = Tensor(np.array(x0), requires_grad=True, name="x")
    values = [x.tanh()]
    for _ in range(order):
        (d,) = grad(values[-1], x, create_graph=True)
        values.append(d)
    return values


def reference_tanh_derivatives(x0: float) -> list[float]:
    """Closed forms with t = tanh(x): t, 1 - t^2, -2t(1 - t^2), (1 - t^2)(6t^2 - 2), (1 - t^2)(-24t^3 + 16t)."""
    t = math.tanh(x0)
    s = 1 - t * t
    return [t, s, -2 * t * s, s * (6 * t * t - 2), s * (16 * t - 24 * t**3)]


def himmelblau(p: Tensor) -> Tensor:
    """``(x^2 + y - 11)^2 + (x + y^2 - 7)^2``: four minima, a maximum and four saddle points."""
    x, y = p[0], p[1]
    return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2


def newton(f, start: np.ndarray, steps: int = 30, tol: float = 1e-10) -> list[tuple[np.ndarray, float, float]]:
    """Newton's method made safe for a non-convex function: where the Hessian is not positive definite it
    is shifted (``H + mu I``) so the step points downhill, and the step is halved until ``f`` decreases.
    Returns ``(point, f, |g|)`` per iterate."""
    p = start.astype(np.float64)
    history = []
    for _ in range(steps):
        value = float(f(Tensor(p)).item())
        g = func.grad(f)(Tensor(p)).numpy()
        H = func.hessian(f)(Tensor(p)).numpy()
        history.append((p.copy(), value, float(np.linalg.norm(g))))
        if np.linalg.norm(g) < tol:
            break
        mu = max(0.0, 1e-3 - float(np.linalg.eigvalsh(H).min())) * 2
        step = np.linalg.solve(H + mu * np.eye(len(p)), g)
        while float(f(Tensor(p - step)).item()) > value and np.abs(step).max() > 1e-12:
            step = step / 2
        p = p - step
    return history


def timed(fn, repeats: int = 3) -> tuple[float, Tensor]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--order", type=cli.integer(1, 4), default=4, help="highest derivative of tanh (1-4)")
    parser.add_argument("--size", type=cli.integer(10, 2000), default=200,
                        help="the long side of the tall and wide Jacobians")
    parser.add_argument("--out", type=cli.writable_dir, default=Path("out/higher_order"), help="output directory")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    print("1. derivatives of tanh at x = 0.5, each the gradient of the one before")
    values = tanh_derivatives(args.order, 0.5)
    reference = reference_tanh_derivatives(0.5)
    for n, value in enumerate(values):
        ops = len(graph_nodes(value))
        print(f"   order {n}: {value.item():+.10f} (closed form {reference[n]:+.10f}), graph of {ops} ops")
    try:
        from tinygrad_w2v.viz import draw_graph

        for n, value in enumerate(values):
            path = draw_graph(value).render(args.out / f"tanh_order_{n}", format="svg", cleanup=True)
            print(f"   wrote {Path(path).resolve()}")
    except Exception as e:  # no graphviz package or no `dot`: the numbers above are the point
        print(f"   pictures skipped: {e}")

    print("2. Newton's method on Himmelblau's function (non-convex), from (-0.3, -0.9)")
    for k, (p, value, gnorm) in enumerate(newton(himmelblau, np.array([-0.3, -0.9]))):
        print(f"   step {k}: (x, y) = ({p[0]:+.6f}, {p[1]:+.6f})  f = {value:.3e}  |grad| = {gnorm:.1e}")

    print("3. Jacobians: forward mode (jacfwd) against reverse mode (jacrev)")
    rng = np.random.default_rng(0)
    n = args.size
    A = Tensor(rng.standard_normal((n, 3)) / 3)
    shapes = {f"tall (3 -> {n})": (lambda x: (A @ x).tanh(), rng.standard_normal(3)),
              f"wide ({n} -> 3)": (lambda x: (x @ A).tanh(), rng.standard_normal(n))}
    for label, (f, x0) in shapes.items():
        t_fwd, J_fwd = timed(lambda f=f, x0=x0: func.jacfwd(f)(Tensor(x0)))
        t_rev, J_rev = timed(lambda f=f, x0=x0: func.jacrev(f)(Tensor(x0)))
        agree = np.abs(J_fwd.numpy() - J_rev.numpy()).max()
        winner = "forward" if t_fwd < t_rev else "reverse"
        print(f"   {label}: Jacobian {J_fwd.shape}, jacfwd {t_fwd * 1e3:.1f} ms, jacrev {t_rev * 1e3:.1f} ms "
              f"-> {winner} mode wins (max difference {agree:.1e})")


if __name__ == "__main__":
    cli.run(main)
