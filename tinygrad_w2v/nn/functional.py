"""Loss functions with PyTorch's names, arguments and values (``torch.nn.functional``)::

    from tinygrad_w2v.nn import functional as F
    loss = F.cross_entropy(logits, labels)              # logits (N, C), labels (N,) integers

Classes are on axis 1 (``(N, C)`` or ``(N, C, d1, ...)`` with targets ``(N,)`` or ``(N, d1, ...)``), or on
axis 0 for one unbatched ``(C,)`` input with a 0-d target. ``reduction`` is ``'mean'`` (the default),
``'sum'`` or ``'none'``. Every loss is a composition of differentiable ops; nothing here has a backward.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .. import backend
from ..ops import gather, log_sigmoid, log_softmax
from ..tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _classes_last(op: str, input: Tensor) -> Tensor:
    """``input`` as ``(M, C)`` rows of class scores: axis 1 moved last, the rest flattened (``(C,)`` -> ``(1, C)``)."""
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have a class axis, got a 0-d tensor")
    if input.ndim == 1:
        return input.reshape(1, -1)
    if input.ndim > 2:
        input = input.transpose(0, *range(2, input.ndim), 1)
    return input.reshape(-1, input.shape[-1])


def _target_shape(input: Tensor) -> tuple[int, ...]:
    return () if input.ndim == 1 else (input.shape[0], *input.shape[2:])


def nll_loss(
    input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"
) -> Tensor:
    """The negative log-likelihood of class ``target`` under log-probabilities ``input``: per position
    ``-weight[t] * input[n, t]``; positions whose target is ``ignore_index`` add nothing. ``'mean'`` divides
    by the summed weights of the counted positions (their number without ``weight``), so it is NaN when
    every position is ignored, as in PyTorch. ``target`` holds integers in ``[0, C)`` (or ``ignore_index``)."""
    _check_reduction("nll_loss", reduction)
    rows = _classes_last("nll_loss", input)
    C = rows.shape[1]
    t = backend.to_numpy(target._data if isinstance(target, Tensor) else target)
    if t.shape != _target_shape(input) or t.dtype.kind not in "iu":
        raise ValueError(
            f"nll_loss: target must be integers of shape {_target_shape(input)} for input of shape {input.shape}, "
            f"got {t.dtype} of shape {t.shape}"
        )
    t = t.reshape(-1)
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= C))
    if bad.any():
        raise IndexError(
            f"nll_loss: target {int(t[bad][0])} is out of range for {C} classes (ignore_index={ignore_index})"
        )
    safe = np.where(keep, t, 0)
    # Row n's target log-probability sits at n * C + t[n] of the flattened (M * C,) rows.
    picked = gather(rows.reshape(-1), backend.to_device(np.arange(t.size) * C + safe, input.device))
    if weight is not None:
        w = backend.to_numpy(weight._data if isinstance(weight, Tensor) else np.asarray(weight))
        if w.shape != (C,):
            raise ValueError(f"nll_loss: weight must have shape ({C},), one per class, got {w.shape}")
        scale = np.where(keep, w[safe], 0)
    else:
        scale = keep
    if weight is not None or not keep.all():
        picked = picked * backend.to_device(scale.astype(input.dtype), input.device)
    if reduction == "none":
        return -picked.reshape(_target_shape(input))
    total = picked.sum()
    if reduction == "sum":
        return -total
    denominator = float(scale.sum())
    return total * (-1.0 / denominator if denominator else np.nan)


def cross_entropy(
    input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"
) -> Tensor:
    """``nll_loss(log_softmax(input, dim=1), target, ...)`` for unnormalised scores ``input``. A float
    ``target`` of ``input``'s shape holds class probabilities instead: per position
    ``-sum_c weight[c] * target[c] * log_softmax(input)[c]``, and ``'mean'`` divides by the number of
    positions (PyTorch's rule for probability targets)."""
    _check_reduction("cross_entropy", reduction)
    class_axis = 0 if input.ndim == 1 else 1
    log_probs = log_softmax(input, axis=class_axis)
    t = target._data if isinstance(target, Tensor) else target
    if hasattr(t, "dtype") and t.dtype.kind == "f":
        if t.shape != input.shape:
            raise ValueError(
                f"cross_entropy: probability targets must have the input's shape {input.shape}, got {t.shape}"
            )
        terms = log_probs * target
        if weight is not None:
            w = weight if isinstance(weight, Tensor) else Tensor(np.asarray(weight, dtype=input.dtype))
            terms = terms * w.reshape((-1,) + (1,) * (input.ndim - 1 - class_axis))
        return _reduce(-terms.sum(axis=class_axis), reduction)
    return nll_loss(log_probs, target, weight=weight, ignore_index=ignore_index, reduction=reduction)


def binary_cross_entropy_with_logits(
    input: Tensor, target: Any, weight: Any = None, reduction: str = "mean", pos_weight: Any = None
) -> Tensor:
    """``-(pos_weight * y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x)))`` per element, times ``weight``,
    computed stably from the logits ``x`` (``log(1 - sigmoid(x)) = log_sigmoid(-x)``); ``y`` in [0, 1]."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    if tuple(getattr(target, "shape", ())) != input.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: target must have the input's shape {input.shape}, "
            f"got {tuple(getattr(target, 'shape', ()))}"
        )
    positive = log_sigmoid(input) * target
    if pos_weight is not None:
        positive = positive * pos_weight
    loss = -(positive + log_sigmoid(-input) * (1 - target))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """``(input - target) ** 2``, reduced. Shapes that differ are broadcast with a warning, as in PyTorch."""
    _check_reduction("mse_loss", reduction)
    shape = tuple(getattr(target, "shape", input.shape))
    if shape != input.shape:
        warnings.warn(
            f"mse_loss: target shape {shape} differs from input shape {input.shape}; they are broadcast, "
            "which is likely not what you want",
            UserWarning,
            stacklevel=2,
        )
    diff = input - target
    return _reduce(diff * diff, reduction)
