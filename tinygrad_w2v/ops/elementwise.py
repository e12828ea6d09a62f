"""Elementwise ops with NumPy broadcasting. Each op's VJP and JVP rules sit under its forward; the replay
sums a broadcast gradient back to its input's shape, and forward mode broadcasts a tangent to the output's."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor
from .base import (
    add_tangents,
    broadcast_error,
    either,
    floating,
    lift,
    pointwise,
    reading_out,
    result,
    same_device,
)


def _operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Lift a Python number or array operand to a constant tensor like the other operand. As in PyTorch,
    an integer or boolean tensor combined with a Python float computes in float32."""
    if isinstance(a, Tensor):
        a, b = _float32_if_int(a, b), lift(b, a)
    else:
        a, b = lift(a, b), _float32_if_int(b, a)
    return a, b


def _float32_if_int(t: Tensor, number: Any) -> Tensor:
    if isinstance(number, float) and t._data.dtype.kind in "iub":
        return Tensor._wrap(t._data.astype(np.float32))
    return t


def _failed(op: str, a: Tensor, b: Tensor) -> Exception:
    """Explain why ``a op b`` could not be computed: devices first, then broadcasting."""
    same_device(op, a, b)
    return broadcast_error(op, a.shape, b.shape)


def add(a: Any, b: Any) -> Tensor:
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        a, b = _operands(a, b)
    try:
        out = a._data + b._data
    except (ValueError, TypeError) as e:
        raise _failed("add", a, b) from e
    return result("add", out, (a, b), _add_vjp, _add_jvp)


def _add_vjp(g, out, a, b):
    return g, g


def _add_jvp(ts, out, a, b):
    return add_tangents(*ts)


def sub(a: Any, b: Any) -> Tensor:
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        a, b = _operands(a, b)
    try:
        out = a._data - b._data
    except (ValueError, TypeError) as e:
        raise _failed("sub", a, b) from e
    return result("sub", out, (a, b), _sub_vjp if b.requires_grad else _sub_vjp_a, _sub_jvp)


# The rules of sub, mul and div come in variants by which inputs need a gradient, chosen at the forward:
# plain functions rather than a closure per op (the allocation shows in the per-op time).
def _sub_vjp(g, out, a, b):
    return g, -g


def _sub_vjp_a(g, out, a, b):
    return g, None


def _sub_jvp(ts, out, a, b):
    ta, tb = ts
    return add_tangents(ta, None if tb is None else -tb)


def mul(a: Any, b: Any) -> Tensor:
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        a, b = _operands(a, b)
    try:
        out = a._data * b._data
    except (ValueError, TypeError) as e:
        raise _failed("mul", a, b) from e
    vjp = (_mul_vjp if b.requires_grad else _mul_vjp_a) if a.requires_grad else _mul_vjp_b
    return result("mul", out, (a, b), vjp, _mul_jvp)


def _mul_vjp(g, out, a, b):
    return g * b, g * a


def _mul_vjp_a(g, out, a, b):
    return g * b, None


def _mul_vjp_b(g, out, a, b):
    return None, g * a


def _mul_jvp(ts, out, a, b):
    ta, tb = ts
    return add_tangents(None if ta is None else ta * b, None if tb is None else a * tb)


def div(a: Any, b: Any) -> Tensor:
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        a, b = _operands(a, b)
    A, B = a._data, b._data
    if A.dtype.kind != "f" and B.dtype.kind != "f":  # integer true division gives float32, as in PyTorch
        A, B = floating(A), floating(B)
    try:
        out = A / B
    except (ValueError, TypeError) as e:
        raise _failed("div", a, b) from e
    return result("div", out, (a, b), _div_vjp if b.requires_grad else _div_vjp_a, _div_jvp)


@reading_out
def _div_vjp(g, out, a, b):
    ga = g / b
    return ga, -ga * out  # d(a/b)/db = -a/b^2 = -(a/b)/b


def _div_vjp_a(g, out, a, b):
    return g / b, None


def _div_jvp(ts, out, a, b):
    ta, tb = ts  # (ta - out tb) / b
    return add_tangents(ta, None if tb is None else -(out * tb)) / b


def neg(a: Tensor) -> Tensor:
    return result("neg", -a._data, (a,), lambda g, out, a: (-g,), lambda ts, out, a: -ts[0])


