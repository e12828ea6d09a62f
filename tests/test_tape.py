"""Tests of the tape: one node per recorded op in execution order, the iterative reverse replay (a 100,000-op
chain), releasing what the nodes saved, retain_graph, reachability, ``no_grad`` and the Wengert list."""

from __future__ import annotations

import gc
import re
import sys
import weakref
from typing import Any

import numpy as np
import pytest

from tinygrad_w2v import Tensor, is_grad_enabled, no_grad, record, set_grad_enabled
from tinygrad_w2v.ops.base import result
from tinygrad_w2v.tape import Node, graph_nodes
from tinygrad_w2v.viz import wengert_list


def _param(shape: tuple[int, ...], seed: int = 0, name: str | None = None) -> Tensor:
    return Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True, name=name)


def _counting_identity(calls: list[str], label: str):
    """A custom op (the way docs/internals.md adds one) whose backward logs its label when it runs."""

    def op(x: Tensor) -> Tensor:
        def backward(g: Any, out: Any, x: Any) -> tuple[Any]:
            calls.append(label)
            return (g,)

        return result(label, x.data.copy(), (x,), backward)

    return op


@pytest.fixture(autouse=True)
def _grad_mode_restored():
    """Every test starts and ends with recording on (a test that breaks the mode must not hide it)."""
    set_grad_enabled(True)
    yield
    assert is_grad_enabled(), "a test left gradient recording switched off"
    set_grad_enabled(True)


# ----- recording ------------------------------------------------------------------------------------------
def test_record_lists_one_node_per_op_in_execution_order() -> None:
    W = _param((5, 3), name="W")
    b = _param((3,), seed=1, name="b")
    x = Tensor(np.ones((2, 5)), name="x")
    with record() as tape:
        h = x @ W
        z = h + b
        a = z.tanh()
        loss = a.sum()
    assert [n.op for n in tape] == ["matmul", "add", "tanh", "sum"]
    assert [tuple(tuple(t.shape) for t in n.inputs) for n in tape] == [((2, 5), (5, 3)), ((2, 3), (3,)), ((2, 3),),
                                                                       ((2, 3),)]
    assert [tuple(n.out_shape) for n in tape] == [(2, 3), (2, 3), (2, 3), ()]
    seqs = [n.seq for n in tape]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    # each node is exactly the grad_fn of the tensor it produced, and points at the real input tensors
    assert [h.grad_fn, z.grad_fn, a.grad_fn, loss.grad_fn] == list(tape)
    assert tape[0].inputs[0] is x and tape[0].inputs[1] is W
    assert tape[1].inputs[0] is h.grad_fn and tape[1].inputs[1] is b  # a result by its node, a leaf itself


def test_ops_without_an_input_that_requires_grad_record_nothing() -> None:
    c = Tensor(np.arange(6.0).reshape(2, 3))
    w = _param((3,))
    with record() as tape:
        d = (c * 2.0).exp().sum(axis=0)  # constants only: nothing recorded
        e = d * w  # w requires grad: one node
    assert [n.op for n in tape] == ["mul"]
    assert d.grad_fn is None and not d.requires_grad and d.is_leaf
    assert e.grad_fn is tape[0] and e.requires_grad


def test_nested_records_both_collect_and_are_removed_after_an_exception() -> None:
    w = _param((2,))
    with record() as outer:
        y = w * 2.0
        with pytest.raises(ZeroDivisionError), record() as inner:
            z = y.exp()
            1 / 0  # noqa: B018
        s = z.sum()
    assert [n.op for n in inner] == ["exp"]
    assert [n.op for n in outer] == ["mul", "exp", "sum"]
    with record() as later:
        (s * 3.0).sum()
    assert len(inner) == 1 and len(outer) == 3 and [n.op for n in later] == ["mul", "sum"]


def test_wengert_list_of_a_small_known_computation() -> None:
    W = Tensor(np.ones((4, 3)), requires_grad=True, name="W")
    x = Tensor(np.ones((2, 4)), name="x")
    unrelated = W * 5.0  # recorded, but the loss does not depend on it
    loss = -(x @ W).log_softmax(axis=-1)[:, 0].mean()
    lines = wengert_list(loss).splitlines()
    parsed = [re.fullmatch(r"v(\d+) = (\w+)\((.*)\)  (.*) -> (.*)", line) for line in lines]
    assert all(parsed), lines
    assert [int(m.group(1)) for m in parsed] == [1, 2, 3, 4, 5]
    assert [m.group(2) for m in parsed] == ["matmul", "log_softmax", "getitem", "mean", "neg"]
    assert [m.group(3) for m in parsed] == ["x, W", "v1, axis=1", "v2, key=[:, 0]", "v3", "v4"]
    assert [m.group(4) for m in parsed] == ["(2, 4), (4, 3)", "(2, 3)", "(2, 3)", "(2,)", "()"]
    assert [m.group(5) for m in parsed] == ["(2, 3)", "(2, 3)", "(2,)", "()", "()"]
    nodes = graph_nodes(loss)
    assert unrelated.grad_fn not in nodes
    assert [n.seq for n in nodes] == sorted(n.seq for n in nodes)


