"""Training examples for word2vec: contexts around each target word, built with array ops.

``context_target`` is the book's ``create_contexts_target`` without its Python loop (about 7 s on PTB):
a sliding window view of the id array, minus its middle column. ``sentence_windows`` is what word2vec.c
and gensim train on: every word is a target, its context stops at the ends of its sentence (sentences
are separated by ``SEP`` in the id array), and with a dynamic window only the words within a random
radius count. ``subsample`` drops frequent words.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SEP = -1  # ends a sentence in an id array: no window crosses it


def _check(op: str, ids: np.ndarray, window: int) -> np.ndarray:
    """``ids`` as a 1-D integer array, and a window of at least 1 (clear errors naming ``op`` otherwise)."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ValueError(f"{op}: ids must be a 1-D integer array, got {ids.dtype} of shape {ids.shape}")
    if window < 1:
        raise ValueError(f"{op}: window must be at least 1, got {window}")
    return ids


def context_target(ids: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """``contexts (N, 2*window)`` and ``targets (N,)``, N = len(ids) - 2*window: the target is
    ``ids[i]`` for ``window <= i < len - window`` and its context is the ``window`` ids on its left, then
    the ``window`` ids on its right."""
    ids = _check("context_target", ids, window)
    if len(ids) < 2 * window + 1:
        raise ValueError(f"context_target: {len(ids)} ids are too few for a window of {window} on each side")
    rows = sliding_window_view(ids, 2 * window + 1)
    contexts = np.concatenate([rows[:, :window], rows[:, window + 1 :]], axis=1)
    return contexts.astype(np.int32), rows[:, window].astype(np.int32)


def sentence_windows(
    ids: np.ndarray, window: int, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``contexts (N, 2*window)``, ``targets (N,)`` and ``mask (N, 2*window)`` for every word of ``ids``
    that has a context word: the ``window`` positions on the target's left, then on its right;
    ``mask`` is True for those inside the target's sentence (between two ``SEP``, or the ends of
    ``ids``), and, given ``rng`` (word2vec's dynamic window), within a radius ``b`` drawn uniformly from
    ``1..window`` per word. Masked-out contexts hold id 0. A word alone in its sentence (or alone
    within its radius) is no example, as in word2vec.c."""
    ids = _check("sentence_windows", ids, window)
    at = np.arange(len(ids), dtype=np.int32)
    sep = ids == SEP
    start = np.maximum.accumulate(np.where(sep, at, -1))  # the last SEP at or before each position ...
    end = np.minimum.accumulate(np.where(sep, at, len(ids))[::-1])[::-1]  # ... and the first at or after
    centre = np.flatnonzero(~sep)
    left, right = centre - start[centre] - 1, end[centre] - centre - 1  # words beside it in its sentence
    if rng is not None:
        b = rng.integers(1, window + 1, size=len(centre))
        left, right = np.minimum(left, b), np.minimum(right, b)
    some = (left > 0) | (right > 0)
    centre, left, right = centre[some], left[some], right[some]
    distance = np.arange(1, window + 1)
    mask = np.concatenate([distance[::-1] <= left[:, None], distance <= right[:, None]], axis=1)
    padded = np.concatenate([np.zeros(window, np.int32), ids.astype(np.int32, copy=False), np.zeros(window, np.int32)])
    side = np.r_[0:window, window + 1 : 2 * window + 1]  # positions in padded, from centre - window on
    contexts = padded[centre[:, None] + side]
    contexts[~mask] = 0
    return contexts, padded[centre + window], mask


def keep_probabilities(counts: np.ndarray, t: float = 1e-3) -> np.ndarray:
    """word2vec's chance of keeping each word: ``(sqrt(f / t) + 1) * t / f`` for its frequency ``f``
    (count / total), capped at 1 (Mikolov et al. 2013, as in the C tool and gensim's ``sample``)."""
    f = np.asarray(counts, np.float64) / max(1, int(np.sum(counts)))
    with np.errstate(divide="ignore"):
        keep = (np.sqrt(f / t) + 1) * t / f
    return np.minimum(keep, 1.0)


def subsample(
    ids: np.ndarray, counts: np.ndarray, t: float = 1e-3, rng: np.random.Generator | None = None
) -> np.ndarray:
    """``ids`` with each occurrence of a frequent word dropped at random (see ``keep_probabilities``);
    sentence ends (``SEP``) stay."""
    rng = np.random.default_rng() if rng is None else rng
    ids = np.asarray(ids)
    return ids[(rng.random(len(ids)) < keep_probabilities(counts, t)[ids]) | (ids == SEP)]
