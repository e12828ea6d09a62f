"""Files a user keeps: atomic writes and ``.npz`` archives (never pickle).

``atomic_write`` writes to a temporary file in the destination's folder and renames it over the
destination only once the data is complete and flushed to disk, so a crash, a full disk or a Ctrl-C never
leaves a half-written checkpoint or vector file where a good one was. A new file gets the permissions a
plain ``open(path, "w")`` would give it (0666 less the umask), a replaced file keeps its mode, and the
folder is synced after the rename so the new name survives a power cut. Temporary files left by a writer
that was killed (``kill -9``, a power cut) are removed by the next write to the same path.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np


def _temporary_name(path: Path) -> Path:
    """``.<name>.<pid>.<random>.tmp`` beside ``path``: the pid tells later writers whether its writer lives."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _remove_stale_temporaries(path: Path) -> None:
    """Delete the temporary files of earlier writes to ``path`` whose writing process no longer exists."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[0-9a-f]{{8}}\.tmp")
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            match = pattern.fullmatch(entry.name)
            if match is None or int(match.group(1)) == os.getpid():
                continue
            try:
                os.kill(int(match.group(1)), 0)
            except ProcessLookupError:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
            except (PermissionError, OverflowError):
                pass  # a live process of another user (or a pid no process can have): leave it


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    tmp = _temporary_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
    try:
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None) as f:
            with contextlib.suppress(FileNotFoundError):
                os.fchmod(f.fileno(), stat.S_IMODE(os.stat(path).st_mode))  # a replaced file keeps its mode
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def check_writable(path: str | os.PathLike) -> None:
    """Raise an ``OSError`` saying why, unless ``atomic_write(path)`` can work: ``path`` is not a directory
    and its nearest existing ancestor is a folder we may write into."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(f"cannot write {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write {path}: {folder} is not writable")


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
    except IsADirectoryError:
        raise IsADirectoryError(f"load_npz: {path} is a directory, not a .npz file") from None
    except ValueError as e:  # pickled object arrays, or not an npz/npy file at all
        raise ValueError(f"load_npz: {path} is not a plain .npz archive of arrays ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"load_npz: cannot read {path}: {e}") from None
