"""The CuPy backend against the NumPy one: the same small computations on device='cuda' and on the CPU give
the same values and gradients (elementwise ops, matmul, log_softmax, gather with repeats, scatter_add through
``cupyx.scatter_add``, row-sparse embedding gradients, the optimizers' sparse updates), tensors and modules
move between devices, mixing devices in one op is a clear error, and one CBOW and one RNN-LM training step on
the GPU equal the CPU's. Everything here skips (with the reason) without CuPy and a CUDA device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tinygrad_w2v import Tensor, backend, concatenate, gather, scatter_add
from tinygrad_w2v.models import CBOW
from tinygrad_w2v.models.rnnlm import RNNLM, lm_loss
from tinygrad_w2v.nn import Embedding, Linear, Parameter
from tinygrad_w2v.optim import SGD, Adam, clip_grad_norm
from tinygrad_w2v.sparse import RowSparse

pytestmark = pytest.mark.gpu

cupy = pytest.importorskip("cupy", reason="needs CuPy (pip install 'tinygrad_w2v[gpu]')")
if not backend.cuda_available():
    pytest.skip("CuPy is installed but sees no CUDA device", allow_module_level=True)

DEVICE = "cuda"
DEVICES = ("cpu", DEVICE)
# float64 on both sides; the GPU's reductions may add in another order, so not bit for bit
TOL = {"rtol": 1e-10, "atol": 1e-12}


def host(a: Any) -> np.ndarray:
    """Any tensor, backend array or RowSparse as a dense NumPy array."""
    if isinstance(a, RowSparse):
        a = a.to_dense()
    if isinstance(a, Tensor):
        a = a.data
    return backend.to_numpy(a)


def device_of_grad(g: Any) -> str:
    return backend.device_of(g.values if isinstance(g, RowSparse) else g)


def on_both(fn: Callable[..., Tensor], *arrays: Any, seed: int = 0) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """Run ``fn`` on float64 tensors made from ``arrays`` (integer arrays pass through as NumPy) on each
    device, backpropagate one random upstream; per device: the output and the gradient of each float input,
    both as NumPy. Checks that every gradient lives on the device of its input."""
    results = []
    for device in DEVICES:
        xs = [
            Tensor(np.asarray(a, dtype=np.float64), requires_grad=True, device=device) if a.dtype.kind == "f" else a
            for a in arrays
        ]
        out = fn(*xs)
        assert out.device == device
        u = np.random.default_rng(seed).standard_normal(out.shape)
        out.backward(Tensor(u, device=device))
        grads = []
        for x in xs:
            if isinstance(x, Tensor):
                assert device_of_grad(x.grad) == device
                grads.append(host(x.grad))
        results.append((out.numpy(), grads))
    return results


def assert_same(results: list[tuple[np.ndarray, list[np.ndarray]]]) -> None:
    (out_cpu, grads_cpu), (out_gpu, grads_gpu) = results
    np.testing.assert_allclose(out_gpu, out_cpu, **TOL)
    assert len(grads_gpu) == len(grads_cpu)
    for g_gpu, g_cpu in zip(grads_gpu, grads_cpu):
        np.testing.assert_allclose(g_gpu, g_cpu, **TOL)


# ----- ops ---------------------------------------------------------------------------------------


def test_elementwise_and_reductions_match_cpu() -> None:
    rng = np.random.default_rng(0)

    def fn(a: Tensor, b: Tensor) -> Tensor:
        y = (a * b + a / (b * b + 1) - b).tanh() + (a.exp() + 1).log() * b.sigmoid() + (a - b).log_sigmoid()
        y = y + a.relu() ** 2 - (-a)
        return concatenate([y.sum(axis=0), y.mean(axis=1), y.max(axis=0)])

    assert_same(on_both(fn, rng.standard_normal((3, 4)), rng.standard_normal(4)))


def test_matmul_matches_cpu() -> None:
    rng = np.random.default_rng(1)
    assert_same(on_both(lambda a, b: a @ b, rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))))
    assert_same(on_both(lambda a, b: a @ b, rng.standard_normal(4), rng.standard_normal((4, 5))))
    assert_same(on_both(lambda a, b: a @ b, rng.standard_normal((3, 4)), rng.standard_normal(4)))


def test_log_softmax_matches_cpu() -> None:
    x = np.random.default_rng(2).standard_normal((4, 6)) * 3
    x[0, 2] = 1000.0
    x[1, :] = -1000.0
    results = on_both(lambda a: a.log_softmax(axis=-1), x)
    assert_same(results)
    ref = x - x.max(axis=1, keepdims=True)
    ref = ref - np.log(np.exp(ref).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(results[1][0], ref, **TOL)
    assert_same(on_both(lambda a: concatenate([a.softmax(axis=0), a.logsumexp(axis=0)[None]]), x))


@pytest.mark.parametrize("axis", [0, 1])
def test_gather_with_repeated_indices_matches_cpu(axis: int) -> None:
    rng = np.random.default_rng(3)
    idx = np.array([[2, 0, 2], [2, 1, 0]])  # 2 three times: its gradient rows add up
    results = on_both(lambda x: gather(x, idx, axis=axis), rng.standard_normal((4, 3)))
    assert_same(results)
    u = np.random.default_rng(0).standard_normal(results[0][0].shape)  # the upstream on_both used
    expected = np.zeros((4, 3))
    if axis == 0:
        np.add.at(expected, idx.reshape(-1), u.reshape(-1, 3))
    else:
        np.add.at(expected.T, idx.reshape(-1), np.moveaxis(u, 0, -1).reshape(-1, 4))
    np.testing.assert_allclose(results[1][1][0], expected, **TOL)


def test_gather_accepts_a_cupy_index() -> None:
    x = np.arange(12.0).reshape(4, 3)
    idx = cupy.asarray([3, 3, 1])
    out = gather(Tensor(x, device=DEVICE), idx)
    np.testing.assert_array_equal(out.numpy(), x[[3, 3, 1]])


def test_scatter_add_uses_cupyx_and_matches_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    cupyx = pytest.importorskip("cupyx")
    calls = []
    real = cupyx.scatter_add

    def counting(a: Any, index: Any, values: Any) -> None:
        calls.append(type(a))
        real(a, index, values)

    monkeypatch.setattr(cupyx, "scatter_add", counting)
    rng = np.random.default_rng(4)
    idx = np.array([1, 4, 1, 1, 0])
    x0, src0 = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    results = on_both(lambda x, src: scatter_add(x, idx, src), x0, src0)
    assert_same(results)
    assert calls and all(t is cupy.ndarray for t in calls)  # the GPU forward went through cupyx.scatter_add
    expected = x0.copy()
    np.add.at(expected, idx, src0)
    np.testing.assert_allclose(results[1][0], expected, **TOL)
    u = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_allclose(results[1][1][0], u, **TOL)  # d/dx: identity
    np.testing.assert_allclose(results[1][1][1], u[idx], **TOL)  # d/dsrc: a gather

    calls.clear()  # integer-array indexing scatters its gradient with the same kernel
    assert_same(on_both(lambda x: x[np.array([0, 2, 0, 0])] * 2, x0))
    assert calls


@pytest.mark.parametrize("mean_over_contexts", [False, True])
def test_row_sparse_gather_grad_matches_cpu(mean_over_contexts: bool) -> None:
    ids = np.array([[5, 1, 5], [1, 1, 7]])
    w = np.random.default_rng(5).standard_normal((9, 4))
    u = np.random.default_rng(6).standard_normal((2, 4) if mean_over_contexts else (2, 3, 4))
    grads = []
    for device in DEVICES:
        emb = Embedding(9, 4, sparse=True)
        emb.weight.data = w.copy()
        emb.to(device)
        out = emb(ids)
        if mean_over_contexts:  # a broadcast upstream gradient (the CBOW case)
            out = out.mean(axis=1)
        out.backward(Tensor(u, device=device))
        g = emb.weight.grad
        assert isinstance(g, RowSparse) and device_of_grad(g) == device
        assert backend.device_of(g.indices) == device
        np.testing.assert_array_equal(backend.to_numpy(g.indices), [1, 5, 7])
        grads.append(host(g))
    np.testing.assert_allclose(grads[1], grads[0], **TOL)


def test_adam_and_sgd_sparse_and_dense_updates_match_cpu() -> None:
    rng = np.random.default_rng(7)
    w0, b0 = rng.standard_normal((10, 3)), rng.standard_normal(3)
    steps = [
        (rng.integers(0, 8, size=6), rng.standard_normal((6, 3)), rng.standard_normal(3)) for _ in range(4)
    ]  # rows 8 and 9 are never touched
    for make in (lambda ps: Adam(ps, lr=0.05), lambda ps: SGD(ps, lr=0.1)):
        finals = []
        for device in DEVICES:
            w, b = Parameter(w0.copy()), Parameter(b0.copy())
            w.data, b.data = backend.to_device(w.data, device), backend.to_device(b.data, device)
            opt = make([w, b])
            for idx, values, gb in steps:
                w.grad = RowSparse(backend.to_device(idx, device), backend.to_device(values, device), w.shape)
                b.grad = backend.to_device(gb, device)
                norm = clip_grad_norm([w, b], 2.0)
                opt.step()
            assert w.device == device and b.device == device
            finals.append((host(w), host(b), norm))
        (w_cpu, b_cpu, n_cpu), (w_gpu, b_gpu, n_gpu) = finals
        np.testing.assert_allclose(w_gpu, w_cpu, **TOL)
        np.testing.assert_allclose(b_gpu, b_cpu, **TOL)
        assert n_gpu == pytest.approx(n_cpu, rel=1e-10)
        np.testing.assert_array_equal(w_gpu[8:], w0[8:])


def test_optimizer_state_dict_from_the_gpu_loads_on_the_gpu() -> None:
    p = Parameter(np.ones(3))
    p.data = backend.to_device(p.data, DEVICE)
    opt = Adam([p], lr=0.1)
    p.grad = cupy.ones(3)
    opt.step()
    state = opt.state_dict()
    assert all(isinstance(v, np.ndarray) for k, v in state.items() if k[:2] in ("m.", "v."))
    q = Parameter(np.ones(3))
    q.data = backend.to_device(q.data, DEVICE)
    opt2 = Adam([q], lr=0.1)
    opt2.load_state_dict(state)
    assert backend.device_of(opt2.m[0]) == DEVICE and backend.device_of(opt2.v[0]) == DEVICE


# ----- moving between devices --------------------------------------------------------------------


def test_to_round_trip_keeps_values_and_gradients_flow_back() -> None:
    x_np = np.random.default_rng(8).standard_normal((3, 2))
    x = Tensor(x_np, requires_grad=True)
    y = x.to(DEVICE)
    assert y.device == DEVICE and isinstance(y.data, cupy.ndarray) and y.requires_grad and y.dtype == np.float64
    z = y.to("cpu")
    assert z.device == "cpu" and isinstance(z.data, np.ndarray)
    np.testing.assert_array_equal(z.numpy(), x_np)
    (y * 3).sum().backward()
    assert isinstance(x.grad, np.ndarray)  # the gradient comes back to the CPU leaf
    np.testing.assert_array_equal(x.grad, np.full((3, 2), 3.0))
    f32 = Tensor(np.ones(2, dtype=np.float32)).to("cuda:0")
    assert f32.device == DEVICE and f32.dtype == np.float32


def test_module_to_moves_every_parameter_and_back() -> None:
    lin = Linear(3, 2, rng=0)
    before = lin.state_dict()
    assert lin.to(DEVICE) is lin
    assert all(p.device == DEVICE for p in lin.parameters())
    out = lin(Tensor(np.ones((1, 3), dtype=np.float32), device=DEVICE))
    assert out.device == DEVICE
    lin.to("cpu")
    for name, value in lin.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_mixing_devices_in_one_op_is_a_clear_error() -> None:
    a = Tensor(np.ones((2, 2)))
    b = Tensor(np.ones((2, 2)), device=DEVICE)
    for op in (lambda: a + b, lambda: b * a, lambda: a @ b, lambda: concatenate([a, b])):
        with pytest.raises(RuntimeError, match="one device") as info:
            op()
        assert "on cpu" in str(info.value) and f"on {DEVICE}" in str(info.value)
    with pytest.raises(RuntimeError, match=rf"\(2, 2\) on cpu, \(2, 2\) on {DEVICE}"):
        scatter_add(a, np.array([0, 1]), b)


# ----- one training step of each model -----------------------------------------------------------


def test_cbow_training_step_matches_cpu() -> None:
    rng = np.random.default_rng(9)
    contexts, targets = rng.integers(0, 20, size=(8, 4)), rng.integers(0, 20, size=8)
    negatives = rng.integers(0, 20, size=(8, 3))
    mask = rng.random((8, 4)) < 0.8
    mask[:, 0] = True
    out_w = rng.standard_normal((20, 5)) * 0.1  # nonzero, so in_embed gets a gradient too
    runs = []
    for device in DEVICES:
        model = CBOW(20, 5, rng=0).double()
        model.out_embed.weight.data = out_w.copy()
        model.to(device)
        opt = Adam(model.parameters(), lr=0.01)
        loss = model(contexts, targets, negatives, mask)
        assert loss.device == device
        loss.backward()
        grads = {name: host(p.grad) for name, p in model.named_parameters()}
        opt.step()
        runs.append((loss.item(), grads, {name: host(p) for name, p in model.named_parameters()}))
    (loss_cpu, g_cpu, p_cpu), (loss_gpu, g_gpu, p_gpu) = runs
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-10)
    for name in g_cpu:
        assert np.abs(g_cpu[name]).max() > 0
        np.testing.assert_allclose(g_gpu[name], g_cpu[name], **TOL)
        np.testing.assert_allclose(p_gpu[name], p_cpu[name], **TOL)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_rnnlm_training_step_matches_cpu(cell: str) -> None:
    rng = np.random.default_rng(10)
    x, t = rng.integers(0, 12, size=(3, 5)), rng.integers(0, 12, size=(3, 5))
    t[0, 1] = -1  # an ignored label
    runs = []
    for device in DEVICES:
        model = RNNLM(12, 6, 6, cell=cell, layers=2, init="torch", seed=0).double().to(device)
        opt = SGD(model.parameters(), lr=0.5)
        state = None
        for _ in range(2):  # the second window starts from the first one's (detached) state
            log_probs, state = model(x, state)
            loss = lm_loss(log_probs, t)
            model.zero_grad()
            loss.backward()
            norm = clip_grad_norm(model.parameters(), 0.1)
            opt.step()
            state = tuple(tuple(s.detach() for s in layer) if cell == "lstm" else layer.detach() for layer in state)
        runs.append((loss.item(), norm, {name: host(p) for name, p in model.named_parameters()}))
    (loss_cpu, norm_cpu, p_cpu), (loss_gpu, norm_gpu, p_gpu) = runs
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-10)
    assert norm_gpu == pytest.approx(norm_cpu, rel=1e-10) and norm_cpu > 0.1  # clipping did something
    for name in p_cpu:
        np.testing.assert_allclose(p_gpu[name], p_cpu[name], **TOL)
