"""Higher-order derivatives and forward mode: ``grad`` (torch.autograd.grad), ``backward(create_graph=True)``,
the ``func`` transforms and their compositions against torch.func, Hessians of the losses this project
trains, perturbation confusion, and the testing kit's second-order and forward-mode checks."""

from __future__ import annotations

import numpy as np
import pytest
from test_function import Cube  # a Function with backward and jvp written in Tensor ops

from tinygrad_w2v import Function, RowSparse, Tensor, func, gather, grad, record
from tinygrad_w2v.nn import Embedding
from tinygrad_w2v.testing import gradgradcheck, jvpcheck

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)


def both(x: np.ndarray) -> tuple[Tensor, torch.Tensor]:
    return Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


# ----- autograd.grad and create_graph -------------------------------------------------------------------
def test_grad_to_the_fourth_order_matches_torch() -> None:
    x, xt = both(np.array([0.3, -1.2, 2.0]))
    y, yt = (x.tanh() * x**3).sum(), (torch.tanh(xt) * xt**3).sum()
    for _ in range(4):
        (g,) = grad(y, x, create_graph=True)
        (gt,) = torch.autograd.grad(yt, xt, create_graph=True)
        np.testing.assert_allclose(g.numpy(), gt.detach().numpy(), rtol=1e-10)
        y, yt = g.sum(), gt.sum()


def test_grad_returns_a_tuple_and_leaves_dot_grad_alone() -> None:
    x, w = Tensor(np.ones(3), requires_grad=True), Tensor(np.full(3, 2.0), requires_grad=True)
    gx, gw = grad((x * w).sum(), [x, w])
    np.testing.assert_array_equal(gx.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(gw.numpy(), [1.0, 1.0, 1.0])
    assert x.grad is None and w.grad is None


def test_grad_of_an_unused_input_is_an_error_naming_it_or_none_when_allowed() -> None:
    x, unused = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2), requires_grad=True, name="bias")
    y = (x * 3.0).sum()
    with pytest.raises(RuntimeError, match="input 1 'bias'.*allow_unused=True"):
        grad(y, [x, unused], retain_graph=True)
    gx, gu = grad(y, [x, unused], allow_unused=True)
    assert gu is None
    np.testing.assert_array_equal(gx.numpy(), [3.0, 3.0])


def test_grad_with_respect_to_an_intermediate_and_with_grad_outputs() -> None:
    x, xt = both(np.array([0.5, -0.25]))
    h, ht = x * x, xt * xt
    y, yt = h.exp(), ht.exp()
    u = np.array([1.0, -2.0])
    (gh,) = grad(y, h, Tensor(u))
    (ght,) = torch.autograd.grad(yt, ht, torch.tensor(u))
    np.testing.assert_allclose(gh.numpy(), ght.numpy(), rtol=1e-12)


def test_backward_with_create_graph_gives_a_differentiable_grad() -> None:
    x, xt = both(np.array([0.7, -0.4, 1.3]))
    (x.sigmoid() * x.exp()).sum().backward(create_graph=True)
    (torch.sigmoid(xt) * xt.exp()).sum().backward(create_graph=True)
    assert isinstance(x.grad, Tensor) and x.grad.grad_fn is not None
    first, first_t = x.grad, xt.grad
    x.grad, xt.grad = None, None
    (first * first).sum().backward()
    (first_t * first_t).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-10)


def test_sparse_embedding_gradients_stay_row_sparse_at_first_order_and_work_at_second() -> None:
    emb = Embedding(20, 3, sparse=True, rng=0).double()
    ids = np.array([[1, 4], [4, 7]])
    loss = (emb(ids).tanh() ** 2).sum()
    loss.backward()
    assert isinstance(emb.weight.grad, RowSparse)
    emb.weight.grad = None
    W = emb.weight
    (g,) = grad((gather(W, ids).tanh() ** 2).sum(), W, create_graph=True)
    (hvp,) = grad((g * g).sum(), W)
    Wt = torch.tensor(W.numpy(), requires_grad=True)
    (gt,) = torch.autograd.grad((Wt[torch.tensor(ids)].tanh() ** 2).sum(), Wt, create_graph=True)
    (hvpt,) = torch.autograd.grad((gt * gt).sum(), Wt)
    np.testing.assert_allclose(hvp.numpy(), hvpt.numpy(), rtol=1e-10, atol=1e-14)


# ----- func, against torch.func -------------------------------------------------------------------------
def mlp(params: list, x):
    W1, b1, W2 = params
    return ((x @ W1 + b1).tanh() @ W2).sum()


