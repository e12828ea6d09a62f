"""Tests of the ``Tensor`` API: construction and dtypes, attributes, gradients and their accumulation,
conversions, devices, operators with Python scalars and NumPy arrays on either side, comparisons, numerical
stability at large inputs, clear errors for bad input, and ``gradcheck``'s failure report.
PyTorch (CPU) is the reference where it defines the semantics."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from tinygrad_w2v import (
    Tensor,
    gather,
    gradcheck,
    log_sigmoid,
    log_softmax,
    logsumexp,
    scatter_add,
    sigmoid,
    softmax,
    where,
)
from tinygrad_w2v.backend import cuda_available
from tinygrad_w2v.ops.base import result

EXTREME = [-1000.0, -30.0, 0.0, 30.0, 1000.0]


@contextmanager
def strict_floats() -> Iterator[None]:
    """Any overflow, invalid operation, division by zero or warning is an error. (Underflow to 0 is IEEE's
    correct answer for exp(-1000) and is allowed.)"""
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        yield


# ----- construction and dtypes ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        (1.5, np.float32),
        ([1.0, 2.5], np.float32),
        ([[1, 2.5], [3, 4]], np.float32),
        ([], np.float32),
        (np.array([1.0, 2.0]), np.float64),
        (np.float64(2.0), np.float64),
        (np.array([1.0], dtype=np.float32), np.float32),
        (3, np.int64),
        ([1, 2, 3], np.int64),
        (np.array([1, 2], dtype=np.int32), np.int32),
        ([True, False], np.bool_),
    ],
)
def test_default_dtypes(data: Any, dtype: Any) -> None:
    t = Tensor(data)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.asarray(data, dtype=dtype))


def test_default_dtypes_match_torch() -> None:
    torch = pytest.importorskip("torch")
    for data in (1.5, [1.0, 2.5], [[1, 2.5]], 3, [1, 2], [True], np.array([1.0, 2.0]), np.array([1, 2])):
        ours = Tensor(data).dtype
        theirs = torch.as_tensor(data).numpy().dtype
        assert ours == theirs, (data, ours, theirs)


def test_explicit_dtype_is_kept() -> None:
    assert Tensor([1.0, 2.0], dtype=np.float64).dtype == np.float64
    assert Tensor(np.arange(3), dtype=np.float32).dtype == np.float32
    assert Tensor(np.arange(3.0), dtype="float32").dtype == np.float32
    assert Tensor([1, 2], dtype=np.float64, requires_grad=True).requires_grad


@pytest.mark.parametrize("data", [[1, 2, 3], np.arange(3), np.array([True, False]), 7])
def test_integer_tensors_cannot_require_grad(data: Any) -> None:
    with pytest.raises(TypeError, match="floating-point"):
        Tensor(data, requires_grad=True)
    t = Tensor(data)
    with pytest.raises(TypeError, match="floating-point"):
        t.requires_grad_()
    assert not t.requires_grad


def test_int_ops_never_require_grad() -> None:
    i = Tensor([1, 2, 3])
    w = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert not (i * 2).requires_grad
    assert (i * w).requires_grad  # the float operand does


def test_tensor_from_tensor_copies_data_not_graph() -> None:
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor(a)  # torch.tensor(a) copies too
    assert b.data is not a.data and not b.requires_grad and b.grad_fn is None
    np.testing.assert_array_equal(b.data, a.data)


# ----- attributes ---------------------------------------------------------------------------------------------
def test_attributes_match_torch() -> None:
    torch = pytest.importorskip("torch")
    xv = np.arange(24.0).reshape(2, 3, 4)
    x = Tensor(xv, requires_grad=True, name="x")
    xt = torch.tensor(xv, requires_grad=True)
    assert x.shape == tuple(xt.shape) and x.ndim == xt.ndim and x.size == xt.numel() and len(x) == len(xt)
    assert x.requires_grad and x.is_leaf == xt.is_leaf is True
    assert x.name == "x" and x.device == "cpu"
    assert isinstance(x.data, np.ndarray)
    np.testing.assert_array_equal(x.T.numpy(), xt.permute(2, 1, 0).detach().numpy())  # .T reverses all axes
    y, yt = x * 2.0, xt * 2.0
    assert y.is_leaf == yt.is_leaf is False
    assert y.requires_grad == yt.requires_grad is True
    c, ct = Tensor(xv), torch.tensor(xv)
    assert c.is_leaf == ct.is_leaf is True and c.requires_grad == ct.requires_grad is False
    d, dt = c * 2.0, ct * 2.0
    assert d.is_leaf == dt.is_leaf is True and d.grad_fn is None


def test_T_is_differentiable() -> None:
    xv = np.arange(6.0).reshape(2, 3)
    g = np.arange(6.0).reshape(3, 2) + 1
    x = Tensor(xv, requires_grad=True)
    x.T.backward(g)
    np.testing.assert_array_equal(x.grad, g.T)


# ----- gradients --------------------------------------------------------------------------------------------
def test_grad_is_none_until_backward_then_has_the_shape_and_accumulates() -> None:
    xv = np.array([[1.0, -2.0, 0.5]])
    x = Tensor(xv, requires_grad=True)
    b = Tensor(np.ones((4, 1)), requires_grad=True)
    assert x.grad is None and b.grad is None
    ((x * b) ** 2).sum().backward()  # broadcast (1, 3) x (4, 1)
    assert x.grad.shape == x.shape and b.grad.shape == b.shape
    np.testing.assert_allclose(x.grad, 2 * xv * 4)
    np.testing.assert_allclose(b.grad, np.full((4, 1), 2 * (xv**2).sum()))
    first = x.grad.copy()
    ((x * b) ** 2).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * first)
    x.zero_grad()
    assert x.grad is None
    ((x * b) ** 2).sum().backward()
    np.testing.assert_allclose(x.grad, first)
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, np.full((1, 3), 3.0))


def test_grad_accumulation_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    xv = np.array([0.3, -0.4, 1.1])
    x, xt = Tensor(xv, requires_grad=True), torch.tensor(xv, requires_grad=True)
    for k in range(3):
        (x.tanh() * (k + 1.0)).sum().backward()
        (torch.tanh(xt) * (k + 1.0)).sum().backward()
        np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)


def test_grad_is_not_aliased_with_the_upstream_gradient() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    g = np.array([3.0, 4.0])
    (x * 1.0).backward(g)
    x.grad[0] = 100.0
    assert g[0] == 3.0
    y = Tensor([1.0, 2.0], requires_grad=True)
    y.backward(g)  # a leaf root
    np.testing.assert_array_equal(y.grad, g)
    assert not np.shares_memory(y.grad, g)


def test_grad_has_the_tensors_dtype_like_torch() -> None:
    torch = pytest.importorskip("torch")
    x = Tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32), requires_grad=True)
    c = np.array([0.5, 0.25, 2.0])  # float64
    y = x * c
    assert y.dtype == np.float64  # NumPy promotion in the forward, like torch
    y.sum().backward()
    xt = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float32, requires_grad=True)
    (xt * torch.tensor(c)).sum().backward()
    assert x.grad.dtype == xt.grad.numpy().dtype == np.float32
    np.testing.assert_allclose(x.grad, c, rtol=1e-7)


def test_backward_on_an_int_tensor_names_dtype_and_shape() -> None:
    with pytest.raises(RuntimeError, match=r"backward.*int64.*\(2,\)|backward.*\(2,\).*int64"):
        Tensor([1, 2]).backward(np.ones(2))
    with pytest.raises(RuntimeError, match="backward"):
        Tensor([1, 2]).sum().backward()


def test_backward_on_a_float_tensor_that_does_not_require_grad() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0, 2.0]).sum().backward()


def test_backward_with_a_grad_of_the_wrong_shape() -> None:
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2.0
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        y.backward(np.ones((3, 2)))


def test_detach_shares_data_but_no_graph_like_torch() -> None:
    torch = pytest.importorskip("torch")
    xv = np.array([1.0, 2.0])
    x = Tensor(xv, requires_grad=True)
    y = x * 3.0
    d = y.detach()
    assert d.grad_fn is None and not d.requires_grad and d.is_leaf
    assert np.shares_memory(d.data, y.data)
    (d * x).sum().backward()  # gradient flows to x through the second factor only
    np.testing.assert_allclose(x.grad, 3.0 * xv)
    xt = torch.tensor(xv, requires_grad=True)
    dt = (xt * 3.0).detach()
    (dt * xt).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy())
    assert dt.is_leaf and not dt.requires_grad


# ----- conversions --------------------------------------------------------------------------------------------
def test_numpy_item_and_array_protocol() -> None:
    x = Tensor(np.array([[1.5, 2.0]]))
    assert isinstance(x.numpy(), np.ndarray)
    np.testing.assert_array_equal(x.numpy(), [[1.5, 2.0]])
    np.testing.assert_array_equal(np.asarray(x), [[1.5, 2.0]])
    assert np.asarray(x, dtype=np.float32).dtype == np.float32
    s = Tensor(2.5).item()
    assert s == 2.5 and type(s) is float
    assert type(Tensor([7]).item()) is int
    assert x.tolist() == [[1.5, 2.0]]


def test_item_on_several_elements_raises_like_torch() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=r"\(2,\)"):
        Tensor([1.0, 2.0]).item()
    with pytest.raises(RuntimeError):
        torch.tensor([1.0, 2.0]).item()


def test_np_array_of_a_tensor_is_a_copy() -> None:
    x = Tensor(np.array([1.0, 2.0, 3.0]))
    a = np.array(x)  # np.array copies by default (NumPy 2 passes copy=True to __array__)
    a[0] = 99.0
    assert x.data[0] == 1.0
    b = np.array(x, copy=True, dtype=np.float32)
    b[1] = 99.0
    assert x.data[1] == 2.0


def test_repr_is_readable() -> None:
    w = Tensor([1.0, 2.0], requires_grad=True, name="w")
    text = repr(w)
    assert text.startswith("Tensor(") and "1." in text and "2." in text
    assert "float32" in text and "requires_grad=True" in text and "'w'" in text
    y = w * 2.0
    assert "grad_fn=<mul>" in repr(y) and "4." in repr(y)
    assert "requires_grad" not in repr(Tensor([1, 2])) and "int64" in repr(Tensor([1, 2]))
    big = repr(Tensor(np.zeros(10_000)))
    assert "..." in big and len(big) < 400


# ----- devices --------------------------------------------------------------------------------------------
def test_to_cpu_is_differentiable() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x.to("cpu")
    assert y.device == "cpu" and y.requires_grad
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0])


@pytest.mark.skipif(cuda_available(), reason="a GPU is present: the missing-CuPy error cannot happen")
def test_cuda_without_cupy_says_how_to_install_the_gpu_extra() -> None:
    with pytest.raises(RuntimeError, match=r"gpu.*extra.*pip install|pip install.*\[gpu\]"):
        Tensor([1.0], device="cuda")
    with pytest.raises(RuntimeError, match=r"gpu.*extra.*pip install|pip install.*\[gpu\]"):
        Tensor([1.0]).to("cuda")
    with pytest.raises(RuntimeError, match="gpu"):
        Tensor([1.0]).to("cuda:0")


@pytest.mark.parametrize("device", ["tpu", "gpu", "mps", ""])
def test_unknown_device_is_a_clear_error(device: str) -> None:
    with pytest.raises(ValueError, match="unknown device"):
        Tensor([1.0], device=device)
    with pytest.raises(ValueError, match="unknown device"):
        Tensor([1.0]).to(device)


@pytest.mark.skipif(not cuda_available(), reason="needs CuPy and a CUDA GPU")
def test_mixing_devices_names_the_op_and_the_shapes() -> None:
    a = Tensor(np.ones((2, 3)))
    b = Tensor(np.ones((2, 3)), device="cuda")
    with pytest.raises(RuntimeError, match=r"add.*\(2, 3\) on cpu.*\(2, 3\) on cuda"):
        a + b  # noqa: B018


# ----- operators with scalars and arrays -------------------------------------------------------------------------
OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("scalar", [2, 2.5])
def test_float32_with_python_scalar_stays_float32_like_torch(op: str, scalar: Any) -> None:
    torch = pytest.importorskip("torch")
    f = OPS[op]
    xv = np.array([1.0, -2.0, 4.0], dtype=np.float32)
    x, xt = Tensor(xv), torch.tensor(xv)
    for ours, theirs in ((f(x, scalar), f(xt, scalar)), (f(scalar, x), f(scalar, xt))):
        assert ours.dtype == np.float32 == theirs.numpy().dtype
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize("op", [*OPS, "matmul"])
def test_ndarray_on_either_side_gives_a_tensor(op: str) -> None:
    f = OPS.get(op, lambda a, b: a @ b)
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((3, 3)) + 3.0
    av = rng.standard_normal((3, 3)) + 3.0
    for left in (True, False):
        x = Tensor(xv, requires_grad=True)
        out = f(av, x) if left else f(x, av)
        expected = f(av, xv) if left else f(xv, av)
        assert type(out) is Tensor, type(out)  # not an object ndarray of tensors
        assert out.dtype == np.float64 and out.shape == (3, 3)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
        gradcheck(lambda t, left=left: f(av, t) if left else f(t, av), x)


def test_scalar_on_either_side_is_differentiable() -> None:
    xv = np.array([0.5, 1.5, -2.0])
    for fn, deriv in [
        (lambda t: 3.0 - t, lambda v: -np.ones_like(v)),
        (lambda t: 3.0 / t, lambda v: -3.0 / v**2),
        (lambda t: t / 4.0, lambda v: np.full_like(v, 0.25)),
        (lambda t: 2.0 * t + 1, lambda v: np.full_like(v, 2.0)),
        (lambda t: t**3, lambda v: 3 * v**2),
    ]:
        x = Tensor(xv, requires_grad=True)
        fn(x).sum().backward()
        np.testing.assert_allclose(x.grad, deriv(xv), rtol=1e-12)


def test_scalar_to_the_power_of_a_tensor_like_torch() -> None:
    torch = pytest.importorskip("torch")
    xv = np.array([0.5, 1.5, -2.0])
    x, xt = Tensor(xv, requires_grad=True), torch.tensor(xv, requires_grad=True)
    y, yt = 2.0**x, 2.0**xt
    assert type(y) is Tensor
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12)
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)
    assert (2.0 ** Tensor(np.float32(1.0))).dtype == np.float32


@pytest.mark.parametrize("base", [0.0, 3.0, np.array([0.0, 0.5, 4.0])])
def test_number_or_array_base_to_the_power_of_a_tensor_like_torch(base: Any) -> None:
    torch = pytest.importorskip("torch")
    xv = np.array([0.0, 1.5, 2.0])
    x, xt = Tensor(xv, requires_grad=True), torch.tensor(xv, requires_grad=True)
    y = base**x
    yt = (torch.tensor(base) if isinstance(base, np.ndarray) else base) ** xt
    assert type(y) is Tensor and y.grad_fn is not None
    with strict_floats():
        y.backward(np.array([1.0, -2.0, 0.5]))
    yt.backward(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    ("name", "fn"),
    [
        ("lt", lambda a, b: a < b),
        ("le", lambda a, b: a <= b),
        ("gt", lambda a, b: a > b),
        ("ge", lambda a, b: a >= b),
        ("eq", lambda a, b: a == b),
        ("ne", lambda a, b: a != b),
    ],
)
def test_comparisons_are_non_differentiable_boolean_tensors(name: str, fn: Any) -> None:
    xv = np.array([1.0, 2.0, 3.0])
    av = np.array([3.0, 2.0, 1.0])
    x = Tensor(xv, requires_grad=True)
    for out, expected in (
        (fn(x, av), fn(xv, av)),
        (fn(av, x), fn(av, xv)),
        (fn(x, 2.0), fn(xv, 2.0)),
        (fn(2.0, x), fn(2.0, xv)),
        (fn(x, Tensor(av)), fn(xv, av)),
    ):
        assert type(out) is Tensor, name
        assert out.dtype == np.bool_
        assert not out.requires_grad and out.grad_fn is None
        np.testing.assert_array_equal(out.numpy(), expected)


def test_bool_of_a_tensor_like_torch() -> None:
    assert bool(Tensor([2.0]) > 1.0) is True
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor([1.0, 2.0]) > 1.0)


# ----- numerical stability ----------------------------------------------------------------------------------
def _torch_reference(name: str, xv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values and gradients (upstream: ones for elementwise, a fixed vector for the rest) in float64 torch."""
    torch = pytest.importorskip("torch")
    xt = torch.tensor(xv.astype(np.float64), requires_grad=True)
    f = {
        "sigmoid": torch.sigmoid,
        "log_sigmoid": torch.nn.functional.logsigmoid,
        "log_softmax": lambda t: torch.log_softmax(t, dim=-1),
        "logsumexp": lambda t: torch.logsumexp(t, dim=-1),
    }[name]
    out = f(xt)
    out.backward(torch.tensor(_upstream(tuple(out.shape))))
    return out.detach().numpy(), xt.grad.numpy()


