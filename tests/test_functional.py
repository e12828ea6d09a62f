"""The loss functions of ``tinygrad_w2v.nn.functional`` against ``torch.nn.functional`` (values and gradients,
float64, every reduction, ignored targets, class weights, extra axes) and against finite differences on
random inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_w2v import Tensor
from tinygrad_w2v.nn import functional as F
from tinygrad_w2v.testing import assert_grad_matches
from tinygrad_w2v.testing.strategies import arrays, index_arrays, upstream

FEW = settings(max_examples=25, deadline=None)
REDUCTIONS = ["mean", "sum", "none"]


def torch_or_skip() -> Any:
    return pytest.importorskip("torch")


def agree(ours_fn: Any, theirs_fn: Any, *arrays_: np.ndarray) -> None:
    """Same value and same gradients for every float input, in float64, with a random upstream gradient."""
    torch = torch_or_skip()
    ours_in = [Tensor(a, requires_grad=True) if a.dtype.kind == "f" else a for a in arrays_]
    theirs_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays_]
    out, out_t = ours_fn(*ours_in), theirs_fn(*theirs_in)
    assert out.shape == tuple(out_t.shape)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-12, atol=1e-14)
    u = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(u)
    out_t.backward(torch.tensor(u))
    for a, t in zip(ours_in, theirs_in):
        if isinstance(a, Tensor):
            np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-12, atol=1e-14)


RNG = np.random.default_rng(1)
LOGITS = RNG.standard_normal((5, 4))
LABELS = np.array([0, 3, -100, 1, 3])
WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_and_nll_loss_match_torch(reduction: str, weighted: bool) -> None:
    torch = torch_or_skip()
    w = WEIGHT if weighted else None
    wt = torch.tensor(WEIGHT) if weighted else None
    agree(lambda x: F.cross_entropy(x, LABELS, weight=w, reduction=reduction),
          lambda x: torch.nn.functional.cross_entropy(x, torch.tensor(LABELS), weight=wt, reduction=reduction), LOGITS)
    nll = torch.nn.functional.nll_loss
    agree(lambda x: F.nll_loss(x.log_softmax(1), LABELS, weight=w, reduction=reduction),
          lambda x: nll(x.log_softmax(1), torch.tensor(LABELS), weight=wt, reduction=reduction), LOGITS)
    labels = np.where(LABELS == -100, 2, LABELS)
    agree(lambda x: F.cross_entropy(x, labels, ignore_index=3, reduction=reduction),
          lambda x: torch.nn.functional.cross_entropy(x, torch.tensor(labels), ignore_index=3, reduction=reduction),
          LOGITS)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_extra_axes_one_sample_and_probabilities_matches_torch(reduction: str) -> None:
    torch = torch_or_skip()
    ce = torch.nn.functional.cross_entropy
    x = RNG.standard_normal((2, 4, 3, 2))  # (N, C, d1, d2)
    t = RNG.integers(0, 4, (2, 3, 2))
    agree(lambda a: F.cross_entropy(a, t, reduction=reduction),
          lambda a: ce(a, torch.tensor(t), reduction=reduction), x)
    agree(lambda a: F.cross_entropy(a, np.array(2), reduction=reduction),
          lambda a: ce(a, torch.tensor(2), reduction=reduction), LOGITS[0])
    p = RNG.random(LOGITS.shape)
    p /= p.sum(axis=1, keepdims=True)
    agree(lambda a: F.cross_entropy(a, p, weight=WEIGHT, reduction=reduction),
          lambda a: ce(a, torch.tensor(p), weight=torch.tensor(WEIGHT), reduction=reduction), LOGITS)


def test_nll_loss_of_only_ignored_targets_is_nan_like_torch() -> None:
    torch = torch_or_skip()
    ours = F.nll_loss(Tensor(LOGITS), np.full(5, -100)).item()
    theirs = torch.nn.functional.nll_loss(torch.tensor(LOGITS), torch.full((5,), -100)).item()
    assert np.isnan(ours) and np.isnan(theirs)
    assert F.nll_loss(Tensor(LOGITS), np.full(5, -100), reduction="sum").item() == 0


def test_loss_errors_name_the_loss_and_the_value() -> None:
    with pytest.raises(IndexError, match="nll_loss: target 4 is out of range for 4 classes"):
        F.nll_loss(Tensor(LOGITS), np.array([0, 4, 1, 1, 1]))
    with pytest.raises(IndexError, match="nll_loss: target -1 is out of range"):
        F.cross_entropy(Tensor(LOGITS), np.array([0, -1, 1, 1, 1]))
    with pytest.raises(ValueError, match=r"nll_loss: target must be integers of shape \(5,\)"):
        F.nll_loss(Tensor(LOGITS), np.zeros((5, 1), dtype=int))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(Tensor(LOGITS), LOGITS, reduction="avg")
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\)"):
        F.nll_loss(Tensor(LOGITS), LABELS, weight=np.ones(3))
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits: target must have the input's shape"):
        F.binary_cross_entropy_with_logits(Tensor(LOGITS), np.ones(4))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits_matches_torch(reduction: str) -> None:
    torch = torch_or_skip()
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    x = RNG.standard_normal((3, 4)) * 20  # large logits: the stable form matters
    y = RNG.random((3, 4))
    w, pw = RNG.random(4) + 0.5, RNG.random(4) * 3
    agree(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction),
          lambda a, b: bce(a, b, reduction=reduction), x, y)
    agree(lambda a: F.binary_cross_entropy_with_logits(a, y, weight=w, pos_weight=pw, reduction=reduction),
          lambda a: bce(a, torch.tensor(y), weight=torch.tensor(w), pos_weight=torch.tensor(pw), reduction=reduction),
          x)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_matches_torch(reduction: str) -> None:
    torch = torch_or_skip()
    agree(lambda a, b: F.mse_loss(a, b, reduction=reduction),
          lambda a, b: torch.nn.functional.mse_loss(a, b, reduction=reduction), LOGITS, RNG.standard_normal((5, 4)))
    with pytest.warns(UserWarning, match=r"mse_loss: target shape \(4,\) differs"):
        F.mse_loss(Tensor(LOGITS), np.zeros(4))


# ----- gradients against finite differences on random inputs ----------------------------------------------------
@FEW
@given(st.integers(1, 4), st.integers(2, 4), st.sampled_from(REDUCTIONS), st.booleans(), st.data())
def test_cross_entropy_grad(n: int, c: int, reduction: str, weighted: bool, data: st.DataObject) -> None:
    x = data.draw(arrays((n, c)), label="logits")
    t = data.draw(index_arrays(c, (n,), allow_negative=False), label="labels")
    t[data.draw(st.integers(0, n - 1), label="ignored")] = -100
    if (t == -100).all() and reduction == "mean":
        t[0] = 0
    w = data.draw(arrays((c,), low=0.5, high=2.0), label="weight") if weighted else None
    u = data.draw(upstream((n,) if reduction == "none" else ()), label="upstream")
    assert_grad_matches(lambda a: F.cross_entropy(a, t, weight=w, reduction=reduction), x, upstream=u)


@FEW
@given(st.integers(1, 3), st.integers(2, 4), st.integers(1, 3), st.data())
def test_cross_entropy_grad_with_an_extra_axis_and_probabilities(n: int, c: int, d: int, data: st.DataObject) -> None:
    x = data.draw(arrays((n, c, d)), label="logits")
    t = data.draw(index_arrays(c, (n, d), allow_negative=False), label="labels")
    assert_grad_matches(lambda a: F.cross_entropy(a, t), x)
    p = data.draw(arrays((n, c, d), low=0.0, high=1.0), label="probabilities")
    assert_grad_matches(lambda a: F.cross_entropy(a, p), x)


@FEW
@given(st.sampled_from([(3,), (2, 3), (2, 1, 2)]), st.sampled_from(REDUCTIONS), st.data())
def test_binary_cross_entropy_with_logits_and_mse_grads(shape: tuple, reduction: str, data: st.DataObject) -> None:
    x = data.draw(arrays(shape, low=-5.0, high=5.0), label="logits")
    y = data.draw(arrays(shape, low=0.0, high=1.0), label="targets")
    pw = data.draw(arrays(shape[-1:], low=0.5, high=3.0), label="pos_weight")
    u = data.draw(upstream(shape if reduction == "none" else ()), label="upstream")
    assert_grad_matches(lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=pw, reduction=reduction),
                        x, y, upstream=u)
    assert_grad_matches(lambda a, b: F.mse_loss(a, b, reduction=reduction), x, y, upstream=u)
