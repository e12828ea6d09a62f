"""Reductions over axes: sum, mean, max, min, var, std. The gradient broadcasts back over the reduced axes;
the tangent is reduced like the value.

Each takes NumPy's ``axis``/``keepdims`` or PyTorch's ``dim``/``keepdim`` (an int, a tuple of axes, or
None for all).
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor
from .base import broadcast as _broadcast
from .base import keepdims_shape, normalize_axes, reading_out, result
from .elementwise import _cast, _select

Axis = int | tuple[int, ...] | None


def reduce_args(op: str, axis: Axis, keepdims: bool, dim: Axis, keepdim: bool | None) -> tuple[Axis, bool]:
    """Merge PyTorch's ``dim``/``keepdim`` into NumPy's ``axis``/``keepdims``; giving both spellings is an error."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{op}: got both axis={axis!r} and dim={dim!r}; give one")
        axis = dim
    if keepdim is not None:
        if keepdims:
            raise TypeError(f"{op}: got both keepdims and keepdim; give one")
        keepdims = keepdim
    return axis, keepdims


def _reduced(shape: tuple[int, ...], axes: tuple[int, ...]) -> list[int]:
    return [n for i, n in enumerate(shape) if i not in axes]


def sum(
    a: Tensor, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: bool | None = None
) -> Tensor:
    if dim is not None or keepdim is not None:
        axis, keepdims = reduce_args("sum", axis, keepdims, dim, keepdim)
    axes = normalize_axes("sum", axis, a.ndim)
    out = a._data.sum(axis=axes, keepdims=keepdims)
    kshape, shape = keepdims_shape(a.shape, axes), a.shape
    return result("sum", out, (a,), lambda g, out, a: (_broadcast(g.reshape(kshape), shape),),
                  lambda ts, out, a: ts[0].sum(axis=axes, keepdims=keepdims), _axis_attrs(axis, keepdims))


def _divide(g: Any, count: int) -> Any:
    """``g / count``; in half precision through float32 (a count above 65,504 is inf in float16, which
    would make the gradient 0), rounded once, as PyTorch does."""
    if g.dtype.itemsize >= 4:
        return g / count
    return _cast(_cast(g, np.float32) / count, g.dtype)


def mean(
    a: Tensor, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: bool | None = None
) -> Tensor:
    if dim is not None or keepdim is not None:
        axis, keepdims = reduce_args("mean", axis, keepdims, dim, keepdim)
    axes = normalize_axes("mean", axis, a.ndim)
    count = math.prod(a.shape[i] for i in axes)
    out = a._data.mean(axis=axes, keepdims=keepdims)
    kshape, shape = keepdims_shape(a.shape, axes), a.shape
    return result("mean", out, (a,), lambda g, out, a: (_broadcast(_divide(g.reshape(kshape), count), shape),),
                  lambda ts, out, a: ts[0].mean(axis=axes, keepdims=keepdims), _axis_attrs(axis, keepdims))


def _extreme(op: str, a: Tensor, axis: Axis, keepdims: bool) -> Tensor:
    """``max`` or ``min`` over ``axis``. Elements that tie for the extreme share its gradient equally; a
    slice holding NaN is NaN, and its gradient goes to its NaN elements (``torch.max()``'s rule), so one
    NaN does not make every gradient NaN."""
    axes = normalize_axes(op, axis, a.ndim)
    if a.size == 0:
        raise ValueError(f"{op}: cannot reduce a tensor of shape {a.shape} with no elements")
    data, kshape = a._data, keepdims_shape(a.shape, axes)
    top = getattr(data, op)(axis=axes, keepdims=True)
    out = top if keepdims else top.reshape(_reduced(a.shape, axes))

    def share() -> Any:  # 1/k on each of k tied extremes, 0 elsewhere: built only when a rule runs
        xp = backend.xp_of(data)
        hit = data == top
        if data.dtype.kind == "f":
            nan = xp.isnan(top)
            if nan.any():
                hit |= nan & xp.isnan(data)
        return (hit / hit.sum(axis=axes, keepdims=True)).astype(data.dtype, copy=False)

    # the rule reads the output: share() compares with top, whose memory out shares
    return result(op, out, (a,), reading_out(lambda g, out, a: (g.reshape(kshape) * share(),)),
                  lambda ts, out, a: (ts[0] * share()).sum(axis=axes, keepdims=keepdims), _axis_attrs(axis, keepdims))


def max(
    a: Tensor, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: bool | None = None
) -> Tensor:
    """Maximum over ``axis`` (``torch.amax``; PyTorch's ``max(dim)`` also returns the indices, this does not)."""
    if dim is not None or keepdim is not None:
        axis, keepdims = reduce_args("max", axis, keepdims, dim, keepdim)
    return _extreme("max", a, axis, keepdims)


