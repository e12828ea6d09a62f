"""Pictures with the real Graphviz ``dot`` program, the Wengert and adjoint lists, scopes, per-node
gradient norms and the step-by-step replay."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from tinygrad_w2v import Tensor, name_scope, record
from tinygrad_w2v.models.rnnlm import RNNLM, lm_loss
from tinygrad_w2v.tape import graph_nodes, watch_backward
from tinygrad_w2v.viz import adjoint_list, draw_graph, replay, track_grad_norms, wengert_list

graphviz = pytest.importorskip("graphviz", reason="the viz extra (graphviz package) is not installed")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
REPO = Path(__file__).resolve().parents[1]


def small_loss() -> tuple[Tensor, Tensor, Tensor]:
    loss, w, x, _ = small_loss_and_logits()
    return loss, w, x


def small_loss_and_logits() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    w = Tensor(np.array([[1.0, -2.0], [0.5, 3.0]]), requires_grad=True, name="w")
    x = Tensor(np.array([0.3, -0.7]), name="x")
    logits = x @ w
    loss = logits.log_softmax().sum()
    loss.name = "loss"
    return loss, w, x, logits


def labels(src: str) -> dict[str, str]:
    """Graphviz element id -> its label, from a graph's source."""
    found = re.findall(r'^\s*"?([\w@/=.-]+)"? \[label=(?:"([^"]*)"|(\w+))', src, re.M)
    return {key: quoted or bare for key, quoted, bare in found}


def lstm_loss(steps: int, layers: int = 1) -> tuple[Tensor, RNNLM]:
    model = RNNLM(20, 4, 4, cell="lstm", layers=layers, seed=0)
    x = np.random.default_rng(0).integers(0, 20, (2, steps))
    log_probs, _ = model(x)
    return lm_loss(log_probs, np.roll(x, -1, axis=1)), model


def test_tensor_displays_values_and_graphs_display_as_svg() -> None:
    loss, w, _ = small_loss()
    assert not hasattr(loss, "_repr_svg_") and not hasattr(w, "_repr_svg_")
    assert repr(w) == "Tensor([[ 1. , -2. ],\n        [ 0.5,  3. ]], dtype=float64, requires_grad=True, name='w')"
    assert "grad_fn=<sum>" in repr(loss)
    bundle = draw_graph(loss)._repr_mimebundle_()  # what Jupyter calls to show the returned object
    assert "<svg" in bundle["image/svg+xml"]


def test_compact_style_one_element_per_op_boxes_only_for_leaves_and_named_results() -> None:
    w = Tensor(np.ones((3, 2)), requires_grad=True, name="w")
    x = Tensor(np.ones((4, 3)), name="x")
    h = (x @ w).tanh()
    h.name = "h"
    loss = (h * 2.0).sum(axis=1).mean()  # the unnamed constant 2.0 is folded into its op's label
    elements = labels(draw_graph(loss).source)
    ops = [lbl.split("\n")[0] for key, lbl in elements.items() if key.startswith("op")]
    assert sorted(ops) == ["matmul", "mean", "mul", "sum · axis=1", "tanh"]
    boxes = sorted(lbl for key, lbl in elements.items() if not key.startswith("op"))
    assert boxes == ["h\n(4, 2)", "result\n()", "w\n(3, 2)", "x\n(4, 3)"]
    mul = next(lbl for lbl in elements.values() if lbl.startswith("mul"))
    assert mul == "mul\n(4, 2)\nconst ()"
    src = draw_graph(loss).source
    def attributes(t: Tensor) -> str:
        return re.search(rf"leaf{id(t)} \[[^\]]*\]", src).group(0)

    assert "#ffe9a8" in attributes(w) and "dashed" in attributes(x)  # a parameter is filled, a constant dashed
    assert "5 ops, 1 parameter" in src and "1 parameters" not in src


def test_show_grads_puts_the_gradient_norm_of_every_result_on_its_node() -> None:
    loss, w, x, logits = small_loss_and_logits()
    logits.retain_grad()  # to compare with the norm drawn on the matmul
    with track_grad_norms():
        loss.backward()
    elements = labels(draw_graph(loss, show_grads=True).source)
    matmul = next(lbl for lbl in elements.values() if lbl.startswith("matmul"))
    assert matmul.endswith(f"|g| {np.linalg.norm(logits.grad):.3g}")
    assert elements[f"leaf{id(w)}"].endswith(f"|g| {np.linalg.norm(w.grad):.3g}")
    assert sum("|g|" in lbl for lbl in elements.values()) == 4  # 3 ops + the parameter
    assert "|g|" not in draw_graph(loss).source