def _upstream(shape: tuple[int, ...]) -> np.ndarray:
    return np.linspace(-1.0, 2.0, int(np.prod(shape))).reshape(shape)


STABLE = {"sigmoid": sigmoid, "log_sigmoid": log_sigmoid, "log_softmax": log_softmax, "logsumexp": logsumexp}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", STABLE)
@pytest.mark.parametrize("rows", [np.array(EXTREME), np.array([EXTREME, EXTREME[::-1], [1000.0] * 5])])
def test_stable_ops_at_magnitude_1000(name: str, dtype: Any, rows: np.ndarray) -> None:
    xv = rows.astype(dtype)
    expected, expected_grad = _torch_reference(name, xv)
    x = Tensor(xv, requires_grad=True)
    with strict_floats():
        out = STABLE[name](x)
        out.backward(_upstream(out.shape).astype(dtype))
    assert out.dtype == dtype and x.grad.dtype == dtype
    assert np.all(np.isfinite(out.numpy())) and np.all(np.isfinite(x.grad))
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out.numpy(), expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(x.grad, expected_grad, rtol=tol, atol=tol)


def test_stable_ops_against_exact_formulas() -> None:
    x = Tensor(np.array(EXTREME), requires_grad=True)
    with strict_floats():
        s = sigmoid(x).numpy()
        ls = log_sigmoid(x).numpy()
        lse = logsumexp(x).item()
    # sigmoid(-1000) = e^-1000 underflows to 0; log_sigmoid(x) = -log1p(e^-x) ~ x for x << 0, ~ -e^-x for x >> 0
    np.testing.assert_allclose(s, [0.0, np.exp(-30.0) / (1 + np.exp(-30.0)), 0.5, 1 / (1 + np.exp(-30.0)), 1.0])
    np.testing.assert_allclose(ls, [-1000.0, -30.0 - np.log1p(np.exp(-30.0)), -np.log(2.0), -np.exp(-30.0), 0.0],
                               rtol=1e-12, atol=1e-300)
    assert lse == 1000.0 + np.log1p(np.exp(-970.0) + np.exp(-1000.0)) == 1000.0


