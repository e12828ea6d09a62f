"""Numerical differentiation and gradient checking, for the test suite and for users adding ops.

``gradcheck(fn, *inputs)`` compares the gradient that the tape computes for every input that requires
grad with central finite differences in float64::

    (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)   for the scalar  f(x) = sum(fn(x) * u)

where ``u`` is a fixed random upstream gradient, so the whole vector-Jacobian product is checked, not
only its sum. ``gradgradcheck`` checks second derivatives the same way, as the gradient of
``x -> <grad(sum(fn(x) * u)), w>`` for a random ``w`` (the first derivative recorded with
``create_graph``). ``jvpcheck`` checks forward mode: the tangent ``J v`` that ``func.jvp`` carries through
the forward pass against central differences along ``v``, and against reverse mode by the adjoint
identity ``<u, J v> = <J^T u, v>``. ``assert_grad_matches`` runs all three. Hypothesis strategies for
shapes, arrays and index arrays are in ``tinygrad_w2v.testing.strategies`` (needs the ``dev`` extra).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd import grad
from ..func import jvp, partial_over
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
        if err.size and not np.all(err <= 0):  # NaN anywhere (in either gradient) fails too
            worst = np.unravel_index(int(np.argmax(np.where(np.isnan(err), np.inf, err))), err.shape)
            where = tuple(int(i) for i in worst)
            raise AssertionError(
                f"gradcheck failed for op '{op}', input {k} of shape {t.shape}: at index {where} "
                f"autograd gives {auto[worst]!r} but finite differences give {num[worst]!r} "
                f"(tolerance atol={atol} + rtol={rtol} * |numerical|, eps={eps})"
            )
    return True


def _float64_args(inputs: tuple[Any, ...]) -> tuple[list[Any], list[Tensor]]:
    """Float64 copies of the inputs that require grad (the ones checked), the others as they are."""
    args = []
    for x in inputs:
        if isinstance(x, Tensor) and x.requires_grad:
            args.append(Tensor(x.numpy().astype(np.float64), requires_grad=True, name=x.name))
        else:
            args.append(x)
    checked = [t for t in args if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("no input requires grad")
    return args, checked


def gradgradcheck(
    fn: Callable[..., Tensor],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int = 0,
) -> bool:
    """Check second derivatives: the gradient (recorded with ``create_graph``) of the first derivative
    ``x -> <grad(sum(fn(x) * u), x), w>``, against central differences of that first derivative, for
    random ``u`` and ``w``, in float64. True, or an AssertionError naming the op."""
    args, checked = _float64_args(inputs)
    rng = np.random.default_rng(seed + 1)
    out = fn(*args)
    u = Tensor(rng.standard_normal(out.shape))
    w = [Tensor(rng.standard_normal(t.shape)) for t in checked]

    def first_derivative(*xs: Any) -> Tensor:
        y = fn(*xs)
        wrt = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
        if not y.requires_grad:
            return Tensor(0.0, dtype=np.float64)
        grads = grad(y, wrt, u, create_graph=True, allow_unused=True)
        terms = [(g * wk).sum() for g, wk in zip(grads, w) if g is not None]
        return sum(terms[1:], terms[0]) if terms else Tensor(0.0, dtype=np.float64)

    first_derivative.__name__ = f"first derivative of {_op_name(fn, out)}"
    return gradcheck(first_derivative, *args, eps=eps, atol=atol, rtol=rtol, upstream=np.ones(()))


def jvpcheck(
    fn: Callable[..., Tensor],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int = 0,
) -> bool:
    """Check forward mode: ``func.jvp``'s tangent ``J v`` for a random ``v`` against central differences
    ``(fn(x + eps v) - fn(x - eps v)) / (2 eps)``, and against reverse mode by ``<u, J v> = <J^T u, v>``.
    True, or an AssertionError naming the op."""

    args, checked = _float64_args(inputs)
    rng = np.random.default_rng(seed + 2)
    v = [rng.standard_normal(t.shape) for t in checked]
    at = partial_over(fn, args, [k for k, a in enumerate(args) if any(a is t for t in checked)])
    xs = [Tensor(t._data, requires_grad=True) for t in checked]
    y = at(*xs)  # reverse mode, for the adjoint identity (and the op's name)
    op = _op_name(fn, y)
    out, tangent = jvp(at, [Tensor(t._data) for t in checked], [Tensor(vk) for vk in v])
    forward = dense(tangent._data)

    def shifted(sign: float) -> np.ndarray:
        return np.asarray(at(*[Tensor(t._data + sign * eps * vk) for t, vk in zip(checked, v)]).numpy(), np.float64)

    numerical = (shifted(1) - shifted(-1)) / (2 * eps)
    _compare(f"jvp of op '{op}'", "forward mode", forward, numerical, atol, rtol)
    u = rng.standard_normal(out.shape)
    if y.requires_grad:
        grads = grad(y, xs, Tensor(u), allow_unused=True)
        reverse = sum(float(np.sum(dense(g._data) * vk)) for g, vk in zip(grads, v) if g is not None)
    else:
        reverse = 0.0
    _compare(f"op '{op}': <u, J v> = <J^T u, v>", "forward", np.float64(np.sum(u * forward)),
             np.float64(reverse), atol, rtol)
    return True


def _compare(what: str, name: str, got: np.ndarray, expected: np.ndarray, atol: float, rtol: float) -> None:
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    if got.shape != expected.shape:
        raise AssertionError(f"{what}: {name} gives shape {got.shape}, the reference {expected.shape}")
    err = np.abs(got - expected) - (atol + rtol * np.abs(expected))
    bad = ~np.isfinite(got) | ~np.isfinite(expected) | (err > 0)
    if np.any(bad):
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(
            f"{what} failed at index {where}: {name} gives {got[where]!r}, the reference {expected[where]!r} "
            f"(tolerance atol={atol} + rtol={rtol} * |reference|)"
        )


def _op_name(fn: Callable[..., Any], out: Tensor) -> str:
    return out.grad_fn.op if out.grad_fn is not None else getattr(fn, "__name__", "fn")


MODES = ("reverse", "forward", "second")


def assert_grad_matches(
    fn: Callable[..., Tensor], *arrays: Any, upstream: Any = None, modes: tuple[str, ...] = MODES, **tolerances: Any
) -> None:
    """One call for property tests: wrap float arrays as float64 tensors that require grad (other arrays
    pass through as they are, e.g. index arrays), then check the op in every mode of ``modes``:
    ``reverse`` (``gradcheck``), ``forward`` (``jvpcheck``) and ``second`` (``gradgradcheck``)."""
    unknown = set(modes) - set(MODES)
    if unknown:
        raise ValueError(f"assert_grad_matches: unknown modes {sorted(unknown)}; choose from {MODES}")
    inputs = [
        Tensor(np.asarray(a, dtype=np.float64), requires_grad=True)
        if isinstance(a, np.ndarray) and a.dtype.kind == "f"
        else a
        for a in arrays
    ]
    if "reverse" in modes:
        gradcheck(fn, *inputs, upstream=upstream, **tolerances)
    if "forward" in modes:
        jvpcheck(fn, *inputs, **tolerances)
    if "second" in modes:
        gradgradcheck(fn, *inputs, **tolerances)
