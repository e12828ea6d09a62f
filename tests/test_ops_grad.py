"""Property tests of every op: forward values against NumPy, gradients against central finite differences
in float64 with a random upstream gradient (``tinygrad_w2v.testing``), on random shapes (0-d and size-1
axes included), broadcasting pairs, random axes and index arrays with repeats and negative values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_w2v import (
    RowSparse,
    Tensor,
    chunk,
    clamp,
    clip,
    concatenate,
    flatten,
    gather,
    gather_dot,
    grad,
    log_sigmoid,
    log_softmax,
    logsumexp,
    scatter_add,
    sigmoid,
    softmax,
    split,
    sqrt,
    squeeze,
    stack,
    std,
    unsqueeze,
    var,
    where,
)
from tinygrad_w2v.testing import assert_grad_matches, gradcheck
from tinygrad_w2v.testing.strategies import (
    arrays,
    away_from_zero,
    axes,
    broadcastable_shapes,
    index_arrays,
    positive_arrays,
    shapes,
    upstream,
)

FEW = settings(max_examples=25, deadline=None)


def as_input(a: Any) -> Any:
    """Float arrays become float64 constant tensors; index and mask arrays pass through."""
    return Tensor(a) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a


def check(data: st.DataObject, fn: Callable[..., Tensor], reference: Callable[..., Any], *args: Any) -> None:
    """``fn(*tensors)`` equals ``reference(*arrays)`` (NumPy), and its gradient with respect to every float
    argument matches finite differences for a drawn upstream gradient."""
    out = fn(*(as_input(a) for a in args))
    expected = np.asarray(reference(*args))
    assert out.shape == expected.shape
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert_grad_matches(fn, *args, upstream=data.draw(upstream(expected.shape), label="upstream"))


# ----- elementwise binary ops, broadcasting both ways ---------------------------------------------------------
BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
}


@FEW
@given(st.sampled_from(sorted(BINARY)), broadcastable_shapes(), st.data())
def test_binary_ops_broadcast(op: str, pair: tuple, data: st.DataObject) -> None:
    a = data.draw(arrays(pair[0]), label="a")
    b = data.draw(arrays(pair[1]), label="b")
    check(data, *BINARY[op], a, b)


@FEW
@given(broadcastable_shapes(), st.data())
def test_div_broadcast(pair: tuple, data: st.DataObject) -> None:
    a = data.draw(arrays(pair[0]), label="a")
    b = data.draw(away_from_zero(pair[1], margin=0.25), label="b")
    check(data, lambda x, y: x / y, np.divide, a, b)


# Reflected and mixed operands: Python scalars and NumPy arrays on either side of a tensor.
MIXED = {
    "scalar + x": (lambda x, c: 2.5 + x, lambda x, c: 2.5 + x),
    "x + array": (lambda x, c: x + c, lambda x, c: x + c),
    "array + x": (lambda x, c: c + x, lambda x, c: c + x),
    "scalar - x": (lambda x, c: 1.5 - x, lambda x, c: 1.5 - x),
    "array - x": (lambda x, c: c - x, lambda x, c: c - x),
    "x - scalar": (lambda x, c: x - 0.5, lambda x, c: x - 0.5),
    "scalar * x": (lambda x, c: -3.0 * x, lambda x, c: -3.0 * x),
    "array * x": (lambda x, c: c * x, lambda x, c: c * x),
    "x / scalar": (lambda x, c: x / 4.0, lambda x, c: x / 4.0),
    "scalar / x": (lambda x, c: 2.0 / x, lambda x, c: 2.0 / x),
    "array / x": (lambda x, c: c / x, lambda x, c: c / x),
    "x / array": (lambda x, c: x / (np.abs(c) + 0.5), lambda x, c: x / (np.abs(c) + 0.5)),
}


@FEW
@given(st.sampled_from(sorted(MIXED)), broadcastable_shapes(), st.data())
def test_reflected_and_constant_operands(case: str, pair: tuple, data: st.DataObject) -> None:
    x = data.draw(away_from_zero(pair[0], margin=0.25), label="x")
    c = data.draw(arrays(pair[1]), label="c")
    fn, reference = MIXED[case]
    check(data, lambda t: fn(t, c), lambda t: reference(t, c), x)


# ----- elementwise unary ops -----------------------------------------------------------------------------
@FEW
@given(arrays(shapes()), st.data())
def test_neg(x: np.ndarray, data: st.DataObject) -> None:
    check(data, lambda t: -t, np.negative, x)


@FEW
@given(positive_arrays(shapes()), st.sampled_from([-2, -1.5, -1, 0, 0.5, 1, 2, 3, 2.7]), st.data())
def test_pow_scalar_exponent(x: np.ndarray, p: float, data: st.DataObject) -> None:
    check(data, lambda t: t**p, lambda a: a**p, x)


@FEW
@given(arrays(shapes()), st.sampled_from([2, 3]), st.data())
def test_pow_integer_exponent_any_sign(x: np.ndarray, p: int, data: st.DataObject) -> None:
    check(data, lambda t: t**p, lambda a: a**p, x)


def np_sigmoid(a: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-a))


UNARY = {
    "exp": (lambda t: t.exp(), np.exp),
    "tanh": (lambda t: t.tanh(), np.tanh),
    "sigmoid": (lambda t: t.sigmoid(), np_sigmoid),
    "sigmoid()": (sigmoid, np_sigmoid),
    "log_sigmoid": (lambda t: t.log_sigmoid(), lambda a: np.log(np_sigmoid(a))),
    "log_sigmoid()": (log_sigmoid, lambda a: -np.logaddexp(0, -a)),
}


@FEW
@given(st.sampled_from(sorted(UNARY)), arrays(shapes()), st.data())
def test_unary_ops(op: str, x: np.ndarray, data: st.DataObject) -> None:
    check(data, *UNARY[op], x)


@FEW
@given(positive_arrays(shapes(), low=0.2), st.data())
def test_log(x: np.ndarray, data: st.DataObject) -> None:
    check(data, lambda t: t.log(), np.log, x)


@FEW
@given(away_from_zero(shapes()), st.data())
def test_relu_away_from_kink(x: np.ndarray, data: st.DataObject) -> None:
    check(data, lambda t: t.relu(), lambda a: np.maximum(a, 0), x)


# ----- softmax family along a random axis ----------------------------------------------------------------
def np_logsumexp(a: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    top = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - top), axis=axis, keepdims=True)) + top
    return out if keepdims else np.squeeze(out, axis=axis if axis is not None else tuple(range(a.ndim)))


@FEW
@given(arrays(shapes(min_dims=1)), st.data())
def test_softmax_and_log_softmax(x: np.ndarray, data: st.DataObject) -> None:
    axis = data.draw(axes(x.ndim, allow_none=False, allow_tuple=False), label="axis")
    lse = np_logsumexp(x, axis, keepdims=True)
    check(data, lambda t: t.softmax(axis=axis), lambda a: np.exp(a - lse), x)
    check(data, lambda t: softmax(t, axis), lambda a: np.exp(a - lse), x)
    check(data, lambda t: t.log_softmax(axis=axis), lambda a: a - lse, x)
    check(data, lambda t: log_softmax(t, axis), lambda a: a - lse, x)


@FEW
@given(arrays(shapes()), st.booleans(), st.data())
def test_logsumexp(x: np.ndarray, keepdims: bool, data: st.DataObject) -> None:
    axis = data.draw(axes(x.ndim), label="axis")
    check(data, lambda t: t.logsumexp(axis=axis, keepdims=keepdims), lambda a: np_logsumexp(a, axis, keepdims), x)
    check(data, lambda t: logsumexp(t, axis, keepdims), lambda a: np_logsumexp(a, axis, keepdims), x)


# ----- reductions ------------------------------------------------------------------------------------------
@FEW
@given(st.sampled_from(["sum", "mean"]), arrays(shapes()), st.booleans(), st.data())
def test_sum_mean(op: str, x: np.ndarray, keepdims: bool, data: st.DataObject) -> None:
    axis = data.draw(axes(x.ndim), label="axis")
    reference = getattr(np, op)
    check(
        data, lambda t: getattr(t, op)(axis=axis, keepdims=keepdims), lambda a: reference(a, axis, keepdims=keepdims), x
    )


@FEW
@given(arrays(shapes(), distinct=True), st.booleans(), st.data())
def test_max_distinct_values(x: np.ndarray, keepdims: bool, data: st.DataObject) -> None:
    axis = data.draw(axes(x.ndim), label="axis")
    check(data, lambda t: t.max(axis=axis, keepdims=keepdims), lambda a: np.max(a, axis, keepdims=keepdims), x)


def test_max_ties_share_the_gradient() -> None:
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]]), requires_grad=True)
    x.max(axis=1).backward(np.array([1.0, 4.0]))
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [2, 0, 2]])


# ----- shape ops -------------------------------------------------------------------------------------------
@FEW
@given(arrays(shapes()), st.data())
def test_reshape(x: np.ndarray, data: st.DataObject) -> None:
    # a new shape of the same size: the sides of x in a random order, some merged, one maybe -1
    sides = list(data.draw(st.permutations(x.shape), label="order"))
    if len(sides) > 1 and data.draw(st.booleans(), label="merge"):
        sides[:2] = [sides[0] * sides[1]]
    if sides and data.draw(st.booleans(), label="-1"):
        sides[data.draw(st.integers(0, len(sides) - 1), label="which")] = -1
    new = tuple(sides)
    check(data, lambda t: t.reshape(new), lambda a: a.reshape(new), x)
    check(data, lambda t: t.reshape(*new), lambda a: a.reshape(new), x)


@FEW
@given(arrays(shapes()), st.data())
def test_transpose(x: np.ndarray, data: st.DataObject) -> None:
    perm = tuple(data.draw(st.permutations(range(x.ndim)), label="perm"))
    check(data, lambda t: t.transpose(perm), lambda a: a.transpose(perm), x)
    check(data, lambda t: t.transpose(), lambda a: a.transpose(), x)
    check(data, lambda t: t.T, lambda a: a.T, x)


@FEW
@given(shapes(min_dims=1), st.integers(1, 3), st.data())
def test_concatenate(base: tuple, k: int, data: st.DataObject) -> None:
    axis = data.draw(st.integers(-len(base), len(base) - 1), label="axis")
    parts = []
    for i in range(k):
        shape = list(base)
        shape[axis] = data.draw(st.integers(1, 3), label=f"side {i}")
        parts.append(data.draw(arrays(tuple(shape)), label=f"part {i}"))
    check(data, lambda *ts: concatenate(ts, axis=axis), lambda *a: np.concatenate(a, axis=axis), *parts)


@FEW
@given(shapes(), st.integers(1, 3), st.data())
def test_stack(shape: tuple, k: int, data: st.DataObject) -> None:
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)), label="axis")
    parts = [data.draw(arrays(shape), label=f"part {i}") for i in range(k)]
    check(data, lambda *ts: stack(ts, axis=axis), lambda *a: np.stack(a, axis=axis), *parts)


@FEW
@given(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3), st.data())
def test_where(shapes3: Any, data: st.DataObject) -> None:
    cs, as_, bs = shapes3.input_shapes
    cond = data.draw(hnp.arrays(bool, cs), label="cond")
    a = data.draw(arrays(as_), label="a")
    b = data.draw(arrays(bs), label="b")
    check(data, lambda x, y: where(cond, x, y), lambda x, y: np.where(cond, x, y), a, b)
    check(data, lambda x, y: where(Tensor(cond), x, y), lambda x, y: np.where(cond, x, y), a, b)
    check(data, lambda x: where(cond, x, 0.0), lambda x: np.where(cond, x, 0.0), a)


# ----- matmul: 1-D, 2-D, batched with broadcasting --------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=4, max_side=3), st.data())
def test_matmul(shapes2: Any, data: st.DataObject) -> None:
    a = data.draw(arrays(shapes2.input_shapes[0]), label="a")
    b = data.draw(arrays(shapes2.input_shapes[1]), label="b")
    check(data, lambda x, y: x @ y, np.matmul, a, b)
    check(data, lambda x: x @ b, lambda x: x @ b, a)  # an array operand on the right ...
    check(data, lambda y: a @ y, lambda y: a @ y, b)  # ... and on the left (__rmatmul__)



@pytest.mark.parametrize("shapes", [((4, 1, 6, 3), (4, 1, 3, 1)), ((5, 3), (2, 3, 1)), ((1, 4), (3, 4, 2)),
                                    ((2, 1, 3), (3, 1))])
def test_matmul_outer_products(shapes: tuple) -> None:
    """Operands whose gradients are outer products (a contraction of size 1: batched dot products, a
    column times a row), which the backward takes as broadcast products: gradients against finite
    differences, and the second order through them."""
    rng = np.random.default_rng(3)
    a, b = (Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes)
    assert gradcheck(lambda x, y: x @ y, a, b)
    assert gradcheck(lambda x, y: (grad((x @ y).tanh().sum(), [x, y], create_graph=True)[0] ** 2).sum(), a, b)

# ----- indexing ----------------------------------------------------------------------------------------------
@FEW
@given(arrays(shapes()), st.data())
def test_getitem_basic(x: np.ndarray, data: st.DataObject) -> None:
    key = data.draw(hnp.basic_indices(x.shape, allow_newaxis=True, allow_ellipsis=True), label="key")
    check(data, lambda t: t[key], lambda a: a[key], x)


@FEW
@given(arrays(shapes(min_dims=1)), st.data())
def test_getitem_int_array_with_repeats_and_negatives(x: np.ndarray, data: st.DataObject) -> None:
    idx = data.draw(index_arrays(x.shape[0], shapes(min_dims=1, max_dims=2, max_side=5)), label="idx")
    check(data, lambda t: t[idx], lambda a: a[idx], x)
    check(data, lambda t: t[Tensor(idx)], lambda a: a[idx], x)


@FEW
@given(arrays(shapes(min_dims=2)), st.data())
def test_getitem_mixed_tuples(x: np.ndarray, data: st.DataObject) -> None:
    idx = data.draw(index_arrays(x.shape[1], (data.draw(st.integers(1, 5)),)), label="idx")
    rows = data.draw(index_arrays(x.shape[0], idx.shape), label="rows")
    i = data.draw(st.integers(-x.shape[0], x.shape[0] - 1), label="i")
    for key in [(slice(None), idx), (rows, slice(None, None, -1)), (i, idx), (rows, idx), (slice(None), idx, Ellipsis)]:
        check(data, lambda t, key=key: t[key], lambda a, key=key: a[key], x)


@FEW
@given(arrays(shapes(min_dims=1)), st.data())
def test_getitem_boolean_mask(x: np.ndarray, data: st.DataObject) -> None:
    full = data.draw(hnp.arrays(bool, x.shape), label="mask")
    rows = data.draw(hnp.arrays(bool, x.shape[:1]), label="row mask")
    check(data, lambda t: t[full], lambda a: a[full], x)
    check(data, lambda t: t[rows], lambda a: a[rows], x)


@FEW
@given(arrays(shapes(min_dims=1)), st.data())
def test_gather(x: np.ndarray, data: st.DataObject) -> None:
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    idx = data.draw(index_arrays(x.shape[axis], shapes(max_dims=2, max_side=5)), label="idx")
    check(data, lambda t: gather(t, idx, axis), lambda a: np.take(a, idx, axis), x)
    check(data, lambda t: t.gather(idx, axis=axis), lambda a: np.take(a, idx, axis), x)


@FEW
@given(arrays(shapes(min_dims=2, max_dims=2)), shapes(min_dims=1, max_dims=3, max_side=4), st.data())
def test_gather_dot(x: np.ndarray, index_shape: tuple, data: st.DataObject) -> None:
    """Dot products of gathered rows with a batch of vectors, the vectors' batch axes broadcast (size 1 or
    missing): values, and gradients in every mode, against the gather and the product written out."""
    idx = data.draw(index_arrays(x.shape[0], index_shape), label="idx")
    batch = idx.shape[:-1]
    v_batch = tuple(data.draw(st.sampled_from([n, 1]), label="v axis") for n in batch)[data.draw(
        st.integers(0, len(batch)), label="v axes dropped"):]
    v = data.draw(arrays(v_batch + x.shape[1:]), label="v")

    def reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (np.take(a, idx, 0) @ b[..., None])[..., 0]

    check(data, lambda t, w: gather_dot(t, idx, w), reference, x, v)
    check(data, lambda w: gather_dot(x, idx, w), lambda b: reference(x, b), v)  # an array table
    check(data, lambda t: gather_dot(t, idx, v), lambda a: reference(a, v), x)  # an array of vectors


@pytest.mark.parametrize("n_index", [12, 600])  # the np.add.at and the sparse-matrix kernels
@pytest.mark.parametrize("v_shape", [(40, 3), (1, 3)])  # one vector per row of the index, or one for all
def test_gather_dot_sparse_grad_equals_dense(n_index: int, v_shape: tuple) -> None:
    """With a sparse table the gradient is a coalesced RowSparse of the picked rows (repeats and negative
    indices summed into one row), equal to the dense gradient and to the sum written out."""
    rng = np.random.default_rng(n_index)
    w, v = rng.standard_normal((30, 3)), rng.standard_normal(v_shape)
    idx = rng.integers(-30, 30, size=(40, n_index // 40 + 1))
    u = rng.standard_normal(idx.shape)
    expected = np.zeros((30, 3))
    np.add.at(expected, idx % 30, u[..., None] * np.broadcast_to(v, (40, 3))[:, None, :])
    grads = []
    for sparse in (True, False):
        t = Tensor(w, requires_grad=True)
        t.sparse_grad = sparse
        gather_dot(t, idx, v).backward(u)
        grads.append(t.grad)
    assert isinstance(grads[0], RowSparse) and grads[0].coalesced
    np.testing.assert_array_equal(grads[0].indices, np.unique(idx % 30))
    np.testing.assert_allclose(grads[0].to_dense(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads[1], expected, rtol=1e-12, atol=1e-12)


def test_gather_dot_errors() -> None:
    x = Tensor(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"gather_dot: x must be \(n, D\) and v \(..., D\)"):
        gather_dot(x, np.zeros((2, 4), int), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="do not broadcast"):
        gather_dot(x, np.zeros((2, 4), int), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"index must be \(..., K\) with batch shape \(3, 2\)"):
        gather_dot(x, np.zeros((2, 4), int), np.zeros((3, 1, 3)))
    with pytest.raises(IndexError, match="gather_dot: index 5 is out of range"):
        gather_dot(x, np.full((2, 4), 5), np.zeros((2, 3)))

@FEW
@given(arrays(shapes(min_dims=1)), st.data())
def test_scatter_add_grad_in_x_and_src(x: np.ndarray, data: st.DataObject) -> None:
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    idx = data.draw(index_arrays(x.shape[axis], shapes(max_dims=2, max_side=5)), label="idx")
    src = data.draw(arrays(np.take(x, idx, axis).shape), label="src")

    def reference(a: np.ndarray, s: np.ndarray) -> np.ndarray:
        ax = axis % a.ndim
        out = np.moveaxis(a.copy(), ax, 0)
        np.add.at(out, idx, np.moveaxis(s, tuple(range(ax, ax + idx.ndim)), tuple(range(idx.ndim))))
        return np.moveaxis(out, 0, ax)

    check(data, lambda t, s: scatter_add(t, idx, s, axis), reference, x, src)
    check(data, lambda s: scatter_add(x, idx, s, axis), lambda s: reference(x, s), src)


# ----- row-sparse gradients of a gather (the embedding path) ------------------------------------------------
def sparse_and_dense_grads(w: np.ndarray, idx: np.ndarray, reduce_axis: int | None, u: np.ndarray) -> tuple:
    grads = []
    for sparse in (True, False):
        t = Tensor(w, requires_grad=True)
        t.sparse_grad = sparse
        y = gather(t, idx, 0)
        y = y.mean(axis=reduce_axis) if reduce_axis is not None else y
        y.backward(u)
        grads.append(t.grad)
    return tuple(grads)


@FEW
@given(
    arrays(shapes(min_dims=2, max_dims=2)),
    st.sampled_from([None, 0, 1]),
    st.data(),
)
def test_sparse_gather_grad_equals_dense(w: np.ndarray, reduce_axis: int | None, data: st.DataObject) -> None:
    idx = data.draw(index_arrays(w.shape[0], shapes(min_dims=2, max_dims=2, max_side=5)), label="idx")
    out_shape = np.take(w, idx, 0).mean(axis=reduce_axis).shape if reduce_axis is not None else idx.shape + w.shape[1:]
    u = data.draw(upstream(out_shape), label="upstream")
    sparse, dense = sparse_and_dense_grads(w, idx, reduce_axis, u)
    assert isinstance(sparse, RowSparse) and isinstance(dense, np.ndarray)
    assert np.array_equal(sparse.indices, np.unique(idx % w.shape[0]))  # coalesced: one row per distinct index
    np.testing.assert_allclose(sparse.to_dense(), dense, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduce_axis", [None, 0, 1])
def test_large_gather_backward_uses_the_sparse_matrix_kernel(reduce_axis: int | None) -> None:
    """At least 256 indices take the CSC path of ``backend.index_add_rows``; a mean over the first index
    axis makes the upstream broadcast along it, so its rows are read in place in an unsorted order."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((50, 3))
    idx = rng.integers(-50, 50, size=(40, 12))
    out = np.take(w, idx, 0)
    u = rng.standard_normal(out.mean(axis=reduce_axis).shape if reduce_axis is not None else out.shape)
    sparse, dense = sparse_and_dense_grads(w, idx, reduce_axis, u)
    full = u
    if reduce_axis is not None:
        full = np.broadcast_to(np.expand_dims(u, reduce_axis) / idx.shape[reduce_axis], out.shape)
    expected = np.zeros_like(w)
    np.add.at(expected, idx, full)
    np.testing.assert_allclose(dense, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sparse.to_dense(), expected, rtol=1e-12, atol=1e-12)