def test_log_of_zero_is_minus_inf_with_an_infinite_gradient_like_torch() -> None:
    torch = pytest.importorskip("torch")
    xv = np.array([0.0, 1.0, 2.0])
    for dtype, tdtype in ((np.float32, torch.float32), (np.float64, torch.float64)):
        x = Tensor(xv.astype(dtype), requires_grad=True)
        with strict_floats():
            y = x.log()
            y.sum().backward()
        xt = torch.tensor(xv, dtype=tdtype, requires_grad=True)
        yt = torch.log(xt)
        yt.sum().backward()
        with np.errstate(divide="ignore"):
            np.testing.assert_array_equal(y.numpy(), np.log(xv.astype(dtype)))
        np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
        np.testing.assert_array_equal(x.grad, xt.grad.numpy())
        assert x.grad[0] == np.inf


# ----- clear errors -------------------------------------------------------------------------------------------
def test_gather_index_out_of_range_names_the_op_and_shapes() -> None:
    x = Tensor(np.zeros((3, 2)), requires_grad=True)
    with pytest.raises(IndexError, match=r"gather.*5.*axis 0.*size 3.*\(3, 2\)"):
        gather(x, np.array([0, 5]))
    with pytest.raises(IndexError, match=r"gather.*-4.*size 3"):
        gather(x, np.array([-4]))
    with pytest.raises(IndexError, match=r"gather.*2.*axis 1.*size 2.*\(3, 2\)"):
        x.gather(np.array([2]), axis=1)


