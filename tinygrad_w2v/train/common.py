"""What every trainer needs: checkpoints, interrupt handling, a progress bar and a plot of the history.

A checkpoint is one ``.npz`` file (never pickle), written atomically, holding ``model/<parameter>``,
``optim/<key>`` and ``extra/<key>`` arrays; dicts (an RNG state, a history, the run's config) go in as
JSON text under ``json/<key>``. A checkpoint is never written with a NaN or infinite weight, and loading
refuses one, as it refuses a checkpoint of another run: ``load_checkpoint(..., config=...)`` compares the
saved config (hyper-parameters and a fingerprint of the training data) with the current one field by
field before touching the model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..files import atomic_write, check_writable, load_npz, save_npz
from ..nn import Module
from ..optim import Optimizer


def save_checkpoint(path: str | os.PathLike, model: Module, optimizer: Optimizer | None = None, **extra: Any) -> Path:
    """Write the model's parameters, the optimizer's state and ``extra`` values to ``path`` atomically.

    ``extra`` values may be numbers, arrays, or JSON-able dicts/lists (stored as JSON text)."""
    arrays: dict[str, Any] = {f"model/{k}": v for k, v in model.state_dict().items()}
    name = _first_nonfinite(arrays)
    if name is not None:
        raise FloatingPointError(f"training diverged: the weight '{name}' holds NaN or infinite values; "
                                 f"{path} was not written")
    if optimizer is not None:
        arrays.update({f"optim/{k}": v for k, v in optimizer.state_dict().items()})
    for key, value in extra.items():
        if isinstance(value, (dict, list, tuple)):
            arrays[f"json/{key}"] = np.array(json.dumps(value))
        else:
            arrays[f"extra/{key}"] = value
    return save_npz(path, arrays)


def load_checkpoint(
    path: str | os.PathLike, model: Module, optimizer: Optimizer | None = None, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Load a ``save_checkpoint`` file into ``model`` (and ``optimizer``); returns the extra values (looking
    up a key the file lacks raises ``ValueError`` naming the file and the key).

    With ``config``, the file must hold the same ``config`` extra (see ``check_same_run``), checked first.
    Missing or misshapen arrays and NaN/inf weights are refused with the file and the array named."""
    arrays = load_npz(path)
    parts: dict[str, dict[str, Any]] = {"model": {}, "optim": {}, "extra": {}, "json": {}}
    for name, value in arrays.items():
        kind, _, key = name.partition("/")
        if kind not in parts:
            raise ValueError(f"load_checkpoint: {path} is not a checkpoint (unexpected array '{name}')")
        parts[kind][key] = value
    extra = _Extras(path)
    extra.update({k: v.item() if v.ndim == 0 else v for k, v in parts["extra"].items()})
    try:
        extra.update({k: json.loads(str(v)) for k, v in parts["json"].items()})
    except json.JSONDecodeError as e:
        raise ValueError(f"load_checkpoint: {path} holds unreadable JSON ({e})") from None
    if config is not None:
        check_same_run(path, extra["config"], config)
    _check_finite(path, {f"model/{k}": v for k, v in parts["model"].items()})
    _check_finite(path, {f"optim/{k}": v for k, v in parts["optim"].items()})
    try:
        model.load_state_dict(parts["model"])
    except (KeyError, ValueError) as e:
        raise ValueError(f"load_checkpoint: {path} does not fit this model: {e}") from None
    if optimizer is not None:
        try:
            optimizer.load_state_dict(parts["optim"])
        except KeyError as e:
            raise ValueError(f"load_checkpoint: {path} lacks the optimizer state 'optim/{e.args[0]}'") from None
        except ValueError as e:
            raise ValueError(f"load_checkpoint: {path} does not fit this optimizer: {e}") from None
    return extra


class _Extras(dict):
    def __init__(self, path: str | os.PathLike):
        super().__init__()
        self.path = path

    def __missing__(self, key: str) -> Any:
        raise ValueError(f"load_checkpoint: {self.path} has no '{key}': it is not a complete checkpoint of this "
                         "trainer")


def _first_nonfinite(arrays: dict[str, Any]) -> str | None:
    """The name of the first floating array holding NaN or an infinity, or None."""
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            return name
    return None


def _check_finite(path: str | os.PathLike, arrays: dict[str, Any]) -> None:
    name = _first_nonfinite(arrays)
    if name is not None:
        raise ValueError(f"checkpoint {path}: '{name}' holds NaN or infinite values; refusing to use it")


