"""The book's layer names ("Deep Learning from Scratch 2", chapter 4) as thin wrappers over the engine, so a
reader can map its word2vec code onto ``models/word2vec.py``. None of them has a backward method: the tape
differentiates the expressions.

| book | here |
| --- | --- |
| ``Embedding(W)`` | ``nn.Embedding(V, D, sparse=True)``: ``W[idx]`` is ``gather`` with a row-sparse gradient |
| ``EmbeddingDot(W)`` | ``EmbeddingDot``: ``(W[idx] * h).sum(-1)`` |
| ``SigmoidWithLoss`` | ``-log_sigmoid(sign * score)`` |
| ``UnigramSampler(corpus, 0.75, k)`` | ``data.UnigramSampler(counts, 0.75)`` |
| ``NegativeSamplingLoss(W, corpus, ...)`` | ``NegativeSamplingLoss``, i.e. ``Word2Vec.negative_sampling_loss`` |
| ``CBOW(vocab_size, hidden_size, window_size, corpus)`` | ``models.CBOW`` |
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import UnigramSampler
from ..nn import Embedding, Module
from ..tensor import Tensor


class EmbeddingDot(Module):
    """``forward(h (B, D), idx (B,)) = (W[idx] * h).sum(-1)``: one score ``u_idx . h`` per row."""

    def __init__(self, embed: Embedding):
        self.embed = embed

    def forward(self, h: Tensor, idx: Any) -> Tensor:
        return (self.embed(idx) * h).sum(axis=-1)


class NegativeSamplingLoss(Module):
    """The book's layer: scores the target and ``sample_size`` noise words (book semantics: no target, no
    repeats in a row) and returns ``-(log sigmoid(u_o . h) + sum_k log sigmoid(-u_k . h))``, batch mean."""

    def __init__(self, embed: Embedding, counts: np.ndarray, power: float = 0.75, sample_size: int = 5, seed=None):
        self.dot = EmbeddingDot(embed)
        self.sampler = UnigramSampler(counts, power, seed)
        self.sample_size = sample_size

    def forward(self, h: Tensor, target: np.ndarray) -> Tensor:
        negatives = self.sampler.sample(target, self.sample_size, exclude_target=True)
        loss = -self.dot(h, target).log_sigmoid()
        for k in range(self.sample_size):
            loss = loss - (-self.dot(h, negatives[:, k])).log_sigmoid()
        return loss.mean()