def min(
    a: Tensor, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: bool | None = None
) -> Tensor:
    """Minimum over ``axis`` (``torch.amin``; PyTorch's ``min(dim)`` also returns the indices, this does not)."""
    if dim is not None or keepdim is not None:
        axis, keepdims = reduce_args("min", axis, keepdims, dim, keepdim)
    return _extreme("min", a, axis, keepdims)


def _moments(
    op: str, a: Tensor, axis: Axis, unbiased: bool | None, keepdims: bool, correction: float | None, dim: Axis,
    keepdim: bool | None,
) -> tuple[Any, Any, tuple[int, ...], tuple[int, ...], bool, Any]:
    """What var and std share: the variance (keepdims shape), ``1 / (N - correction)`` (NaN for
    ``N <= correction``, as PyTorch's result), the axes, the keepdims shape, keepdims, and ``centered(a)
    = a - mean(a)`` for arrays or Tensors. ``correction`` defaults to 1 (Bessel's); ``unbiased=False``
    is PyTorch's older spelling of ``correction=0``."""
    axis, keepdims = reduce_args(op, axis, keepdims, dim, keepdim)
    if unbiased is not None:
        if correction is not None:
            raise TypeError(f"{op}: got both unbiased and correction; give one")
        correction = 1 if unbiased else 0
    correction = 1 if correction is None else correction
    axes = normalize_axes(op, axis, a.ndim)
    divisor = math.prod(a.shape[i] for i in axes) - correction
    inverse = 1 / divisor if divisor > 0 else math.nan

    def centered(x: Any) -> Any:
        return x - x.mean(axis=axes, keepdims=True)

    x = a._data if a.dtype.kind == "f" else a._data.astype(np.float32)
    c = centered(x)
    xp = backend.xp_of(x)
    with backend.quiet_floats(xp):  # N <= correction: inf or NaN, as in PyTorch
        v = (c * c).sum(axis=axes, keepdims=True) / xp.asarray(builtins.max(divisor, 0), dtype=x.dtype)
    return v, inverse, axes, keepdims_shape(a.shape, axes), keepdims, centered


def var(
    a: Tensor, axis: Axis = None, unbiased: bool | None = None, keepdims: bool = False, *,
    correction: float | None = None, dim: Axis = None, keepdim: bool | None = None,
) -> Tensor:
    """Variance over ``axis``: ``sum((a - mean)^2) / (N - correction)``, with PyTorch's default
    ``correction=1`` (NumPy's ``var`` defaults to 0). VJP ``g * 2 (a - mean) / (N - correction)``."""
    v, inverse, axes, kshape, keepdims, centered = _moments("var", a, axis, unbiased, keepdims, correction, dim,
                                                            keepdim)
    out = v if keepdims else v.reshape(_reduced(a.shape, axes))
    return result("var", out, (a,), lambda g, out, a: (g.reshape(kshape) * centered(a) * (2 * inverse),),
                  lambda ts, out, a: (ts[0] * centered(a)).sum(axis=axes, keepdims=keepdims) * (2 * inverse))


def std(
    a: Tensor, axis: Axis = None, unbiased: bool | None = None, keepdims: bool = False, *,
    correction: float | None = None, dim: Axis = None, keepdim: bool | None = None,
) -> Tensor:
    """Standard deviation over ``axis``: ``sqrt(var)`` with ``var``'s arguments. VJP ``g (a - mean) /
    ((N - correction) std)``, and 0 where ``std`` is 0 (PyTorch's choice; the derivative does not exist)."""
    v, inverse, axes, kshape, keepdims, centered = _moments("std", a, axis, unbiased, keepdims, correction, dim,
                                                            keepdim)
    s = backend.xp_of(v).sqrt(v)
    out = s if keepdims else s.reshape(_reduced(a.shape, axes))

    def slope(out: Any) -> Any:  # 1 / ((N - correction) std), 0 where std == 0 (no division by 0 on the way)
        sk = out.reshape(kshape)
        zero = sk == 0
        return _select(zero, 0, inverse / _select(zero, 1, sk))

    @reading_out
    def vjp(g, out, a):
        return (g.reshape(kshape) * slope(out) * centered(a),)

    def jvp(ts, out, a):
        return ((ts[0] * centered(a)).sum(axis=axes, keepdims=True) * slope(out)).reshape(out.shape)

    return result("std", out, (a,), vjp, jvp)


def _axis_attrs(axis: Axis, keepdims: bool) -> dict | None:
    """What a picture shows of a reduction (nothing for the default, all axes)."""
    if axis is None and not keepdims:
        return None
    return {"axis": axis, "keepdims": True} if keepdims else {"axis": axis}