def test_gather_negative_indices_count_from_the_end_like_np_take() -> None:
    xv = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(gather(Tensor(xv), np.array([-1, 0])).numpy(), np.take(xv, [-1, 0], axis=0))


def test_float_index_arrays_are_rejected() -> None:
    x = Tensor(np.zeros((3, 2)))
    with pytest.raises(TypeError, match=r"gather.*integer.*float64.*\(2,\)"):
        gather(x, np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match=r"scatter_add.*integer.*float64.*\(1,\)"):
        scatter_add(x, np.array([1.0]), np.ones((1, 2)))


def test_scatter_add_index_out_of_range_names_the_op_and_shapes() -> None:
    x = Tensor(np.zeros((3, 2)))
    with pytest.raises(IndexError, match=r"scatter_add.*3.*size 3.*\(3, 2\)"):
        scatter_add(x, np.array([0, 3]), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"scatter_add.*\(2, 3\).*\(3, 2\)"):
        scatter_add(x, np.array([0, 1]), np.ones((2, 3)))


def test_scatter_add_matches_np_add_at() -> None:
    xv = np.arange(6.0).reshape(3, 2)
    src = np.arange(8.0).reshape(4, 2)
    idx = np.array([0, 2, 0, -1])
    expected = xv.copy()
    np.add.at(expected, idx, src)
    np.testing.assert_array_equal(scatter_add(Tensor(xv), idx, Tensor(src)).numpy(), expected)


