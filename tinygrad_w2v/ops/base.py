"""What every op shares: lifting operands to tensors, recording the result, reducing broadcast gradients."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend
from ..dual import push
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


def floating(x: Any) -> Any:
    """``x`` if it is a float array, else ``x`` as float32 (PyTorch's default float for integer inputs)."""
    return x if x.dtype.kind == "f" else x.astype(np.float32)


def same_device(op: str, *tensors: Tensor) -> None:
    """Refuse to mix CPU and GPU arrays in one op."""
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        shapes = ", ".join(f"{t.shape} on {t.device}" for t in tensors)
        raise RuntimeError(f"{op}: all inputs must be on one device; got {shapes}. Move them with .to(device)")


def result(
    op: str, data: Any, inputs: tuple[Tensor, ...], vjp: Callable, jvp: Callable | None = None,
    attrs: dict | None = None,
) -> Tensor:
    """Wrap ``data`` as the op's output; record a tape node if any input needs a gradient, and push
    tangents through if a forward-mode level is open.

    The op's two rules, written once each, run on arrays (first order, forward mode) or on Tensors
    (recorded: ``create_graph``, nested transforms); they see the same arguments:

    - ``vjp(g, out, *inputs)``: the gradient for each input (or None) given the output's gradient ``g``;
      a gradient of a broadcast shape is summed back to its input's shape by the replay.
    - ``jvp(tangents, out, *inputs)``: the output's tangent given one tangent (or None) per input.

    ``attrs`` (an axis, an index's shape...) only label the op in pictures and listings.
    """
    out = _new(Tensor)  # Tensor._wrap(data), inlined: this runs once per op
    out._data = data
    if _state.grad_enabled:
        for t in inputs:
            if t.requires_grad:  # record: the node's parents are its inputs' nodes, or the leaves themselves;
                # leaves learn of the node (weakly), so that Tensor.data can protect the values it will need
                if len(inputs) == 2:  # the common arities inlined: this runs once per recorded op
                    a, b = inputs
                    pa, pb = a.grad_fn, b.grad_fn
                    if pa is not None and pa._data is None:  # released by a backward since a was made:
                        pa._data = a._data  # it stands for a's value again (its rule stays gone)
                    if pb is not None and pb._data is None:
                        pb._data = b._data
                    node = out.grad_fn = Node(op, (pa or a, pb or b), vjp, data, attrs)
                    if pa is None or pb is None:
                        ref = _weak(node)
                        if pa is None:
                            a._used_by = ref
                        if pb is None:
                            b._used_by = ref
                elif len(inputs) == 1:
                    a = inputs[0]
                    pa = a.grad_fn
                    if pa is not None and pa._data is None:
                        pa._data = a._data
                    node = out.grad_fn = Node(op, (pa or a,), vjp, data, attrs)
                    if pa is None:
                        a._used_by = _weak(node)
                else:
                    node = out.grad_fn = Node(op, tuple([_parent(t) for t in inputs]), vjp, data, attrs)
                    ref = _weak(node)
                    for t in inputs:
                        if t.grad_fn is None:
                            t._used_by = ref
                out.requires_grad = True
                break
    if _state.levels:
        push(op, out, inputs, jvp, Tensor._wrap, broadcast)
    return out


def _parent(t: Tensor) -> Node | Tensor:
    """What a node records for input ``t``: the node that made it (given ``t``'s value again if a backward
    released it since), or the leaf itself."""
    p = t.grad_fn
    if p is None:
        return t
    if p._data is None:
        p._data = t._data
    return p


def zeros(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """A constant tensor of zeros of ``shape`` with ``like``'s dtype and device."""
    return Tensor._wrap(backend.xp_of(like._data).zeros(shape, dtype=like.dtype))


def either(tensor_op: Callable, array_op: Callable) -> Callable:
    """One function for the rules: ``tensor_op`` (recorded) when an argument is a Tensor, else ``array_op``."""

    def call(*args: Any, **kwargs: Any) -> Any:
        for a in args:
            if isinstance(a, Tensor):
                return tensor_op(*args, **kwargs)
        return array_op(*args, **kwargs)

    return call


def either_seq(tensor_op: Callable, array_op: Callable) -> Callable:
    """``either`` for ops on a sequence (concatenate, stack): the Tensor op if any element is a Tensor."""

    def call(items: Any, *args: Any, **kwargs: Any) -> Any:
        if any(isinstance(x, Tensor) for x in items):
            return tensor_op(items, *args, **kwargs)
        return array_op(items, *args, **kwargs)

    return call


def pointwise(
    slope: Callable[[Any, Any], Any], quiet: bool = False, reads_out: bool = False
) -> tuple[Callable, Callable]:
    """The VJP and JVP rules of an elementwise op of one input from its derivative ``slope(out, a)``, written
    once: the Jacobian is diagonal, so the VJP is ``g * slope`` and the JVP ``t * slope``. With ``quiet``,
    NumPy does not warn where the slope is infinite or the product undefined (``sqrt`` at 0); say
    ``reads_out`` when the slope reads the output (see ``reading_out``)."""

    def vjp(g: Any, out: Any, a: Any) -> tuple[Any]:
        return (g * slope(out, a),)

    def jvp(ts: Any, out: Any, a: Any) -> Any:
        return ts[0] * slope(out, a)

    vjp, jvp = (_quietly(vjp), _quietly(jvp)) if quiet else (vjp, jvp)
    return (reading_out(vjp) if reads_out else vjp), jvp


def reading_out(vjp: Callable) -> Callable:
    """Mark a VJP rule that reads its op's output (``tanh``'s ``1 - out^2``): the replay then also checks
    that output for in-place changes made through ``Tensor.data`` after the forward, as it checks inputs."""
    vjp.reads_out = True
    return vjp


def _quietly(rule: Callable) -> Callable:
    def call(*args: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a no-op for CuPy arrays
            return rule(*args)

    return call


def add_tangents(a: Any, b: Any) -> Any:
    """The sum of two tangent terms that may be None (None if both are): a JVP rule's sum over two inputs."""
    return b if a is None else a if b is None else a + b


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


def broadcast_to(a: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``a`` repeated along new leading axes and its size-1 axes to ``shape`` (``np.broadcast_to``); the
    replay sums the gradient back. Forward mode uses it to give every tangent its output's shape."""
    shape = tuple(shape)
    try:
        out = _broadcast_arrays(a._data, shape)
    except ValueError as e:
        raise ValueError(f"broadcast_to: cannot broadcast shape {a.shape} to {shape}") from e
    return result("broadcast_to", out, (a,), lambda g, out, a: (g,), lambda ts, out, a: broadcast(ts[0], shape))


def _broadcast_arrays(x: Any, shape: tuple[int, ...]) -> Any:
    return backend.xp_of(x).broadcast_to(x, shape)


broadcast = either(broadcast_to, _broadcast_arrays)
