"""The word2vec training loop: windows, shuffling, noise words, loss, backward, sparse optimizer step.

One epoch: (optionally) subsample frequent words, build every ``(contexts, target)`` window (optionally
with word2vec's dynamic window sizes as a mask), shuffle them, and walk through them in mini-batches.
For each batch the ``UnigramSampler`` draws ``negative`` noise words per true word, the model builds the
loss as an expression, ``backward`` leaves row-sparse gradients on the two tables, and the optimizer
updates only those rows: SGD with word2vec's linear learning-rate decay, or lazy Adam.

Every random choice of epoch ``e`` and step ``s`` comes from generators seeded with ``(seed, e)`` and
``(seed, e, s)``, so a run stopped anywhere (Ctrl-C saves a checkpoint) and resumed from the checkpoint
ends with exactly the parameters of an uninterrupted run. Checkpoints are written after every epoch, every
``checkpoint_every`` seconds of training and on an interrupt; each holds the config and a fingerprint of the
data, and resuming with another config (only ``epochs`` may grow) or other data is refused. A NaN or
infinite loss stops the run (``FloatingPointError``) before it touches the weights or the checkpoint.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..data import UnigramSampler, context_target, dynamic_context_target, keep_probabilities, subsample
from ..models import CBOW, SkipGram, Word2Vec
from ..optim import SGD, Adam, LinearLR, clip_grad_norm
from .common import (
    check_loss,
    fingerprint,
    graceful_interrupt,
    load_checkpoint,
    plot_history,
    progress,
    save_checkpoint,
)

LOG_EVERY = 50  # steps per point of the loss history


@dataclass
class Word2VecConfig:
    """Hyper-parameters of a run (the demo's flags). ``sample`` is the subsampling threshold t (0: off);
    ``lr`` defaults to 0.025 x batch_size for SGD on the batch-mean loss, 0.005 for Adam."""

    model: str = "cbow"
    dim: int = 100
    window: int = 5
    negative: int = 5
    batch_size: int = 1024
    epochs: int = 5
    lr: float | None = None
    optimizer: str = "adam"
    dynamic_window: bool = True
    sample: float = 1e-3
    clip: float | None = None
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.model not in ("cbow", "skipgram"):
            raise ValueError(f"word2vec: model must be 'cbow' or 'skipgram', got {self.model!r}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"word2vec: optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        for name in ("dim", "window", "negative", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"word2vec: {name} must be at least 1, got {getattr(self, name)}")
        if self.lr is None:
            self.lr = 0.025 * self.batch_size if self.optimizer == "sgd" else 0.005


@dataclass
class Word2VecRun:
    """What ``train_word2vec`` returns: the model, the loss history (``loss``: mean per ``LOG_EVERY``
    steps; ``epoch_loss``), words trained, training seconds and words per second."""

    model: Word2Vec
    history: dict[str, list[float]] = field(default_factory=lambda: {"loss": [], "epoch_loss": []})
    words: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    plot: Path | None = None

    @property
    def words_per_sec(self) -> float:
        return self.words / self.seconds if self.seconds > 0 else 0.0


def make_model(config: Word2VecConfig, vocab_size: int) -> Word2Vec:
    cls = CBOW if config.model == "cbow" else SkipGram
    return cls(vocab_size, config.dim, rng=config.seed).to(config.device)


def epoch_examples(ids: np.ndarray, counts: np.ndarray, config: Word2VecConfig, epoch: int):
    """The shuffled ``(contexts (N, 2w), targets (N,), mask (N, 2w) or None)`` of one epoch."""
    rng = np.random.default_rng((config.seed, epoch))
    if config.sample:
        ids = subsample(ids, counts, config.sample, rng)
    if config.dynamic_window:
        contexts, targets, mask = dynamic_context_target(ids, config.window, rng)
    else:
        (contexts, targets), mask = context_target(ids, config.window), None
    order = rng.permutation(len(targets))
    return contexts[order], targets[order], None if mask is None else mask[order]


def batch_loss(model, config: Word2VecConfig, sampler: UnigramSampler, contexts, targets, mask):
    """The loss of one batch. CBOW: one true word (the target) per row. Skip-gram: one per (centre,
    context) pair; with a dynamic window only the pairs inside it are formed (no wasted work)."""
    k = config.negative
    if config.model == "cbow":
        return model(contexts, targets, sampler.sample(len(targets), k), mask)
    if mask is not None:  # flatten to the valid pairs: one row per (centre, context word)
        targets, contexts = np.repeat(targets, mask.sum(axis=1)), contexts[mask][:, None]
    return model(targets, contexts, sampler.sample(contexts.size, k).reshape(*contexts.shape, k))


def train_word2vec(
    ids: np.ndarray,
    counts: np.ndarray,
    config: Word2VecConfig,
    checkpoint: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    plot: str | os.PathLike | None = None,
    show_progress: bool = True,
    checkpoint_every: float | None = None,
    on_resume: Callable[[int, int], None] | None = None,
) -> Word2VecRun:
    """Train on the id array ``ids`` (``counts (V,)``: word frequencies, for noise words and subsampling).

    ``checkpoint``: a ``.npz`` written after every epoch, every ``checkpoint_every`` seconds of training and
    on an interrupt; ``resume``: a checkpoint to continue from (same data and config; ``epochs`` may grow).
    ``plot``: an image of the loss history. ``on_resume(epoch, step)`` is called with the (0-based) position
    a resumed run continues from.
    """
    ids = np.asarray(ids)
    counts = np.asarray(counts)
    if len(ids) < 2 * config.window + 1:
        raise ValueError(f"train_word2vec: {len(ids)} tokens are too few for one window of {config.window} words "
                         "on each side")
    checkpoint = None if checkpoint is None else Path(checkpoint)
    stored = {k: v for k, v in asdict(config).items() if k != "device"} | {"data": fingerprint(ids, counts)}
    model = make_model(config, len(counts))
    params = model.parameters()
    opt = SGD(params, config.lr) if config.optimizer == "sgd" else Adam(params, config.lr)
    # Examples per epoch, for the progress bar and the learning-rate decay: subsampling keeps
    # sum(keep probability) of the tokens on average.
    kept = float(keep_probabilities(counts, config.sample)[ids].sum()) if config.sample else len(ids)
    steps_per_epoch = math.ceil(max(1, round(kept) - 2 * config.window) / config.batch_size)
    schedule = LinearLR(opt, 1.0, 1e-4, config.epochs * steps_per_epoch) if config.optimizer == "sgd" else None
    sampler = UnigramSampler(counts)
    run = Word2VecRun(model)
    epoch, start_step = 0, 0
    partial = {"epoch_sum": 0.0, "epoch_n": 0, "window": []}  # the losses of an epoch and a log window so far
    if resume is not None:
        extra = load_checkpoint(resume, model, opt, config=stored)
        epoch, start_step, run.history = int(extra["epoch"]), int(extra["step"]), extra["history"]
        run.words, run.seconds, partial = int(extra["words"]), float(extra["seconds"]), extra["partial"]
        if not 0 <= epoch <= config.epochs or start_step < 0:
            raise ValueError(f"train_word2vec: {resume} is at epoch {epoch}, step {start_step}: not a state this "
                             f"run of {config.epochs} epochs can reach")
        if schedule is not None:
            schedule.last_epoch = int(extra["schedule_steps"])
        if on_resume is not None:
            on_resume(epoch, start_step)

    def save(epoch: int, step: int) -> None:
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, opt, config=stored, epoch=epoch, step=step,
                            history=run.history, partial=partial, words=run.words, seconds=run.seconds,
                            schedule_steps=schedule.last_epoch if schedule else 0)

    bar = progress(config.epochs * steps_per_epoch, f"word2vec {config.model}", "batch",
                   initial=epoch * steps_per_epoch + start_step) if show_progress else None
    saved_at = time.monotonic()
    with graceful_interrupt() as interrupt, contextlib.closing(bar) if bar is not None else contextlib.nullcontext():
        while epoch < config.epochs and not run.interrupted:
            tic = time.perf_counter()
            contexts, targets, mask = epoch_examples(ids, counts, config, epoch)
            run.seconds += time.perf_counter() - tic
            n_steps = math.ceil(len(targets) / config.batch_size)
            if start_step >= n_steps > 0:
                raise ValueError(f"train_word2vec: {resume} is at step {start_step} of epoch {epoch + 1}, which has "
                                 f"{n_steps} steps")
            for step in range(start_step, n_steps):
                tic = time.perf_counter()
                rows = slice(step * config.batch_size, (step + 1) * config.batch_size)
                sampler.rng = np.random.default_rng((config.seed, epoch, step))
                loss = batch_loss(model, config, sampler, contexts[rows], targets[rows],
                                  None if mask is None else mask[rows])
                value = loss.item()
                check_loss(value, epoch, step, checkpoint)
                opt.zero_grad()
                loss.backward()
                if config.clip:
                    clip_grad_norm(params, config.clip)
                opt.step()
                if schedule is not None:
                    schedule.step()
                run.seconds += time.perf_counter() - tic
                run.words += len(targets[rows])
                partial["epoch_sum"] += value
                partial["epoch_n"] += 1
                partial["window"].append(value)
                if len(partial["window"]) == LOG_EVERY:
                    run.history["loss"].append(float(np.mean(partial["window"])))
                    partial["window"] = []
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(epoch=epoch + 1, loss=f"{value:.3f}", words_s=f"{run.words_per_sec:,.0f}")
                if interrupt.requested and step + 1 < n_steps:
                    run.interrupted = True
                    save(epoch, step + 1)
                    break
                if checkpoint_every is not None and time.monotonic() - saved_at >= checkpoint_every \
                        and step + 1 < n_steps:
                    save(epoch, step + 1)
                    saved_at = time.monotonic()
            else:
                run.history["epoch_loss"].append(partial["epoch_sum"] / max(1, partial["epoch_n"]))
                partial["epoch_sum"], partial["epoch_n"] = 0.0, 0
                epoch, start_step = epoch + 1, 0
                save(epoch, 0)
                saved_at = time.monotonic()
                run.interrupted = interrupt.requested
        if bar is not None and not run.interrupted:  # the estimate of the subsampled epochs' length was off a bit
            bar.total = bar.n
    if partial["window"]:
        run.history["loss"].append(float(np.mean(partial["window"])))
    if plot is not None and run.history["loss"]:
        whole = not run.interrupted and bool(run.history["epoch_loss"])  # epochs are marked when all are whole
        run.plot = plot_history({f"loss (mean of {LOG_EVERY} batches)": run.history["loss"]}, plot,
                                f"word2vec {config.model} loss", f"batches (x{LOG_EVERY})", "negative-sampling loss",
                                epochs=len(run.history["epoch_loss"]) if whole else None)
    return run