def pow(a: Tensor, exponent: float) -> Tensor:
    """``a ** exponent`` for a Python-number exponent; d/da = ``exponent * a ** (exponent - 1)`` (0 for
    ``exponent == 0``, also at ``a == 0``, as in PyTorch)."""
    if isinstance(exponent, Tensor) or not isinstance(exponent, (int, float)):
        raise TypeError(f"pow: the exponent must be a Python number, got {type(exponent).__name__}")
    p = exponent

    def slope(out, a):  # d(a^p)/da
        return p * a ** (p - 1) if p != 0 else a * 0

    out = floating(a._data) ** p if isinstance(p, float) else a._data**p  # int ** float: float32, as in PyTorch
    return result("pow", out, (a,), *pointwise(slope))


def rpow(a: Tensor, base: Any) -> Tensor:
    """``base ** a`` for a Python-number or array ``base`` (``Tensor.__rpow__``); d/da = ``base ** a * log(base)``."""
    b = lift(base, a)
    xp = backend.xp_of(a._data)
    try:
        out = b._data**a._data
    except (ValueError, TypeError) as e:
        raise _failed("rpow", b, a) from e
    with backend.quiet_floats(xp):  # base 0 with exponent >= 0: gradient 0 as in PyTorch, not 0 * log 0
        log_base = xp.where((b._data == 0) & (a._data >= 0), 0, xp.log(b._data))
    return result("rpow", out, (b, a), reading_out(lambda g, out, b, a: (None, g * out * log_base)),
                  lambda ts, out, b, a: ts[1] * out * log_base)


def exp(a: Tensor) -> Tensor:
    out = backend.xp_of(a._data).exp(a._data)
    return result("exp", out, (a,), *_EXP)


_EXP = pointwise(lambda out, a: out, reads_out=True)  # d exp(a) = exp(a)


def log(a: Tensor) -> Tensor:
    """Natural log; ``log(0)`` is ``-inf`` and its gradient ``inf``, as in NumPy and PyTorch (no warning)."""
    xp = backend.xp_of(a._data)
    with backend.quiet_floats(xp):
        out = xp.log(a._data)
    return result("log", out, (a,), _log_vjp, _log_jvp)


# d log(a) = 1 / a, applied as a division (not through pointwise's product with 1 / a, which overflows
# for the smallest float32 inputs where g / a does not)
def _log_vjp(g, out, a):
    with np.errstate(divide="ignore", invalid="ignore"):
        return (g / a,)


def _log_jvp(ts, out, a):
    with np.errstate(divide="ignore", invalid="ignore"):
        return ts[0] / a


def tanh(a: Tensor) -> Tensor:
    out = backend.xp_of(a._data).tanh(a._data)
    return result("tanh", out, (a,), *_TANH)


_TANH = pointwise(lambda out, a: 1 - out * out, reads_out=True)  # d tanh(a) = 1 - tanh(a)^2


def relu(a: Tensor) -> Tensor:
    """``max(a, 0)``; NaN stays NaN. The derivative is 0 where ``a <= 0`` (also at ``-inf``: no NaN), else 1
    (also at NaN), as in PyTorch."""
    mask = ~(a._data <= 0)
    out = backend.xp_of(a._data).maximum(a._data, 0)
    return result("relu", out, (a,), *pointwise(lambda out, a: mask))


def abs(a: Tensor) -> Tensor:
    """``|a|``; the derivative is ``sign(a)``, 0 at 0 (PyTorch's)."""
    xp = backend.xp_of(a._data)
    sign = xp.sign(a._data)
    return result("abs", xp.abs(a._data), (a,), *pointwise(lambda out, a: sign))


def sqrt(a: Tensor) -> Tensor:
    """``a ** 0.5`` (float32 for an integer tensor); the derivative ``1 / (2 sqrt(a))`` is inf at 0, as in PyTorch."""
    xp = backend.xp_of(a._data)
    with backend.quiet_floats(xp):
        out = xp.sqrt(floating(a._data))
    return result("sqrt", out, (a,), *_SQRT)


_SQRT = pointwise(lambda out, a: 0.5 / out, quiet=True, reads_out=True)  # d sqrt(a) = 1 / (2 sqrt(a))


