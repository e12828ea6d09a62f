"""Building blocks against PyTorch (CPU, float64) and finite differences: the modules (Linear, RNNCell,
LSTMCell, Embedding, Dropout, Module bookkeeping), the optimizers (SGD, Adam, lazy sparse Adam), their
state round trips, global-norm clipping and the learning-rate schedules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tinygrad_w2v import Tensor, concatenate
from tinygrad_w2v.nn import Dropout, Embedding, Linear, LSTMCell, Module, Parameter, RNNCell
from tinygrad_w2v.optim import SGD, Adam, LinearLR, ReduceLROnPlateau, clip_grad_norm
from tinygrad_w2v.sparse import RowSparse
from tinygrad_w2v.testing import dense, gradcheck

TOL = {"rtol": 0, "atol": 1e-12}


def torch_or_skip() -> Any:
    return pytest.importorskip("torch")


def tt(a: np.ndarray, requires_grad: bool = False) -> Any:
    """A float64 torch tensor with a copy of ``a``."""
    torch = torch_or_skip()
    return torch.tensor(np.array(a, dtype=np.float64), requires_grad=requires_grad)


# ----- modules against PyTorch ------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(bias: bool) -> None:
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    ours = Linear(4, 3, bias=bias, rng=1).double()
    ref = torch.nn.Linear(4, 3, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(tt(ours.weight.data))  # both store weight as (out_features, in_features)
        if bias:
            ref.bias.copy_(tt(ours.bias.data))
    x_np = rng.standard_normal((5, 4))
    u = rng.standard_normal((5, 3))
    x = Tensor(x_np, requires_grad=True)
    y = ours(x)
    y.backward(u)
    xt = tt(x_np, requires_grad=True)
    yt = ref(xt)
    yt.backward(tt(u))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **TOL)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), **TOL)
    np.testing.assert_allclose(ours.weight.grad, ref.weight.grad.numpy(), **TOL)
    if bias:
        np.testing.assert_allclose(ours.bias.grad, ref.bias.grad.numpy(), **TOL)
    else:
        assert ours.bias is None and [n for n, _ in ours.named_parameters()] == ["weight"]


def test_rnncell_matches_torch() -> None:
    torch = torch_or_skip()
    rng = np.random.default_rng(1)
    ours = RNNCell(3, 5, rng=2).double()
    ours.bias.data = rng.standard_normal(5)  # the default is zero; a nonzero bias is a stronger test
    ref = torch.nn.RNNCell(3, 5, dtype=torch.float64)
    with torch.no_grad():
        ref.weight_ih.copy_(tt(ours.weight_ih.data))
        ref.weight_hh.copy_(tt(ours.weight_hh.data))
        ref.bias_ih.copy_(tt(ours.bias.data))  # our one bias = PyTorch's b_ih + b_hh
        ref.bias_hh.zero_()
    x_np, h_np, u = rng.standard_normal((4, 3)), rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    x, h = Tensor(x_np, requires_grad=True), Tensor(h_np, requires_grad=True)
    out = ours(x, h)
    out.backward(u)
    xt, ht = tt(x_np, True), tt(h_np, True)
    outt = ref(xt, ht)
    outt.backward(tt(u))
    np.testing.assert_allclose(out.numpy(), outt.detach().numpy(), **TOL)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), **TOL)
    np.testing.assert_allclose(h.grad, ht.grad.numpy(), **TOL)
    np.testing.assert_allclose(ours.weight_ih.grad, ref.weight_ih.grad.numpy(), **TOL)
    np.testing.assert_allclose(ours.weight_hh.grad, ref.weight_hh.grad.numpy(), **TOL)
    np.testing.assert_allclose(ours.bias.grad, ref.bias_ih.grad.numpy(), **TOL)
    np.testing.assert_allclose(ours.bias.grad, ref.bias_hh.grad.numpy(), **TOL)


def test_lstmcell_matches_torch() -> None:
    torch = torch_or_skip()
    rng = np.random.default_rng(2)
    H = 4
    ours = LSTMCell(3, H, rng=3).double()
    ours.bias.data = rng.standard_normal(4 * H)
    ref = torch.nn.LSTMCell(3, H, dtype=torch.float64)
    with torch.no_grad():  # same (4H, in) layout, gates stacked i, f, g, o in both
        ref.weight_ih.copy_(tt(ours.weight_ih.data))
        ref.weight_hh.copy_(tt(ours.weight_hh.data))
        ref.bias_ih.copy_(tt(ours.bias.data))
        ref.bias_hh.zero_()
    x_np, h_np, c_np = rng.standard_normal((2, 3)), rng.standard_normal((2, H)), rng.standard_normal((2, H))
    uh, uc = rng.standard_normal((2, H)), rng.standard_normal((2, H))
    x, h, c = (Tensor(a, requires_grad=True) for a in (x_np, h_np, c_np))
    h1, c1 = ours(x, (h, c))
    (h1 * Tensor(uh) + c1 * Tensor(uc)).sum().backward()
    xt, ht, ct = tt(x_np, True), tt(h_np, True), tt(c_np, True)
    h1t, c1t = ref(xt, (ht, ct))
    ((h1t * tt(uh)).sum() + (c1t * tt(uc)).sum()).backward()
    np.testing.assert_allclose(h1.numpy(), h1t.detach().numpy(), **TOL)
    np.testing.assert_allclose(c1.numpy(), c1t.detach().numpy(), **TOL)
    for ours_t, ref_t in ((x, xt), (h, ht), (c, ct)):
        np.testing.assert_allclose(ours_t.grad, ref_t.grad.numpy(), **TOL)
    np.testing.assert_allclose(ours.weight_ih.grad, ref.weight_ih.grad.numpy(), **TOL)
    np.testing.assert_allclose(ours.weight_hh.grad, ref.weight_hh.grad.numpy(), **TOL)
    np.testing.assert_allclose(ours.bias.grad, ref.bias_ih.grad.numpy(), **TOL)


def test_cells_and_linear_gradcheck() -> None:
    rng = np.random.default_rng(3)

    def T(*shape: int) -> Tensor:
        return Tensor(rng.standard_normal(shape), requires_grad=True)

    lin = Linear(3, 2)

    def linear(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        lin.weight, lin.bias = w, b
        return lin(x)

    rnn = RNNCell(3, 2)

    def rnn_step(x: Tensor, h: Tensor, wih: Tensor, whh: Tensor, b: Tensor) -> Tensor:
        rnn.weight_ih, rnn.weight_hh, rnn.bias = wih, whh, b
        return rnn(x, h)

    lstm = LSTMCell(3, 2)

    def lstm_step(x: Tensor, h: Tensor, c: Tensor, wih: Tensor, whh: Tensor, b: Tensor) -> Tensor:
        lstm.weight_ih, lstm.weight_hh, lstm.bias = wih, whh, b
        return concatenate(lstm(x, (h, c)), axis=1)

    assert gradcheck(linear, T(2, 3), T(2, 3), T(2))
    assert gradcheck(rnn_step, T(2, 3), T(2, 2), T(2, 3), T(2, 2), T(2))
    assert gradcheck(lstm_step, T(2, 3), T(2, 2), T(2, 2), T(8, 3), T(8, 2), T(8))


def test_linear_wrong_input_shape_names_the_shapes() -> None:
    lin = Linear(3, 2)
    with pytest.raises(ValueError, match=r"\(4, 5\)") as info:
        lin(Tensor(np.ones((4, 5), dtype=np.float32)))
    assert "3" in str(info.value)


# ----- Embedding and Dropout ---------------------------------------------------------------------


def test_embedding_sparse_grad_equals_dense_grad() -> None:
    rng = np.random.default_rng(4)
    ids = np.array([[1, 3, 3], [7, 1, 1]])
    u = rng.standard_normal(ids.shape + (5,))
    grads = []
    for sparse in (False, True):
        emb = Embedding(9, 5, sparse=sparse, rng=0).double()
        out = emb(ids)
        np.testing.assert_array_equal(out.numpy(), emb.weight.data[ids])
        out.backward(u)
        grads.append(emb.weight.grad)
    expected = np.zeros((9, 5))
    np.add.at(expected, ids.reshape(-1), u.reshape(-1, 5))
    assert isinstance(grads[0], np.ndarray)
    np.testing.assert_allclose(grads[0], expected, rtol=0, atol=1e-14)
    assert isinstance(grads[1], RowSparse)
    np.testing.assert_array_equal(grads[1].indices, [1, 3, 7])  # one row per looked-up id
    np.testing.assert_allclose(grads[1].to_dense(), expected, rtol=0, atol=1e-14)


def test_embedding_sparse_grads_accumulate_over_two_backwards() -> None:
    emb = Embedding(6, 2, sparse=True, rng=0).double()
    emb(np.array([0, 2])).sum().backward()
    emb(np.array([2, 5])).sum().backward()
    expected = np.zeros((6, 2))
    expected[[0, 5]] = 1
    expected[2] = 2
    np.testing.assert_array_equal(dense(emb.weight.grad), expected)


def test_embedding_out_of_range_id_is_named() -> None:
    with pytest.raises(IndexError, match=r"Embedding: index 9 is out of range for 9 embeddings.*\[0, 9\)"):
        Embedding(9, 2)(np.array([0, 9]))


@pytest.mark.parametrize("ids", [np.array([0, -1]), np.array([[3, -9]]), [-2], Tensor(np.array([-1]))])
def test_embedding_refuses_negative_ids_like_torch(ids: Any) -> None:
    torch = torch_or_skip()
    with pytest.raises(IndexError, match=r"Embedding: index -\d is out of range for 9 embeddings"):
        Embedding(9, 2)(ids)
    with pytest.raises(IndexError):
        torch.nn.Embedding(9, 2)(torch.tensor([0, -1]))


def test_dropout_train_scales_and_eval_is_identity() -> None:
    p = 0.3
    x_np = np.random.default_rng(5).standard_normal((400, 500)) + 10  # no zeros in the input
    drop = Dropout(p, rng=123)
    x = Tensor(x_np, requires_grad=True)
    y = drop(x)
    kept = y.numpy() != 0
    np.testing.assert_allclose(y.numpy()[kept], x_np[kept] / (1 - p), rtol=1e-15)
    assert abs(kept.mean() - (1 - p)) < 0.005  # 200,000 Bernoulli draws: std 0.001
    u = np.random.default_rng(6).standard_normal(x.shape)
    y.backward(u)
    np.testing.assert_allclose(x.grad, np.where(kept, u / (1 - p), 0.0), rtol=1e-15)
    # the same seed draws the same mask
    again = Dropout(p, rng=123)(Tensor(x_np)).numpy()
    np.testing.assert_array_equal(again != 0, kept)
    drop.eval()
    np.testing.assert_array_equal(drop(Tensor(x_np)).numpy(), x_np)
    np.testing.assert_array_equal(Dropout(0.0)(Tensor(x_np)).numpy(), x_np)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_bad_p(p: float) -> None:
    with pytest.raises(ValueError, match="p must be in"):
        Dropout(p)


# ----- Module bookkeeping -----------------------------------------------------------------------
def test_module_repr_reads_like_torch() -> None:
    torch = torch_or_skip()
    assert repr(Net()) == """Net(
  (embed): Embedding(7, 3, sparse=True)
  (cells): ModuleList(
    (0): RNNCell(3, 4)
    (1): RNNCell(4, 4)
  )
  (drop): Dropout(p=0.5)
  (head): Linear(in_features=4, out_features=7, bias=True)
)"""
    nn = torch.nn
    pairs = [(Linear(3, 2, bias=False), nn.Linear(3, 2, bias=False)), (Embedding(5, 2), nn.Embedding(5, 2)),
             (Embedding(5, 2, sparse=True), nn.Embedding(5, 2, sparse=True)), (RNNCell(3, 4), nn.RNNCell(3, 4)),
             (LSTMCell(3, 4), nn.LSTMCell(3, 4))]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)




class Net(Module):
    def __init__(self, seed: int = 0):
        self.embed = Embedding(7, 3, sparse=True, rng=seed)
        self.cells = [RNNCell(3, 4, rng=seed + 1), RNNCell(4, 4, rng=seed + 2)]
        self.drop = Dropout(0.5, rng=seed)
        self.head = Linear(4, 7, rng=seed + 3)
        self.tied = self.embed.weight  # a shared parameter comes once, under its first name
        self.scale = Parameter(np.ones(1, dtype=np.float32))

    def forward(self, ids: np.ndarray) -> Tensor:
        x = self.drop(self.embed(ids))
        h = Tensor(np.zeros((len(ids), 4), dtype=np.float32))
        for cell in self.cells:
            h = cell(x, h)
            x = h
        return self.head(h) * self.scale


NAMES = [
    "embed.weight",
    "cells.0.weight_ih", "cells.0.weight_hh", "cells.0.bias",
    "cells.1.weight_ih", "cells.1.weight_hh", "cells.1.bias",
    "head.weight", "head.bias",
    "scale",
]  # fmt: skip


def test_named_parameters_names_order_and_parameters() -> None:
    net = Net()
    named = list(net.named_parameters())
    assert [n for n, _ in named] == NAMES
    assert [id(p) for p in net.parameters()] == [id(p) for _, p in named]
    assert named[0][1] is net.embed.weight and named[7][1] is net.head.weight
    assert all(isinstance(p, Parameter) and p.requires_grad for _, p in named)
    assert [n for n, _ in net.named_parameters(prefix="net.")][:2] == ["net.embed.weight", "net.cells.0.weight_ih"]


def test_zero_grad_and_train_eval_reach_every_child() -> None:
    net = Net()
    net(np.array([1, 2, 3])).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert net.eval() is net
    assert [m.training for m in net.modules()] == [False] * 6
    ids = np.array([1, 2, 3])
    np.testing.assert_array_equal(net(ids).numpy(), net(ids).numpy())  # no dropout in eval
    net.train()
    assert all(m.training for m in net.modules()) and net.drop.training


def test_state_dict_round_trip() -> None:
    a, b = Net(seed=0), Net(seed=10)
    a.eval(), b.eval()
    ids = np.array([0, 4, 6])
    state = a.state_dict()
    assert list(state) == NAMES
    assert all(isinstance(v, np.ndarray) for v in state.values())
    expected = a(ids).numpy()
    assert not np.allclose(b(ids).numpy(), expected)
    b.load_state_dict({k: v.astype(np.float64) for k, v in state.items()})
    for name, p in b.named_parameters():
        assert p.dtype == np.float32  # loading keeps the parameter's dtype
        np.testing.assert_array_equal(p.data, state[name])
    np.testing.assert_array_equal(b(ids).numpy(), expected)
    assert b.embed.weight.sparse_grad  # loading replaces values, not the parameter objects


def test_state_dict_is_a_snapshot() -> None:
    net = Net()
    state = net.state_dict()
    before = {k: v.copy() for k, v in state.items()}
    net(np.array([1, 2])).sum().backward()
    SGD(net.parameters(), lr=0.5).step()  # updates the parameters in place
    for k in before:
        np.testing.assert_array_equal(state[k], before[k])
    assert not np.array_equal(net.head.weight.data, before["head.weight"])


def test_load_state_dict_errors_name_the_keys_and_shapes() -> None:
    net = Net()
    state = net.state_dict()
    missing = dict(state)
    del missing["head.bias"]
    with pytest.raises(KeyError, match=r"missing \['head.bias'\], unexpected \[\]"):
        net.load_state_dict(missing)
    with pytest.raises(KeyError, match=r"missing \[\], unexpected \['extra'\]"):
        net.load_state_dict({**state, "extra": np.zeros(2)})
    with pytest.raises(ValueError, match=r"'head.weight' has shape \(4, 7\), the module expects \(7, 4\)"):
        net.load_state_dict({**state, "head.weight": np.zeros((4, 7))})


# ----- optimizers against PyTorch ---------------------------------------------------------------


def _params(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.standard_normal((4, 3)), rng.standard_normal(3)]


def _grads(rng: np.random.Generator, steps: int) -> list[list[np.ndarray]]:
    """Per step one gradient per parameter, with a mix of magnitudes (some tiny, so that where eps enters
    the update matters)."""
    rows = np.array([[1.0], [1e-3], [1e-7], [10.0]])
    entries = np.array([1.0, 1e-8, 3.0])
    return [[rng.standard_normal((4, 3)) * rows, rng.standard_normal(3) * entries] for _ in range(steps)]


def _run_ours(make, params0, grads):
    params = [Parameter(p.copy()) for p in params0]
    opt = make(params)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = g.reshape(p.shape).copy()
        opt.step()
    return [p.data for p in params]


def _run_torch(make, params0, grads):
    params = [tt(p, requires_grad=True) for p in params0]
    opt = make(params)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = tt(g.reshape(p.shape))
        opt.step()
    return [p.detach().numpy() for p in params]


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_matches_torch(momentum: float) -> None:
    torch = torch_or_skip()
    rng = np.random.default_rng(7)
    params0, grads = _params(rng), _grads(rng, 5)
    ours = _run_ours(lambda ps: SGD(ps, lr=0.1, momentum=momentum), params0, grads)
    ref = _run_torch(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=momentum), params0, grads)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.parametrize(
    "kwargs",
    [{"lr": 0.1}, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}, {"lr": 0.1, "weight_decay": 0.1},
     {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 1e-2}],
)
def test_adam_matches_torch(kwargs: dict) -> None:
    torch = torch_or_skip()
    rng = np.random.default_rng(8)
    params0, grads = _params(rng), _grads(rng, 6)
    ours = _run_ours(lambda ps: Adam(ps, **kwargs), params0, grads)
    ref = _run_torch(lambda ps: torch.optim.Adam(ps, **kwargs), params0, grads)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, **TOL)


def test_adam_weight_decay_refuses_row_sparse_grads() -> None:
    p = Parameter(np.zeros((3, 2)))
    p.grad = RowSparse(np.array([1]), np.ones((1, 2)), (3, 2))
    with pytest.raises(ValueError, match="weight_decay is not supported with sparse"):
        Adam([p], weight_decay=0.1).step()
    with pytest.raises(ValueError, match="weight_decay"):
        Adam([p], weight_decay=-1.0)


def test_cell_step_on_a_precomputed_projection_equals_forward() -> None:
    rng = np.random.default_rng(19)
    x, h, c = (Tensor(rng.standard_normal((2, n))) for n in (3, 4, 4))
    rnn, lstm = RNNCell(3, 4, rng=0).double(), LSTMCell(3, 4, rng=1).double()
    np.testing.assert_array_equal(rnn.step(x @ rnn.weight_ih.T + rnn.bias, h).numpy(), rnn(x, h).numpy())
    for a, b in zip(lstm.step(x @ lstm.weight_ih.T + lstm.bias, (h, c), lstm.weight_hh.T), lstm(x, (h, c))):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _sparse_steps(rng: np.random.Generator, V: int, D: int, steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per step: row indices (with repeats, unsorted) and their values; rows V-2, V-1 are never touched."""
    out = []
    for _ in range(steps):
        idx = rng.integers(0, V - 2, size=6)
        idx[1] = idx[0]
        out.append((idx, rng.standard_normal((6, D)) * rng.choice([1.0, 1e-6], size=(6, 1))))
    return out


