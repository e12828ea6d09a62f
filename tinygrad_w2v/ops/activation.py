"""Numerically stable squashing and normalising ops: sigmoid, log_sigmoid, softmax, log_softmax, logsumexp.

Each one is written so that no ``exp`` ever sees a large positive argument: finite values and
gradients at inputs of magnitude 1000 in float32 and float64.
"""

from __future__ import annotations

from .. import backend
from ..tensor import Tensor
from .base import either, keepdims_shape, normalize_axes, pointwise, reading_out, result
from .elementwise import exp
from .reduce import Axis, reduce_args


def _exp_neg_abs(x):
    """``exp(-|x|)``, in (0, 1]: the shared piece of the stable sigmoid forms."""
    xp = backend.xp_of(x)
    return xp.exp(-xp.abs(x))


def sigmoid(a: Tensor) -> Tensor:
    """``1 / (1 + exp(-a))``, as ``1/(1+e)`` for a >= 0 and ``e/(1+e)`` for a < 0 with ``e = exp(-|a|)``."""
    xp = backend.xp_of(a._data)
    e = _exp_neg_abs(a._data)
    out = xp.where(a._data >= 0, 1, e) / (1 + e)
    return result("sigmoid", out, (a,), *_SIGMOID)


_SIGMOID = pointwise(lambda out, a: out * (1 - out), reads_out=True)  # d sigmoid = sigmoid (1 - sigmoid)


def log_sigmoid(a: Tensor) -> Tensor:
    """``log(sigmoid(a)) = min(a, 0) - log1p(exp(-|a|))``; its derivative is ``sigmoid(-a)``."""
    xp = backend.xp_of(a._data)
    e = _exp_neg_abs(a._data)
    out = xp.minimum(a._data, 0) - xp.log1p(e)

    def slope(out, a):  # sigmoid(-a), from the forward's e on arrays
        return sigmoid(-a) if isinstance(a, Tensor) else xp.where(a >= 0, e, 1) / (1 + e)

    return result("log_sigmoid", out, (a,), *pointwise(slope))


def _shifted_exp(x, axes: tuple[int, ...]):
    """``x - max``, ``exp(x - max)`` and its sum over ``axes`` (kept): the log-sum-exp trick's pieces,
    all floating (an integer ``x`` gives float64, as ``exp`` does)."""
    xp = backend.xp_of(x)
    if x.dtype.kind != "f":
        x = x.astype(xp.float64)
    top = x.max(axis=axes, keepdims=True)
    # A slice of all -inf would give -inf - -inf = nan; shift such slices by 0 instead.
    top = xp.where(xp.isfinite(top), top, 0)
    shifted = x - top
    e = xp.exp(shifted)
    return shifted, e, e.sum(axis=axes, keepdims=True)


def _softmax_axes(op: str, axis: Axis, a: Tensor, dim: Axis = None) -> tuple[int, ...]:
    """``axis`` (or PyTorch's ``dim``) as a tuple of axes; over several axes the normalisation is joint."""
    if dim is not None:
        axis, _ = reduce_args(op, None if axis == -1 else axis, False, dim, None)
    if a.ndim == 0:
        raise ValueError(f"{op}: needs a tensor with at least one dimension, got shape {a.shape}")
    return normalize_axes(op, axis, a.ndim)


def softmax(a: Tensor, axis: Axis = -1, *, dim: Axis = None) -> Tensor:
    """``exp(a) / sum(exp(a))`` over ``axis`` (an int or a tuple of axes). VJP ``y * (g - sum(g * y))``;
    the Jacobian is symmetric, so the JVP is the same expression in the tangent."""
    axes = _softmax_axes("softmax", axis, a, dim)
    _, e, s = _shifted_exp(a._data, axes)

    def rule(g, out, a):
        return out * (g - (g * out).sum(axis=axes, keepdims=True))

    return result("softmax", e / s, (a,), reading_out(lambda g, out, a: (rule(g, out, a),)),
                  lambda ts, out, a: rule(ts[0], out, a), _axis_attr(axes))


def log_softmax(a: Tensor, axis: Axis = -1, *, dim: Axis = None) -> Tensor:
    """``a - logsumexp(a)`` over ``axis``. VJP ``g - softmax(a) * sum(g)``, JVP ``t - sum(softmax(a) * t)``."""
    axes = _softmax_axes("log_softmax", axis, a, dim)
    xp = backend.xp_of(a._data)
    out, e, s = _shifted_exp(a._data, axes)
    out -= xp.log(s)  # in place: each pass over a (tokens, vocab) array and each allocation shows

    def vjp(g, out, a):
        if isinstance(g, Tensor):
            return (g - _exp(out) * g.sum(axis=axes, keepdims=True),)
        grad = e * (g.sum(axis=axes, keepdims=True) / s)
        return (xp.subtract(g, grad, out=grad),)

    def jvp(ts, out, a):
        p = _exp(out) if isinstance(out, Tensor) else e / s
        return ts[0] - (p * ts[0]).sum(axis=axes, keepdims=True)

    return result("log_softmax", out, (a,), vjp, jvp, _axis_attr(axes))


def logsumexp(
    a: Tensor, axis: Axis = -1, keepdims: bool = False, *, dim: Axis = None, keepdim: bool | None = None
) -> Tensor:
    """``log(sum(exp(a)))`` over ``axis`` (``dim``). VJP ``g * softmax(a)``, JVP ``sum(softmax(a) * t)``."""
    if dim is not None or keepdim is not None:
        axis, keepdims = reduce_args("logsumexp", None if axis == -1 else axis, keepdims, dim, keepdim)
    axes = normalize_axes("logsumexp", axis, a.ndim)
    xp = backend.xp_of(a._data)
    kshape = keepdims_shape(a.shape, axes)
    top = a._data.max(axis=axes, keepdims=True) if a.size else xp.zeros(kshape, a.dtype)
    top = xp.where(xp.isfinite(top), top, 0)
    with backend.quiet_floats(xp):
        lse = top + xp.log(xp.exp(a._data - top).sum(axis=axes, keepdims=True))
    out = lse if keepdims else lse.reshape([n for i, n in enumerate(a.shape) if i not in axes])

    def weights(out, a):  # softmax(a) over the reduced axes
        return _exp(a - out.reshape(kshape))

    return result("logsumexp", out, (a,), reading_out(lambda g, out, a: (g.reshape(kshape) * weights(out, a),)),
                  lambda ts, out, a: (ts[0] * weights(out, a)).sum(axis=axes, keepdims=keepdims), {"axis": axis})


_exp = either(exp, lambda x: backend.xp_of(x).exp(x))


def _axis_attr(axes: tuple[int, ...]) -> dict:
    """How a picture names the axes a softmax normalises over."""
    return {"axis": axes[0] if len(axes) == 1 else axes}