def test_names_of_results_survive_the_release_of_the_graph() -> None:
    loss, w, x, logits = small_loss_and_logits()
    logits.name = "logits"
    before = wengert_list(loss)
    loss.backward()  # releases the nodes: their arrays go, their names stay
    assert wengert_list(loss) == before and before.startswith("logits = matmul(x, w)")
    assert 'label="logits\n(2,)"' in draw_graph(loss).source


def test_gradient_norms_are_recorded_only_when_asked() -> None:
    loss, _, _ = small_loss()
    nodes = graph_nodes(loss)
    loss.backward()
    assert not any(hasattr(node, "grad_norm") for node in nodes)
    src = draw_graph(loss, show_grads=True).source
    assert "track_grad_norms" in src  # the picture says how to get them


def test_watch_backward_sees_each_node_once_with_its_complete_gradient_in_replay_order() -> None:
    a = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    b = a * 3.0
    b.retain_grad()
    c = (b * b + b).sum()
    seen = []
    with watch_backward(lambda node, g: seen.append((node, g.copy()))):
        c.backward()
    assert [n.seq for n, _ in seen] == sorted((n.seq for n in graph_nodes(c)), reverse=True)
    assert len(seen) == 4
    node_b, g_b = next((n, g) for n, g in seen if n.op == "mul" and n.inputs[0] is a)
    np.testing.assert_allclose(g_b, b.grad)  # the sum of both uses of b, as the tape accumulated it
    np.testing.assert_allclose(g_b, 2 * b.data + 1)


def test_name_scope_nests_is_per_thread_and_rejects_bad_names() -> None:
    a = Tensor(np.ones(2), requires_grad=True)
    other: list[str] = []
    with name_scope("layer0"):
        with name_scope("t=3"):
            b = a * 2
            worker = threading.Thread(target=lambda: other.append((a + 1).grad_fn.scope))
            worker.start()
            worker.join()
        c = b.sum()
    d = c * 1
    assert (b.grad_fn.scope, c.grad_fn.scope, d.grad_fn.scope, other) == ("layer0/t=3", "layer0", "", [""])
    assert "[layer0/t=3]" in wengert_list(d).splitlines()[0]
    for bad in ("", "a/b"):
        with pytest.raises(ValueError, match="name_scope"), name_scope(bad):
            pass


def test_scopes_are_drawn_as_frames_and_the_model_marks_layers_and_steps() -> None:
    loss, _ = lstm_loss(steps=3, layers=2)
    scopes = {node.scope for node in graph_nodes(loss)}
    assert {"embedding", "layer0", "layer1", "output"} | {f"layer{k}/t={t}" for k in (0, 1) for t in range(3)} <= scopes
    src = draw_graph(loss, collapse=False).source
    for k in (0, 1):
        assert f"cluster_layer{k}" in src and f"cluster_layer{k}/t=2" in src
    nodes = graph_nodes(loss)
    with track_grad_norms():
        loss.backward()
    elements = labels(draw_graph(loss, show_grads=True, collapse=False).source)
    ops = [lbl for key, lbl in elements.items() if key.startswith("op")]
    assert len(ops) == len(nodes) and all("|g| " in lbl for lbl in ops)  # every step's every node
    tanh_norms = [n.grad_norm for n in nodes if n.op == "tanh" and n.scope.startswith("layer0/")]
    assert len(tanh_norms) == 2 * 3 and all(np.isfinite(tanh_norms)) and max(tanh_norms) > 0