@pytest.mark.parametrize(
    ("a", "b"),
    [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3), (2,)), ((5, 2, 3), (4, 3, 2))],
)
def test_matmul_shape_mismatch_names_the_op_and_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=rf"matmul.*{_shape_re(a)}.*{_shape_re(b)}"):
        Tensor(np.ones(a)) @ Tensor(np.ones(b))
    with pytest.raises(ValueError, match=rf"matmul.*{_shape_re(a)}.*{_shape_re(b)}"):
        np.ones(a) @ Tensor(np.ones(b))


def _shape_re(shape: tuple[int, ...]) -> str:
    return str(shape).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("op", OPS)
def test_broadcasting_failure_names_the_op_and_shapes(op: str) -> None:
    a, b = Tensor(np.ones((2, 3))), Tensor(np.ones((4,)), requires_grad=True)
    with pytest.raises(ValueError, match=rf"{op}.*\(2, 3\).*\(4,\).*broadcast"):
        OPS[op](a, b)
    with pytest.raises(ValueError, match=rf"{op}.*\(2, 3\).*\(4,\).*broadcast"):
        OPS[op](np.ones((2, 3)), b)


# ----- gradcheck ----------------------------------------------------------------------------------------------
def _cube_with_wrong_backward(x: Tensor) -> Tensor:
    """x**3 with the derivative 3x instead of 3x**2: a deliberately wrong op, added as docs/internals.md shows."""
    return result("bad_cube", x.data**3, (x,), lambda g, out, x: (g * 3 * x,))


