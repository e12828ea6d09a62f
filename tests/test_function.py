"""``tinygrad_w2v.Function``: user-defined ops in the shape of ``torch.autograd.Function``, held to the same
contract as the built-in ops, and property-tested the way docs/internals.md shows."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from tinygrad_w2v import Function, Tensor, gradcheck
from tinygrad_w2v.testing import assert_grad_matches
from tinygrad_w2v.testing import strategies as st


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.data**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x**2

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return t * 3 * x**2


class ScaledSoftplus(Function):
    """``log(1 + exp(k x))`` with a Python-number argument ``k``: no gradient for it."""

    @staticmethod
    def forward(ctx, x, k):
        y = np.logaddexp(0, k * x.data)
        ctx.k = k
        ctx.save_for_backward(x)
        return y

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ctx.k * (x * ctx.k).sigmoid(), None

    @staticmethod
    def jvp(ctx, t, t_k):
        (x,) = ctx.saved_tensors
        return t * ctx.k * (x * ctx.k).sigmoid()


class MulAdd(Function):
    """``a * b + c``, recording which inputs need a gradient."""

    @staticmethod
    def forward(ctx, a, b, c):
        ctx.save_for_backward(a, b)
        ctx.seen_needs = ctx.needs_input_grad
        return a * b + c

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return (g * b if ctx.needs_input_grad[0] else None, g * a if ctx.needs_input_grad[1] else None, g)


def test_a_function_differentiates_like_finite_differences() -> None:
    x = Tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(Cube.apply, x)
    assert gradcheck(lambda t: ScaledSoftplus.apply(t, 2.5), x)


def test_apply_records_one_node_named_after_the_class() -> None:
    x = Tensor(np.ones(2), requires_grad=True)
    y = Cube.apply(x)
    assert y.grad_fn.op == "Cube" and y.grad_fn.inputs == (x,)
    assert not Cube.apply(Tensor(np.ones(2))).requires_grad  # nothing to differentiate: no node


def test_needs_input_grad_and_broadcasting_inputs() -> None:
    a = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    b = Tensor(np.array([1.0, 2.0, 3.0]))
    c = Tensor(np.array([0.5]), requires_grad=True)
    out = MulAdd.apply(a, b, c)
    assert out.grad_fn.op == "MulAdd"
    out.sum().backward()
    np.testing.assert_array_equal(a.grad, np.broadcast_to([1.0, 2.0, 3.0], (2, 3)))
    np.testing.assert_array_equal(c.grad, [6.0])  # (2, 3) gradient summed to c's shape (1,)
    assert b.grad is None


def test_forward_runs_without_recording() -> None:
    recorded: list[bool] = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            inner = x * 2.0
            recorded.append(inner.grad_fn is not None)
            return inner

        @staticmethod
        def backward(ctx, g):
            return g * 2.0

    x = Tensor(np.ones(2), requires_grad=True)
    y = Probe.apply(x)
    assert recorded == [False]
    assert y.grad_fn.op == "Probe" and y.grad_fn.inputs[0] is x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_wrong_number_of_gradients_is_an_error_naming_the_op() -> None:
    class TwoForOne(Function):
        @staticmethod
        def forward(ctx, x):
            return x.data * 2

        @staticmethod
        def backward(ctx, g):
            return g, g

    y = TwoForOne.apply(Tensor(np.ones(2), requires_grad=True))
    with pytest.raises(RuntimeError, match="TwoForOne.backward returned 2 gradient.*expected 1"):
        y.sum().backward()


def test_wrong_gradient_shape_is_an_error_naming_the_op() -> None:
    class Transposer(Function):
        @staticmethod
        def forward(ctx, x):
            return x.data * 1

        @staticmethod
        def backward(ctx, g):
            return g.data.T

    y = Transposer.apply(Tensor(np.ones((2, 3)), requires_grad=True))
    with pytest.raises(RuntimeError, match=r"'Transposer'.*shape \(3, 2\).*expected shape \(2, 3\)"):
        y.sum().backward()


def test_a_gradient_of_another_dtype_is_cast() -> None:
    class Float64Grad(Function):
        @staticmethod
        def forward(ctx, x):
            return x.data * 2

        @staticmethod
        def backward(ctx, g):
            return np.full(g.shape, 2.0, dtype=np.float64)

    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    Float64Grad.apply(x).sum().backward()
    assert x.grad.dtype == np.float32


def test_a_saved_tensor_changed_after_the_forward_is_an_error() -> None:
    x = Tensor(np.ones(3), requires_grad=True)
    y = Cube.apply(x)
    x.data = x.data * 5
    with pytest.raises(RuntimeError, match="needed for gradient computation has been"):
        y.sum().backward()


def test_bad_returns_are_clear_errors() -> None:
    class NoOutput(Function):
        @staticmethod
        def forward(ctx, x):
            return [1.0]

    with pytest.raises(TypeError, match="NoOutput.forward must return one Tensor or array"):
        NoOutput.apply(Tensor(np.ones(1), requires_grad=True))

    class StringGrad(Function):
        @staticmethod
        def forward(ctx, x):
            return x.data * 1

        @staticmethod
        def backward(ctx, g):
            return "oops"

    y = StringGrad.apply(Tensor(np.ones(1), requires_grad=True))
    with pytest.raises(TypeError, match="StringGrad.backward returned a str"):
        y.backward()


def test_matches_torch_autograd_function_on_the_same_op() -> None:
    torch = pytest.importorskip("torch")

    class TorchCube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x**2

    xv = np.random.default_rng(1).standard_normal(5)
    x, xt = Tensor(xv, requires_grad=True), torch.tensor(xv, requires_grad=True)
    (Cube.apply(x) * x).sum().backward()
    (TorchCube.apply(xt) * xt).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(x=st.arrays(st.shapes()), k=st.away_from_zero(st.shapes(max_dims=0)))
def test_property_user_ops_against_finite_differences(x, k) -> None:
    assert_grad_matches(Cube.apply, x)
    assert_grad_matches(lambda t: ScaledSoftplus.apply(t, float(k)), x)


def test_the_example_in_the_internals_doc_runs_and_passes() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "internals.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    (example,) = [b for b in blocks if "(Function):" in b]
    namespace: dict = {}
    exec(compile(example, "docs/internals.md", "exec"), namespace)
    namespace["test_softplus_grad"]()
    x = Tensor(np.array([-30.0, 0.0, 2.0]), requires_grad=True)
    assert gradcheck(namespace["Softplus"].apply, x)
