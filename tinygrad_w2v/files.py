"""Files a user keeps: atomic writes and ``.npz`` archives (never pickle).

``atomic_write`` writes to a temporary file in the destination's folder and renames it over the
destination only once the data is complete and flushed to disk, so a crash, a full disk or a Ctrl-C never
leaves a half-written checkpoint or vector file where a good one was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_npz(path: str | os.PathLike, arrays: dict[str, Any]) -> Path:
    """Write ``arrays`` (name -> array-like) to an uncompressed ``.npz`` at ``path``, atomically."""
    path = Path(path)
    with atomic_write(path) as f:
        np.savez(f, **{name: np.asarray(value) for name, value in arrays.items()})
    return path


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of a ``.npz`` written by ``save_npz`` (object arrays are refused: no pickle)."""
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single .npy array")
        with archive:
            return {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"load_npz: no such file: {path}") from None
    except ValueError as e:  # pickled object arrays, or not an npz/npy file at all
        raise ValueError(f"load_npz: {path} is not a plain .npz archive of arrays ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"load_npz: cannot read {path}: {e}") from None