def test_sgd_on_row_sparse_grad_equals_the_dense_update() -> None:
    rng = np.random.default_rng(9)
    w0 = rng.standard_normal((8, 3))
    idx, values = _sparse_steps(rng, 8, 3, 1)[0]
    g = RowSparse(idx, values, (8, 3))
    p = Parameter(w0.copy())
    p.grad = g
    SGD([p], lr=0.3).step()
    full = np.zeros((8, 3))
    np.add.at(full, idx, values)
    np.testing.assert_allclose(p.data, w0 - 0.3 * full, rtol=0, atol=1e-15)
    untouched = np.setdiff1d(np.arange(8), idx)
    np.testing.assert_array_equal(p.data[untouched], w0[untouched])


def test_sgd_momentum_refuses_row_sparse_grads() -> None:
    p = Parameter(np.zeros((3, 2)))
    p.grad = RowSparse(np.array([1]), np.ones((1, 2)), (3, 2))
    with pytest.raises(ValueError, match="momentum is not supported with sparse"):
        SGD([p], lr=0.1, momentum=0.9).step()


def test_lazy_adam_matches_torch_sparse_adam() -> None:
    torch = torch_or_skip()
    rng = np.random.default_rng(10)
    V, D = 10, 3
    w0 = rng.standard_normal((V, D))
    steps = _sparse_steps(rng, V, D, 5)
    p = Parameter(w0.copy())
    opt = Adam([p], lr=0.05)
    pt = tt(w0, requires_grad=True)
    opt_t = torch.optim.SparseAdam([pt], lr=0.05)
    for idx, values in steps:
        p.grad = RowSparse(idx, values, (V, D))
        opt.step()
        pt.grad = torch.sparse_coo_tensor(torch.tensor(idx[None]), tt(values), (V, D), check_invariants=True)
        opt_t.step()
        np.testing.assert_allclose(p.data, pt.detach().numpy(), **TOL)
    np.testing.assert_array_equal(p.data[V - 2 :], w0[V - 2 :])  # untouched rows: bit for bit
    assert np.all(opt.m[0][V - 2 :] == 0) and np.all(opt.v[0][V - 2 :] == 0)