def _cube(x: Tensor) -> Tensor:
    return result("cube", x.data**3, (x,), lambda g, out, x: (g * 3 * x**2,))


def test_gradcheck_passes_a_correct_custom_op() -> None:
    x = Tensor(np.array([0.5, -1.5, 2.0, 3.0]), requires_grad=True)
    assert gradcheck(_cube, x) is True


def test_gradcheck_reports_the_op_worst_element_values_and_tolerance() -> None:
    xv = np.array([0.5, -1.5, 2.0, 3.0])
    u = np.ones(4)
    with pytest.raises(AssertionError) as info:
        gradcheck(_cube_with_wrong_backward, Tensor(xv, requires_grad=True), upstream=u, atol=1e-5, rtol=1e-4)
    msg = str(info.value)
    # worst element: |3x - 3x^2| is largest at x = 3.0 (index 3): autograd 9, finite differences 27
    assert "bad_cube" in msg
    assert "(3,)" in msg
    assert re.search(r"\b9\.0", msg) and re.search(r"\b27\.0", msg), msg
    assert "1e-05" in msg and "0.0001" in msg


def test_gradcheck_checks_float32_inputs_in_float64() -> None:
    x = Tensor(np.array([0.5, -1.5], dtype=np.float32), requires_grad=True)
    seen: list[Any] = []

    def fn(t: Tensor) -> Tensor:
        seen.append(t.dtype)
        return t.tanh()

    assert gradcheck(fn, x)
    assert set(seen) == {np.dtype(np.float64)}
    assert x.grad is None  # the caller's tensor is untouched



@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_normalising_ops_of_an_integer_tensor_are_float(op):
    ints = np.array([[1, 2, 3], [0, -5, 7]])
    out = getattr(Tensor(ints), op)(axis=-1)
    expected = getattr(Tensor(ints.astype(np.float64)), op)(axis=-1)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-15)


def test_gradcheck_fails_when_a_gradient_is_nan() -> None:
    # log of a negative number: NaN values, so NaN finite differences, while autograd gives the finite 1/x
    with pytest.raises(AssertionError, match=r"op 'log'.*nan"):
        with np.errstate(invalid="ignore"):
            gradcheck(lambda t: t.log(), Tensor(np.array([-1.0, 2.0]), requires_grad=True))
    nan_backward = lambda t: result("nan_grad", t.data * 2, (t,), lambda g, out, t: (g * np.nan,))  # noqa: E731
    with pytest.raises(AssertionError, match=r"op 'nan_grad'.*nan"):
        gradcheck(nan_backward, Tensor(np.array([1.0]), requires_grad=True))


# ----- PyTorch's values where NumPy's arithmetic would give NaN or a wrong number --------------------------------
def _ours_and_torch(fn_ours: Any, fn_torch: Any, xv: np.ndarray, upstream: np.ndarray | None = None) -> None:
    """Values and gradients of ``fn_ours`` and ``fn_torch`` at ``xv`` agree exactly, NaN included."""
    torch = pytest.importorskip("torch")
    x, xt = Tensor(xv, requires_grad=True), torch.tensor(xv, requires_grad=True)
    y, yt = fn_ours(x), fn_torch(xt)
    u = np.ones(y.shape, dtype=xv.dtype) if upstream is None else upstream
    with np.errstate(all="ignore"):
        y.backward(u)
    yt.backward(torch.tensor(u))
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())
    assert y.dtype == yt.detach().numpy().dtype and x.grad.dtype == xt.grad.numpy().dtype


def test_pow_zero_at_zero_has_gradient_zero_like_torch() -> None:
    _ours_and_torch(lambda t: t**0, lambda t: t**0, np.array([0.0, 2.0, -1.0]))
    _ours_and_torch(lambda t: t.pow(0), lambda t: t.pow(0), np.array([0.0], dtype=np.float32))


def test_relu_of_infinities_and_nan_like_torch() -> None:
    torch = pytest.importorskip("torch")
    xv = np.array([-np.inf, -1.0, 0.0, 2.0, np.inf, np.nan])
    _ours_and_torch(lambda t: t.relu(), torch.relu, xv)
    _ours_and_torch(lambda t: t.relu().exp(), lambda t: torch.relu(t).exp(), xv[:5])  # relu(-inf) = 0, not NaN


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_and_min_with_nan_like_torch(op: str) -> None:
    xv = np.array([[1.0, np.nan, 3.0], [2.0, 5.0, -1.0]])
    # the whole tensor: NaN, and the gradient goes to the NaN (torch.max()'s rule), not NaN everywhere
    _ours_and_torch(lambda t: getattr(t, op)(), lambda t: getattr(t, op)(), xv)
    # along an axis: the NaN row is NaN with its gradient on the NaN; the other row is untouched
    _ours_and_torch(lambda t: getattr(t, op)(dim=1), lambda t: getattr(t, op)(dim=1).values, xv)


