"""Reductions over axes: sum, mean, max. The gradient broadcasts back over the reduced axes; the tangent
is reduced like the value."""

from __future__ import annotations

import math

from ..tensor import Tensor
from .base import broadcast as _broadcast
from .base import keepdims_shape, normalize_axes, result

Axis = int | tuple[int, ...] | None


def sum(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    axes = normalize_axes("sum", axis, a.ndim)
    out = a._data.sum(axis=axes, keepdims=keepdims)
    kshape, shape = keepdims_shape(a.shape, axes), a.shape
    return result("sum", out, (a,), lambda g, out, a: (_broadcast(g.reshape(kshape), shape),),
                  lambda ts, out, a: ts[0].sum(axis=axes, keepdims=keepdims))


def mean(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    axes = normalize_axes("mean", axis, a.ndim)
    count = math.prod(a.shape[i] for i in axes)
    out = a._data.mean(axis=axes, keepdims=keepdims)
    kshape, shape = keepdims_shape(a.shape, axes), a.shape
    return result("mean", out, (a,), lambda g, out, a: (_broadcast(g.reshape(kshape) / count, shape),),
                  lambda ts, out, a: ts[0].mean(axis=axes, keepdims=keepdims))


def max(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; where several elements tie for the maximum they share the gradient."""
    axes = normalize_axes("max", axis, a.ndim)
    if a.size == 0:
        raise ValueError(f"max: cannot reduce a tensor of shape {a.shape} with no elements")
    kshape = keepdims_shape(a.shape, axes)
    top = a._data.max(axis=axes, keepdims=True)
    out = top if keepdims else top.reshape([n for i, n in enumerate(a.shape) if i not in axes])
    hit = a._data == top
    share = hit / hit.sum(axis=axes, keepdims=True)  # 1/k on each of k tied maxima, 0 elsewhere
    return result("max", out, (a,), lambda g, out, a: (g.reshape(kshape) * share,),
                  lambda ts, out, a: (ts[0] * share).sum(axis=axes, keepdims=keepdims))