def _train(opt_factory, steps: list, params: list[Parameter], opt=None):
    """Apply ``steps`` (per step: one grad per parameter, dense array or (idx, values)) with an optimizer."""
    opt = opt or opt_factory(params)
    for gs in steps:
        for p, g in zip(params, gs):
            p.grad = RowSparse(g[0], g[1], p.shape) if isinstance(g, tuple) else g.copy()
        opt.step()
    return opt


@pytest.mark.parametrize(
    "factory", [lambda ps: Adam(ps, lr=0.05), lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: SGD(ps, lr=0.1)]
)
def test_optimizer_state_round_trip_continues_identically(factory) -> None:
    rng = np.random.default_rng(11)
    V, D = 8, 3
    w0, b0 = rng.standard_normal((V, D)), rng.standard_normal(D)
    sparse = isinstance(factory([Parameter(np.zeros(1))]), Adam)
    steps = []
    for idx_values in _sparse_steps(rng, V, D, 6):
        g0 = idx_values if sparse else rng.standard_normal((V, D))
        steps.append([g0, rng.standard_normal(D)])

    straight = [Parameter(w0.copy()), Parameter(b0.copy())]
    _train(factory, steps, straight)

    first = [Parameter(w0.copy()), Parameter(b0.copy())]
    opt = _train(factory, steps[:3], first)
    saved_params = [p.data.copy() for p in first]
    saved = opt.state_dict()
    _train(factory, steps[3:], first, opt)  # the original goes on; the saved state must not change
    np.testing.assert_array_equal(first[0].data, straight[0].data)

    resumed = [Parameter(a.copy()) for a in saved_params]
    opt2 = factory(resumed)
    opt2.load_state_dict(saved)
    _train(factory, steps[3:], resumed, opt2)
    for a, b in zip(resumed, straight):
        np.testing.assert_array_equal(a.data, b.data)


