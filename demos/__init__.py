"""The demos, installed with the package as ``tinygrad_w2v.demos`` and as the commands
``tinygrad-w2v-word2vec``, ``tinygrad-w2v-rnnlm``, ``tinygrad-w2v-draw-graph`` and
``tinygrad-w2v-higher-order`` (the same flags as
``python demos/<name>.py``, which runs the same files from a checkout)."""

from __future__ import annotations

from importlib import import_module
from typing import NoReturn

from tinygrad_w2v import cli


def _run(name: str) -> NoReturn:
    cli.run(import_module(f"{__name__}.{name}").main)


def run_word2vec() -> NoReturn:
    _run("word2vec")


def run_rnnlm() -> NoReturn:
    _run("rnnlm")


def run_draw_graph() -> NoReturn:
    _run("draw_graph")


def run_higher_order() -> NoReturn:
    _run("higher_order")
