"""A non-editable install has every subpackage, the licence, the type marker, and the demos as commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed() -> None:
    block = re.search(r"^packages = \[(.*?)\]", (REPO / "pyproject.toml").read_text(), re.M | re.S).group(1)
    listed = set(re.findall(r'"([\w.]+)"', block))
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "tinygrad_w2v").rglob("__init__.py")}
    assert listed == found | {"tinygrad_w2v.demos"}


def test_a_non_editable_install_runs_the_demos(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(REPO)], check=True, capture_output=True, timeout=300)
    installed = target / "tinygrad_w2v"
    assert (installed / "py.typed").exists() and (installed / "demos" / "word2vec.py").exists()
    env = {**os.environ, "PYTHONPATH": str(target)}
    for command in ("tinygrad-w2v-word2vec", "tinygrad-w2v-rnnlm", "tinygrad-w2v-draw-graph",
                    "tinygrad-w2v-higher-order"):
        run = subprocess.run([str(target / "bin" / command), "--help"], capture_output=True, text=True,
                             timeout=120, env=env, cwd=tmp_path)
        assert run.returncode == 0 and "usage:" in run.stdout, run.stderr
    out = tmp_path / "graphs"
    run = subprocess.run([str(target / "bin" / "tinygrad-w2v-draw-graph"), "--out", str(out)], capture_output=True,
                         text=True, timeout=120, env=env, cwd=tmp_path)
    assert run.returncode == 0 and (out / "rnn_3_steps.svg").exists(), run.stderr
    # a user error is one line on stderr and exit code 2, as from the checkout's scripts
    bad = subprocess.run([str(target / "bin" / "tinygrad-w2v-draw-graph"), "--out", str(REPO / "README.md")],
                         capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