def test_two_optimizers_loaded_from_one_state_do_not_share_buffers() -> None:
    p = Parameter(np.ones(3))
    opt = Adam([p], lr=0.1)
    p.grad = np.ones(3)
    opt.step()
    state = opt.state_dict()
    q1, q2 = Parameter(p.data.copy()), Parameter(p.data.copy())
    o1, o2 = Adam([q1], lr=0.1), Adam([q2], lr=0.1)
    o1.load_state_dict(state)
    o2.load_state_dict(state)
    q1.grad = np.full(3, 5.0)
    o1.step()
    q2.grad = np.full(3, 5.0)
    o2.step()
    np.testing.assert_array_equal(q1.data, q2.data)


# ----- clipping ----------------------------------------------------------------------------------


def test_clip_grad_norm_matches_torch() -> None:
    torch = torch_or_skip()
    rng = np.random.default_rng(12)
    grads = [rng.standard_normal((3, 4)) * 2, rng.standard_normal(5)]
    ours = [Parameter(np.zeros(g.shape)) for g in grads]
    ref = [tt(np.zeros(g.shape), requires_grad=True) for g in grads]
    for p, pt, g in zip(ours, ref, grads):
        p.grad, pt.grad = g.copy(), tt(g)
    norm = clip_grad_norm(ours, 1.5)
    norm_t = torch.nn.utils.clip_grad_norm_(ref, 1.5)
    expected_norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
    assert norm == pytest.approx(expected_norm, rel=1e-14)
    assert norm == pytest.approx(float(norm_t), rel=1e-14)
    for p, pt in zip(ours, ref):
        np.testing.assert_allclose(p.grad, pt.grad.numpy(), **TOL)
    clipped = math.sqrt(sum(float((p.grad**2).sum()) for p in ours))
    assert clipped == pytest.approx(1.5, rel=1e-5)


