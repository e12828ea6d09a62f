"""Training an ``RNNLM`` with truncated BPTT: stateful windows, clipping, SGD with the book's decay or Adam.

One training step takes the next ``(batch, bptt)`` window of ``BPTTBatches``, runs the model from the
state the previous window ended in (detached, so the backward stops at the window's start and the memory
stays bounded), and updates the parameters::

    log_probs, state = model(x, state);  state = detach_state(state)
    loss = lm_loss(log_probs, t);  loss.backward();  clip_grad_norm(params, clip);  optimizer.step()

Per window the trainer records the training perplexity ``exp(loss)`` (``"train perplexity (window)"``),
per epoch ``exp(mean loss)`` and, given validation ids, the validation perplexity; with SGD the learning
rate is divided by 4 whenever that does not improve (``ReduceLROnPlateau(factor=0.25, patience=0,
threshold=0)``, the book's ``lr /= 4.0``).

Checkpoints (one atomic ``.npz``) hold the parameters, the optimizer state, the batcher's ``time_idx``,
the carried hidden state (saved, not reset, so a resumed run continues exactly where it stopped), the
dropout RNG state, the epoch, the step within the epoch, the plateau's state, the history, and the run's
config with a fingerprint of the training ids: ``load`` refuses a checkpoint of another config (only
``epochs`` may grow) or other data. A NaN or infinite loss stops training (``FloatingPointError``) before
the weights or the checkpoint change.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend, optim
from ..data import BPTTBatches
from ..models.rnnlm import RNNLM, detach_state, lm_loss
from ..tape import no_grad
from ..tensor import Tensor
from .common import (
    Every,
    check_loss,
    fingerprint,
    graceful_interrupt,
    load_checkpoint,
    perplexity,
    progress,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


@no_grad()
def evaluate_perplexity(model: RNNLM, ids: np.ndarray, batch_size: int = 10, bptt: int = 35) -> float:
    """``exp`` of the mean loss over the windows of ``ids`` (the book's ``eval_perplexity``): ``batch_size``
    streams, windows of ``bptt`` steps, the state carried from window to window starting from zero, no
    dropout, no gradients."""
    was_training = model.training
    model.eval()
    state, total, windows = None, 0.0, 0
    for x, t in BPTTBatches(ids, batch_size, bptt):
        log_probs, state = model(x, state)
        total += lm_loss(log_probs, t).item()
        windows += 1
    model.train(was_training)
    return perplexity(total / windows)


class LMTrainer:
    """Holds the model, the optimizer, the batcher and the carried state; ``fit`` trains epochs.

    ``optimizer`` is ``'sgd'`` (with the plateau decay when validation ids are given) or ``'adam'``;
    ``clip`` is the global gradient-norm limit (None: no clipping); validation perplexity is measured with
    ``evaluate_perplexity(model, valid_ids, eval_batch_size, eval_bptt)`` (the book's 10 x 35).
    ``config``: more settings of the run (a demo's flags, with ``epochs``) to store in checkpoints and to
    require on ``load``, beside the trainer's own (sizes, optimizer, lr, clip) and the data's fingerprint."""

    def __init__(
        self,
        model: RNNLM,
        train_ids: np.ndarray,
        batch_size: int,
        bptt: int,
        lr: float,
        optimizer: str = "sgd",
        clip: float | None = None,
        valid_ids: np.ndarray | None = None,
        eval_batch_size: int = 10,
        eval_bptt: int = 35,
        config: dict[str, Any] | None = None,
    ):
        if optimizer not in ("sgd", "adam"):
            raise ValueError(f"LMTrainer: optimizer must be 'sgd' or 'adam', got {optimizer!r}")
        self.model = model
        self.batches = BPTTBatches(train_ids, batch_size, bptt)
        self.optimizer = optim.SGD(model.parameters(), lr) if optimizer == "sgd" else optim.Adam(model.parameters(), lr)
        self.plateau = (optim.ReduceLROnPlateau(self.optimizer, factor=0.25, patience=0, threshold=0)
                        if optimizer == "sgd" else None)
        self.clip = clip
        self.valid_ids = valid_ids
        self.eval_batch_size, self.eval_bptt = eval_batch_size, eval_bptt
        self.state: tuple | None = None
        self.epoch = 0  # epochs completed
        self.step_in_epoch = 0  # steps of the current epoch done
        self.epoch_loss = 0.0  # sum of this epoch's window losses so far
        self.history: dict[str, list[float]] = {"train perplexity": []}
        if valid_ids is not None:
            self.history["valid perplexity"] = []
        self.train_seconds = 0.0
        self.train_tokens = 0
        m = model
        self.config = {"vocab_size": m.vocab_size, "cell": m.cell, "layers": m.num_layers,
                       "embed": m.embed_size, "hidden": m.hidden_size, "tie_weights": m.tie_weights,
                       "dropout": m.drop.p, "batch_size": batch_size,
                       "bptt": bptt, "optimizer": optimizer, "lr": lr, "clip": clip,
                       "eval": [eval_batch_size, eval_bptt], "data": fingerprint(np.asarray(train_ids)),
                       **(config or {})}
        self.checkpoint: Path | None = None  # where fit saves, named when a diverging loss stops it

    def step(self, x: np.ndarray, t: np.ndarray) -> float:
        """One window: forward from the carried state, loss, backward, clipping, update; the window's loss.
        A NaN or infinite loss raises ``FloatingPointError`` before anything changes."""
        log_probs, state = self.model(x, self.state)
        loss = lm_loss(log_probs, t)
        value = loss.item()
        check_loss(value, self.epoch, self.step_in_epoch, self.checkpoint)
        self.state = detach_state(state)
        self.optimizer.zero_grad()
        loss.backward()
        if self.clip is not None:
            optim.clip_grad_norm(self.optimizer.params, self.clip)
        self.optimizer.step()
        return value

    def fit(
        self,
        epochs: int,
        checkpoint: str | os.PathLike | None = None,
        max_steps: int | None = None,
        on_epoch: Callable[[LMTrainer], None] | None = None,
        checkpoint_every: float | None = None,
    ) -> bool:
        """Train until ``epochs`` epochs are complete (or ``max_steps`` more steps were taken), saving a
        checkpoint after every epoch, every ``checkpoint_every`` seconds of training and when an interrupt
        (Ctrl-C, SIGTERM, SIGHUP) stops the run. Returns False if it was interrupted.

        ``on_epoch(trainer)`` runs after each epoch (to print its line of the history; print with
        ``tqdm.write`` so the progress bar stays below the text)."""
        n = len(self.batches)
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        tokens_per_step = self.batches.batch_size * self.batches.bptt
        steps_left = math.inf if max_steps is None else max_steps
        done = min(self.epoch * n + self.step_in_epoch, epochs * n)
        bar = progress(epochs * n, "training", unit="window", initial=done)
        showing = Every(0.5)  # the bar's perplexity and speed
        saving = Every(checkpoint_every if checkpoint is not None else None)
        with graceful_interrupt() as interrupt, bar:
            while self.epoch < epochs and steps_left > 0 and not interrupt.requested:
                bar.set_description(f"epoch {self.epoch + 1}/{epochs}")
                # zip takes from the range first, so a resumed epoch reads only the windows it has left
                for _, (x, t) in zip(range(self.step_in_epoch, n), self.batches):
                    start = time.perf_counter()
                    loss = self.step(x, t)
                    self.epoch_loss += loss
                    self.history.setdefault("train perplexity (window)", []).append(perplexity(loss))
                    self.train_seconds += time.perf_counter() - start
                    self.train_tokens += tokens_per_step
                    self.step_in_epoch += 1
                    steps_left -= 1
                    bar.update()
                    if showing.due():
                        showing.reset()
                        ppl = perplexity(self.epoch_loss / self.step_in_epoch)
                        bar.set_postfix(perplexity=f"{ppl:.2f}", tokens_per_s=f"{self.throughput():.0f}")
                    if interrupt.requested or steps_left <= 0:
                        break
                    if saving.due() and self.step_in_epoch < n:
                        self.save(checkpoint)
                        saving.reset()
                if self.step_in_epoch == n:
                    self._end_epoch()
                    if on_epoch is not None:
                        on_epoch(self)
                if checkpoint is not None and (self.step_in_epoch == 0 or interrupt.requested):
                    self.save(checkpoint)
                    saving.reset()
        return not interrupt.requested

    def _end_epoch(self) -> None:
        self.history["train perplexity"].append(perplexity(self.epoch_loss / self.step_in_epoch))
        self.epoch += 1
        self.step_in_epoch, self.epoch_loss = 0, 0.0
        if self.valid_ids is not None:
            ppl = evaluate_perplexity(self.model, self.valid_ids, self.eval_batch_size, self.eval_bptt)
            self.history["valid perplexity"].append(ppl)
            if self.plateau is not None:
                self.plateau.step(ppl)

    def throughput(self) -> float:
        """Training tokens per second of training time so far."""
        return self.train_tokens / self.train_seconds if self.train_seconds else 0.0

    # ----- checkpoints ------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write everything needed to continue exactly from here to ``path`` (atomic ``.npz``)."""
        state = {}
        if self.state is not None:
            for k, layer in enumerate(self.state):
                for name, s in zip(("h", "c"), layer if isinstance(layer, tuple) else (layer,)):
                    state[f"state_{k}_{name}"] = s.numpy()
        counters = {
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "epoch_loss": self.epoch_loss,
            "time_idx": self.batches.state_dict()["time_idx"],
            "train_seconds": self.train_seconds,
            "train_tokens": self.train_tokens,
        }
        plateau = self.plateau.state_dict() if self.plateau is not None else {}
        return save_checkpoint(path, self.model, self.optimizer, **state, **counters, rng=rng_state(self.model.rng),
                               history=self.history, plateau=plateau, config=self.config)

    def load(self, path: str | os.PathLike) -> None:
        """Continue from a checkpoint written by ``save`` with the same config and data (``epochs`` may
        grow); anything else, or a state no run can reach, is refused with ``ValueError``."""
        extra = load_checkpoint(path, self.model, self.optimizer, config=self.config)
        self.epoch, self.step_in_epoch = int(extra["epoch"]), int(extra["step_in_epoch"])
        n, time_idx = len(self.batches), int(extra["time_idx"])
        if not (0 <= self.step_in_epoch < n and 0 <= self.epoch <= self.config.get("epochs", math.inf)
                and time_idx == (self.epoch * n + self.step_in_epoch) * self.batches.bptt):
            raise ValueError(f"LMTrainer.load: {path} is at epoch {self.epoch}, window {self.step_in_epoch}, "
                             f"time_idx {time_idx}: not a state of this run ({n} windows per epoch)")
        self.epoch_loss = float(extra["epoch_loss"])
        self.batches.load_state_dict({"time_idx": time_idx})
        if self.plateau is not None:
            self.plateau.load_state_dict(extra["plateau"])
        self.train_seconds, self.train_tokens = float(extra["train_seconds"]), int(extra["train_tokens"])
        set_rng_state(self.model.rng, extra["rng"])
        self.history = {k: list(v) for k, v in extra["history"].items()}
        self.state = self._saved_state(path, extra)

    def _saved_state(self, path: str | os.PathLike, extra: dict[str, Any]) -> tuple | None:
        if "state_0_h" not in extra:
            return None
        device = self.model.embedding.weight.device

        def tensor(key: str) -> Tensor:
            value = np.asarray(extra[key])
            expected = (self.batches.batch_size, self.model.hidden_size)
            if value.shape != expected or not np.isfinite(value).all():
                raise ValueError(f"LMTrainer.load: {path}: the carried state '{key}' has shape {value.shape} (expected "
                                 f"{expected}) or non-finite values")
            return Tensor._wrap(backend.to_device(value.astype(np.float32), device))

        layers = range(self.model.num_layers)
        if self.model.cell == "lstm":
            return tuple((tensor(f"state_{k}_h"), tensor(f"state_{k}_c")) for k in layers)
        return tuple(tensor(f"state_{k}_h") for k in layers)