def test_float16_mean_over_more_than_65504_elements_like_torch() -> None:
    _ours_and_torch(lambda t: t.mean(), lambda t: t.mean(), np.ones(70_000, dtype=np.float16))
    x = Tensor(np.ones((2, 70_000), dtype=np.float16), requires_grad=True)
    x.mean(axis=1).sum().backward()
    assert np.all(x.grad > 0)


def test_where_of_two_python_numbers_has_torchs_dtype() -> None:
    torch = pytest.importorskip("torch")
    cond = np.array([True, False, True])
    for a, b in ((1.0, 0.0), (1, 0), (1, 0.5), (2.5, 1)):
        ours = where(Tensor(cond), a, b)
        theirs = torch.where(torch.tensor(cond), a, b).numpy()
        assert ours.dtype == theirs.dtype, (a, b)
        np.testing.assert_array_equal(ours.numpy(), theirs)
    np.testing.assert_array_equal(where(cond, 1.0, 0.0).numpy(), [1.0, 0.0, 1.0])


def test_softmax_over_a_tuple_of_axes_uses_all_of_them_like_torch_on_the_flattened_axes() -> None:
    torch = pytest.importorskip("torch")
    xv = np.random.default_rng(0).standard_normal((2, 3, 4))
    flat = torch.tensor(xv.reshape(2, 12))
    np.testing.assert_allclose(softmax(Tensor(xv), (1, 2)).numpy().reshape(2, 12), torch.softmax(flat, 1).numpy(),
                               rtol=1e-14)
    np.testing.assert_allclose(Tensor(xv).log_softmax(dim=(1, 2)).numpy().reshape(2, 12),
                               torch.log_softmax(flat, 1).numpy(), rtol=1e-14)


def test_scatter_add_of_floats_into_an_int_tensor_raises_like_torch() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"scatter_add.*float64.*int64"):
        scatter_add(Tensor(np.zeros(3, dtype=np.int64)), np.array([0, 2]), np.array([0.5, 1.5]))
    with pytest.raises(TypeError, match=r"scatter_add.*float32.*int64"):
        scatter_add(Tensor(np.zeros(3, dtype=np.int64)), np.array([0]), Tensor([0.5]))
    with pytest.raises(RuntimeError):
        torch.zeros(3, dtype=torch.int64).scatter_add(0, torch.tensor([0, 2]), torch.tensor([0.5, 1.5]))
    ints = scatter_add(Tensor(np.zeros(3, dtype=np.int64)), np.array([0, 0]), np.array([2, 3]))
    np.testing.assert_array_equal(ints.numpy(), [5, 0, 0])


@pytest.mark.parametrize(
    "fn",
    [lambda a, b: a / b, lambda a, b: a / 2, lambda a, b: 3 / a, lambda a, b: a + 1.5, lambda a, b: 2.5 * a,
     lambda a, b: a - 0.5, lambda a, b: a**0.5, lambda a, b: a.sqrt(), lambda a, b: a.clamp(min=1.5)],
)
def test_integer_tensors_with_floats_give_float32_like_torch(fn: Any) -> None:
    torch = pytest.importorskip("torch")
    av, bv = np.array([1, 2, 7]), np.array([2, 4, 2])
    ours = fn(Tensor(av), Tensor(bv))
    theirs = fn(torch.tensor(av), torch.tensor(bv)).numpy()
    assert ours.dtype == theirs.dtype == np.float32
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-7)