def test_clip_grad_norm_under_the_limit_changes_nothing() -> None:
    g = np.array([0.3, -0.4])
    p = Parameter(np.zeros(2))
    p.grad = g.copy()
    q = Parameter(np.zeros(2))  # no grad: ignored
    assert clip_grad_norm([p, q], 1.0) == pytest.approx(0.5, rel=1e-15)
    np.testing.assert_array_equal(p.grad, g)
    assert q.grad is None


def test_clip_grad_norm_with_row_sparse_grads() -> None:
    rng = np.random.default_rng(13)
    idx = np.array([4, 1, 4, 4, 0])  # duplicates add before squaring
    values = rng.standard_normal((5, 3))
    full = np.zeros((6, 3))
    np.add.at(full, idx, values)
    d = rng.standard_normal(3)
    p, q = Parameter(np.zeros((6, 3))), Parameter(np.zeros(3))
    p.grad, q.grad = RowSparse(idx, values, (6, 3)), d.copy()
    expected = math.sqrt(float((full**2).sum() + (d**2).sum()))
    norm = clip_grad_norm([p, q], 0.5)
    assert norm == pytest.approx(expected, rel=1e-14)
    assert isinstance(p.grad, RowSparse)
    scale = 0.5 / (expected + 1e-6)
    np.testing.assert_allclose(p.grad.to_dense(), full * scale, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(q.grad, d * scale, rtol=1e-14)


# ----- schedules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{}, {"start_factor": 1.0, "end_factor": 1e-4, "total_iters": 10},
                                    {"start_factor": 0.5, "end_factor": 0.0, "total_iters": 3}])
