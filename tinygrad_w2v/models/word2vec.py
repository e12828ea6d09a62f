"""word2vec with negative sampling (Mikolov et al. 2013): CBOW and skip-gram as plain tensor expressions.

Both models hold two embedding tables, ``in_embed`` (the vectors ``v`` of words seen as context, the ones
kept as "the word vectors") and ``out_embed`` (the vectors ``u`` of words being predicted). For a word
vector ``v_c``, its true word ``o`` and ``K`` noise words ``k`` drawn from the unigram^0.75 distribution,
the negative-sampling loss is::

    loss = -( log sigmoid(u_o . v_c) + sum_k log sigmoid(-u_k . v_c) )

averaged (or summed) over the examples of a batch. A noise word equal to the true word is skipped (it adds
nothing), as word2vec.c and gensim do. CBOW predicts the target from the (masked) mean of its context
vectors; skip-gram predicts every context word from the centre word's vector. Both tables are
``Embedding(sparse=True)``, so a step's gradients are row-sparse and the optimizer touches only the rows
a batch used. Initialisation follows word2vec and gensim: ``in_embed ~ U(-0.5/dim, 0.5/dim)``,
``out_embed = 0``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..nn import Embedding, Module, _rng
from ..ops import scatter_add
from ..tensor import Tensor


def _sign(k: int, dtype: Any, device: str) -> Tensor:
    """``[+1, -1, ..., -1]`` (length ``1 + k``): the true word's score enters log sigmoid as ``+u.v``, the
    noise words' as ``-u.v``."""
    sign = np.full(1 + k, -1.0, dtype=dtype)
    sign[0] = 1.0
    return Tensor(backend.to_device(sign, device))


def _ids(array: Any, name: str, ndim: int, device: str) -> Any:
    """An integer id array of ``ndim`` dimensions on ``device`` (clear error otherwise)."""
    array = array.data if isinstance(array, Tensor) else array
    if not hasattr(array, "dtype"):
        array = np.asarray(array)
    if array.ndim != ndim or array.dtype.kind not in "iu":
        raise ValueError(f"word2vec: {name} must be a {ndim}-D integer array, got {array.dtype} of shape {array.shape}")
    return backend.to_device(array, device) if backend.device_of(array) != device else array


class Word2Vec(Module):
    """The two tables and the loss they share; ``CBOW`` and ``SkipGram`` differ in how ``v_c`` is formed."""

    def __init__(self, vocab_size: int, dim: int, rng: Any = None):
        rng = _rng(rng)
        self.vocab_size, self.dim = vocab_size, dim
        self.in_embed = Embedding(vocab_size, dim, sparse=True)
        self.out_embed = Embedding(vocab_size, dim, sparse=True)
        self.in_embed.weight.data = rng.uniform(-0.5 / dim, 0.5 / dim, (vocab_size, dim)).astype(np.float32)
        self.out_embed.weight.data = np.zeros((vocab_size, dim), dtype=np.float32)

    @property
    def device(self) -> str:
        return self.in_embed.weight.device

    def vectors(self) -> np.ndarray:
        """The word vectors (the rows of ``in_embed``), ``(vocab_size, dim)`` NumPy."""
        return self.in_embed.weight.numpy()

    def negative_sampling_loss(self, v: Tensor, words: Any, weight: Any = None, reduction: str = "mean") -> Tensor:
        """``v (*S, D)`` word vectors; ``words (*S, 1+K)``: the true word, then K noise words; optional
        ``weight (*S,)`` (a 0/1 mask). Returns the mean over the ``S`` examples (weighted mean), or with
        ``reduction="sum"`` the (weighted) sum, of::

            -( log sigmoid(u_o . v) + sum_k [k != o] log sigmoid(-u_k . v) )

        (a noise word equal to the true word is skipped, as in word2vec.c)."""
        if reduction not in ("mean", "sum"):
            raise ValueError(f"word2vec: reduction must be 'mean' or 'sum', got {reduction!r}")
        scores = self.out_embed.dot(words, v)  # u_o . v and u_k . v, u_w the rows of out_embed: (*S, 1+K)
        keep = words != words[..., :1]  # noise words other than the true word, and the true word:
        keep[..., 0] = True
        terms = (scores * _sign(words.shape[-1] - 1, v.dtype, self.device)).log_sigmoid() * keep.astype(v.dtype)
        losses = -terms.sum(axis=-1)
        if weight is not None:
            losses = losses * weight
        total = losses.sum()
        if reduction == "sum":
            return total
        return total / float(losses.size if weight is None else weight.sum())