# ----- methods a PyTorch user reaches for first ---------------------------------------------------------------------
def test_pytorch_spellings_match_torch() -> None:
    torch = pytest.importorskip("torch")
    xv = np.random.default_rng(1).standard_normal((2, 1, 3, 4))
    x, xt = Tensor(xv), torch.tensor(xv)
    cases = {
        "abs": (abs(x), abs(xt)),
        "sum dim keepdim": (x.sum(dim=2, keepdim=True), xt.sum(dim=2, keepdim=True)),
        "sum dims": (x.sum(dim=(0, 3)), xt.sum(dim=(0, 3))),
        "mean": (x.mean(2, True), xt.mean(2, True)),
        "amax": (x.max(dim=-1), xt.amax(dim=-1)),
        "amin": (x.min(), xt.min()),
        "var": (x.var(), xt.var()),
        "var unbiased=False": (x.var(3, False), xt.var(3, False)),
        "var correction": (
            x.var(dim=(0, 2), correction=0, keepdim=True), xt.var(dim=(0, 2), correction=0, keepdim=True)
        ),
        "std": (x.std(dim=2), xt.std(dim=2)),
        "clamp": (x.clamp(-0.5, 0.5), xt.clamp(-0.5, 0.5)),
        "clip max": (x.clip(max=0.1), xt.clip(max=0.1)),
        "flatten": (x.flatten(), xt.flatten()),
        "flatten 1 2": (x.flatten(1, 2), xt.flatten(1, 2)),
        "squeeze": (x.squeeze(), xt.squeeze()),
        "squeeze 0": (x.squeeze(0), xt.squeeze(0)),
        "squeeze 1": (x.squeeze(1), xt.squeeze(1)),
        "unsqueeze": (x.unsqueeze(-1), xt.unsqueeze(-1)),
        "view": (x.view(2, -1), xt.view(2, -1)),
        "view tuple": (x.view((6, 4)), xt.view((6, 4))),
        "pow": (x.pow(2), xt.pow(2)),
        "sqrt": (abs(x).sqrt(), abs(xt).sqrt()),
        "logsumexp": (x.logsumexp(dim=3, keepdim=True), xt.logsumexp(dim=3, keepdim=True)),
        "float": (x.float(), xt.float()),
        "to": (x.to(np.float32), xt.to(torch.float32)),
        "long": ((x * 3).long(), (xt * 3).long()),
    }
    for name, (ours, theirs) in cases.items():
        expected = theirs.numpy()
        assert ours.shape == expected.shape and ours.dtype == expected.dtype, name
        np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6 if expected.dtype == np.float32 else 1e-14,
                                   err_msg=name)
    for ours, theirs in ((x.split(2, 2), xt.split(2, 2)), (x.split([1, 3], -1), xt.split([1, 3], -1)),
                         (x.chunk(3, 3), xt.chunk(3, 3)), (x.chunk(2, 0), xt.chunk(2, 0)), (x.unbind(2), xt.unbind(2))):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_std_of_a_constant_has_gradient_zero_like_torch() -> None:
    _ours_and_torch(lambda t: t.std(), lambda t: t.std(), np.full(3, 2.0))
    _ours_and_torch(lambda t: t.std(dim=1), lambda t: t.std(dim=1), np.array([[1.0, 1.0], [1.0, 3.0]]))


def test_clamp_passes_the_gradient_at_the_bounds_like_torch() -> None:
    torch = pytest.importorskip("torch")
    xv = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan])
    _ours_and_torch(lambda t: t.clamp(0.0, 1.0), lambda t: t.clamp(0.0, 1.0), xv)
    _ours_and_torch(lambda t: t.clamp(2.0, 1.0), lambda t: torch.clamp(t, 2.0, 1.0), np.array([0.0, 1.5, 3.0]))
    _ours_and_torch(lambda t: abs(t), torch.abs, np.array([-2.0, 0.0, 3.0]))
    _ours_and_torch(lambda t: t.sqrt(), torch.sqrt, np.array([0.0, 4.0]))


def test_bad_arguments_of_the_new_methods_are_named() -> None:
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(TypeError, match="sum.*axis.*dim"):
        x.sum(axis=0, dim=1)
    with pytest.raises(TypeError, match="var.*unbiased.*correction"):
        x.var(unbiased=True, correction=0)
    with pytest.raises(ValueError, match="clamp.*at least one"):
        x.clamp()
    with pytest.raises(TypeError, match="clamp: min must be a Python number"):
        x.clamp(np.zeros(3))
    with pytest.raises(ValueError, match=r"split.*\[1, 1\].*3"):
        x.split([1, 1], 1)
    with pytest.raises(ValueError, match="unsqueeze: dim 3 is out of range"):
        x.unsqueeze(3)
    with pytest.raises(ValueError, match="flatten: start_dim 1 comes after end_dim 0"):
        x.flatten(1, 0)
    with pytest.raises(ValueError, match="chunk: chunks must be positive"):
        x.chunk(0)
    with pytest.raises(TypeError, match="to: expected a device name, a dtype or a Tensor"):
        x.to(3.5)


def test_to_follows_torch() -> None:
    x = Tensor(np.arange(3.0), requires_grad=True)
    assert x.to("cpu") is x and x.to(np.float64) is x and x.to(x) is x  # nothing to change: the same tensor
    y = x.to("cpu", np.float32)
    assert y.dtype == np.float32 and y.requires_grad
    ints = x.to(np.int64)
    assert ints.dtype == np.int64 and not ints.requires_grad and ints.grad_fn is None
    z = Tensor(np.zeros(2, dtype=np.float32)).to(x)
    assert z.dtype == np.float64
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 2.0, 4.0])