def test_linear_lr_matches_torch(kwargs: dict) -> None:
    torch = torch_or_skip()
    opt = SGD([Parameter(np.zeros(1))], lr=0.025)
    ref_opt = torch.optim.SGD([tt(np.zeros(1), requires_grad=True)], lr=0.025)
    sched, ref = LinearLR(opt, **kwargs), torch.optim.lr_scheduler.LinearLR(ref_opt, **kwargs)
    seen, expected = [opt.lr], [ref_opt.param_groups[0]["lr"]]  # the factor applies from construction on
    for _ in range(14):
        ref_opt.step()
        sched.step()
        ref.step()
        seen.append(sched.get_last_lr()[0])
        expected.append(ref.get_last_lr()[0])
    np.testing.assert_allclose(seen, expected, rtol=1e-12, atol=1e-18)
    assert sched.last_epoch == ref.last_epoch == 14


@pytest.mark.parametrize("kwargs", [
    {"factor": 0.25, "patience": 0, "threshold": 0},  # the book's lr /= 4.0
    {},  # PyTorch's defaults: patience 10
    {"mode": "max", "factor": 0.5, "patience": 1, "threshold": 0.05, "cooldown": 2, "min_lr": 0.3},
    {"factor": 0.5, "patience": 2, "threshold": 5.0, "threshold_mode": "abs", "eps": 1.0},
])
def test_reduce_lr_on_plateau_matches_torch(kwargs: dict) -> None:
    torch = torch_or_skip()
    metrics = [300.0, 250.0, 260.0, 240.0, 240.0, 200.0, 210.0, 220.0, 199.0, 198.0, 230.0] * 3
    opt = SGD([Parameter(np.zeros(1))], lr=20.0)
    ref_opt = torch.optim.SGD([tt(np.zeros(1), requires_grad=True)], lr=20.0)
    sched, ref = ReduceLROnPlateau(opt, **kwargs), torch.optim.lr_scheduler.ReduceLROnPlateau(ref_opt, **kwargs)
    seen, expected = [], []
    for metric in metrics:
        sched.step(metric)
        ref.step(metric)
        seen.append(opt.lr)
        expected.append(ref_opt.param_groups[0]["lr"])
    assert seen == expected
    assert len(set(seen)) > 1  # the schedule did reduce


