"""What every op shares: lifting operands to tensors, recording the result, reducing broadcast gradients."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend
from ..tape import Node, _state
from ..tensor import Tensor

_new = object.__new__
_weak = weakref.ref


def lift(x: Any, like: Tensor | None = None) -> Tensor:
    """``x`` as a constant tensor, copied (a later change to the caller's array cannot reach a gradient).

    Python numbers follow PyTorch's promotion against ``like``: they take a float tensor's dtype (so
    ``x32 * 2.0`` stays float32), an int takes an integer tensor's dtype, and a float combined with an
    integer or boolean tensor is float32."""
    if isinstance(x, Tensor):
        return x
    if like is None:
        return Tensor(x)
    xp = backend.xp_of(like._data)
    kind = like._data.dtype.kind
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        if kind == "f" or kind in "iu" and isinstance(x, int):
            return Tensor._wrap(xp.asarray(x, dtype=like._data.dtype))
        if isinstance(x, float):
            return Tensor._wrap(xp.asarray(x, dtype=np.float32))
    if hasattr(x, "shape"):
        return Tensor._wrap(backend.to_device(x, like.device).copy())
    return Tensor._wrap(xp.asarray(x))


def same_device(op: str, *tensors: Tensor) -> None:
    """Refuse to mix CPU and GPU arrays in one op."""
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        shapes = ", ".join(f"{t.shape} on {t.device}" for t in tensors)
        raise RuntimeError(f"{op}: all inputs must be on one device; got {shapes}. Move them with .to(device)")


def result(op: str, data: Any, inputs: tuple[Tensor, ...], backward: Callable) -> Tensor:
    """Wrap ``data`` as the op's output and, if any input needs a gradient, record a tape node.

    ``backward(g)`` receives the gradient of the output and returns one gradient (or None) per input;
    a gradient of a broadcast shape is summed back to its input's shape by the replay (``unbroadcast``).
    """
    out = _new(Tensor)  # Tensor._wrap(data), inlined: this runs once per op
    out._data = data
    if _state.grad_enabled:
        for t in inputs:
            if t.requires_grad:
                node = out.grad_fn = Node(op, inputs, backward, data)
                out.requires_grad = True
                used_by = _weak(node)  # lets Tensor.data protect what this node will need
                for t in inputs:
                    t._used_by = used_by
                break
    return out


def normalize_axes(op: str, axis: int | tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative axes (all axes for None), with a clear range error."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    bound = max(ndim, 1)  # NumPy lets a 0-d array be reduced over axis 0 / -1
    for a in axes:
        if not -bound <= a < bound:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
    return tuple(sorted({a % ndim for a in axes})) if ndim else ()


def keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` with each reduced axis set to 1 (where a reduction's gradient broadcasts from)."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def broadcast_error(op: str, *shapes: tuple[int, ...]) -> ValueError:
    return ValueError(f"{op}: shapes {' and '.join(str(s) for s in shapes)} cannot be broadcast together")
