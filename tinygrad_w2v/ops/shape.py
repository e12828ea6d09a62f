"""Ops that move elements without changing them: reshape, transpose, concatenate, stack."""

from __future__ import annotations

from collections.abc import Sequence

from .. import backend
from ..tensor import Tensor
from .base import either, either_seq, lift, result, same_device


def _shape_args(shape: tuple) -> tuple[int, ...]:
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def reshape(a: Tensor, *shape: int | tuple[int, ...]) -> Tensor:
    """``a`` with a new shape of the same size (one dimension may be -1)."""
    shape = _shape_args(shape)
    try:
        out = a._data.reshape(shape)
    except ValueError as e:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} (size {a.size}) into {shape}") from e
    src = a.shape
    return result("reshape", out, (a,), lambda g, out, a: (g.reshape(src),), lambda ts, out, a: ts[0].reshape(shape))


def transpose(a: Tensor, *axes: int | tuple[int, ...]) -> Tensor:
    """Permute the axes (reverse them when none are given), like ``np.transpose``."""
    axes = _shape_args(axes) or tuple(reversed(range(a.ndim)))
    if sorted(ax % max(a.ndim, 1) for ax in axes) != list(range(a.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {a.ndim} axes of shape {a.shape}")
    axes = tuple(ax % a.ndim for ax in axes)
    inverse = tuple(sorted(range(a.ndim), key=axes.__getitem__))
    return result("transpose", a._data.transpose(axes), (a,), lambda g, out, a: (g.transpose(inverse),),
                  lambda ts, out, a: ts[0].transpose(axes))


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis; each gets back its slice of the gradient."""
    tensors = tuple(lift(t) for t in tensors)
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    same_device("concatenate", *tensors)
    xp = backend.xp_of(tensors[0]._data)
    try:
        out = xp.concatenate([t._data for t in tensors], axis=axis)
    except ValueError as e:
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise ValueError(f"concatenate: shapes {shapes} do not match along any axis but {axis}") from e
    ax = axis % out.ndim
    bounds = [0]
    for t in tensors:
        bounds.append(bounds[-1] + t.shape[ax])

    def vjp(g, out, *inputs):
        index = [slice(None)] * out.ndim
        grads = []
        for lo, hi in zip(bounds, bounds[1:]):
            index[ax] = slice(lo, hi)
            grads.append(g[tuple(index)])
        return tuple(grads)

    def jvp(ts, out, *inputs):
        return _concatenate([_zeros_like(x) if t is None else t for t, x in zip(ts, inputs)], ax)

    return result("concatenate", out, tensors, vjp, jvp)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    tensors = tuple(lift(t) for t in tensors)
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    if len({t.shape for t in tensors}) > 1:
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise ValueError(f"stack: all tensors must have one shape; got {shapes}")
    same_device("stack", *tensors)
    xp = backend.xp_of(tensors[0]._data)
    out = xp.stack([t._data for t in tensors], axis=axis)
    ax = axis % out.ndim

    def vjp(g, out, *inputs):
        index = [slice(None)] * out.ndim
        grads = []
        for k in range(len(inputs)):
            index[ax] = k
            grads.append(g[tuple(index)])
        return tuple(grads)

    def jvp(ts, out, *inputs):
        return _stack([_zeros_like(x) if t is None else t for t, x in zip(ts, inputs)], ax)

    return result("stack", out, tensors, vjp, jvp)


def _zeros_like_array(x):
    return backend.xp_of(x).zeros_like(x)


_zeros_like = either(lambda x: Tensor._wrap(_zeros_like_array(x._data)), _zeros_like_array)
_concatenate = either_seq(concatenate, lambda xs, axis: backend.xp_of(xs[0]).concatenate(xs, axis=axis))
_stack = either_seq(stack, lambda xs, axis: backend.xp_of(xs[0]).stack(xs, axis=axis))


def identity(a: Tensor) -> Tensor:
    """``a`` as a new tensor on the graph (same array): what a transform differentiates with respect to,
    while gradients and tangents still flow to and from ``a`` for an enclosing transform."""
    return result("identity", a._data, (a,), lambda g, out, a: (g,), lambda ts, out, a: ts[0])
