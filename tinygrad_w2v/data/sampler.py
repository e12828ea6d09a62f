"""Noise words for negative sampling, drawn from the unigram distribution raised to the 0.75 power.

``P(w) = count(w)^0.75 / sum_v count(v)^0.75`` (Mikolov et al. 2013). Plain sampling is i.i.d. by
inverting the cumulative distribution: a uniform ``u`` gives the first word whose cumulative probability
exceeds ``u``. A guide table (``M`` equal buckets of ``[0, 1)``, each holding the word at its left edge)
finds that word with one lookup for almost every ``u``; only a ``u`` past the first word boundary in its
bucket is searched for (``searchsorted``), so the draws are exactly those of a binary search, several
times faster. ``exclude_target=True`` reproduces the book's
``UnigramSampler`` exactly: each row is drawn without replacement from ``P`` with the row's target word
removed. Sequential sampling without replacement is the same as drawing i.i.d. from ``P`` and keeping
the first ``k`` distinct words that are not the target, which is done here for all rows at once.
"""

from __future__ import annotations

import numpy as np


class UnigramSampler:
    """Samples word ids with probability ``counts ** power`` (normalised), ``probs`` of shape ``(V,)``."""

    def __init__(self, counts: np.ndarray, power: float = 0.75, seed: int | np.random.Generator | None = None):
        counts = np.asarray(counts, dtype=np.float64)
        if counts.ndim != 1 or counts.size == 0 or (counts < 0).any() or counts.sum() == 0:
            raise ValueError(f"UnigramSampler: counts must be a non-empty 1-D array of non-negative numbers, "
                             f"not all zero; got shape {counts.shape}")
        weights = counts**power
        self.probs = weights / weights.sum()
        self._cdf = np.cumsum(self.probs)
        self._cdf[-1] = 1.0
        buckets = 1 << int(min(22, max(10, np.ceil(np.log2(16 * len(counts))))))  # a power of two: u * M is exact
        self._guide = np.searchsorted(self._cdf, np.arange(buckets) / buckets, side="right").astype(np.int32)
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    @property
    def vocab_size(self) -> int:
        return len(self.probs)

    def _draw(self, shape: tuple[int, ...]) -> np.ndarray:
        u = self.rng.random(shape)
        words = self._guide[(u * len(self._guide)).astype(np.intp)]
        past = u >= self._cdf[words]  # u lies beyond the bucket's first word
        words[past] = np.searchsorted(self._cdf, u[past], side="right")
        return words

    def sample(self, targets: np.ndarray | int, k: int, exclude_target: bool = False) -> np.ndarray:
        """``(B, k)`` noise ids for ``B = len(targets)`` (or ``B = targets`` when an int is given).

        With ``exclude_target`` (the book's semantics) a row never holds its target (``targets`` must
        be an id array then) and never repeats a word."""
        if not exclude_target:
            batch = targets if isinstance(targets, (int, np.integer)) else len(targets)
            return self._draw((batch, k))
        targets = np.asarray(targets).reshape(-1)
        allowed = self.vocab_size - 1 - (self.probs == 0).sum() + (self.probs[targets] == 0)
        if k > allowed.min():
            raise ValueError(f"UnigramSampler.sample: cannot draw {k} distinct words other than the target "
                             f"from {int(allowed.min())} words with non-zero probability")
        out = np.empty((len(targets), k), dtype=np.int32)
        todo = np.arange(len(targets))
        draws = self._draw((len(targets), 2 * k))
        while todo.size:
            rows, full = self._first_distinct(draws, targets[todo], k)
            out[todo[full]] = rows[full]
            # Rows short of k distinct words continue their own sequence of draws (restarting them
            # would bias the result towards sequences that find k words early).
            todo, draws = todo[~full], draws[~full]
            draws = np.concatenate([draws, self._draw(draws.shape)], axis=1)
        return out

    @staticmethod
    def _first_distinct(d: np.ndarray, targets: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """For each row of draws ``d``, its first ``k`` distinct ids other than its target, and a flag per
        row saying whether ``k`` were found."""
        order = np.argsort(d, axis=1, kind="stable")
        ranked = np.take_along_axis(d, order, axis=1)
        first_sorted = np.ones_like(ranked, dtype=bool)
        first_sorted[:, 1:] = ranked[:, 1:] != ranked[:, :-1]  # first occurrence of each value (stable sort)
        keep = np.empty_like(first_sorted)
        np.put_along_axis(keep, order, first_sorted, axis=1)
        keep &= d != targets[:, None]
        taken = np.cumsum(keep, axis=1)
        full = taken[:, -1] >= k
        keep &= taken <= k
        rows = np.zeros((len(targets), k), dtype=np.int32)
        rows[full] = d[full][keep[full]].reshape(-1, k)
        return rows, full