def test_wengert_list_names_unnamed_leaves_by_kind_and_shape() -> None:
    p = Tensor(np.ones(3), requires_grad=True)
    c = Tensor(np.ones(3))
    line = wengert_list(p * c)
    assert line == "v1 = mul(param(3,), const(3,))  (3,), (3,) -> (3,)"


# ----- the replay ---------------------------------------------------------------------------------------------
def test_backward_of_a_100k_op_chain_is_iterative() -> None:
    n = 100_000
    x = Tensor(np.array(0.5), requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0001
    assert len(graph_nodes(y)) == n
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(200, len(_stack_depth()) + 100))  # far below the graph's depth
    try:
        y.backward()
    finally:
        sys.setrecursionlimit(limit)
    np.testing.assert_allclose(x.grad, 1.0001**n, rtol=1e-9)
    np.testing.assert_allclose(y.item(), 0.5 * 1.0001**n, rtol=1e-9)
    del y  # freeing a 100,000-deep graph must not overflow the C stack either
    gc.collect()


def _stack_depth() -> list[Any]:
    frames = []
    f = sys._getframe()
    while f is not None:
        frames.append(f)
        f = f.f_back
    return frames


def test_shared_subexpressions_accumulate_before_their_node_runs() -> None:
    # y feeds three consumers created at different times; its node must run after all of them
    xv = np.array([0.3, -1.2, 2.0])
    x = Tensor(xv, requires_grad=True)
    y = x * x
    z = y.exp() + y * 3.0 + (y * y).sum()
    z.sum().backward()
    yv = xv * xv
    dz_dy = np.exp(yv) + 3.0 + 2 * yv * xv.size
    np.testing.assert_allclose(x.grad, dz_dy * 2 * xv, rtol=1e-12)


def test_non_scalar_root_with_explicit_grad() -> None:
    xv = np.random.default_rng(3).standard_normal((2, 3))
    g = np.random.default_rng(4).standard_normal((2, 3))
    x = Tensor(xv, requires_grad=True)
    x.tanh().backward(g)
    np.testing.assert_allclose(x.grad, g * (1 - np.tanh(xv) ** 2), rtol=1e-12)


def test_non_scalar_root_without_grad_is_a_value_error() -> None:
    y = _param((2, 3)) * 2.0
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        y.backward()


def test_second_backward_through_a_released_graph_raises() -> None:
    x = _param((3,))
    loss = (x.exp() * 2.0).sum()
    loss.backward()
    first = x.grad.copy()
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()
    np.testing.assert_array_equal(x.grad, first)  # the failed call changed nothing


def test_retain_graph_allows_a_second_backward_and_gradients_accumulate() -> None:
    xv = np.array([0.1, -0.7, 1.5])
    x = Tensor(xv, requires_grad=True)
    loss = (x.exp() * x).sum()
    loss.backward(retain_graph=True)
    once = x.grad.copy()
    np.testing.assert_allclose(once, np.exp(xv) * (1 + xv), rtol=1e-12)
    assert not any(n.released for n in graph_nodes(loss))
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * once, rtol=1e-12)
    assert all(n.released for n in graph_nodes(loss))
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()


def test_retain_graph_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    xv = np.array([0.1, -0.7, 1.5])
    x = Tensor(xv, requires_grad=True)
    xt = torch.tensor(xv, requires_grad=True)
    loss = (x.sigmoid() * x).sum()
    lt = (torch.sigmoid(xt) * xt).sum()
    for retain in (True, False):
        loss.backward(retain_graph=retain)
        lt.backward(retain_graph=retain)
        np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError):
        lt.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()


def test_backward_releases_what_the_nodes_saved() -> None:
    x = _param((4, 5))
    loss = (x.relu() * 2.0).log_softmax(axis=-1).max()
    nodes = graph_nodes(loss)
    # arrays the closures saved that no tensor holds (relu's mask, log_softmax's exp and sum, max's top, ...)
    arrays = [t._data for n in nodes for t in n.inputs] + [loss.data]  # a node stands for its output
    held = {id(a) for a in arrays} | {id(a.base) for a in arrays if a.base is not None}  # views keep bases

    def closed_over(fn):  # the values a rule's closure holds, also through the functions it calls
        for c in getattr(fn, "__closure__", None) or ():
            yield c.cell_contents
            yield from closed_over(c.cell_contents)

    saved = [
        weakref.ref(v)
        for n in nodes
        for v in closed_over(n.backward)
        if isinstance(v, np.ndarray) and id(v) not in held
    ]
    assert len(saved) >= 3
    del held, arrays
    loss.backward()
    gc.collect()
    assert all(n.released for n in nodes)
    assert [r() for r in saved if r() is not None] == []


