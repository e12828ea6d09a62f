"""The word2vec training loop: windows, shuffling, noise words, loss, backward, sparse optimizer step.

The ids (an array, or a file of any size read a slice at a time: ``data.corpus_file.IdFile``) are cut
into chunks of about ``config.chunk`` ids at sentence ends. One epoch visits the chunks in a random
order; for each, it (optionally) subsamples frequent words, builds every ``(contexts, target)`` window
inside its sentence (with word2vec's dynamic window sizes as a mask), shuffles them, and walks through
them in mini-batches. For each batch the ``UnigramSampler`` draws ``negative`` noise words per true
word, the model builds the loss as an expression, ``backward`` leaves row-sparse gradients on the two
tables, and the optimizer updates only those rows: SGD with word2vec's linear learning-rate decay, or
lazy Adam.

Every random choice of epoch ``e``, chunk ``c`` and step ``s`` comes from generators seeded with
``(seed, e)``, ``(seed, e, c)`` and ``(seed, e, c, s)``, so a run stopped anywhere (Ctrl-C saves a
checkpoint) and resumed from the checkpoint ends with exactly the parameters of an uninterrupted run.
Checkpoints are written after every epoch, every ``checkpoint_every`` seconds of training and on an
interrupt; each holds the config and a fingerprint of the data, and resuming with another config (only
``epochs`` may grow) or other data is refused. A NaN or infinite loss stops the run
(``FloatingPointError``) before it touches the weights or the checkpoint.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import multiprocessing
import os
import queue
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..data import UnigramSampler, keep_probabilities, sentence_windows, subsample
from ..data.corpus_file import chunk_bounds
from ..models import CBOW, SkipGram, Word2Vec
from ..optim import SGD, Adam, LinearLR, clip_grad_norm
from ..tape import no_grad
from .common import (
    Every,
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
    ``chunk``: ids per chunk, the shuffle buffer (memory grows with it, not with the corpus).
    ``workers``: processes training at once, Hogwild as word2vec.c's threads: each takes every
    ``workers``-th batch of each chunk and updates the shared tables without locks (not reproducible
    run to run; CPU only).

    ``optimizer="sgd"`` makes word2vec.c's update (gensim's): the loss summed over the batch, each CBOW
    context word given the whole error of ``v_c`` (``cbow_mean``: ``v_c`` is the mean, else the sum, of
    the context vectors), rate ``lr`` (default 0.025) decaying linearly to 0.0001 x lr. ``"adam"``: the
    exact gradient of the batch-mean loss, lazy Adam (default lr 0.005). ``noise="word2vec"`` draws noise
    words i.i.d. and skips those equal to the true word (word2vec.c, gensim); ``"book"`` draws each row's
    noise words without replacement and never the true word (the book's ``UnigramSampler``)."""

    model: str = "cbow"
    dim: int = 100
    window: int = 5
    negative: int = 5
    batch_size: int = 1024
    epochs: int = 5
    lr: float | None = None
    optimizer: str = "adam"
    dynamic_window: bool = True
    chunk: int = 1 << 18
    workers: int = 1
    cbow_mean: bool = True
    noise: str = "word2vec"
    sample: float = 1e-3
    clip: float | None = None
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.model not in ("cbow", "skipgram"):
            raise ValueError(f"word2vec: model must be 'cbow' or 'skipgram', got {self.model!r}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"word2vec: optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.noise not in ("word2vec", "book"):
            raise ValueError(f"word2vec: noise must be 'word2vec' or 'book', got {self.noise!r}")
        for name in ("dim", "window", "negative", "batch_size", "epochs", "chunk", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"word2vec: {name} must be at least 1, got {getattr(self, name)}")
        if self.workers > 1 and self.device != "cpu":
            raise ValueError(f"word2vec: several workers train on the CPU only, got device {self.device!r}")
        if self.lr is None:
            self.lr = 0.025 if self.optimizer == "sgd" else 0.005


@dataclass
class Word2VecRun:
    """What ``train_word2vec`` returns: the model, the loss history (``loss``: mean example loss per
    ``LOG_EVERY`` steps, ``loss_at``: the epochs trained then; ``epoch_loss``: the exact mean per epoch;
    ``valid_loss``: the held-out loss after each epoch), words trained, training seconds and words/s."""

    model: Word2Vec
    history: dict[str, list[float]] = field(default_factory=lambda: {"loss": [], "loss_at": [], "epoch_loss": []})
    words: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    plot: Path | None = None

    @property
    def words_per_sec(self) -> float:
        return self.words / self.seconds if self.seconds > 0 else 0.0


def make_model(config: Word2VecConfig, vocab_size: int) -> Word2Vec:
    if config.model == "cbow":
        model = CBOW(vocab_size, config.dim, rng=config.seed, cbow_mean=config.cbow_mean,
                     word2vec_grad=config.optimizer == "sgd")
    else:
        model = SkipGram(vocab_size, config.dim, rng=config.seed)
    return model.to(config.device)


def chunk_examples(ids: np.ndarray, counts: np.ndarray, config: Word2VecConfig, epoch: int, chunk: int = 0):
    """The shuffled ``(contexts (N, 2w), targets (N,), mask (N, 2w))`` of one chunk of ids in one epoch
    (``sentence_windows`` after subsampling)."""
    rng = np.random.default_rng((config.seed, epoch, chunk))
    ids = np.asarray(ids)
    if config.sample:
        ids = subsample(ids, counts, config.sample, rng)
    contexts, targets, mask = sentence_windows(ids, config.window, rng if config.dynamic_window else None)
    order = rng.permutation(len(targets))
    return contexts[order], targets[order], mask[order]


def epoch_batches(ids: np.ndarray, bounds: np.ndarray, counts: np.ndarray, config: Word2VecConfig, epoch: int,
                  start: tuple[int, int] = (0, 0), worker: int = 0, resumed_from: object = None
                  ) -> Iterator[tuple[int, int, tuple[np.ndarray, ...]]]:
    """One epoch as ``(position, step, (contexts, targets, mask))`` batches, from batch ``step`` of the
    chunk at ``position`` of ``start`` on. The chunks (``ids[bounds[c]:bounds[c+1]]``) come in a random
    order, and each one's windows are shuffled (a shuffle buffer of one chunk): the corpus is never held
    whole, only the ids of one chunk and their windows. With ``config.workers > 1``, only the batches
    ``worker``, ``worker + workers``, ... of each chunk: this worker's slice. A ``start`` beyond its
    chunk's batches is an error naming ``resumed_from`` (the checkpoint it came from)."""
    order = np.random.default_rng((config.seed, epoch)).permutation(len(bounds) - 1)
    for position in range(start[0], len(order)):
        chunk = int(order[position])
        contexts, targets, mask = chunk_examples(ids[bounds[chunk] : bounds[chunk + 1]], counts, config, epoch, chunk)
        first, n_steps = start[1] if position == start[0] else 0, math.ceil(len(targets) / config.batch_size)
        if first > n_steps:
            raise ValueError(f"train_word2vec: {resumed_from} is at step {first} of epoch {epoch + 1}, which has "
                             f"{n_steps} steps in chunk {position + 1}")
        for step in range(first + worker, n_steps, config.workers):
            rows = slice(step * config.batch_size, (step + 1) * config.batch_size)
            yield position, step, (contexts[rows], targets[rows], mask[rows])


def expected_examples(ids: np.ndarray, counts: np.ndarray, sample: float) -> float:
    """Targets per epoch on average: subsampling keeps each word with its keep probability."""
    keep = np.append(keep_probabilities(counts, sample) if sample else np.ones(len(counts)), 0.0)  # SEP: -1
    return sum(float(keep[ids[i : i + (1 << 20)]].sum()) for i in range(0, len(ids), 1 << 20))


def batch_loss(model, config: Word2VecConfig, sampler: UnigramSampler, contexts, targets, mask):
    """The loss of one batch (summed for SGD, the mean for Adam) and its number of examples. CBOW: one
    example per row, the target its true word. Skip-gram as word2vec.c and gensim run it: one example per
    (context word, centre) pair inside the window, the context word's vector predicting the centre."""
    k, book = config.negative, config.noise == "book"
    reduction = "sum" if config.optimizer == "sgd" else "mean"
    if config.model == "cbow":
        return model(contexts, targets, sampler.sample(targets, k, exclude_target=book), mask, reduction), len(targets)
    inputs, centres = contexts[mask], np.repeat(targets, mask.sum(axis=1))  # one row per pair
    negatives = sampler.sample(centres, k, exclude_target=book)[:, None]  # (P, 1, K)
    return model(inputs, centres[:, None], negatives, reduction=reduction), len(inputs)


def summed_loss(value: float, n: int, config: Word2VecConfig) -> float:
    """The sum over the batch's ``n`` examples of the value of ``batch_loss``'s loss (a sum for SGD, a mean
    for Adam)."""
    return value * (1 if config.optimizer == "sgd" else n)


def noise_rng(config: Word2VecConfig, epoch: int, position: int, step: int) -> np.random.Generator:
    """The generator of a training step's noise words: fixed by the seed and the step's place in the run,
    so a resumed run (and a peer replaying the same batches) draws the same words."""
    return np.random.default_rng((config.seed, epoch, position, step))


class HeldOut:
    """The negative-sampling loss on held-out text, comparable from epoch to epoch: its windows (no
    subsampling; dynamic radii drawn once) and their noise words are the same at every evaluation. At
    most ``limit`` ids are used."""

    def __init__(self, ids, sampler: UnigramSampler, config: Word2VecConfig, limit: int = 200_000):
        """``sampler``: the training's (each evaluation batch sets its generator, as each training step does)."""
        rng = np.random.default_rng((config.seed, 1 << 30))
        self.windows = sentence_windows(np.asarray(ids[:limit]), config.window, rng if config.dynamic_window else None)
        self.sampler, self.config = sampler, config

    @no_grad()
    def __call__(self, model: Word2Vec) -> float:
        """The mean loss per example (CBOW: target; skip-gram: pair)."""
        total, count, size = 0.0, 0, self.config.batch_size
        for b, start in enumerate(range(0, len(self.windows[1]), size)):
            self.sampler.rng = np.random.default_rng((self.config.seed, 1 << 30, b))
            loss, n = batch_loss(model, self.config, self.sampler, *(w[start : start + size] for w in self.windows))
            total, count = total + summed_loss(loss.item(), n, self.config), count + n
        return total / max(1, count)


def train_step(model: Word2Vec, opt, sampler: UnigramSampler, config: Word2VecConfig, batch,
               check: Callable[[float], None]) -> tuple[float, int, int]:
    """One optimizer step on ``batch = (contexts, targets, mask)``, after ``check(loss value)`` (which raises
    to stop): the summed example loss, the number of examples and the number of words trained (targets)."""
    loss, n = batch_loss(model, config, sampler, *batch)
    value = loss.item()
    check(value)
    opt.zero_grad()
    loss.backward()
    if config.clip:
        clip_grad_norm(model.parameters(), config.clip)
    opt.step()
    return summed_loss(value, n, config), n, len(batch[1])


def shared_copy(array: np.ndarray) -> np.ndarray:
    """A copy of ``array`` in memory that processes forked afterwards share (an anonymous shared map)."""
    out = np.frombuffer(mmap.mmap(-1, max(1, array.nbytes)), array.dtype, array.size).reshape(array.shape)
    out[...] = array
    return out


def hogwild(work, record, workers: int, opt, should_stop) -> bool:
    """Run ``work(worker, report, should_stop, lr)`` in ``workers`` forked processes (word2vec.c's
    Hogwild: they update the shared tables without locks) while this process ``record``s their steps
    and hands them the decaying learning rate. Returns True when stopped early by ``should_stop``."""
    context = multiprocessing.get_context("fork")
    steps, stop, lr = context.Queue(), context.Event(), context.Value("d", opt.lr, lock=False)

    def child(worker: int) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
        try:
            work(worker, lambda *step: steps.put(step), stop.is_set, lr)
            steps.put(None)
        except BaseException as e:  # noqa: BLE001  (reported to the parent, which raises)
            steps.put({"error": type(e).__name__, "message": f"word2vec worker {worker}: {type(e).__name__}: {e}"})
        finally:
            steps.close()
            steps.join_thread()  # everything put is sent before the process ends
            os._exit(0)

    processes = [context.Process(target=child, args=(w,), daemon=True) for w in range(workers)]
    for p in processes:
        p.start()
    finished, error = 0, None
    while finished < workers:
        try:
            item = steps.get(timeout=1.0)
        except queue.Empty:  # a worker killed from outside (out of memory, a signal) never reports
            dead = [w for w, p in enumerate(processes) if p.exitcode not in (None, 0)]
            if dead and error is None:
                error = {"error": "", "message": f"word2vec worker {dead[0]} ended with exit code "
                                                 f"{processes[dead[0]].exitcode}"}
                stop.set()
            if all(p.exitcode is not None for p in processes):
                break
            continue
        if item is None:
            finished += 1
        elif isinstance(item, dict):
            error, finished = error or item, finished + 1
            stop.set()
        else:
            record(*item)
            lr.value = opt.lr
            if should_stop():
                stop.set()
    for p in processes:
        p.join()
    if error is not None:  # a diverged loss keeps its type (the demo's exit status says so)
        raise (FloatingPointError if error["error"] == "FloatingPointError" else RuntimeError)(error["message"])
    return stop.is_set()


def log_window(run: Word2VecRun, partial: dict, at: float) -> None:
    """Append the mean example loss of the steps since the last point to ``run.history["loss"]``, and
    ``at`` (epochs trained) to ``run.history["loss_at"]``."""
    run.history["loss"].append(partial["window_sum"] / max(1, partial["window_n"]))
    run.history.setdefault("loss_at", []).append(at)
    partial["window_sum"], partial["window_n"], partial["window_steps"] = 0.0, 0, 0


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
    valid=None,
) -> Word2VecRun:
    """Train on the ids ``ids`` (an array or an ``IdFile``; ``counts (V,)``: word frequencies, for noise
    words and subsampling).

    ``checkpoint``: a ``.npz`` written after every epoch, every ``checkpoint_every`` seconds of training
    (with one worker) and on an interrupt; ``resume``: a checkpoint to continue from (same data and config;
    ``epochs`` may grow). ``plot``: an image of the loss history. ``on_resume(epoch, step)`` is called with
    the (0-based) position a resumed run continues from. ``valid``: held-out ids; their loss (``HeldOut``)
    is taken after every epoch (``history["valid_loss"]``). With ``show_progress``, each epoch's exact
    mean training loss (and held-out loss) is printed.
    """
    counts = np.asarray(counts)
    if len(ids) == 0:
        raise ValueError("train_word2vec: no ids to train on")
    checkpoint = None if checkpoint is None else Path(checkpoint)
    stored = None  # the config a checkpoint holds; hashing the ids only when a checkpoint is written or read
    if checkpoint is not None or resume is not None:
        stored = {k: v for k, v in asdict(config).items() if k != "device"} | {"data": fingerprint(ids, counts)}
    model = make_model(config, len(counts))
    opt = SGD(model.parameters(), config.lr) if config.optimizer == "sgd" else Adam(model.parameters(), config.lr)
    bounds = chunk_bounds(ids, config.chunk)
    # steps per epoch, for the progress bar and the learning-rate decay
    steps_per_epoch = max(1, math.ceil(expected_examples(ids, counts, config.sample) / config.batch_size))
    schedule = LinearLR(opt, 1.0, 1e-4, config.epochs * steps_per_epoch) if config.optimizer == "sgd" else None
    run = Word2VecRun(model)
    sampler = UnigramSampler(counts)
    heldout = HeldOut(valid, sampler, config) if valid is not None and len(valid) else None
    epoch, start = 0, (0, 0)
    # steps done in this epoch, the summed example losses and example counts of this epoch and of this
    # log window so far
    partial = {"steps": 0, "epoch_sum": 0.0, "epoch_n": 0, "window_sum": 0.0, "window_n": 0, "window_steps": 0}
    if resume is not None:
        extra = load_checkpoint(resume, model, opt, config=stored)
        epoch, start, run.history = int(extra["epoch"]), (int(extra["chunk"]), int(extra["step"])), extra["history"]
        run.words, run.seconds, partial = int(extra["words"]), float(extra["seconds"]), extra["partial"]
        if not 0 <= epoch <= config.epochs or not 0 <= start[0] < len(bounds) or start[1] < 0:
            raise ValueError(f"train_word2vec: {resume} is at epoch {epoch}, chunk {start[0]}, step {start[1]}: "
                             f"not a state this run of {config.epochs} epochs can reach")
        if schedule is not None:
            schedule.last_epoch = int(extra["schedule_steps"])
        if on_resume is not None:
            on_resume(epoch, start[1])

    def save(epoch: int, position: int, step: int) -> None:
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, opt, config=stored, epoch=epoch, chunk=position, step=step,
                            history=run.history, partial=partial, words=run.words, seconds=run.seconds,
                            schedule_steps=schedule.last_epoch if schedule else 0)

    bar = progress(config.epochs * steps_per_epoch, f"word2vec {config.model}", "batch",
                   initial=epoch * steps_per_epoch + partial["steps"]) if show_progress else None

    def record(total: float, n: int, words: int) -> None:
        """The bookkeeping of one step (of any worker)."""
        run.words += words
        for key, value in (("sum", total), ("n", n)):
            partial[f"epoch_{key}"] += value
            partial[f"window_{key}"] += value
        partial["steps"] += 1
        partial["window_steps"] += 1
        if partial["window_steps"] == LOG_EVERY:
            log_window(run, partial, epoch + min(1.0, partial["steps"] / steps_per_epoch))
        if schedule is not None:  # one decay for all workers, by the steps of all (word2vec.c's alpha)
            schedule.step()
        if bar is not None:
            bar.update(1)
            if showing.due():
                showing.reset()
                bar.set_postfix(epoch=epoch + 1, loss=f"{total / max(1, n):.3f}", words_s=f"{run.words_per_sec:,.0f}")

    def work(worker: int, report, should_stop, lr=None) -> tuple[int, int] | None:
        """Train this worker's slice of the epoch (all of it with one worker); returns where it stopped
        when ``should_stop()`` turned true, else None. ``lr``: a shared value to take the rate from. With
        one worker, a checkpoint is also written every ``checkpoint_every`` seconds."""
        for position, step, batch in epoch_batches(ids, bounds, counts, config, epoch, start, worker, resume):
            sampler.rng = noise_rng(config, epoch, position, step)
            if lr is not None:
                opt.lr = lr.value
            report(*train_step(model, opt, sampler, config, batch,
                               lambda value, step=step: check_loss(value, epoch, step, checkpoint)))
            if should_stop():
                return position, step + 1
            if lr is None and saving.due():
                save(epoch, position, step + 1)
                saving.reset()
        return None

    if config.workers > 1:  # the tables (and Adam's moments) go to memory the worker processes share
        for p in model.parameters():
            p.data = shared_copy(p.data)
        if isinstance(opt, Adam):
            opt.m, opt.v = [shared_copy(m) for m in opt.m], [shared_copy(v) for v in opt.v]
    showing = Every(0.5)  # the bar's loss and speed
    saving = Every(checkpoint_every if checkpoint is not None else None)
    with graceful_interrupt() as interrupt, contextlib.closing(bar) if bar is not None else contextlib.nullcontext():
        while epoch < config.epochs and not run.interrupted:
            tic = time.perf_counter()
            if config.workers == 1:
                stop = work(0, record, lambda: interrupt.requested)
            else:  # several workers: the epoch starts again on resume (Hogwild is not reproducible anyway)
                stop = (0, 0) if hogwild(work, record, config.workers, opt, lambda: interrupt.requested) else None
            run.seconds += time.perf_counter() - tic
            if stop is not None:
                run.interrupted = True
                if config.workers > 1:
                    partial.update(steps=0, epoch_sum=0.0, epoch_n=0)
                save(epoch, *stop)
            else:
                run.history["epoch_loss"].append(partial["epoch_sum"] / max(1, partial["epoch_n"]))  # exact mean
                line = f"epoch {epoch + 1}: mean training loss {run.history['epoch_loss'][-1]:.4f}"
                if heldout is not None:
                    run.history.setdefault("valid_loss", []).append(heldout(model))
                    line += f", held-out loss {run.history['valid_loss'][-1]:.4f}"
                if bar is not None:
                    bar.write(line)
                partial.update(steps=0, epoch_sum=0.0, epoch_n=0)
                epoch, start = epoch + 1, (0, 0)
                save(epoch, 0, 0)
                saving.reset()
                run.interrupted = interrupt.requested
        if bar is not None and not run.interrupted:  # the estimate of the subsampled epochs' length was off a bit
            bar.total = bar.n
    if partial["window_steps"]:
        log_window(run, partial, epoch + min(1.0, partial["steps"] / steps_per_epoch))
    if plot is not None and run.history["loss"]:
        run.plot = plot_loss(run.history, plot, config, whole=not run.interrupted)
    return run


def plot_loss(history: dict, path: str | os.PathLike, config: Word2VecConfig, whole: bool):
    """The training loss per ``LOG_EVERY`` steps, its exact mean per epoch (drawn mid-epoch), and the
    held-out loss (taken at the end of each epoch), against epochs (their ends marked when ``whole``)."""
    curves = {f"training (mean of {LOG_EVERY} steps)": (history["loss_at"], history["loss"])}
    epochs = np.arange(1, len(history["epoch_loss"]) + 1)
    if len(epochs):
        curves["training (epoch mean)"] = (epochs - 0.5, history["epoch_loss"])
    if history.get("valid_loss"):
        curves["held-out"] = (epochs[: len(history["valid_loss"])], history["valid_loss"])
    return plot_history(curves, path, f"word2vec {config.model} loss", "epoch", "negative-sampling loss per example",
                        epochs=len(epochs) if whole and len(epochs) else None)
