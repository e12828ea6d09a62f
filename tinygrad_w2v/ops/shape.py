"""Ops that move elements without changing them: reshape (and its forms view, flatten, squeeze, unsqueeze),
transpose, concatenate, stack, and their inverses split, chunk, unbind."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from .. import backend
from ..tensor import Tensor
from .base import either, either_seq, lift, result, same_device, zeros
from .index import _index_add


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


view = reshape  # PyTorch's name (any tensor can be viewed here: no contiguity requirement)


def _dim(op: str, dim: int, ndim: int) -> int:
    if not -ndim <= dim < ndim:
        raise ValueError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions")
    return dim % ndim


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim..end_dim`` (inclusive) into one, as ``torch.flatten`` (a 0-d tensor becomes ``(1,)``)."""
    if a.ndim == 0:
        return reshape(a, 1)
    lo, hi = _dim("flatten", start_dim, a.ndim), _dim("flatten", end_dim, a.ndim)
    if lo > hi:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {a.shape}")
    return reshape(a, a.shape[:lo] + (math.prod(a.shape[lo : hi + 1]),) + a.shape[hi + 1 :])


def squeeze(a: Tensor, dim: int | tuple[int, ...] | None = None) -> Tensor:
    """Drop axes of size 1: all of them, or those of ``dim`` that have size 1 (others stay, as in PyTorch)."""
    dims = range(a.ndim) if dim is None else [_dim("squeeze", d, max(a.ndim, 1)) for d in _shape_args((dim,))]
    drop = {d for d in dims if d < a.ndim and a.shape[d] == 1}
    return reshape(a, tuple(n for i, n in enumerate(a.shape) if i not in drop))


def unsqueeze(a: Tensor, dim: int) -> Tensor:
    """Insert an axis of size 1 at ``dim`` (in ``[-ndim - 1, ndim]``), as ``torch.unsqueeze``."""
    d = _dim("unsqueeze", dim, a.ndim + 1)
    return reshape(a, a.shape[:d] + (1,) + a.shape[d:])


def transpose(a: Tensor, *axes: int | tuple[int, ...]) -> Tensor:
    """Permute the axes (reverse them when none are given), like ``np.transpose``."""
    axes = _shape_args(axes) or tuple(reversed(range(a.ndim)))
    if sorted(ax % max(a.ndim, 1) for ax in axes) != list(range(a.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {a.ndim} axes of shape {a.shape}")
    axes = tuple(ax % a.ndim for ax in axes)
    inverse = tuple(sorted(range(a.ndim), key=axes.__getitem__))
    return result("transpose", a._data.transpose(axes), (a,), lambda g, out, a: (g.transpose(inverse),),
                  lambda ts, out, a: ts[0].transpose(axes), {"axes": axes})


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

    return result("concatenate", out, tensors, vjp, jvp, {"axis": ax})


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

    return result("stack", out, tensors, vjp, jvp, {"axis": ax})


def _zeros_like_array(x):
    return backend.xp_of(x).zeros_like(x)


_zeros_like = either(lambda x: zeros(x.shape, x), _zeros_like_array)
_concatenate = either_seq(concatenate, lambda xs, axis: backend.xp_of(xs[0]).concatenate(xs, axis=axis))
_stack = either_seq(stack, lambda xs, axis: backend.xp_of(xs[0]).stack(xs, axis=axis))


def identity(a: Tensor) -> Tensor:
    """``a`` as a new tensor on the graph (same array): what a transform differentiates with respect to,
    while gradients and tangents still flow to and from ``a`` for an enclosing transform."""
    return result("identity", a._data, (a,), lambda g, out, a: (g,), lambda ts, out, a: ts[0])


def _pieces(op: str, x: Tensor, keys: Sequence[Any]) -> tuple[Tensor, ...]:
    """``x[key]`` for disjoint basic-index ``keys`` along one axis, with one gradient buffer for all pieces
    instead of one ``x``-sized zero array per piece.

    The pieces read ``x`` through an identity node. In a first-order backward the first piece the replay
    reaches allocates the buffer, writes its gradient there and hands the buffer on as the identity node's
    gradient; the others write their slice into it (they run before the identity node, which is older),
    and slices of pieces that get no gradient stay 0. The identity node passes the filled buffer to ``x``
    and forgets it, ready for another backward pass (``retain_graph``). A recorded backward
    (``create_graph``) gives each piece its own differentiable ``index_add`` instead."""
    xp = backend.xp_of(x._data)
    shape = x.shape
    shared: dict[str, Any] = {"grad": None}

    def hand_over(g: Any, out: Any, x: Any) -> tuple[Any]:
        shared["grad"] = None
        return (g,)

    whole = result(op, x._data, (x,), hand_over, lambda ts, out, x: ts[0])

    def piece(k: int, key: Any) -> Tensor:
        def vjp(g: Any, out: Any, whole: Any) -> tuple[Any]:
            if isinstance(g, Tensor):
                return (_index_add(shape, key, g),)
            first = shared["grad"] is None
            if first:
                shared["grad"] = xp.zeros(shape, dtype=g.dtype)
            shared["grad"][key] = g
            return (shared["grad"] if first else None,)

        return result(f"{op}[{k}]", x._data[key], (whole,), vjp, lambda ts, out, whole: ts[0][key])

    return tuple(piece(k, key) for k, key in enumerate(keys))


def split(a: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """``torch.split``: pieces of ``split_size`` along ``dim`` (the last one smaller if needed), or of the
    listed sizes (which must add up to ``a.shape[dim]``)."""
    if a.ndim == 0:
        raise ValueError("split: needs a tensor with at least one dimension, got a 0-d tensor")
    d = _dim("split", dim, a.ndim)
    n = a.shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0 and not (size == 0 and n == 0):
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - lo) for lo in range(0, n, size)] if n else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} must be non-negative and add up to {n}, the size of dim {dim}")
    bounds = [0, *itertools.accumulate(sizes)]
    lead = (slice(None),) * d
    return _pieces("split", a, [(*lead, slice(lo, hi)) for lo, hi in zip(bounds, bounds[1:])])


def chunk(a: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """``torch.chunk``: ``split`` into pieces of ``ceil(a.shape[dim] / chunks)`` (so possibly fewer than ``chunks``)."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    if a.ndim == 0:
        raise ValueError("chunk: needs a tensor with at least one dimension, got a 0-d tensor")
    n = a.shape[_dim("chunk", dim, a.ndim)]
    return split(a, max(-(-n // chunks), 1), dim)


def unbind(a: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """``torch.unbind``: the slices ``a[..., i, ...]`` along ``dim``, each without that axis (e.g. the time
    steps of a ``(B, T, H)`` sequence)."""
    if a.ndim == 0:
        raise ValueError("unbind: needs a tensor with at least one dimension, got a 0-d tensor")
    d = _dim("unbind", dim, a.ndim)
    lead = (slice(None),) * d
    return _pieces("unbind", a, [(*lead, i) for i in range(a.shape[d])])
