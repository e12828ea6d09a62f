"""Elementwise ops with NumPy broadcasting. Each gradient is summed back to its input's shape."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor
from .base import broadcast_error, lift, result, same_device


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

    def backward(g):
        return g, g

    return result("add", out, (a, b), backward)


def sub(a: Any, b: Any) -> Tensor:
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        a, b = _operands(a, b)
    try:
        out = a._data - b._data
    except (ValueError, TypeError) as e:
        raise _failed("sub", a, b) from e

    def backward(g):
        return g, (-g if b.requires_grad else None)

    return result("sub", out, (a, b), backward)


def mul(a: Any, b: Any) -> Tensor:
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        a, b = _operands(a, b)
    try:
        out = a._data * b._data
    except (ValueError, TypeError) as e:
        raise _failed("mul", a, b) from e

    def backward(g):
        return (
            g * b._data if a.requires_grad else None,
            g * a._data if b.requires_grad else None,
        )

    return result("mul", out, (a, b), backward)


def div(a: Any, b: Any) -> Tensor:
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        a, b = _operands(a, b)
    try:
        out = a._data / b._data
    except (ValueError, TypeError) as e:
        raise _failed("div", a, b) from e

    def backward(g):
        ga = g / b._data
        # d(a/b)/db = -a/b^2 = -(a/b)/b
        return (
            ga if a.requires_grad else None,
            -ga * out if b.requires_grad else None,
        )

    return result("div", out, (a, b), backward)


def neg(a: Tensor) -> Tensor:
    return result("neg", -a._data, (a,), lambda g: (-g,))


def pow(a: Tensor, exponent: float) -> Tensor:
    """``a ** exponent`` for a Python-number exponent."""
    if isinstance(exponent, Tensor) or not isinstance(exponent, (int, float)):
        raise TypeError(f"pow: the exponent must be a Python number, got {type(exponent).__name__}")
    out = a._data**exponent

    def backward(g):
        return (g * exponent * a._data ** (exponent - 1),)

    return result("pow", out, (a,), backward)


def rpow(a: Tensor, base: Any) -> Tensor:
    """``base ** a`` for a Python-number or array ``base`` (``Tensor.__rpow__``); d/da = ``base ** a * log(base)``."""
    b = lift(base, a)
    xp = backend.xp_of(a._data)
    try:
        out = b._data**a._data
    except (ValueError, TypeError) as e:
        raise _failed("rpow", b, a) from e

    def backward(g):
        with backend.quiet_floats(xp):  # base 0 with exponent >= 0: gradient 0 as in PyTorch, not 0 * log 0
            return None, xp.where((b._data == 0) & (a._data >= 0), 0, g * out * xp.log(b._data))

    return result("rpow", out, (b, a), backward)


def exp(a: Tensor) -> Tensor:
    out = backend.xp_of(a._data).exp(a._data)
    return result("exp", out, (a,), lambda g: (g * out,))


def log(a: Tensor) -> Tensor:
    """Natural log; ``log(0)`` is ``-inf`` as in NumPy (no warning)."""
    xp = backend.xp_of(a._data)
    with backend.quiet_floats(xp):
        out = xp.log(a._data)

    def backward(g):
        with backend.quiet_floats(xp):  # the gradient at 0 is inf, as in PyTorch, without a warning
            return (g / a._data,)

    return result("log", out, (a,), backward)


def tanh(a: Tensor) -> Tensor:
    out = backend.xp_of(a._data).tanh(a._data)
    return result("tanh", out, (a,), lambda g: (g * (1 - out * out),))


def relu(a: Tensor) -> Tensor:
    mask = a._data > 0
    return result("relu", a._data * mask, (a,), lambda g: (g * mask,))


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` holds, else ``b`` (broadcast together); no gradient flows to ``cond``."""
    a, b = _operands(a, b)
    c = cond._data if isinstance(cond, Tensor) else backend.xp_of(a._data).asarray(cond)
    xp = backend.xp_of(a._data)
    if c.dtype != bool:
        raise TypeError(f"where: the condition must be boolean, got dtype {c.dtype} with shape {c.shape}")
    try:
        out = xp.where(c, a._data, b._data)
    except (ValueError, TypeError) as e:
        raise broadcast_error("where", c.shape, a.shape, b.shape) from e

    def backward(g):
        zero = xp.zeros((), dtype=g.dtype)
        return (
            xp.where(c, g, zero) if a.requires_grad else None,
            xp.where(c, zero, g) if b.requires_grad else None,
        )

    return result("where", out, (a, b), backward)


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
    out = backend.to_device(a._data, device)
    return result("to", out, (a,), lambda g: (backend.to_device(g, src),))
