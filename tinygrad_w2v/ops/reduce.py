"""Reductions over axes: sum, mean, max. The gradient broadcasts back over the reduced axes."""

from __future__ import annotations

import math

from .. import backend
from ..tensor import Tensor
from .base import keepdims_shape, normalize_axes, result

Axis = int | tuple[int, ...] | None


def sum(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    axes = normalize_axes("sum", axis, a.ndim)
    out = a._data.sum(axis=axes, keepdims=keepdims)
    kshape = keepdims_shape(a.shape, axes)
    xp = backend.xp_of(a._data)

    def backward(g):
        return (xp.broadcast_to(g.reshape(kshape), a.shape),)

    return result("sum", out, (a,), backward)


def mean(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    axes = normalize_axes("mean", axis, a.ndim)
    count = math.prod(a.shape[i] for i in axes)
    out = a._data.mean(axis=axes, keepdims=keepdims)
    kshape = keepdims_shape(a.shape, axes)
    xp = backend.xp_of(a._data)

    def backward(g):
        return (xp.broadcast_to(g.reshape(kshape) / count, a.shape),)

    return result("mean", out, (a,), backward)


def max(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; where several elements tie for the maximum they share the gradient."""
    axes = normalize_axes("max", axis, a.ndim)
    if a.size == 0:
        raise ValueError(f"max: cannot reduce a tensor of shape {a.shape} with no elements")
    kshape = keepdims_shape(a.shape, axes)
    top = a._data.max(axis=axes, keepdims=True)
    out = top if keepdims else top.reshape([n for i, n in enumerate(a.shape) if i not in axes])

    def backward(g):
        hit = a._data == top
        return (hit * (g.reshape(kshape) / hit.sum(axis=axes, keepdims=True)),)

    return result("max", out, (a,), backward)