def test_reduce_lr_on_plateau_with_the_books_settings_is_the_books_rule() -> None:
    metrics = [300.0, 250.0, 260.0, 240.0, 240.0, 200.0, 210.0, 220.0]
    opt = SGD([Parameter(np.zeros(1))], lr=20.0)
    sched = ReduceLROnPlateau(opt, factor=0.25, patience=0, threshold=0)
    # the book (ch. 6, train_better_rnnlm.py): if best_ppl > ppl: best_ppl = ppl, else: lr /= 4.0
    lr, best, expected, seen = 20.0, float("inf"), [], []
    for ppl in metrics:
        if best > ppl:
            best = ppl
        else:
            lr /= 4.0
        expected.append(lr)
        sched.step(ppl)
        seen.append(opt.lr)
    assert seen == expected == [20.0, 20.0, 5.0, 5.0, 1.25, 1.25, 0.3125, 0.078125]


def test_schedule_state_round_trip_continues_identically() -> None:
    runs = []
    for split in (False, True):
        opt = SGD([Parameter(np.zeros(1))], lr=1.0)
        linear, plateau = LinearLR(opt, 1.0, 0.1, 6), ReduceLROnPlateau(opt, factor=0.5, patience=1)
        seen = []
        for k, metric in enumerate([5.0, 6.0, 7.0, 4.0, 8.0, 9.0, 9.5, 3.0]):
            if split and k == 4:
                opt2 = SGD([Parameter(np.zeros(1))], lr=1.0)
                opt2.load_state_dict(opt.state_dict())
                linear2, plateau2 = LinearLR(opt2, 1.0, 0.1, 6), ReduceLROnPlateau(opt2, factor=0.5, patience=1)
                linear2.load_state_dict(linear.state_dict())
                plateau2.load_state_dict(plateau.state_dict())
                opt, linear, plateau = opt2, linear2, plateau2
            linear.step()
            plateau.step(metric)
            seen.append(opt.lr)
        runs.append(seen)
    assert runs[0] == runs[1]


