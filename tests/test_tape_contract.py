"""The replay's contract: no gradient from values the forward did not see, no gradient of a wrong shape or
device, no activation pinned by a kept root, recording switched per thread, gradients in their tensor's
dtype, tensors that copy what they are given, and a package that imports in any order."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest

from tinygrad_w2v import Tensor, from_numpy, gather, grad, is_grad_enabled, no_grad, record
from tinygrad_w2v.nn import Embedding, Parameter
from tinygrad_w2v.ops.base import result
from tinygrad_w2v.optim import SGD

REPO = Path(__file__).resolve().parents[1]
MODIFIED = "needed for gradient computation has been"


def _xw(seed: int = 0) -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((2, 5)), requires_grad=True, name="x")
    W = Tensor(rng.standard_normal((5, 3)), requires_grad=True, name="W")
    return x, W


# ----- changed data between forward and backward ---------------------------------------------------
def test_in_place_change_of_data_after_the_forward_raises_at_backward() -> None:
    x, W = _xw()
    y = (x @ W).sum()
    W.data *= 10
    with pytest.raises(RuntimeError, match=f"{MODIFIED} modified in place.*'W'.*matmul"):
        y.backward()


def test_rebinding_data_after_the_forward_raises_at_backward() -> None:
    x, W = _xw()
    y = (x @ W).sum()
    W.data = W.data * 10
    with pytest.raises(RuntimeError, match=f"{MODIFIED} rebound.*'W'"):
        y.backward()


def test_in_place_change_of_a_result_after_an_op_used_it_raises_at_backward() -> None:
    x, W = _xw()
    h = x @ W
    y = (h * h).sum()
    h.data *= 2
    with pytest.raises(RuntimeError, match=f"{MODIFIED} modified in place.*'mul'"):
        y.backward()


def test_rebinding_a_result_keeps_what_earlier_ops_saw_and_later_ops_see_the_new_values() -> None:
    x, W = _xw()
    h = x @ W
    old = h.data.copy()
    y1 = (h * h).sum()
    new = np.full(h.shape, 3.0)
    h.data = new
    b = Tensor(np.full((2, 3), 0.5), requires_grad=True)
    y2 = (h * b).sum()
    assert y2.item() == pytest.approx(new.sum() * 0.5)
    (y1 + y2).backward()
    # y1 = sum(h_old^2), y2 = sum(h_new * b); the gradient of both reaches W through the matmul that made h
    np.testing.assert_allclose(W.grad, x.data.T @ (2 * old + b.data))
    np.testing.assert_allclose(b.grad, new)


def test_a_result_used_again_after_its_graph_was_released_raises_naming_retain_graph() -> None:
    x = Tensor(np.ones(3), requires_grad=True)
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match="second time.*'exp'.*retain_graph"):
        (h * x).sum().backward()


def test_reading_data_between_forward_and_backward_is_fine() -> None:
    x, W = _xw()
    W0 = W.data.copy()
    y = (x @ W).sum()
    assert W.data.sum() == W0.sum() and W.numpy().shape == (5, 3)
    y.backward()
    np.testing.assert_allclose(x.grad, np.broadcast_to(W0.sum(axis=1), (2, 5)))


def test_reused_index_buffer_after_gather_keeps_the_rows_the_forward_read() -> None:
    table = Tensor(np.arange(12.0).reshape(6, 2), requires_grad=True)
    ids = np.array([0, 1])
    out = gather(table, ids)
    ids[:] = [4, 5]  # the caller's buffer, reused for the next batch
    out.sum().backward()
    np.testing.assert_array_equal(table.grad[:, 0], [1, 1, 0, 0, 0, 0])


def test_reused_index_buffer_after_getitem_keeps_the_rows_the_forward_read() -> None:
    table = Tensor(np.arange(12.0).reshape(6, 2), requires_grad=True)
    ids = np.array([0, 1])
    out = table[ids]
    ids[:] = [4, 5]
    out.sum().backward()
    np.testing.assert_array_equal(table.grad[:, 0], [1, 1, 0, 0, 0, 0])


def test_a_constant_array_changed_after_the_forward_does_not_reach_the_gradient() -> None:
    w = Tensor(np.ones(3), requires_grad=True)
    scale = np.array([1.0, 2.0, 3.0])
    y = (w * scale).sum()
    scale *= 100
    y.backward()
    np.testing.assert_array_equal(w.grad, [1.0, 2.0, 3.0])


def test_optimizer_steps_after_backward_and_retained_graphs_without_changes_keep_working() -> None:
    x, W = _xw()
    p = Parameter(W.data)
    opt = SGD([p], lr=0.1)
    for _ in range(3):
        loss = (x @ p).tanh().sum()
        loss.backward(retain_graph=True)
        g1 = p.grad.copy()
        loss.backward()  # the retained graph, nothing changed in between
        np.testing.assert_allclose(p.grad, 2 * g1)
        opt.step()
        opt.zero_grad()


def test_optimizer_step_between_two_backwards_of_a_retained_graph_raises() -> None:
    x, W = _xw()
    p = Parameter(W.data)
    loss = (x @ p).tanh().sum()
    loss.backward(retain_graph=True)
    SGD([p], lr=0.1).step()
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


# ----- the gradient contract ------------------------------------------------------------------------
def test_a_gradient_of_the_wrong_shape_from_an_op_raises_naming_op_input_and_shapes() -> None:
    x = Tensor(np.ones((2, 3)), requires_grad=True, name="x")
    y = result("bad_op", x._data * 2, (x,), lambda g, out, x: (np.ones((3, 2)),))
    with pytest.raises(RuntimeError, match=r"'bad_op'.*shape \(3, 2\).*'x'.*expected shape \(2, 3\)"):
        y.sum().backward()


def test_a_gradient_with_broadcast_axes_is_summed_to_the_input_shape() -> None:
    x = Tensor(np.ones(3), requires_grad=True)
    y = result("widening_op", x._data * 2, (x,), lambda g, out, x: (np.ones((4, 3)),))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [4.0, 4.0, 4.0])


def test_a_gradient_of_another_dtype_is_cast_to_the_input_dtype() -> None:
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = result("f64_op", x._data * 2, (x,), lambda g, out, x: (np.ones(3, dtype=np.float64),))
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_backward_with_a_tensor_gradient_casts_it_to_the_tensor_dtype() -> None:
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = x * 2.0
    y.backward(Tensor(np.ones(3, dtype=np.float64)))
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])
    x.grad = None
    x.backward(Tensor(np.ones(3, dtype=np.float64)))  # a leaf root: no op in between to cast it
    assert x.grad.dtype == np.float32


def test_float64_upstream_into_a_float32_sparse_embedding() -> None:
    emb = Embedding(10, 4, sparse=True, rng=0)
    out = emb(np.array([1, 3, 3]))
    out.backward(Tensor(np.ones((3, 4), dtype=np.float64)))
    assert emb.weight.grad.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(emb.weight.grad)[[1, 3], 0], [1.0, 2.0])


def test_np_asarray_of_a_row_sparse_gradient_is_the_dense_array() -> None:
    emb = Embedding(6, 2, sparse=True, rng=0)
    emb(np.array([5, 0, 5])).sum().backward()
    dense = np.asarray(emb.weight.grad)
    assert dense.dtype == np.float32 and dense.shape == (6, 2)
    np.testing.assert_array_equal(dense[:, 1], [1, 0, 0, 0, 0, 2])


# ----- memory -----------------------------------------------------------------------------------------
def test_a_kept_root_does_not_pin_the_activations_after_backward() -> None:
    W = Tensor(np.random.default_rng(0).standard_normal((50, 50)), requires_grad=True, name="W")
    x = Tensor(np.ones((8, 50)), name="batch")
    h = (x @ W).tanh()
    activation = weakref.ref(h._data)
    loss = (h @ W).sum()
    del h
    gc.collect()
    assert activation() is not None  # the graph still needs it
    loss.backward()
    gc.collect()
    assert activation() is None, "the root kept an activation alive after backward"
    # ... while pictures and listings of the released graph still work
    nodes = [loss.grad_fn, loss.grad_fn.inputs[0].grad_fn]
    assert nodes[1].op == "matmul" and tuple(nodes[1].inputs[0].shape) == (8, 50)
    assert nodes[1].inputs[1] is W  # parameters stay themselves
    from tinygrad_w2v.viz import wengert_list

    assert "tanh" in wengert_list(loss)


def test_retain_graph_keeps_the_activations() -> None:
    W = Tensor(np.ones((4, 4)), requires_grad=True)
    h = (Tensor(np.ones((2, 4))) @ W).tanh()
    activation = weakref.ref(h._data)
    loss = h.sum()
    del h
    loss.backward(retain_graph=True)
    gc.collect()
    assert activation() is not None


# ----- threads ------------------------------------------------------------------------------------------
def test_no_grad_in_one_thread_does_not_switch_recording_off_in_another() -> None:
    inside, done = threading.Event(), threading.Event()

    def other() -> None:
        with no_grad():
            inside.set()
            done.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    try:
        assert inside.wait(10)
        assert is_grad_enabled()
        w = Tensor(np.ones(3), requires_grad=True)
        y = (w * 2.0).sum()
        assert y.requires_grad and y.grad_fn is not None
    finally:
        done.set()
        thread.join()


def test_gradients_from_many_threads_are_all_right() -> None:
    errors: list[str] = []

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for step in range(200):
            x = Tensor(rng.standard_normal(4), requires_grad=True)
            if step % 2:
                with no_grad():
                    x * 3.0
            (x * x).sum().backward()
            if x.grad is None or not np.allclose(x.grad, 2 * x.data):
                errors.append(f"thread {seed} step {step}")

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_record_collects_only_its_own_thread() -> None:
    started = threading.Event()

    def other() -> None:
        started.set()
        for _ in range(2000):
            (Tensor(np.ones(2), requires_grad=True) * 2.0).sum()

    with record() as tape:
        thread = threading.Thread(target=other)
        thread.start()
        started.wait(10)
        w = Tensor(np.ones(2), requires_grad=True)
        (w + 1.0).sum()
        thread.join()
    assert [n.op for n in tape] == ["add", "sum"]


# ----- tensors copy what they are given -------------------------------------------------------------
def test_tensor_and_parameter_copy_the_caller_array_and_from_numpy_shares_it() -> None:
    a = np.ones(3)
    t, p, s = Tensor(a, requires_grad=True), Parameter(a), from_numpy(a)
    p.grad = np.ones(3)
    SGD([p], lr=1.0).step()
    t.data += 5
    np.testing.assert_array_equal(a, [1.0, 1.0, 1.0])
    s.data += 1
    np.testing.assert_array_equal(a, [2.0, 2.0, 2.0])


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_an_int_tensor_with_a_python_float_is_float32(dtype) -> None:
    t = Tensor(np.array([1, 0, 1], dtype=dtype))
    torch = pytest.importorskip("torch")
    expected = (torch.tensor(np.array([1, 0, 1], dtype=dtype)) * 2.5).dtype
    assert expected == torch.float32
    for out in (t * 2.5, 2.5 * t, t + 0.5, t - 0.5):
        assert out.dtype == np.float32
    assert (t * 2).dtype == np.dtype(dtype) if dtype is not np.bool_ else True


# ----- layering --------------------------------------------------------------------------------------------
MODULES = ["tinygrad_w2v.tensor", "tinygrad_w2v.ops", "tinygrad_w2v.ops.base", "tinygrad_w2v.tape",
           "tinygrad_w2v.nn", "tinygrad_w2v.function", "tinygrad_w2v.viz", "tinygrad_w2v.testing"]


@pytest.mark.parametrize("first", MODULES)
def test_the_package_imports_whichever_module_comes_first(first: str) -> None:
    code = f"import {first}\nfrom tinygrad_w2v import Tensor\nprint(((Tensor([1.0]) * 2).sum() + 1).item())"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "3.0", run.stderr


def test_tensor_and_tape_do_not_import_the_ops() -> None:
    for module in ("tensor.py", "tape.py", "backend.py"):
        source = (REPO / "tinygrad_w2v" / module).read_text()
        assert "import ops" not in source and "from .ops" not in source and "isort: off" not in source
    assert "isort: off" not in (REPO / "tinygrad_w2v" / "__init__.py").read_text()


# ----- rebinding, reuse after a backward, recorded backwards ---------------------------------------------
def test_grad_and_retain_grad_of_a_rebound_result_count_every_use() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 2.0
    a = (y * 3.0).sum()
    y.data = y.data.copy()
    y.retain_grad()
    b = (y * 5.0).sum()
    np.testing.assert_allclose(grad(a + b, y, retain_graph=True)[0].numpy(), [8.0, 8.0])  # as PyTorch
    (a + b).backward()
    np.testing.assert_allclose(y.grad, [8.0, 8.0])
    np.testing.assert_allclose(x.grad, [16.0, 16.0])


def test_a_result_made_before_a_backward_can_be_used_in_ops_recorded_after_it() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    y = x * 2.0
    early = (y * w).sum()  # recorded before the backward that releases y's node
    y.sum().backward()
    # an op recorded before the release reads y through its node, whose arrays the release freed
    with pytest.raises(RuntimeError, match="second time.*'mul'.*retain_graph"):
        grad(early, w)
    late = (y * w).sum()
    np.testing.assert_allclose(grad(late, w)[0].numpy(), [2.0, 4.0])  # only w's path: as PyTorch
    with pytest.raises(RuntimeError, match="second time.*'mul'.*retain_graph"):
        (y * w).sum().backward()  # reaches y's released node


def test_a_recorded_backward_without_retain_graph_can_be_differentiated() -> None:
    # the double-backward trick: the gradient of a VJP with respect to its cotangent v is the Jacobian
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    v = Tensor(np.array([1.0, 1.0]), requires_grad=True)
    (x.exp() * w).backward(v, create_graph=True, retain_graph=False)
    np.testing.assert_allclose(grad(w.grad.sum(), v)[0].numpy(), np.exp([1.0, 2.0]))


@pytest.mark.parametrize("op", ["exp", "tanh", "sigmoid", "sqrt", "softmax", "logsumexp", "std", "max", "div"])
def test_in_place_change_of_an_output_its_rule_reads_raises(op: str) -> None:
    x = Tensor(np.array([0.5, 1.0, 2.0]), requires_grad=True)
    y = x / Tensor(np.array([2.0, 4.0, 8.0]), requires_grad=True) if op == "div" else getattr(x, op)()
    y.data *= 3  # each rule reads y: the gradient would use the changed values
    with pytest.raises(RuntimeError, match=f"{MODIFIED} modified in place.*the output of op '{op}'"):
        y.sum().backward()


def test_in_place_change_of_an_output_no_rule_reads_is_fine() -> None:
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    w = Tensor(np.array([4.0, 5.0, 6.0]), requires_grad=True)
    y = x * w
    y.data[...] = 0  # mul's gradients read its inputs, not its output (PyTorch agrees)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [4.0, 5.0, 6.0])


def test_grad_of_a_result_made_before_a_backward_and_used_after_it() -> None:
    from tinygrad_w2v.viz import wengert_list

    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = x * 2.0
    y.sum().backward()
    z = (y * y).sum()
    np.testing.assert_allclose(grad(z, y, retain_graph=True)[0].numpy(), [4.0, 8.0, 12.0])  # as PyTorch
    assert wengert_list(z).count("= mul(") == 2  # y's op once, then y * y: no second copy of y's node
    r = x * 2.0
    r.data = np.array([7.0, 8.0, 9.0])  # rebound, then released, then used
    r.sum().backward()
    w = Tensor(np.ones(3), requires_grad=True)
    out = (r * w).sum()
    np.testing.assert_allclose(grad(out, r, retain_graph=True)[0].numpy(), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(grad(out, w)[0].numpy(), [7.0, 8.0, 9.0])
