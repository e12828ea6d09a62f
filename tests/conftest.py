"""Shared fixtures: where the real Penn Treebank is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SPLITS = ("train", "valid", "test")


def _ptb_dir() -> Path:
    env = os.environ.get("TINYGRAD_W2V_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "ptb"


@pytest.fixture(scope="session")
def ptb_dir() -> Path:
    """The directory with ``ptb.{train,valid,test}.txt``: ``$TINYGRAD_W2V_DATA``, else ``../shared/data/ptb``
    beside the checkout. Tests that need it skip (with the reason) where neither exists; CI sets the
    variable and checks the files, so there they never skip."""
    root = _ptb_dir()
    missing = [s for s in SPLITS if not (root / f"ptb.{s}.txt").is_file()]
    if missing:
        pytest.skip(f"the Penn Treebank is not in {root} (missing {missing}); set TINYGRAD_W2V_DATA")
    return root


@pytest.fixture(scope="session")
def eval_dir(ptb_dir: Path) -> Path:
    """``../shared/data/eval`` (questions-words.txt, wordsim353.tsv), beside the PTB folder."""
    root = ptb_dir.parent / "eval"
    if not (root / "questions-words.txt").is_file():
        pytest.skip(f"the evaluation sets are not in {root}")
    return root
