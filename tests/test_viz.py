"""Drawing graphs with the real Graphviz ``dot`` program, and the printed Wengert list."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_w2v import Tensor, record
from tinygrad_w2v.viz import draw_graph, wengert_list

graphviz = pytest.importorskip("graphviz", reason="the viz extra (graphviz package) is not installed")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
REPO = Path(__file__).resolve().parents[1]


def small_loss() -> tuple[Tensor, Tensor, Tensor]:
    w = Tensor(np.array([[1.0, -2.0], [0.5, 3.0]]), requires_grad=True, name="w")
    x = Tensor(np.array([0.3, -0.7]), name="x")
    loss = (x @ w).log_softmax().sum()
    loss.name = "loss"
    return loss, w, x


def test_graph_has_a_node_per_tensor_and_op_with_labels() -> None:
    loss, w, x = small_loss()
    dot = draw_graph(loss)
    src = dot.source
    ops = re.findall(r'label=(\w+) ', src)
    assert sorted(ops) == ["log_softmax", "matmul", "sum"]
    # 2 leaves + 3 op outputs = 5 tensor boxes, 3 op ellipses, 6 edges (each op: inputs -> op -> output)
    assert src.count("->") == (2 + 1) + (1 + 1) + (1 + 1)
    assert "(2, 2) float64" in src and "loss" in src
    # the parameter is filled, the constant input dashed
    param_line = src[src.index(f"t{id(w)} [label") :].split("]")[0]
    const_line = src[src.index(f"t{id(x)} [label") :].split("]")[0]
    assert "filled" in param_line and "dashed" in const_line


def test_show_grads_prints_the_gradient_norm() -> None:
    loss, w, _ = small_loss()
    loss.backward()
    src = draw_graph(loss, show_grads=True).source
    norm = np.linalg.norm(w.grad)
    assert f"|grad| = {norm:.4g}" in src
    assert "|grad|" not in draw_graph(loss).source


@needs_dot
def test_renders_real_svg_and_png(tmp_path: Path) -> None:
    loss, _, _ = small_loss()
    graph = draw_graph(loss)
    svg = Path(graph.render(tmp_path / "g", format="svg", cleanup=True)).read_text()
    assert svg.lstrip().startswith("<?xml") and "log_softmax" in svg and "<svg" in svg
    png = Path(graph.render(tmp_path / "g", format="png", cleanup=True)).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_wengert_list_is_in_execution_order_with_shapes() -> None:
    loss, _, _ = small_loss()
    lines = wengert_list(loss).splitlines()
    assert [line.split(" = ")[1].split("(")[0] for line in lines] == ["matmul", "log_softmax", "sum"]
    assert lines[0].startswith("v1 = matmul(x, w)") and lines[0].endswith("-> (2,)")
    assert lines[2] == "v3 = sum(v2)  (2,) -> ()"


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