# ----- composite expressions: several ops, shared inputs -------------------------------------------------------
@FEW
@given(arrays((3, 4)), arrays((4, 2)), arrays((2,)), st.data())
def test_composite_cross_entropy(x: np.ndarray, w: np.ndarray, b: np.ndarray, data: st.DataObject) -> None:
    labels = data.draw(index_arrays(2, (3,), allow_negative=False), label="labels")

    def loss(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        logp = (x @ w + b).tanh().log_softmax(axis=-1)
        return -logp[np.arange(3), labels].mean() + (w * w).sum() * 0.1

    def reference(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        z = np.tanh(x @ w + b)
        logp = z - np_logsumexp(z, -1, keepdims=True)
        return -logp[np.arange(3), labels].mean() + (w * w).sum() * 0.1

    check(data, loss, reference, x, w, b)


# ----- ops a PyTorch user reaches for -------------------------------------------------------------------------
@FEW
@given(away_from_zero(shapes()), st.data())
def test_abs(x: np.ndarray, data: st.DataObject) -> None:
    check(data, lambda t: abs(t), np.abs, x)
    check(data, lambda t: t.abs(), np.abs, x)


@FEW
@given(positive_arrays(shapes()), st.data())
def test_sqrt(x: np.ndarray, data: st.DataObject) -> None:
    check(data, lambda t: t.sqrt(), np.sqrt, x)
    check(data, sqrt, np.sqrt, x)


@FEW
@given(positive_arrays(shapes()), st.sampled_from([-1.5, 0, 0.5, 2, 3]), st.data())
def test_pow_method(x: np.ndarray, p: float, data: st.DataObject) -> None:
    check(data, lambda t: t.pow(p), lambda a: a**p, x)


@FEW
@given(arrays(shapes(), distinct=True), st.booleans(), st.sampled_from(["max", "min"]), st.data())
def test_min_max_with_torch_spelling(x: np.ndarray, keepdim: bool, op: str, data: st.DataObject) -> None:
    axis = data.draw(axes(x.ndim), label="axis")
    reference = getattr(np, op)
    check(data, lambda t: getattr(t, op)(axis, keepdims=keepdim), lambda a: reference(a, axis, keepdims=keepdim), x)
    check(data, lambda t: getattr(t, op)(dim=axis, keepdim=keepdim), lambda a: reference(a, axis, keepdims=keepdim), x)


@FEW
@given(st.sampled_from(["sum", "mean", "logsumexp"]), arrays(shapes()), st.booleans(), st.data())
def test_reductions_take_dim_and_keepdim(op: str, x: np.ndarray, keepdim: bool, data: st.DataObject) -> None:
    axis = data.draw(axes(x.ndim), label="axis")
    reference = {"sum": np.sum, "mean": np.mean, "logsumexp": np_logsumexp}[op]
    check(data, lambda t: getattr(t, op)(dim=axis, keepdim=keepdim), lambda a: reference(a, axis, keepdims=keepdim), x)


# Bounds between the 0.01 grid of distinct arrays: no element sits within a finite-difference step of a bound.
BOUNDS = [(None, 1.005), (-0.995, None), (-1.005, 0.505), (0.305, 0.305 + 0.01)]


@FEW
@given(arrays(shapes(), distinct=True), st.sampled_from(BOUNDS), st.data())
def test_clamp_and_clip(x: np.ndarray, bounds: tuple, data: st.DataObject) -> None:
    lo, hi = bounds
    check(data, lambda t: t.clamp(lo, hi), lambda a: np.clip(a, lo, hi), x)
    check(data, lambda t: clip(t, min=lo, max=hi), lambda a: np.clip(a, lo, hi), x)
    check(data, lambda t: clamp(t, max=hi, min=lo), lambda a: np.clip(a, lo, hi), x)


@FEW
@given(arrays(shapes(min_dims=1, min_side=2), distinct=True), st.sampled_from([0, 1, 2]), st.booleans(), st.data())
def test_var_and_std(x: np.ndarray, correction: int, keepdim: bool, data: st.DataObject) -> None:
    axis = data.draw(axes(x.ndim, allow_tuple=True), label="axis")
    n = x.size if axis is None else int(np.prod([x.shape[a] for a in np.atleast_1d(axis)]))
    if n <= correction:
        correction = 0
    check(data, lambda t: t.var(axis, correction=correction, keepdim=keepdim),
          lambda a: np.var(a, axis, ddof=correction, keepdims=keepdim), x)
    check(data, lambda t: std(t, dim=axis, correction=correction, keepdims=keepdim),
          lambda a: np.std(a, axis, ddof=correction, keepdims=keepdim), x)
    check(data, lambda t: var(t, axis, correction == 1) if correction < 2 else var(t, axis, correction=2),
          lambda a: np.var(a, axis, ddof=correction), x)


@FEW
@given(arrays(shapes()), st.data())
def test_flatten_squeeze_unsqueeze_view(x: np.ndarray, data: st.DataObject) -> None:
    nd = max(x.ndim, 1)
    lo = data.draw(st.integers(-nd, nd - 1), label="start_dim")
    hi = data.draw(st.integers(lo % nd, nd - 1), label="end_dim")
    flat = x.reshape(x.shape[: lo % nd] + (-1,) + x.shape[hi + 1 :]) if x.ndim else x.reshape(1)
    check(data, lambda t: t.flatten(lo, hi), lambda a: a.reshape(flat.shape), x)
    check(data, lambda t: flatten(t), lambda a: a.reshape(-1), x)
    check(data, lambda t: t.squeeze(), np.squeeze, x)
    d = data.draw(st.integers(-nd, nd - 1), label="squeeze dim")
    kept = x.shape if not x.ndim or x.shape[d] != 1 else x.shape[: d % nd] + x.shape[d % nd + 1 :]
    check(data, lambda t: squeeze(t, d), lambda a: a.reshape(kept), x)
    u = data.draw(st.integers(-x.ndim - 1, x.ndim), label="unsqueeze dim")
    check(data, lambda t: t.unsqueeze(u), lambda a: np.expand_dims(a, u), x)
    check(data, lambda t: unsqueeze(t, u), lambda a: np.expand_dims(a, u), x)
    check(data, lambda t: t.view(-1), lambda a: a.reshape(-1), x)


def _weighted_pieces(pieces: Any, used: list[int]) -> Any:
    """The pieces drawn in ``used``, flattened, each times its position + 1 (so each slice's gradient differs)."""
    return [pieces[k].reshape(-1) * (k + 1) for k in used]


@FEW
@given(arrays(shapes(min_dims=1, max_side=5)), st.data())
def test_split_chunk_unbind(x: np.ndarray, data: st.DataObject) -> None:
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1), label="dim")
    n = x.shape[dim]
    size = data.draw(st.integers(1, n + 1), label="split_size")
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=3), label="cuts"))
    sections = [b - a for a, b in zip([0, *cuts], [*cuts, n])]
    chunks = data.draw(st.integers(1, n + 1), label="chunks")
    expected = {
        "split size": np.split(x, range(size, n, size), axis=dim),
        "split sections": np.split(x, cuts, axis=dim),
        "chunk": np.split(x, range(-(-n // chunks), n, -(-n // chunks)), axis=dim),
        "unbind": [np.take(x, i, axis=dim) for i in range(n)],
    }
    ops = {
        "split size": lambda t: t.split(size, dim),
        "split sections": lambda t: split(t, sections, dim=dim),
        "chunk": lambda t: chunk(t, chunks, dim),
        "unbind": lambda t: t.unbind(dim),
    }
    for name, op in ops.items():
        pieces = expected[name]
        assert [p.shape for p in op(Tensor(x))] == [p.shape for p in pieces], name
        used = sorted(data.draw(st.sets(st.integers(0, len(pieces) - 1), min_size=1), label=f"{name} used"))
        check(data, lambda t, op=op, used=used: concatenate(_weighted_pieces(op(t), used)),
              lambda a, pieces=pieces, used=used: np.concatenate(_weighted_pieces(pieces, used)), x)


@FEW
@given(arrays(shapes(min_dims=2)), st.data())
def test_softmax_and_log_softmax_over_a_tuple_of_axes(x: np.ndarray, data: st.DataObject) -> None:
    dims = data.draw(hnp.valid_tuple_axes(x.ndim, min_size=1), label="axes")
    lse = np_logsumexp(x, dims, keepdims=True)
    check(data, lambda t: t.softmax(dims), lambda a: np.exp(a - lse), x)
    check(data, lambda t: log_softmax(t, dim=dims), lambda a: a - lse, x)


@FEW
@given(arrays(shapes(), dtype=np.float32), st.data())
def test_to_dtype_is_a_differentiable_cast(x32: np.ndarray, data: st.DataObject) -> None:
    u = data.draw(upstream(x32.shape), label="upstream")
    for cast in (lambda t: t.to(np.float64), lambda t: t.double(), lambda t: t.to(dtype="float64")):
        x = Tensor(x32, requires_grad=True)
        y = cast(x)
        assert y.dtype == np.float64 and y.grad_fn is not None
        np.testing.assert_array_equal(y.numpy(), x32.astype(np.float64))
        y.backward(u)
        assert x.grad.dtype == np.float32
        np.testing.assert_array_equal(x.grad, u.astype(np.float32))


def test_log_gradient_of_the_smallest_float32_inputs_is_finite() -> None:
    x = Tensor(np.array([1e-39, 5e-40, 2.0], dtype=np.float32), requires_grad=True)
    g = np.array([1e-3, 1e-3, 1.0], dtype=np.float32)
    x.log().backward(g)
    np.testing.assert_allclose(x.grad, g.astype(np.float64) / x.data.astype(np.float64), rtol=1e-5)  # g / x, as PyTorch
