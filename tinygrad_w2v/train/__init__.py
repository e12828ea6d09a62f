"""Trainers: the shared pieces (checkpoints, interrupts, progress, plots) in ``common``, the word2vec loop
in ``word2vec``, the language-model loop in ``lm``."""

from .common import (
    graceful_interrupt,
    load_checkpoint,
    plot_history,
    progress,
    rng_state,
    save_checkpoint,
    set_rng_state,
)

__all__ = [
    "graceful_interrupt", "load_checkpoint", "plot_history", "progress", "rng_state", "save_checkpoint",
    "set_rng_state",
]
