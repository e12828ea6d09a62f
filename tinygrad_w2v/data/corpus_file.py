"""A text corpus of any size, read as word2vec.c and gensim's ``corpus_file`` read it, in bounded memory.

Each line is a sentence of whitespace-separated words. ``build_vocab`` reads the file once and keeps the
words seen at least ``min_count`` times (and at most the ``max_vocab`` most frequent), most frequent
first. ``encode_file`` reads it again and writes the ids (int32) to a file, sentences ending in ``SEP``,
words outside the vocabulary dropped (as gensim drops them); ``IdFile`` reads that file back a slice at a
time, so training reads it chunk by chunk and never holds the corpus. With ``eos=True`` every line end is the word
``<eos>`` instead, and nothing separates the lines (the book's reading of the Penn Treebank).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..files import atomic_write
from .vocab import EOS, Vocab
from .windows import SEP

_DROP = -2  # a word outside the vocabulary, removed before the ids are written


def _lines(path: Path, desc: str, show_progress: bool) -> Iterator[bytes]:
    """The lines of ``path`` as bytes, with a progress bar in bytes."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise FileNotFoundError(f"no such corpus file: {path}") from None
    with open(path, "rb") as f, tqdm(total=size, unit="B", unit_scale=True, desc=desc, leave=False,
                                     disable=not show_progress) as bar:
        for line in f:
            bar.update(len(line))
            yield line


def build_vocab(path: str | os.PathLike, min_count: int = 5, max_vocab: int | None = None, eos: bool = False,
                show_progress: bool = True) -> Vocab:
    """One pass over a text file: the words seen at least ``min_count`` times, most frequent first (ties in
    order of first appearance), at most ``max_vocab`` of them, with their counts."""
    path = Path(path)
    if min_count < 1 or (max_vocab is not None and max_vocab < 1):
        raise ValueError(f"build_vocab: min_count and max_vocab must be at least 1, got {min_count} and {max_vocab}")
    counts: Counter[bytes] = Counter()
    lines = 0
    for line in _lines(path, f"vocabulary of {path.name}", show_progress):
        counts.update(line.split())
        lines += 1
    if eos:
        counts[EOS.encode()] += lines
    kept = sorted((item for item in counts.items() if item[1] >= min_count), key=lambda item: -item[1])[:max_vocab]
    if not kept:
        raise ValueError(f"build_vocab: {path} has no word seen at least {min_count} times")
    try:
        words = [w.decode("utf-8") for w, _ in kept]
    except UnicodeDecodeError as e:
        raise ValueError(f"build_vocab: {path} is not UTF-8 text ({e})") from None
    return Vocab(words, [c for _, c in kept])


def encode_file(path: str | os.PathLike, vocab: Vocab, out: str | os.PathLike, eos: bool = False,
                max_tokens: int | None = None, show_progress: bool = True) -> np.ndarray:
    """Write the ids of the words of ``path`` to ``out`` (raw int32, atomically): each line's words in the
    vocabulary, then ``SEP`` (with ``eos``: the id of ``<eos>``); stop after ``max_tokens`` words.
    Returns the file as an ``IdFile``."""
    path = Path(path)
    lookup = {w.encode(): i for i, w in enumerate(vocab.id_to_word)}
    end = vocab[EOS] if eos else SEP
    written, buffer = 0, []
    with atomic_write(out) as f:
        for line in _lines(path, f"ids of {path.name}", show_progress):
            buffer.extend([lookup.get(w, _DROP) for w in line.split()])
            buffer.append(end)
            if len(buffer) >= 1 << 20 or (max_tokens is not None and written + len(buffer) >= max_tokens):
                written += _flush(buffer, f, None if max_tokens is None else max_tokens - written)
                buffer = []
                if max_tokens is not None and written >= max_tokens:
                    break
        written += _flush(buffer, f, None if max_tokens is None else max_tokens - written)
    return IdFile(out)


def _flush(buffer: list[int], f, limit: int | None) -> int:
    ids = np.asarray(buffer, np.int32)
    ids = ids[ids != _DROP][:limit]
    ids.tofile(f)
    return len(ids)


class IdFile:
    """The int32 ids ``encode_file`` wrote, read from disk a slice at a time: ``len(f)``, ``f[a:b]`` (a
    NumPy array). Unlike a memory map, the pages read do not stay in the process's resident memory, so
    it stays bounded however large the file."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._len = self.path.stat().st_size // 4

    def __len__(self) -> int:
        return self._len

    dtype = np.dtype(np.int32)

    @property
    def shape(self) -> tuple[int]:
        return (self._len,)

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError(f"IdFile: only contiguous slices can be read, got {rows!r}")
        start, stop, _ = rows.indices(self._len)
        return np.fromfile(self.path, np.int32, max(0, stop - start), offset=4 * start)

    def __repr__(self) -> str:
        return f"IdFile({str(self.path)!r}, {self._len:,} ids)"


def chunk_bounds(ids: np.ndarray, tokens: int) -> np.ndarray:
    """Start offsets of chunks of about ``tokens`` ids (and the end, ``len(ids)``): each chunk ends just
    after a ``SEP`` when one comes within ``tokens`` ids of the nominal end, so few sentences are cut."""
    bounds = [0]
    while len(ids) - bounds[-1] > tokens:
        nominal = bounds[-1] + tokens
        ahead = np.flatnonzero(np.asarray(ids[nominal : nominal + tokens]) == SEP)
        bounds.append(nominal + (int(ahead[0]) + 1 if ahead.size else 0))
    if bounds[-1] < len(ids):
        bounds.append(len(ids))
    return np.asarray(bounds, np.int64)