def test_func_transforms_match_torch_func() -> None:
    x0 = RNG.standard_normal(4)

    def f(x):
        return (x.tanh() * x).sum() if isinstance(x, Tensor) else (torch.tanh(x) * x).sum()

    ours, theirs = Tensor(x0), torch.tensor(x0)
    np.testing.assert_allclose(func.grad(f)(ours).numpy(), torch.func.grad(f)(theirs).numpy(), rtol=1e-12)
    g, v = func.grad_and_value(f)(ours)
    gt, vt = torch.func.grad_and_value(f)(theirs)
    np.testing.assert_allclose(v.numpy(), vt.numpy(), rtol=1e-12)
    for ours_t, theirs_t in [(func.hessian(f)(ours), torch.func.hessian(f)(theirs)),
                             (func.jacfwd(func.jacrev(f))(ours), torch.func.jacfwd(torch.func.jacrev(f))(theirs)),
                             (func.jacrev(func.jacrev(f))(ours), torch.func.jacrev(torch.func.jacrev(f))(theirs)),
                             (func.jacfwd(func.jacfwd(f))(ours), torch.func.jacfwd(torch.func.jacfwd(f))(theirs)),
                             (func.jacrev(func.jacfwd(f))(ours), torch.func.jacrev(torch.func.jacfwd(f))(theirs)),
                             (func.grad(lambda x: func.grad(f)(x).sum())(ours),
                              torch.func.grad(lambda x: torch.func.grad(f)(x).sum())(theirs))]:
        np.testing.assert_allclose(ours_t.numpy(), theirs_t.detach().numpy(), rtol=1e-10, atol=1e-13)


def test_jacobians_have_the_out_by_in_layout_and_both_modes_agree() -> None:
    x0 = RNG.standard_normal((2, 3))

    def f(x):
        return (x @ x.T).tanh() if isinstance(x, Tensor) else torch.tanh(x @ x.T)

    expected = torch.func.jacrev(f)(torch.tensor(x0)).numpy()
    for J in (func.jacrev(f)(Tensor(x0)), func.jacfwd(f)(Tensor(x0))):
        assert J.shape == (2, 2, 2, 3)
        np.testing.assert_allclose(J.numpy(), expected, rtol=1e-12, atol=1e-14)


def test_vjp_jvp_argnums_and_aux() -> None:
    a0, b0 = RNG.standard_normal(3), RNG.standard_normal(3)

    def f(a, b):
        return (a * b).sin() if hasattr(a, "sin") and not isinstance(a, Tensor) else (a * b).tanh()

    def ft(a, b):
        return torch.tanh(a * b)

    out, vjp_fn = func.vjp(f, Tensor(a0), Tensor(b0))
    outt, vjp_t = torch.func.vjp(ft, torch.tensor(a0), torch.tensor(b0))
    u = RNG.standard_normal(3)
    for ours, theirs in zip(vjp_fn(u), vjp_t(torch.tensor(u))):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    v = (RNG.standard_normal(3), RNG.standard_normal(3))
    _, tangent = func.jvp(f, (Tensor(a0), Tensor(b0)), tuple(Tensor(t) for t in v))
    _, tangent_t = torch.func.jvp(ft, (torch.tensor(a0), torch.tensor(b0)), tuple(torch.tensor(t) for t in v))
    np.testing.assert_allclose(tangent.numpy(), tangent_t.numpy(), rtol=1e-12)
    ga, gb = func.grad(lambda a, b: f(a, b).sum(), argnums=(0, 1))(Tensor(a0), Tensor(b0))
    gat, gbt = torch.func.grad(lambda a, b: ft(a, b).sum(), argnums=(0, 1))(torch.tensor(a0), torch.tensor(b0))
    np.testing.assert_allclose(gb.numpy(), gbt.numpy(), rtol=1e-12)
    g, aux = func.grad(lambda a: (f(a, Tensor(b0)).sum(), "aux"), has_aux=True)(Tensor(a0))
    assert aux == "aux"
    np.testing.assert_allclose(g.numpy(), ga.numpy(), rtol=1e-12)


def test_jvp_is_real_forward_mode_and_records_no_tape() -> None:
    x = Tensor(RNG.standard_normal(5))
    with record() as tape:
        out, tangent = func.jvp(lambda x: (x * x).tanh().exp().sum(), (x,), (Tensor(np.ones(5)),))
    assert len(tape) == 0
    xt = torch.tensor(x.numpy())
    _, tangent_t = torch.func.jvp(lambda x: torch.exp(torch.tanh(x * x)).sum(), (xt,), (torch.ones(5, dtype=xt.dtype),))
    np.testing.assert_allclose(tangent.numpy(), tangent_t.numpy(), rtol=1e-12)


def test_no_perturbation_confusion() -> None:
    """d/dx [x * d/dy (x + y)] = 1: the inner derivative must not see the outer perturbation."""
    one = Tensor(np.array(1.0))

    def inner_fwd(x):
        return func.jvp(lambda y: x + y, (one,), (one,))[1]

    _, outer = func.jvp(lambda x: x * inner_fwd(x), (one,), (one,))
    assert outer.item() == 1.0
    assert func.grad(lambda x: x * func.grad(lambda y: (x + y).sum())(one))(one).item() == 1.0


