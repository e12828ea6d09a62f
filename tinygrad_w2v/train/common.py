"""What every trainer needs: checkpoints, Ctrl-C handling, a progress bar and a plot of the history.

A checkpoint is one ``.npz`` file (never pickle), written atomically, holding ``model/<parameter>``,
``optim/<key>`` and ``extra/<key>`` arrays; dicts (an RNG state, a history) go in as JSON text under
``json/<key>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..files import atomic_write, load_npz, save_npz
from ..nn import Module
from ..optim import Optimizer


def save_checkpoint(path: str | os.PathLike, model: Module, optimizer: Optimizer | None = None, **extra: Any) -> Path:
    """Write the model's parameters, the optimizer's state and ``extra`` values to ``path`` atomically.

    ``extra`` values may be numbers, arrays, or JSON-able dicts/lists (stored as JSON text)."""
    arrays: dict[str, Any] = {f"model/{k}": v for k, v in model.state_dict().items()}
    if optimizer is not None:
        arrays.update({f"optim/{k}": v for k, v in optimizer.state_dict().items()})
    for key, value in extra.items():
        if isinstance(value, (dict, list, tuple)):
            arrays[f"json/{key}"] = np.array(json.dumps(value))
        else:
            arrays[f"extra/{key}"] = value
    return save_npz(path, arrays)


def load_checkpoint(path: str | os.PathLike, model: Module, optimizer: Optimizer | None = None) -> dict[str, Any]:
    """Load a ``save_checkpoint`` file into ``model`` (and ``optimizer``); returns the extra values."""
    arrays = load_npz(path)
    parts: dict[str, dict[str, Any]] = {"model": {}, "optim": {}, "extra": {}, "json": {}}
    for name, value in arrays.items():
        kind, _, key = name.partition("/")
        if kind not in parts:
            raise ValueError(f"load_checkpoint: {path} is not a checkpoint (unexpected array '{name}')")
        parts[kind][key] = value
    try:
        model.load_state_dict(parts["model"])
    except (KeyError, ValueError) as e:
        raise ValueError(f"load_checkpoint: {path} does not fit this model: {e}") from None
    if optimizer is not None:
        optimizer.load_state_dict(parts["optim"])
    extra = {k: v.item() if v.ndim == 0 else v for k, v in parts["extra"].items()}
    extra.update({k: json.loads(str(v)) for k, v in parts["json"].items()})
    return extra


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """A JSON-able snapshot of a NumPy generator, for ``save_checkpoint``."""
    return rng.bit_generator.state


def set_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Put a generator back in the state ``rng_state`` saw."""
    rng.bit_generator.state = state


class _Interrupt:
    requested = False


@contextlib.contextmanager
def graceful_interrupt() -> Iterator[_Interrupt]:
    """While inside, the first Ctrl-C (SIGINT) only sets ``.requested``, so a training loop can finish its
    step, save a checkpoint and stop cleanly; a second Ctrl-C interrupts at once."""
    flag = _Interrupt()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signal handlers can only be set from the main thread
        return

    def handler(signum: int, frame: Any) -> None:
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True
        tqdm.write("interrupted: finishing this step, saving a checkpoint and stopping (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def progress(total: int, desc: str, unit: str = "step", initial: int = 0) -> tqdm:
    """A tqdm progress bar of ``total`` steps (shown on stderr)."""
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True, leave=False)


def plot_history(
    history: dict[str, Sequence[float]], path: str | os.PathLike, title: str = "", xlabel: str = "step"
) -> Path | None:
    """Plot each named curve of ``history`` against its index into an image at ``path`` (format from the
    suffix, written atomically). Returns the path, or None (with a note) when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'tinygrad_w2v[plot]'): no plot written")
        return None
    path = Path(path)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in history.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