def test_schedule_argument_errors() -> None:
    opt = SGD([Parameter(np.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="start_factor"):
        LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="end_factor"):
        LinearLR(opt, end_factor=1.5)
    with pytest.raises(ValueError, match="factor must be < 1.0"):
        ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode"):
        ReduceLROnPlateau(opt, mode="lowest")


def test_optimizer_state_of_another_shape_is_named() -> None:
    opt = Adam([Parameter(np.zeros((2, 3)))])
    state = opt.state_dict() | {"m.0": np.zeros((3, 3))}
    with pytest.raises(ValueError, match=r"'m.0' has shape \(3, 3\), its parameter \(2, 3\)"):
        Adam([Parameter(np.zeros((2, 3)))]).load_state_dict(state)


# ----- bad input ---------------------------------------------------------------------------------


def test_optimizer_argument_errors() -> None:
    p = [Parameter(np.zeros(2))]
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        SGD(p, lr=-0.1)
    with pytest.raises(ValueError, match="learning rate"):
        Adam(p, lr=-1e-3)
    with pytest.raises(ValueError, match="momentum"):
        SGD(p, lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="beta"):
        Adam(p, betas=(1.0, 0.999))
    with pytest.raises(ValueError, match="eps"):
        Adam(p, eps=-1.0)


# ----- RowSparse arithmetic ----------------------------------------------------------------------


def test_row_sparse_coalesce_add_and_scale_match_dense() -> None:
    rng = np.random.default_rng(14)
    a = RowSparse(np.array([3, 0, 3]), rng.standard_normal((3, 2)), (5, 2))
    b = RowSparse(np.array([4, 3]), rng.standard_normal((2, 2)), (5, 2))
    da, db = dense(a), dense(b)
    expected_a = np.zeros((5, 2))
    np.add.at(expected_a, [3, 0, 3], a.values)
    np.testing.assert_allclose(da, expected_a, rtol=0, atol=1e-15)
    c = a.coalesce()
    np.testing.assert_array_equal(c.indices, [0, 3])
    np.testing.assert_allclose(c.to_dense(), da, rtol=0, atol=1e-15)
    np.testing.assert_allclose((a + b).to_dense(), da + db, rtol=0, atol=1e-15)
    base = rng.standard_normal((5, 2))
    before = base.copy()
    np.testing.assert_allclose(base + a, before + da, rtol=0, atol=1e-15)
    np.testing.assert_allclose(a + base, before + da, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(base, before)  # adding to a dense array does not change it
    np.testing.assert_allclose((a * 0.5).to_dense(), 0.5 * da, rtol=0, atol=1e-15)
    np.testing.assert_allclose((2 * a).to_dense(), 2 * da, rtol=0, atol=1e-15)


def test_row_sparse_knows_when_it_is_coalesced() -> None:
    """A gather's gradient and a coalesced ``RowSparse`` are marked coalesced, so the optimizer does not
    sort and sum them again; a sum of two gradients with a shared row is not, and coalescing it adds them."""
    emb = Embedding(9, 2, sparse=True, rng=0).double()
    emb(np.array([[4, 1], [4, 7]])).sum().backward()
    g = emb.weight.grad
    assert g.coalesced and g.coalesce() is g and (g * 2.0).coalesced
    np.testing.assert_array_equal(g.indices, [1, 4, 7])
    emb(np.array([7, 0])).sum().backward()  # accumulates: rows 1, 4, 7, 7, 0
    total = emb.weight.grad
    assert not total.coalesced
    c = total.coalesce()
    assert c.coalesced and c.coalesce() is c
    np.testing.assert_array_equal(c.indices, [0, 1, 4, 7])
    np.testing.assert_array_equal(c.values[:, 0], [1, 1, 2, 2])


def test_row_sparse_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"values of shape \(2, 3\) do not match 2 rows of \(5, 2\)"):
        RowSparse(np.array([0, 1]), np.zeros((2, 3)), (5, 2))
    a = RowSparse(np.array([0]), np.zeros((1, 2)), (5, 2))
    with pytest.raises(ValueError, match=r"cannot add shapes \(5, 2\) and \(6, 2\)"):
        a + RowSparse(np.array([0]), np.zeros((1, 2)), (6, 2))