@needs_dot
def test_a_long_unroll_collapses_and_renders_and_an_oversized_graph_refuses(tmp_path: Path) -> None:
    loss, model = lstm_loss(steps=35)
    n_ops = len(graph_nodes(loss))
    assert n_ops > 600
    graph = draw_graph(loss, params=model.named_parameters())  # more than COLLAPSE_ABOVE: collapsed
    src = graph.source
    assert "t=1 … t=33\n×33, 17 ops each (as in t=0)" in src and "cluster_layer0/t=34" in src
    assert "cluster_layer0/t=5" not in src and f"{n_ops} ops, 6 parameters; drawn: " in src
    assert "cells.0.weight_hh" in src
    with pytest.raises(ValueError, match=rf"{n_ops} ops.*max_ops=600.*name_scope"):
        draw_graph(loss, collapse=False)
    # drawn in full when asked: dot must finish (not hang) on the 600-op graph
    full = draw_graph(loss, collapse=False, max_ops=n_ops)
    run = subprocess.run(["dot", "-Tsvg"], input=full.source, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.count("<g id=\"node") >= n_ops


def test_wengert_list_names_attributes_and_execution_order() -> None:
    loss, _, _ = small_loss()
    lines = wengert_list(loss).splitlines()
    assert lines == [
        "v1 = matmul(x, w)  (2,), (2, 2) -> (2,)",
        "v2 = log_softmax(v1, axis=0)  (2,) -> (2,)",
        "loss = sum(v2)  (2,) -> ()",
    ]


def test_adjoint_list_follows_the_replay_order_with_one_update_per_input_needing_a_gradient() -> None:
    loss, _, _ = small_loss()
    text = adjoint_list(loss)
    assert [line.split("  #")[0].rstrip() for line in text.splitlines()] == [
        "loss_bar = 1",
        "v2_bar += broadcast(loss_bar, (2,))",
        "v1_bar += v2_bar - exp(v2) * sum(v2_bar, axis=0)",
        "w_bar += x.T @ v1_bar",  # x is a constant: no x_bar
    ]
    h = Tensor(np.ones((2, 3)), requires_grad=True, name="h")
    b = Tensor(np.ones(3), requires_grad=True, name="b")
    y = (h + b).tanh().mean()
    order = []
    with watch_backward(lambda node, g: order.append(node.op)):
        listing = adjoint_list(y)
        y.backward()
    assert [line.split("# ")[1].split(" ")[0] for line in listing.splitlines()[1:]] == ["mean", "tanh", "add", "add"]
    assert order == ["mean", "tanh", "add"]
    assert "b_bar += sum_to(v1_bar, (3,))" in listing and "broadcast(y_bar" not in listing


@needs_dot
def test_replay_shows_each_step_and_gives_the_same_gradients(tmp_path: Path) -> None:
    loss, w, _ = small_loss()
    expected_loss, expected_w, _ = small_loss()
    expected_loss.backward()
    steps = replay(loss)
    np.testing.assert_allclose(w.grad, expected_w.grad)
    assert len(steps) == 3 and [n.op for n in steps.order] == ["sum", "log_softmax", "matmul"]
    states = steps.states(1)
    assert states[id(steps.order[0])] == "done" and states[id(steps.order[1])] == "running"
    assert id(steps.order[2]) not in states and f"leaf{id(w)}" not in states  # adjoints still zero
    assert steps.states(2)[id(steps.order[2])] == "running"
    assert steps.lines[2] == ["w_bar += x.T @ v1_bar"]
    assert "step 3 of 3: matmul" in steps.frame(2).source
    paths = steps.write(tmp_path, format="png")
    assert [p.name for p in paths] == ["step_1.png", "step_2.png", "step_3.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
    page = steps._repr_html_()
    assert page.count("<svg") == 3 and 'type="range"' in page and 'max="3"' in page


@needs_dot
def test_renders_real_svg_and_png(tmp_path: Path) -> None:
    loss, _, _ = small_loss()
    graph = draw_graph(loss)
    svg = Path(graph.render(tmp_path / "g", format="svg", cleanup=True)).read_text()
    assert svg.lstrip().startswith("<?xml") and "log_softmax" in svg and "<svg" in svg
    png = Path(graph.render(tmp_path / "g", format="png", cleanup=True)).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_record_collects_only_the_block() -> None:
    a = Tensor(np.ones(3), requires_grad=True, name="a")
    b = a * 2
    with record() as tape:
        c = (b + a).tanh()
    assert [n.op for n in tape] == ["add", "tanh"]
    assert str(tape).splitlines()[0].startswith(f"v1 = add(#{b.grad_fn.seq}, a)")
    assert c.grad_fn is tape[-1]


@needs_dot
def test_demo_writes_svg_and_png(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(REPO / "demos" / "draw_graph.py"), "--out", str(tmp_path), "--show-grads"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    written = [Path(line.split("wrote ", 1)[1]) for line in run.stdout.splitlines() if line.startswith("wrote ")]
    assert sorted(p.name for p in written) == sorted(
        f"{n}.{ext}" for n in ("negative_sampling", "rnn_3_steps") for ext in ("svg", "png")
    )
    for p in written:
        assert p.exists() and p.stat().st_size > 500