@pytest.mark.parametrize("loss", ["cross_entropy", "negative_sampling", "tanh_mlp"])
def test_hessians_of_the_losses_this_project_trains_match_torch(loss: str) -> None:
    rng = np.random.default_rng(3)
    if loss == "cross_entropy":
        X, labels = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])

        def f(W, lib):
            logits = X @ W if lib is None else torch.tensor(X) @ W
            if lib is None:
                return -logits.log_softmax(axis=-1)[np.arange(4), labels].mean()
            return -torch.log_softmax(logits, -1)[torch.arange(4), torch.tensor(labels)].mean()

        w0 = rng.standard_normal((3, 3))
    elif loss == "negative_sampling":
        U, signs = rng.standard_normal((5, 3)), np.array([1.0, -1.0, -1.0, 1.0, -1.0])

        def f(v, lib):
            scores = (Tensor(U) @ v) * signs if lib is None else (torch.tensor(U) @ v) * torch.tensor(signs)
            return -(scores.log_sigmoid().sum() if lib is None else torch.nn.functional.logsigmoid(scores).sum())

        w0 = rng.standard_normal(3)
    else:
        X = rng.standard_normal((3, 2))

        def f(w, lib):
            W1, W2 = w[:4].reshape(2, 2), w[4:].reshape(2, 1)
            h = (X @ W1).tanh() if lib is None else torch.tanh(torch.tensor(X) @ W1)
            return ((h @ W2) ** 2).sum()

        w0 = rng.standard_normal(6)
    H = func.hessian(lambda w: f(w, None))(Tensor(w0))
    Ht = torch.func.hessian(lambda w: f(w, torch))(torch.tensor(w0))
    assert H.shape == w0.shape + w0.shape
    np.testing.assert_allclose(H.numpy(), Ht.numpy(), rtol=1e-10, atol=1e-12)


# ----- Function in every mode, and the testing kit ----------------------------------------------------------
class CubeFlatBackward(Cube):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (3 * x.data**2)  # right at first order, a constant to a second derivative


class CubeWrongJvp(Cube):
    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return t * 3 * x


class CubeNoJvp(Function):
    forward, backward = Cube.forward, Cube.backward


def test_a_function_passes_all_three_checks_and_the_kit_catches_each_kind_of_mistake() -> None:
    x = Tensor(RNG.standard_normal(4), requires_grad=True)
    assert jvpcheck(Cube.apply, x) and gradgradcheck(Cube.apply, x)
    np.testing.assert_allclose(func.hessian(lambda t: Cube.apply(t).sum())(Tensor(x.numpy())).numpy(),
                               np.diag(6 * x.numpy()), rtol=1e-12)
    with pytest.raises(AssertionError, match="first derivative of CubeFlatBackward"):
        gradgradcheck(CubeFlatBackward.apply, x)
    with pytest.raises(AssertionError, match="jvp of op 'CubeWrongJvp'"):
        jvpcheck(CubeWrongJvp.apply, x)
    with pytest.raises(RuntimeError, match="op 'CubeNoJvp' has no forward-mode rule"):
        func.jvp(CubeNoJvp.apply, (Tensor(np.ones(2)),), (Tensor(np.ones(2)),))


def test_nan_fails_every_check() -> None:
    x = Tensor(np.array([-1.0, 4.0]), requires_grad=True)
    for check in (jvpcheck, gradgradcheck):
        with pytest.raises(AssertionError):
            check(lambda t: (t**0.5), x)


def test_the_higher_order_demo_prints_checked_derivatives_a_converged_newton_run_and_both_jacobians(tmp_path) -> None:
    import re
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, str(repo / "demos" / "higher_order.py"), "--out", str(tmp_path),
                          "--size", "40"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    orders = re.findall(r"order (\d): ([+-][\d.]+) \(closed form ([+-][\d.]+)\), graph of (\d+) ops", run.stdout)
    assert [int(o[0]) for o in orders] == [0, 1, 2, 3, 4]
    assert all(value == closed for _, value, closed, _ in orders)
    counts = [int(o[3]) for o in orders]
    assert counts == sorted(counts) and counts[0] < counts[-1]
    assert sorted(p.name for p in tmp_path.glob("*.svg")) == [f"tanh_order_{n}.svg" for n in range(5)]
    last_grad = float(re.findall(r"\|grad\| = ([\d.e+-]+)", run.stdout)[-1])
    assert last_grad < 1e-8
    differences = [float(d) for d in re.findall(r"max difference ([\d.e+-]+)", run.stdout)]
    assert len(differences) == 2 and max(differences) < 1e-12
    bad = subprocess.run([sys.executable, str(repo / "demos" / "higher_order.py"), "--order", "9"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--order" in bad.stderr


def test_jvp_through_an_op_with_no_tensor_inputs() -> None:
    class Arange(Function):  # a Function applied to a Python number only
        @staticmethod
        def forward(ctx, n):
            return np.arange(float(n))

        @staticmethod
        def backward(ctx, g):
            return (None,)

    out, tangent = func.jvp(lambda x: x * Arange.apply(3), (Tensor(np.ones(3)),), (Tensor(np.ones(3)),))
    np.testing.assert_allclose(out.numpy(), [0.0, 1.0, 2.0])
    np.testing.assert_allclose(tangent.numpy(), [0.0, 1.0, 2.0])