def clamp(a: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """Each element limited to ``[min, max]`` (either bound may be None; ``min > max`` gives ``max``
    everywhere), as ``torch.clamp``. The derivative is 1 where ``min <= a <= max`` (bounds included), 0
    elsewhere and at NaN. Bounds are Python numbers."""
    for name, bound in (("min", min), ("max", max)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))):
            raise TypeError(f"clamp: {name} must be a Python number or None, got {type(bound).__name__}")
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    xp = backend.xp_of(a._data)
    x = floating(a._data) if isinstance(min, float) or isinstance(max, float) else a._data
    out, inside = x, None
    if min is not None:
        out, inside = xp.maximum(out, min), x >= min
    if max is not None:
        out, inside = xp.minimum(out, max), (x <= max) if inside is None else inside & (x <= max)
    return result("clamp", out, (a,), *pointwise(lambda out, a: inside))


clip = clamp  # PyTorch's alias (``torch.clip``)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` holds, else ``b`` (broadcast together); no gradient flows to ``cond``. Two Python
    numbers take PyTorch's dtypes: ``where(cond, 1.0, 0.0)`` is float32, ``where(cond, 1, 0)`` int64."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = Tensor(a, device=cond.device if isinstance(cond, Tensor) else None)
    a, b = _operands(a, b)
    c = cond._data if isinstance(cond, Tensor) else backend.xp_of(a._data).asarray(cond)
    xp = backend.xp_of(a._data)
    if c.dtype != bool:
        raise TypeError(f"where: the condition must be boolean, got dtype {c.dtype} with shape {c.shape}")
    try:
        out = xp.where(c, a._data, b._data)
    except (ValueError, TypeError) as e:
        raise broadcast_error("where", c.shape, a.shape, b.shape) from e
    need_a, need_b = a.requires_grad, b.requires_grad

    def vjp(g, out, a, b):
        return _select(c, g, 0) if need_a else None, _select(c, 0, g) if need_b else None

    def jvp(ts, out, a, b):
        ta, tb = ts
        return _select(c, 0 if ta is None else ta, 0 if tb is None else tb)

    return result("where", out, (a, b), vjp, jvp)


def _select_arrays(c: Any, a: Any, b: Any) -> Any:
    xp = backend.xp_of(c)
    dtype = next(v.dtype for v in (a, b) if hasattr(v, "dtype"))
    return xp.where(c, a, b).astype(dtype, copy=False)


_select = either(lambda c, a, b: where(c, a, b), _select_arrays)


_COMPARE = {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal", "eq": "equal", "ne": "not_equal"}


def compare(kind: str, a: Any, b: Any) -> Tensor:
    """Elementwise comparison; a boolean tensor that never requires grad."""
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        a, b = _operands(a, b)
    try:
        return Tensor._wrap(getattr(backend.xp_of(a._data), _COMPARE[kind])(a._data, b._data))
    except (ValueError, TypeError) as e:
        raise _failed(kind, a, b) from e


def to_device(a: Tensor, device: str) -> Tensor:
    """A copy of ``a`` on ``device``; the gradient travels back to ``a``'s device."""
    src = a.device
    return result("to", backend.to_device(a._data, device), (a,), lambda g, out, a: (_move(g, src),),
                  lambda ts, out, a: _move(ts[0], device))


_move = either(to_device, backend.to_device)


def cast(a: Tensor, dtype: Any) -> Tensor:
    """``a`` as ``dtype`` (``Tensor.to(dtype)``); a floating result is differentiable, and the replay casts
    the gradient back to ``a``'s dtype."""
    dtype = np.dtype(dtype)
    if a._data.dtype == dtype:
        return a
    out = a._data.astype(dtype)
    if dtype.kind != "f":
        return Tensor._wrap(out)
    return result("cast", out, (a,), lambda g, out, a: (g,), lambda ts, out, a: _cast(ts[0], dtype))


_cast = either(cast, lambda x, dtype: x.astype(dtype))


def to(a: Tensor, *args: Any, device: str | None = None, dtype: Any = None) -> Tensor:
    """``Tensor.to`` as in PyTorch: ``t.to(device)``, ``t.to(dtype)``, ``t.to(device, dtype)``, ``t.to(other)``
    (``other``'s device and dtype) or keywords. ``t`` itself when nothing changes; otherwise a differentiable
    copy (``to_device``, then ``cast``)."""
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.dtype
        elif isinstance(arg, str):
            device = arg
        else:
            dtype = arg
    out = a
    if device is not None:
        device = backend.check_device(device)
        if device != a.device:
            out = to_device(out, device)
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except TypeError as e:
            raise TypeError(f"to: expected a device name, a dtype or a Tensor, got {dtype!r}") from e
        out = cast(out, dtype)
    return out
