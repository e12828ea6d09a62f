"""The API reference is generated from the docstrings (pdoc), so it cannot drift from the code; the
package ships its licence and its type marker."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import tinygrad_w2v

REPO = Path(__file__).resolve().parents[1]


def test_api_reference_builds_from_the_docstrings(tmp_path: Path) -> None:
    modules = ["tinygrad_w2v"] + [m.name for m in pkgutil.walk_packages(tinygrad_w2v.__path__, "tinygrad_w2v.")]
    run = subprocess.run(
        [sys.executable, "-m", "pdoc", *modules, "-o", str(tmp_path), "--docformat", "markdown"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert run.returncode == 0, run.stderr
    viz = (tmp_path / "tinygrad_w2v" / "viz.html").read_text()
    for name in ("draw_graph", "adjoint_list", "track_grad_norms", "replay"):
        assert f'id="{name}"' in viz
    assert "states its size" in viz  # docstrings are rendered, not only signatures
    assert (tmp_path / "tinygrad_w2v" / "tape.html").exists() and (tmp_path / "tinygrad_w2v" / "nn.html").exists()


def test_licence_and_type_marker_are_there() -> None:
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    assert (REPO / "tinygrad_w2v" / "py.typed").exists()


def test_readme_and_demo_help_name_no_machine_local_paths() -> None:
    assert "../shared" not in (REPO / "README.md").read_text()
    for demo in ("word2vec", "rnnlm", "draw_graph"):
        run = subprocess.run([sys.executable, str(REPO / "demos" / f"{demo}.py"), "--help"],
                             capture_output=True, text=True, timeout=60, check=True)
        assert "shared/" not in run.stdout and "usage:" in run.stdout