def test_released_custom_op_frees_its_saved_array() -> None:
    x = _param((3,))
    refs: list[weakref.ref] = []

    def op(t: Tensor) -> Tensor:
        saved = np.full(1000, 2.0)  # only the backward closure holds it
        refs.append(weakref.ref(saved))

        def backward(g: Any, out: Any, x: Any) -> tuple[Any]:
            return (g * saved[:3],)

        return result("saving_op", t.data * 1.0, (t,), backward)

    loss = op(x).sum()
    gc.collect()
    assert refs[0]() is not None  # alive while the graph may still be replayed
    loss.backward()
    gc.collect()
    assert refs[0]() is None
    assert loss.grad_fn.released and loss.grad_fn.inputs[0].grad_fn.released
    np.testing.assert_allclose(x.grad, np.full(3, 2.0))


def test_ops_not_reachable_from_the_root_are_not_replayed() -> None:
    calls: list[str] = []
    used, unused = _counting_identity(calls, "used"), _counting_identity(calls, "unused")
    x = _param((3,))
    a = used(x)
    b = unused(x)
    (a * 2.0).sum().backward()
    assert calls == ["used"]
    assert not b.grad_fn.released
    np.testing.assert_allclose(x.grad, np.full(3, 2.0))
    b.sum().backward()  # the other branch is still intact
    assert calls == ["used", "unused"]
    np.testing.assert_allclose(x.grad, np.full(3, 3.0))


def test_replay_runs_nodes_in_reverse_execution_order() -> None:
    calls: list[str] = []
    ops = [_counting_identity(calls, f"op{k}") for k in range(4)]
    x = _param((2,))
    y0 = ops[0](x)
    y1 = ops[1](y0)
    y2 = ops[2](y0)  # a branch made after y1
    y3 = ops[3](y1 + y2)
    y3.sum().backward()
    assert calls == ["op3", "op2", "op1", "op0"]
    np.testing.assert_allclose(x.grad, np.full(2, 2.0))


def test_leaves_that_do_not_require_grad_get_no_grad() -> None:
    w = _param((3,))
    c = Tensor(np.array([1.0, 2.0, 3.0]))
    d = Tensor(np.array([4.0, 5.0, 6.0]))
    (w * c + d).sum().backward()
    assert c.grad is None and d.grad is None
    np.testing.assert_allclose(w.grad, c.data)


def test_retain_grad_keeps_an_intermediate_gradient_like_torch() -> None:
    torch = pytest.importorskip("torch")
    xv = np.array([0.5, -1.0, 2.0])
    x = Tensor(xv, requires_grad=True)
    h = x * x
    h.retain_grad()
    (h.exp()).sum().backward()
    xt = torch.tensor(xv, requires_grad=True)
    ht = xt * xt
    ht.retain_grad()
    ht.exp().sum().backward()
    np.testing.assert_allclose(h.grad, ht.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)


# ----- no_grad ----------------------------------------------------------------------------------------------
def test_no_grad_context_records_nothing_and_restores_the_mode() -> None:
    w = _param((3,))
    with record() as tape, no_grad():
        assert not is_grad_enabled()
        y = (w * 2.0).exp().sum()
    assert is_grad_enabled()
    assert list(tape) == []
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    z = w * 2.0  # recording is back on
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_as_decorator_and_nested() -> None:
    @no_grad()
    def f(t: Tensor) -> Tensor:
        assert not is_grad_enabled()
        return t * 3.0

    w = _param((2,))
    y = f(w)
    assert not y.requires_grad and y.grad_fn is None
    assert is_grad_enabled()
    with no_grad():
        with no_grad():
            pass
        assert not is_grad_enabled()  # the inner block restored "off", not "on"
        assert not f(w).requires_grad
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_no_grad_decorated_recursion_restores_the_mode() -> None:
    @no_grad()
    def depth(n: int) -> int:
        assert not is_grad_enabled()
        return 0 if n == 0 else 1 + depth(n - 1)

    assert depth(5) == 5
    assert is_grad_enabled()


def test_no_grad_restores_the_mode_when_an_exception_is_raised() -> None:
    with pytest.raises(KeyError), no_grad():
        raise KeyError("boom")
    assert is_grad_enabled()

    @no_grad()
    def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError):
        fails()
    assert is_grad_enabled()
    # restores the previous mode, which may be "off"
    set_grad_enabled(False)
    try:
        with pytest.raises(ValueError):
            fails()
        assert not is_grad_enabled()
    finally:
        set_grad_enabled(True)


def test_no_grad_matches_torch_semantics() -> None:
    torch = pytest.importorskip("torch")
    w = _param((2,))
    wt = torch.zeros(2, requires_grad=True)
    with no_grad(), torch.no_grad():
        y, yt = w * 2.0, wt * 2.0
    assert y.requires_grad == yt.requires_grad is False
    assert y.is_leaf == yt.is_leaf is True
    assert (y.grad_fn is None) == (yt.grad_fn is None) is True


def test_node_repr_names_op_and_shapes() -> None:
    y = _param((2, 3)) @ _param((3, 4), seed=1)
    node = y.grad_fn
    assert isinstance(node, Node)
    text = repr(node)
    assert "matmul" in text and "(2, 3)" in text and "(3, 4)" in text and "(2, 4)" in text