class CBOW(Word2Vec):
    """Continuous bag of words: ``v_c`` is the mean of the context vectors (``cbow_mean=True``, the default
    of word2vec.c and gensim) or their sum, and the true word is the target.

    ``word2vec_grad=True`` makes backward give word2vec.c's update instead of the exact gradient: each
    context word receives the whole error of ``v_c`` when ``v_c`` is the mean (word2vec.c adds ``neu1e``
    to every context vector, not ``neu1e / count``), and the error divided by the count when ``v_c`` is
    the sum (gensim's ``cbow_mean=0``). With ``reduction="sum"`` and SGD at rate ``alpha``, a step is then
    word2vec.c's update of every example of the batch, all computed from the same parameters."""

    def __init__(self, vocab_size: int, dim: int, rng: Any = None, cbow_mean: bool = True,
                 word2vec_grad: bool = False):
        super().__init__(vocab_size, dim, rng)
        self.cbow_mean, self.word2vec_grad = cbow_mean, word2vec_grad

    def forward(self, contexts: Any, targets: Any, negatives: Any, mask: Any = None, reduction: str = "mean") -> Tensor:
        """``contexts (B, C)``, ``targets (B,)``, ``negatives (B, K)`` int ids; ``mask (B, C)`` bool (a
        dynamic window: False entries are left out). Returns the scalar mean (or sum) loss."""
        device = self.device
        contexts = _ids(contexts, "contexts", 2, "cpu")
        words = np.concatenate([_ids(targets, "targets", 1, "cpu")[:, None], _ids(negatives, "negatives", 2, "cpu")], 1)
        if mask is None:
            h = self.in_embed(backend.to_device(contexts, device))  # v_w for each context word w: (B, C, D)
            total, count = h.sum(axis=1), contexts.shape[1]  # sum_j v_j: (B, D)
        else:  # only the context words inside the window are looked up, then summed per example
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != contexts.shape:
                raise ValueError(f"word2vec: mask of shape {mask.shape} does not match contexts {contexts.shape}")
            inside = mask.sum(axis=1)
            h = self.in_embed(backend.to_device(contexts[mask], device))  # v_w, row by row: (N, D)
            example = backend.to_device(np.repeat(np.arange(len(contexts)), inside), device)  # the row of each w
            total = scatter_add(backend.array_module(device).zeros((len(contexts), self.dim), h.dtype), example, h)
            count = backend.to_device(inside[:, None].astype(h.dtype), device)
        value = 1 / count if self.cbow_mean else 1  # v_c = value * sum_j v_j
        if not self.word2vec_grad:
            v = total * value
        else:  # forward: value * sum; backward: the context words get grad(v_c) * (1 or 1/count)
            grad = 1 if self.cbow_mean else 1 / count
            v = total * grad + (total * (value - grad)).detach()
        return self.negative_sampling_loss(v, backend.to_device(words, device), reduction=reduction)


class SkipGram(Word2Vec):
    """Skip-gram: ``v_c`` is the centre word's vector, and each context word is a true word of its own."""

    def forward(self, centres: Any, contexts: Any, negatives: Any, mask: Any = None, reduction: str = "mean") -> Tensor:
        """``centres (B,)``, ``contexts (B, C)``, ``negatives (B, C, K)`` int ids (K noise words per
        (centre, context) pair); ``mask (B, C)`` bool (pairs to count). Returns the mean (or sum) loss over
        pairs; with ``reduction="sum"`` and SGD at rate ``alpha`` a step is word2vec.c's update."""
        device = self.device
        contexts = _ids(contexts, "contexts", 2, "cpu")
        words = np.concatenate([contexts[:, :, None], _ids(negatives, "negatives", 3, "cpu")], axis=2)
        v = self.in_embed(_ids(centres, "centres", 1, device))  # v_c: (B, D)
        v = v.reshape(v.shape[0], 1, self.dim)  # the same v_c for each of the C pairs: (B, 1, D)
        weight = None if mask is None else backend.to_device(np.asarray(mask, dtype=v.dtype), device)
        return self.negative_sampling_loss(v, backend.to_device(words, device), weight, reduction)
