"""Tokens and the vocabulary: words <-> integer ids.

The book's PTB loader, ``open(f).read().replace('\\n', '<eos>').strip().split()``, assigns ids in order
of first appearance in the training text; ``Vocab.build`` does the same, so ids compare with the book
(``aer`` is 0, ``<eos>`` is 24).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

EOS = "<eos>"
UNK = "<unk>"


def read_tokens(path: str | os.PathLike, eos: str | None = EOS) -> list[str]:
    """The whitespace-separated words of a text file, with each newline read as the word ``eos``
    (skipped when ``eos`` is None)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"read_tokens: no such file: {path}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"read_tokens: {path} is not UTF-8 text ({e})") from None
    if eos is not None:
        text = text.replace("\n", f" {eos} ")
    return text.split()


class Vocab:
    """``words`` with their ``counts``; a word's id is its position in ``words``."""

    def __init__(self, words: Sequence[str], counts: Iterable[int] | None = None):
        self.id_to_word = list(words)
        self.word_to_id = {w: i for i, w in enumerate(self.id_to_word)}
        if len(self.word_to_id) != len(self.id_to_word):
            raise ValueError("Vocab: words must be unique")
        self.counts = np.zeros(len(words), np.int64) if counts is None else np.asarray(list(counts), np.int64)
        if self.counts.shape != (len(words),):
            raise ValueError(f"Vocab: {len(words)} words but counts of shape {self.counts.shape}")

    @classmethod
    def build(cls, tokens: Sequence[str], min_count: int = 1, max_size: int | None = None) -> Vocab:
        """Words of ``tokens`` in order of first appearance, keeping those seen at least ``min_count``
        times and, with ``max_size``, only the ``max_size`` most frequent (ties: earlier first)."""
        counts: dict[str, int] = {}
        for w in tokens:
            counts[w] = counts.get(w, 0) + 1
        words = [w for w, c in counts.items() if c >= min_count]
        if max_size is not None and len(words) > max_size:
            rank = {w: r for r, w in enumerate(sorted(words, key=lambda w: -counts[w])[:max_size])}
            words = [w for w in words if w in rank]
        return cls(words, [counts[w] for w in words])

    def __len__(self) -> int:
        return len(self.id_to_word)

    def __contains__(self, word: object) -> bool:
        return word in self.word_to_id

    def __getitem__(self, word: str) -> int:
        try:
            return self.word_to_id[word]
        except KeyError:
            raise KeyError(f"'{word}' is not in the vocabulary ({len(self)} words)") from None

    def encode(self, tokens: Iterable[str], unknown: str = "error") -> np.ndarray:
        """Ids (int32) of ``tokens``. Words not in the vocabulary raise a KeyError (``unknown='error'``),
        are dropped (``'drop'``, as gensim does below min_count) or become ``<unk>`` (``'unk'``)."""
        ids = self.word_to_id
        if unknown == "error":
            out = []
            for w in tokens:
                if w not in ids:
                    raise KeyError(f"Vocab.encode: '{w}' is not in the vocabulary ({len(self)} words)")
                out.append(ids[w])
        elif unknown == "drop":
            out = [ids[w] for w in tokens if w in ids]
        elif unknown == "unk":
            unk = self[UNK]
            out = [ids.get(w, unk) for w in tokens]
        else:
            raise ValueError(f"Vocab.encode: unknown must be 'error', 'drop' or 'unk', got {unknown!r}")
        return np.asarray(out, dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The words of ``ids``."""
        return [self.id_to_word[int(i)] for i in ids]

    def __repr__(self) -> str:
        return f"Vocab({len(self)} words)"
