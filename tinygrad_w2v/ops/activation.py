"""Numerically stable squashing and normalising ops: sigmoid, log_sigmoid, softmax, log_softmax, logsumexp.

Each one is written so that no ``exp`` ever sees a large positive argument: finite values and
gradients at inputs of magnitude 1000 in float32 and float64.
"""

from __future__ import annotations

from .. import backend
from ..tensor import Tensor
from .base import keepdims_shape, normalize_axes, result


def _exp_neg_abs(x):
    """``exp(-|x|)``, in (0, 1]: the shared piece of the stable sigmoid forms."""
    xp = backend.xp_of(x)
    return xp.exp(-xp.abs(x))


def sigmoid(a: Tensor) -> Tensor:
    """``1 / (1 + exp(-a))``, as ``1/(1+e)`` for a >= 0 and ``e/(1+e)`` for a < 0 with ``e = exp(-|a|)``."""
    xp = backend.xp_of(a._data)
    e = _exp_neg_abs(a._data)
    out = xp.where(a._data >= 0, 1, e) / (1 + e)
    return result("sigmoid", out, (a,), lambda g: (g * out * (1 - out),))


def log_sigmoid(a: Tensor) -> Tensor:
    """``log(sigmoid(a)) = min(a, 0) - log1p(exp(-|a|))``; its derivative is ``sigmoid(-a)``."""
    xp = backend.xp_of(a._data)
    e = _exp_neg_abs(a._data)
    out = xp.minimum(a._data, 0) - xp.log1p(e)

    def backward(g):
        return (g * (xp.where(a._data >= 0, e, 1) / (1 + e)),)

    return result("log_sigmoid", out, (a,), backward)


def _shifted_exp(x, axis: int):
    """``x - max``, ``exp(x - max)`` and its sum over ``axis`` (kept): the log-sum-exp trick's pieces,
    all floating (an integer ``x`` gives float64, as ``exp`` does)."""
    xp = backend.xp_of(x)
    if x.dtype.kind != "f":
        x = x.astype(xp.float64)
    top = x.max(axis=axis, keepdims=True)
    # A slice of all -inf would give -inf - -inf = nan; shift such slices by 0 instead.
    top = xp.where(xp.isfinite(top), top, 0)
    shifted = x - top
    e = xp.exp(shifted)
    return shifted, e, e.sum(axis=axis, keepdims=True)


def _one_axis(op: str, axis: int, a: Tensor) -> int:
    if a.ndim == 0:
        raise ValueError(f"{op}: needs a tensor with at least one dimension, got shape {a.shape}")
    return normalize_axes(op, axis, a.ndim)[0]


def softmax(a: Tensor, axis: int = -1) -> Tensor:
    """``exp(a) / sum(exp(a))`` along ``axis``. VJP: ``y * (g - sum(g * y))``."""
    axis = _one_axis("softmax", axis, a)
    _, e, s = _shifted_exp(a._data, axis)
    out = e / s

    def backward(g):
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

    return result("softmax", out, (a,), backward)


def log_softmax(a: Tensor, axis: int = -1) -> Tensor:
    """``a - logsumexp(a)`` along ``axis``. VJP: ``g - softmax(a) * sum(g)``."""
    axis = _one_axis("log_softmax", axis, a)
    xp = backend.xp_of(a._data)
    out, e, s = _shifted_exp(a._data, axis)
    out -= xp.log(s)  # in place: each pass over a (tokens, vocab) array and each allocation shows

    def backward(g):
        grad = e * (g.sum(axis=axis, keepdims=True) / s)
        return (xp.subtract(g, grad, out=grad),)

    return result("log_softmax", out, (a,), backward)


def logsumexp(a: Tensor, axis: int | tuple[int, ...] | None = -1, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(a)))`` over ``axis``. VJP: ``g * softmax(a)``."""
    axes = normalize_axes("logsumexp", axis, a.ndim)
    xp = backend.xp_of(a._data)
    top = a._data.max(axis=axes, keepdims=True) if a.size else xp.zeros(keepdims_shape(a.shape, axes), a.dtype)
    top = xp.where(xp.isfinite(top), top, 0)
    with backend.quiet_floats(xp):
        lse = top + xp.log(xp.exp(a._data - top).sum(axis=axes, keepdims=True))
    out = lse if keepdims else lse.reshape([n for i, n in enumerate(a.shape) if i not in axes])

    def backward(g):
        return (g.reshape(lse.shape) * xp.exp(a._data - lse),)

    return result("logsumexp", out, (a,), backward)
