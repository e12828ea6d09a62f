"""Numerical differentiation and gradient checking, for the test suite and for users adding ops.

``gradcheck(fn, *inputs)`` compares the gradient that the tape computes for every input that requires
grad with central finite differences in float64::

    (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)   for the scalar  f(x) = sum(fn(x) * u)

where ``u`` is a fixed random upstream gradient, so the whole vector-Jacobian product is checked, not
only its sum. Hypothesis strategies for shapes, arrays and index arrays are in
``tinygrad_w2v.testing.strategies`` (needs the ``dev`` extra).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..sparse import RowSparse
from ..tensor import Tensor


def numerical_grad(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar function ``f()`` with respect to the array ``x`` (changed in place
    and restored): an array of ``x``'s shape."""
    grad = np.zeros(x.shape, dtype=np.float64)
    flat = x.reshape(-1)
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def dense(g: Any) -> np.ndarray:
    """A gradient (backend array or ``RowSparse``, on any device) as a float64 NumPy array."""
    if isinstance(g, RowSparse):
        g = g.to_dense()
    return np.asarray(Tensor._wrap(g).numpy(), dtype=np.float64)


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    upstream: Any = None,
    seed: int = 0,
) -> bool:
    """Check ``fn``'s autograd gradients against central finite differences; True or AssertionError.

    ``inputs`` are tensors (or arrays); the floating-point ones that require grad are checked, after a
    copy to float64. ``upstream`` is the gradient fed to ``fn``'s output (random, from ``seed``, if
    None). The error names the op that produced the output, the input, the worst element, both values
    and the tolerance ``|auto - num| <= atol + rtol * |num|``.
    """
    args = []
    for x in inputs:
        if isinstance(x, Tensor) and x.requires_grad:
            args.append(Tensor(x.numpy().astype(np.float64), requires_grad=True, name=x.name))
        else:
            args.append(x)
    out = fn(*args)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    op = out.grad_fn.op if out.grad_fn is not None else getattr(fn, "__name__", "fn")
    if upstream is None:
        upstream = np.random.default_rng(seed).standard_normal(out.shape)
    u = np.asarray(upstream, dtype=np.float64)
    if u.shape != out.shape:
        raise ValueError(f"gradcheck: upstream has shape {u.shape} but {op} returned shape {out.shape}")
    checked = [t for t in args if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    if out.requires_grad:
        out.backward(Tensor._wrap(u.astype(out.dtype)), retain_graph=False)

    def scalar() -> float:
        return float(np.sum(np.asarray(fn(*args).numpy(), dtype=np.float64) * u))

    for k, t in enumerate(checked):
        auto = dense(t.grad) if t.grad is not None else np.zeros(t.shape)
        num = numerical_grad(scalar, t._data, eps)
        if auto.shape != num.shape:
            raise AssertionError(
                f"gradcheck: {op} gave a gradient of shape {auto.shape} for input {k} of shape {num.shape}"
            )
        err = np.abs(auto - num) - (atol + rtol * np.abs(num))
        if err.size and (err.max() > 0 or not np.all(np.isfinite(auto))):
            worst = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(err), err, np.inf))), err.shape)
            where = tuple(int(i) for i in worst)
            raise AssertionError(
                f"gradcheck failed for op '{op}', input {k} of shape {t.shape}: at index {where} "
                f"autograd gives {auto[worst]!r} but finite differences give {num[worst]!r} "
                f"(tolerance atol={atol} + rtol={rtol} * |numerical|, eps={eps})"
            )
    return True


def assert_grad_matches(fn: Callable[..., Tensor], *arrays: Any, upstream: Any = None, **tolerances: Any) -> None:
    """One call for property tests: wrap float arrays as float64 tensors that require grad (other arrays
    pass through as they are, e.g. index arrays), then ``gradcheck``."""
    inputs = [
        Tensor(np.asarray(a, dtype=np.float64), requires_grad=True)
        if isinstance(a, np.ndarray) and a.dtype.kind == "f"
        else a
        for a in arrays
    ]
    gradcheck(fn, *inputs, upstream=upstream, **tolerances)