def check_same_run(path: str | os.PathLike, saved: dict[str, Any], now: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming every field where the config ``saved`` in the checkpoint ``path`` and the
    config ``now`` differ (both values), except ``epochs`` when it grows (a finished run may be extended)."""
    if not isinstance(saved, dict):
        raise ValueError(f"load_checkpoint: {path} has no config of its run")
    now = json.loads(json.dumps(now))  # tuples become lists, as in the saved JSON
    differ = []
    for key in list(saved) + [k for k in now if k not in saved]:
        old, new = saved.get(key, "(absent)"), now.get(key, "(absent)")
        grows = key == "epochs" and isinstance(old, int) and isinstance(new, int) and new > old
        if old != new and not grows:
            differ.append(f"{key} {old} in the checkpoint, {new} now")
    if differ:
        raise ValueError(f"{path} was written by a different run ({'; '.join(differ)}): resume with its settings "
                         "(epochs may grow), or start a new run with --overwrite or another --out")


def fingerprint(*arrays: np.ndarray) -> str:
    """A short description of the training data for a checkpoint's config: the length of the first array
    and a SHA-256 over all of them, so a resume on other data is refused."""
    digest = hashlib.sha256()
    for a in arrays:  # read in slices: an IdFile of any size is never held whole
        digest.update(f"{np.dtype(a.dtype).str}{tuple(a.shape)}".encode())
        for i in range(0, len(a), 1 << 22):
            digest.update(np.ascontiguousarray(a[i : i + (1 << 22)]).tobytes())
    return f"{len(arrays[0])} tokens, sha256 {digest.hexdigest()[:16]}"


def prepare_checkpoint(path: Path, resume: bool, overwrite: bool) -> Path | None:
    """Check the checkpoint path before training: returns the checkpoint to resume from, or None for a new
    run. A checkpoint already there is replaced only with ``overwrite``; without ``resume`` or ``overwrite``
    it is an error (``FileExistsError``) naming both flags, so a finished run is never lost by accident."""
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other: continue the run, or replace it")
    check_writable(path)
    if not path.exists():
        if resume:
            print(f"no checkpoint at {path}: starting a new run")
        return None
    if resume:
        return path
    if not overwrite:
        raise FileExistsError(f"{path} holds the checkpoint of an earlier run; pass --resume to continue it, "
                              "--overwrite to replace it, or another --out to keep both")
    return None


def check_loss(value: float, epoch: int, step: int, checkpoint: Path | None) -> None:
    """Stop a run whose loss is NaN or infinite (``FloatingPointError`` naming the step), before the bad
    gradients touch the weights; the checkpoint keeps the last good state."""
    if not math.isfinite(value):
        kept = (f"{checkpoint} still holds the last good state" if checkpoint is not None and checkpoint.exists()
                else "no checkpoint was written")
        raise FloatingPointError(f"training diverged: the loss is {value} at epoch {epoch + 1}, step {step + 1}; "
                                 f"{kept}; try a lower learning rate or gradient clipping")


class Every:
    """A timer for periodic work in a training loop: ``due()`` once ``seconds`` have passed since the last
    ``reset()`` (never for ``seconds=None``)."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.reset()

    def reset(self) -> None:
        self.last = time.monotonic()

    def due(self) -> bool:
        return self.seconds is not None and time.monotonic() - self.last >= self.seconds


def perplexity(mean_loss: float) -> float:
    """``exp(mean_loss)``, ``inf`` where that overflows a float."""
    return math.exp(mean_loss) if mean_loss < 709.0 else math.inf


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """A JSON-able snapshot of a NumPy generator, for ``save_checkpoint``."""
    return rng.bit_generator.state


def set_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Put a generator back in the state ``rng_state`` saw."""
    rng.bit_generator.state = state


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Interrupt:
    requested = False


@contextlib.contextmanager
def graceful_interrupt() -> Iterator[_Interrupt]:
    """While inside, the first Ctrl-C (SIGINT), SIGTERM or SIGHUP only sets ``.requested``, so a training
    loop can finish its step, save a checkpoint and stop cleanly; a second one interrupts at once."""
    flag = _Interrupt()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signal handlers can only be set from the main thread
        return

    def handler(signum: int, frame: Any) -> None:
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True
        with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
            tqdm.write(f"{signal.Signals(signum).name}: finishing this step, saving a checkpoint and stopping "
                       "(again to abort)")

    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield flag
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def progress(total: int, desc: str, unit: str = "step", initial: int = 0) -> tqdm:
    """A tqdm progress bar of ``total`` steps (shown on stderr)."""
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True, leave=False)


def plot_history(
    history: dict[str, Sequence[float] | tuple[Sequence[float], Sequence[float]]],
    path: str | os.PathLike,
    title: str = "",
    xlabel: str = "step",
    ylabel: str = "",
    epochs: int | None = None,
) -> Path | None:
    """Plot each named curve of ``history`` into an image at ``path`` (format from the suffix, written
    atomically). Returns the path, or None (with a note) when matplotlib is missing.

    Without ``epochs`` a curve's points are at x = 1, 2, ...; with ``epochs``, each curve is spread over
    epochs 0..``epochs`` (point k of n at ``(k + 1) * epochs / n``: the end of the stretch it covers, so a
    per-epoch curve sits at 1, 2, ... and a per-step curve in between), each epoch's end is marked and the
    x axis reads "epoch". A curve given as an ``(xs, ys)`` tuple is drawn at its own ``xs``. The figure is
    drawn without pyplot, so a notebook's backend is left alone."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is not installed (pip install 'tinygrad_w2v[plot]'): no plot written")
        return None
    path = Path(path)
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for name, values in history.items():
        xs, values = values if isinstance(values, tuple) else (None, values)
        if len(values):
            x = np.arange(1, len(values) + 1) * (epochs / len(values) if epochs else 1) if xs is None else xs
            ax.plot(x, values, label=name, marker="o" if len(values) <= 30 else None, markersize=3)
    if epochs:
        for e in range(1, epochs + 1):
            ax.axvline(e, color="0.6", linewidth=0.8, linestyle=":")
        xlabel = "epoch"
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format=path.suffix.lstrip(".") or "png")
    return path
