"""Command lines of the demos and benchmarks: flag types that check their range, one-line user errors.

A user error (a flag out of range, a missing or corrupt file, a checkpoint that belongs to another run)
ends a command with ONE line on stderr, ``<program>: error: <what, and what to do>``, and exit status 2,
never a traceback. ``run`` turns the library's ``OSError`` / ``ValueError`` (whose messages name the file,
the value and the fix) into that line; a diverged training run (``FloatingPointError``) exits 1, and an
interrupt before training starts exits 130.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from . import backend, files

EXIT_DIVERGED, EXIT_USER_ERROR, EXIT_INTERRUPTED = 1, 2, 130


def fail(message: str, status: int = EXIT_USER_ERROR) -> NoReturn:
    """Print ``<program>: error: message`` as one line on stderr and exit with ``status``."""
    text = " ".join(str(message).split())  # one line, whatever the message holds
    sys.stderr.write(f"{Path(sys.argv[0]).name}: error: {text}\n")
    sys.stderr.flush()
    sys.exit(status)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line (no usage block) with exit status 2."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see --help)")


def run(main: Callable[[], int | None]) -> NoReturn:
    """Call a command's ``main`` and exit with its status, reporting user errors as one line."""
    try:
        status = main()
    except FloatingPointError as e:
        fail(e, EXIT_DIVERGED)
    except (OSError, ValueError) as e:
        fail(e)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)
    sys.exit(status or 0)


def _bounds(low: float, high: float | None, low_open: bool, high_open: bool) -> str:
    if high is None:
        return f"{'>' if low_open else '>='} {low}"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """A flag type: an integer ``>= low`` (and ``<= high``)."""
    allowed = _bounds(low, high, False, False)

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer {allowed}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be an integer {allowed}, got {value}")
        return value

    return parse


def number(
    low: float, high: float | None = None, low_open: bool = False, high_open: bool = False, none: bool = False
) -> Callable[[str], float | None]:
    """A flag type: a finite number ``>= low`` (``> low`` with ``low_open``; likewise ``high``); with
    ``none``, the word ``none`` gives None (the feature off)."""
    allowed = _bounds(low, high, low_open, high_open) + (", or 'none'" if none else "")

    def parse(text: str) -> float | None:
        if none and text.lower() == "none":
            return None
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {allowed}, got {text!r}") from None
        too_low = value <= low if low_open else value < low
        too_high = high is not None and (value >= high if high_open else value > high)
        if not math.isfinite(value) or too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be a finite number {allowed}, got {text}")
        return value

    return parse


SEED = integer(0, 2**32 - 1)


def device(text: str) -> str:
    """A flag type: ``cpu`` or ``cuda``, the latter only where CuPy and a GPU are there."""
    try:
        return backend.check_device(text)
    except (ValueError, RuntimeError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def existing_file(text: str) -> Path:
    """A flag type: a file that exists and can be read (checked before any training starts)."""
    path = Path(text).expanduser()
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{path} is {'a directory' if path.is_dir() else 'not a file'}")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{path} cannot be read (permissions)")
    return path


def writable_file(text: str) -> Path:
    """A flag type: a path a file can be written to (not a directory; its folder exists or can be made)."""
    path = Path(text).expanduser()
    try:
        files.check_writable(path)
    except OSError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return path


def writable_dir(text: str) -> Path:
    """A flag type: a folder that exists or can be made, for output files."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a file, not a folder")
    writable_file(str(path / "x"))
    return path


def names(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    """A flag type: a comma-separated list of some of ``choices``."""

    def parse(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        bad = [item for item in items if item not in choices]
        if not items or bad:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(choices)}, got {text!r}")
        return items

    return parse


def add_checkpoint_flags(parser: argparse.ArgumentParser, checkpoint: str) -> None:
    """The demos' checkpoint flags: ``--resume``, ``--overwrite`` and ``--checkpoint-every MINUTES``, parsed
    into seconds (``checkpoint``: where the file is, for the help text)."""
    parser.add_argument("--resume", action="store_true", help=f"continue from {checkpoint} if it exists")
    parser.add_argument("--overwrite", action="store_true", help="replace the checkpoint of an earlier run in OUT")
    minutes = number(0, low_open=True)
    parser.add_argument("--checkpoint-every", type=lambda text: 60 * minutes(text), default=600.0, metavar="MINUTES",
                        help="also write a checkpoint every MINUTES of training (default: 10)")
