"""word2vec: the loss against a direct NumPy computation, gradients against finite differences, row-sparse
gradients against dense ones, learning on a corpus with planted structure, checkpoint/resume, Ctrl-C, the
demo's command line, and the scatter kernel the embedding gradients use."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_w2v import Tensor, backend, gradcheck
from tinygrad_w2v.evaluate import KeyedVectors
from tinygrad_w2v.models import CBOW, SkipGram
from tinygrad_w2v.models.compat import EmbeddingDot, NegativeSamplingLoss
from tinygrad_w2v.train import load_checkpoint
from tinygrad_w2v.train import word2vec as trainer
from tinygrad_w2v.train.word2vec import Word2VecConfig, train_word2vec

REPO = Path(__file__).resolve().parents[1]
V, D = 12, 5


def log_sigmoid(x):
    return -np.logaddexp(0, -x)


def random_model(cls, seed=0, dtype=np.float64):
    """A model with random (not the zero) output vectors, in ``dtype``."""
    rng = np.random.default_rng(seed)
    model = cls(V, D, rng=seed)
    model.in_embed.weight.data = rng.standard_normal((V, D)).astype(dtype)
    model.out_embed.weight.data = rng.standard_normal((V, D)).astype(dtype)
    return model


def batch(seed=1, B=4, C=4, K=3):
    rng = np.random.default_rng(seed)
    contexts = rng.integers(0, V, (B, C))
    contexts[0, :2] = contexts[0, 2]  # a repeated word in a row: its gradient rows must add up
    mask = rng.random((B, C)) < 0.7
    mask[:, 0] = True
    targets, negatives_cbow = rng.integers(0, V, B), rng.integers(0, V, (B, K))
    negatives_sg = rng.integers(0, V, (B, C, K))
    negatives_cbow[0, 1] = targets[0]  # a noise word equal to the true word: skipped
    negatives_sg[1, 2, 0] = contexts[1, 2]
    return contexts, targets, negatives_cbow, negatives_sg, mask


# ----- loss values ------------------------------------------------------------------------------------
@pytest.mark.parametrize("masked", [False, True])
def test_cbow_loss_matches_numpy(masked):
    model = random_model(CBOW)
    contexts, targets, negatives, _, mask = batch()
    W_in, W_out = model.in_embed.weight.data, model.out_embed.weight.data
    m = mask if masked else np.ones_like(mask)
    h = (W_in[contexts] * m[:, :, None]).sum(1) / m.sum(1, keepdims=True)
    pos = log_sigmoid(np.einsum("bd,bd->b", W_out[targets], h))
    neg = (log_sigmoid(-np.einsum("bkd,bd->bk", W_out[negatives], h)) * (negatives != targets[:, None])).sum(1)
    expected = -(pos + neg).mean()
    got = model(contexts, targets, negatives, mask if masked else None).item()
    assert got == pytest.approx(expected, rel=1e-12)
    summed = model(contexts, targets, negatives, mask if masked else None, reduction="sum").item()
    assert summed == pytest.approx(-(pos + neg).sum(), rel=1e-12)


@pytest.mark.parametrize("masked", [False, True])
def test_skipgram_loss_matches_numpy(masked):
    model = random_model(SkipGram)
    contexts, centres, _, negatives, mask = batch()
    W_in, W_out = model.in_embed.weight.data, model.out_embed.weight.data
    v = W_in[centres]
    losses = []
    for b in range(len(centres)):
        for c in range(contexts.shape[1]):
            if masked and not mask[b, c]:
                continue
            noise = [k for k in negatives[b, c] if k != contexts[b, c]]  # word2vec.c skips the true word
            pair = log_sigmoid(W_out[contexts[b, c]] @ v[b]) + log_sigmoid(-(W_out[noise] @ v[b])).sum()
            losses.append(-pair)
    got = model(centres, contexts, negatives, mask if masked else None).item()
    assert got == pytest.approx(np.mean(losses), rel=1e-12)


def test_book_layers_give_the_same_loss():
    model = random_model(CBOW)
    contexts, targets, _, _, _ = batch()
    layer = NegativeSamplingLoss(model.out_embed, np.arange(1, V + 1), sample_size=3, seed=5)
    h = model.in_embed(contexts).mean(axis=1)
    book = layer(h, targets).item()
    negatives = NegativeSamplingLoss(model.out_embed, np.arange(1, V + 1), sample_size=3, seed=5).sampler.sample(
        targets, 3, exclude_target=True)
    assert book == pytest.approx(model(contexts, targets, negatives).item(), rel=1e-12)
    assert (negatives != targets[:, None]).all()
    dot = EmbeddingDot(model.out_embed)(h, targets).numpy()
    np.testing.assert_allclose(dot, np.einsum("bd,bd->b", model.out_embed.weight.data[targets], h.numpy()))


def test_bad_ids_are_named():
    model = CBOW(V, D, rng=0)
    with pytest.raises(ValueError, match="negatives must be a 2-D integer array"):
        model(np.zeros((2, 4), int), np.zeros(2, int), np.zeros(2, int))
    with pytest.raises(IndexError, match="index 12 is out of range"):
        model(np.full((2, 4), V), np.zeros(2, int), np.zeros((2, 3), int))
    with pytest.raises(ValueError, match=r"mask of shape \(2, 3\) does not match contexts \(2, 4\)"):
        model(np.zeros((2, 4), int), np.zeros(2, int), np.zeros((2, 3), int), np.ones((2, 3), bool))


# ----- gradients -------------------------------------------------------------------------------------
def _loss_fn(cls, sparse: bool, masked: bool):
    contexts, targets, negatives_cbow, negatives_sg, mask = batch()
    model = cls(V, D, rng=0)

    def loss(w_in, w_out):
        w_in.sparse_grad = w_out.sparse_grad = sparse
        model.in_embed.weight, model.out_embed.weight = w_in, w_out
        m = mask if masked else None
        if cls is CBOW:
            return model(contexts, targets, negatives_cbow, m)
        return model(targets, contexts, negatives_sg, m)

    return loss


@pytest.mark.parametrize("cls", [CBOW, SkipGram])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_gradients_match_finite_differences(cls, sparse, masked):
    rng = np.random.default_rng(3)
    w_in = Tensor(rng.standard_normal((V, D)), requires_grad=True)
    w_out = Tensor(rng.standard_normal((V, D)), requires_grad=True)
    assert gradcheck(_loss_fn(cls, sparse, masked), w_in, w_out, upstream=np.array(1.0))


@pytest.mark.parametrize("cls", [CBOW, SkipGram])
def test_sparse_gradients_equal_dense_gradients(cls):
    grads = {}
    for sparse in (False, True):
        rng = np.random.default_rng(4)
        w_in = Tensor(rng.standard_normal((V, D)), requires_grad=True)
        w_out = Tensor(rng.standard_normal((V, D)), requires_grad=True)
        _loss_fn(cls, sparse, masked=True)(w_in, w_out).backward()
        grads[sparse] = (w_in.grad, w_out.grad)
    for dense, rows in zip(grads[False], grads[True]):
        assert type(rows).__name__ == "RowSparse"
        assert len(np.unique(rows.indices)) == len(rows.indices)  # coalesced: one row per word
        np.testing.assert_allclose(rows.to_dense(), dense, rtol=1e-12, atol=1e-12)


# ----- fidelity to word2vec.c --------------------------------------------------------------------------
TOY = [[3, 1, 4, 1, 5, 9, 2, 6], [5, 3], [7], [5, 8, 9, 7, 9, 3, 2, 3, 8, 4]]  # one line per sentence


def fixed_noise(true_words, k):
    """Noise words that depend only on the true word; the second is the true word itself (to be skipped)."""
    t = np.asarray(true_words).reshape(-1)
    return np.stack([(t + 1) % V, t, (t + 5) % V][:k], axis=1).astype(np.int32)


def word2vec_c_step(syn0, syn1neg, sentences, window, alpha, cbow, cbow_mean=True):
    """word2vec.c's updates (CBOW and skip-gram with negative sampling, fixed window, no subsampling) of
    every word of ``sentences``, all computed from the same ``syn0``/``syn1neg`` and then added: one
    mini-batch step. Written from word2vec.c's TrainModelThread, with an exact sigmoid."""
    d0, d1 = np.zeros_like(syn0), np.zeros_like(syn1neg)
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    for sen in sentences:
        for pos, word in enumerate(sen):
            ctx = [sen[c] for c in range(max(0, pos - window), min(len(sen), pos + window + 1)) if c != pos]
            if not ctx:
                continue
            targets = [(word, 1)] + [(int(w), 0) for w in fixed_noise([word], 3)[0] if w != word]
            if cbow:
                neu1 = syn0[ctx].sum(0) / (len(ctx) if cbow_mean else 1)
                neu1e = np.zeros_like(neu1)
                for target, label in targets:
                    g = (label - sigmoid(neu1 @ syn1neg[target])) * alpha
                    neu1e += g * syn1neg[target]
                    d1[target] += g * neu1
                for c in ctx:
                    d0[c] += neu1e if cbow_mean else neu1e / len(ctx)
            else:  # skip-gram: each context word's vector predicts the centre word
                for c in ctx:
                    neu1e = np.zeros(syn0.shape[1])
                    for target, label in targets:
                        g = (label - sigmoid(syn0[c] @ syn1neg[target])) * alpha
                        neu1e += g * syn1neg[target]
                        d1[target] += g * syn0[c]
                    d0[c] += neu1e
    return syn0 + d0, syn1neg + d1


@pytest.mark.parametrize("model,cbow_mean", [("cbow", True), ("cbow", False), ("skipgram", True)])
def test_sgd_step_is_word2vec_c_update(monkeypatch, model, cbow_mean):
    """One SGD step over a whole toy corpus (lines as sentences, fixed noise words) against word2vec.c's
    equations: the summed loss, the full error to each CBOW context word, no noise word equal to the
    true word, the rate alpha per example."""
    start = {}

    class FixedNoise:
        def __init__(self, counts):
            self.rng = None

        def sample(self, targets, k, exclude_target=False):
            return fixed_noise(targets, k)

    def make_model(config, vocab_size):
        net = make_model_before(config, vocab_size).double()
        rng = np.random.default_rng(7)
        for table in (net.in_embed, net.out_embed):
            table.weight.data = rng.uniform(-0.5, 0.5, (vocab_size, config.dim))
            start[table] = table.weight.data.copy()
        return net

    make_model_before = trainer.make_model
    monkeypatch.setattr(trainer, "UnigramSampler", FixedNoise)
    monkeypatch.setattr(trainer, "make_model", make_model)
    ids = np.concatenate([np.r_[s, -1] for s in TOY])[:-1].astype(np.int32)
    config = Word2VecConfig(model=model, dim=D, window=2, negative=3, batch_size=100, epochs=1, optimizer="sgd",
                            lr=0.3, sample=0, dynamic_window=False, cbow_mean=cbow_mean)
    run = train_word2vec(ids, np.bincount(ids[ids >= 0], minlength=V), config, show_progress=False)
    net = run.model
    syn0, syn1neg = word2vec_c_step(start[net.in_embed], start[net.out_embed], TOY, 2, 0.3, model == "cbow", cbow_mean)
    assert not np.allclose(syn0, start[net.in_embed], atol=1e-3)  # the step moved both tables
    assert not np.allclose(syn1neg, start[net.out_embed], atol=1e-3)
    np.testing.assert_allclose(net.in_embed.weight.data, syn0, rtol=0, atol=1e-6)
    np.testing.assert_allclose(net.out_embed.weight.data, syn1neg, rtol=0, atol=1e-6)


def test_book_noise_never_holds_the_true_word(monkeypatch):
    seen = []
    original = trainer.UnigramSampler.sample

    def record(self, targets, k, exclude_target=False):
        out = original(self, targets, k, exclude_target)
        seen.append((np.asarray(targets), out, exclude_target))
        return out

    monkeypatch.setattr(trainer.UnigramSampler, "sample", record)
    words, ids, counts = planted_corpus(sentences=60)
    train_word2vec(ids, counts, Word2VecConfig(dim=8, window=2, batch_size=64, epochs=1, noise="book"),
                   show_progress=False)
    assert seen and all(book for _, _, book in seen)
    for targets, noise, _ in seen:
        assert (noise != targets[:, None]).all()
        assert (np.sort(noise, axis=1)[:, 1:] != np.sort(noise, axis=1)[:, :-1]).all()  # no repeats in a row


# ----- the scatter kernel under the embedding gradients --------------------------------------------------
@pytest.mark.parametrize("m", [10, 3000])  # below and above the size where the CSC product takes over
@pytest.mark.parametrize("sorted_source", [True, False])
def test_index_add_rows_with_source_matches_add_at(m, sorted_source):
    rng = np.random.default_rng(m)
    index = rng.integers(0, 50, m)
    rows = rng.standard_normal((40, 3, 2))
    source = rng.integers(0, 40, m)
    if sorted_source:
        source.sort()
    expected = rng.standard_normal((50, 3, 2))
    out = expected.copy()
    np.add.at(expected, index, rows[source])
    np.testing.assert_allclose(backend.index_add_rows(out, index, rows, source), expected, rtol=1e-12)
    plain = np.zeros((50, 3, 2))
    np.add.at(plain, index, rows[np.arange(m) % 40])
    np.testing.assert_allclose(backend.index_add_rows(np.zeros((50, 3, 2)), index, rows[np.arange(m) % 40]), plain)
    summed = backend.index_sum_rows(50, index, rows, source)  # into a new array: zeros plus the rows
    zero = np.zeros((50, 3, 2))
    np.add.at(zero, index, rows[source])
    assert summed.shape == (50, 3, 2) and summed.dtype == rows.dtype
    np.testing.assert_allclose(summed, zero, rtol=1e-12)
    float32 = backend.index_sum_rows(50, index, rows.astype(np.float32), source)
    assert float32.dtype == np.float32
    np.testing.assert_allclose(float32, zero, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("m", [10, 3000])
@pytest.mark.parametrize("n", [50, 20_000])  # a table small and large next to m: the CSC and the flat path
def test_index_add_rows_int32_and_negative_indices(m, n):
    rng = np.random.default_rng(n + m)
    index = rng.integers(-n, n, m).astype(np.int32)  # int32 as the data pipeline makes them
    rows = rng.standard_normal((m, 4))
    expected = np.zeros((n, 4))
    np.add.at(expected, index, rows)
    np.testing.assert_allclose(backend.index_add_rows(np.zeros((n, 4)), index, rows), expected, rtol=1e-12)
    np.testing.assert_allclose(backend.index_sum_rows(n, index, rows), expected, rtol=1e-12)


@pytest.mark.parametrize("m", [10, 3000])
def test_index_add_rows_refuses_out_of_range_indices(m):
    """SciPy's sparse product does not check its indices: out of range, it would write outside ``out``."""
    for bad in (50, -51):
        index = np.zeros(m, np.int64)
        index[m // 2] = bad
        with pytest.raises(IndexError, match=f"index_add_rows: index {bad} is out of range for 50 rows"):
            backend.index_add_rows(np.zeros((50, 3)), index, np.ones((m, 3)))
        with pytest.raises(IndexError, match=f"index {bad} is out of range for 50 rows"):
            backend.index_sum_rows(50, index, np.ones((m, 3)))


def test_unique_rows_matches_np_unique():
    index = np.random.default_rng(0).integers(0, 30, 200)
    rows, inverse = backend.unique_rows(index, 30)
    expected_rows, expected_inverse = np.unique(index, return_inverse=True)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_array_equal(inverse, expected_inverse)


@pytest.mark.parametrize("axis_shared", [0, 1])
def test_sparse_gather_of_a_broadcast_gradient(axis_shared):
    """A gradient broadcast along an index axis (as after a mean) is summed from its compact rows."""
    idx = np.random.default_rng(1).integers(0, 20, (300, 4))
    w = Tensor(np.arange(60.0).reshape(20, 3), requires_grad=True)
    w.sparse_grad = True
    (w.gather(idx).mean(axis=axis_shared) * Tensor(np.arange(3.0))).sum().backward()
    expected = np.zeros((20, 3))
    np.add.at(expected, idx, np.arange(3.0) / idx.shape[axis_shared])
    np.testing.assert_allclose(w.grad.to_dense(), expected, rtol=1e-12)


# ----- learning --------------------------------------------------------------------------------------
def planted_sentences(seed=0, groups=4, size=5, sentences=600):
    """Sentences of 8 words, all from one group of ``size`` words; the groups are what should be learned."""
    rng = np.random.default_rng(seed)
    return [[f"g{g}w{i}" for i in rng.integers(0, size, 8)] for g in rng.integers(0, groups, sentences)]


def planted_corpus(**kw):
    """``(words, ids, counts)`` of ``planted_sentences`` read as a text file is (newline = ``<eos>``)."""
    tokens = [w for sentence in planted_sentences(**kw) for w in sentence + ["<eos>"]]
    words = sorted(set(tokens))
    ids = np.asarray([words.index(w) for w in tokens], np.int32)
    return words, ids, np.bincount(ids, minlength=len(words))


@pytest.mark.parametrize("model", ["cbow", "skipgram"])
def test_related_words_become_nearest(model):
    words, ids, counts = planted_corpus()
    config = Word2VecConfig(model=model, dim=16, window=2, negative=5, batch_size=64, epochs=4, sample=0,
                            lr=0.02, seed=1)
    run = train_word2vec(ids, counts, config, show_progress=False)
    assert len(run.history["epoch_loss"]) == 4 and run.history["epoch_loss"][-1] < run.history["epoch_loss"][0]
    kv = KeyedVectors(words, run.model.vectors())
    for w in words[1:]:  # words[0] is <eos>
        nearest = [x for x, _ in kv.most_similar(w, topn=4)]
        assert all(x.split("w")[0] == w.split("w")[0] for x in nearest), (w, nearest)


def test_training_from_an_id_file_equals_training_from_memory(tmp_path):
    from tinygrad_w2v.data.corpus_file import IdFile

    words, ids, counts = planted_corpus(sentences=80)
    ids = np.where(ids == words.index("<eos>"), -1, ids).astype(np.int32)  # lines as sentences
    ids.tofile(tmp_path / "ids")
    config = Word2VecConfig(dim=8, window=2, batch_size=32, epochs=2, seed=2, chunk=100)
    runs = [train_word2vec(source, counts, config, show_progress=False) for source in (ids, IdFile(tmp_path / "ids"))]
    np.testing.assert_array_equal(runs[0].model.vectors(), runs[1].model.vectors())
    assert runs[0].history == runs[1].history


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_epoch_loss_is_the_exact_mean_and_held_out_loss_matches(monkeypatch, optimizer):
    """With lr 0 the model never changes, so the epoch's mean training loss is the mean over all its examples
    (batches of unequal size: not the mean of batch means), and the held-out loss of the same text (no
    subsampling, fixed windows, fixed noise words) is the same number."""

    class FixedNoise:
        def __init__(self, counts):
            self.rng = None

        def sample(self, targets, k, exclude_target=False):
            return fixed_noise(targets, k)

    monkeypatch.setattr(trainer, "UnigramSampler", FixedNoise)
    ids = np.concatenate([np.r_[s, -1] for s in TOY * 3]).astype(np.int32)
    counts = np.bincount(ids[ids >= 0], minlength=V)
    for model in ("cbow", "skipgram"):
        config = Word2VecConfig(model=model, dim=D, window=2, negative=3, batch_size=7, epochs=2, lr=0.0, sample=0,
                                optimizer=optimizer, dynamic_window=False, seed=4)
        run = train_word2vec(ids, counts, config, valid=ids, show_progress=False)
        net = trainer.make_model(config, V)
        contexts, targets, mask = trainer.sentence_windows(ids, 2)
        assert len(targets) % 7 != 0  # a short last batch
        loss, n = trainer.batch_loss(net, config, FixedNoise(counts), contexts, targets, mask)
        exact = trainer.summed_loss(loss.item(), n, config) / n
        np.testing.assert_allclose(run.history["epoch_loss"], [exact, exact], rtol=1e-5)
        np.testing.assert_allclose(run.history["valid_loss"], [exact, exact], rtol=1e-5)


def test_held_out_loss_is_recorded_and_falls(tmp_path):
    words, ids, counts = planted_corpus(sentences=300)
    _, valid, _ = planted_corpus(sentences=50, seed=9)
    config = Word2VecConfig(dim=16, window=2, batch_size=64, epochs=3, sample=0, lr=0.02, seed=1)
    run = train_word2vec(ids, counts, config, valid=valid, plot=tmp_path / "loss.png", show_progress=False)
    assert len(run.history["valid_loss"]) == 3
    assert run.history["valid_loss"][-1] < run.history["valid_loss"][0]
    assert run.plot is None or run.plot.stat().st_size > 0


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_two_workers_share_the_tables_and_learn(optimizer):
    """Hogwild with two processes: every batch of the epoch is trained once (by one worker), the updates of
    both land in the returned tables, and the planted groups are learned as with one worker."""
    words, ids, counts = planted_corpus()
    config = Word2VecConfig(dim=16, window=2, negative=5, batch_size=64, epochs=4, sample=0, seed=1,
                            optimizer=optimizer, lr=0.02 if optimizer == "adam" else 0.05, chunk=500)
    one = train_word2vec(ids, counts, config, show_progress=False)
    two = train_word2vec(ids, counts, dataclasses.replace(config, workers=2), show_progress=False)
    assert two.words == one.words and len(two.history["epoch_loss"]) == 4
    assert two.history["epoch_loss"][-1] < two.history["epoch_loss"][0]
    kv = KeyedVectors(words, two.model.vectors())
    for w in words[1:]:
        nearest = [x for x, _ in kv.most_similar(w, topn=4)]
        assert all(x.split("w")[0] == w.split("w")[0] for x in nearest), (w, nearest)


def test_a_worker_error_is_raised(monkeypatch):
    def broken(*args):
        raise FloatingPointError("boom")

    monkeypatch.setattr(trainer, "train_step", broken)
    words, ids, counts = planted_corpus(sentences=60)
    with pytest.raises(FloatingPointError, match="word2vec worker [01]: FloatingPointError: boom"):
        train_word2vec(ids, counts, Word2VecConfig(dim=8, window=2, batch_size=16, workers=2), show_progress=False)
    monkeypatch.setattr(trainer, "train_step", lambda *args: os.kill(os.getpid(), signal.SIGKILL))
    with pytest.raises(RuntimeError, match="word2vec worker [01] ended with exit code -9"):
        train_word2vec(ids, counts, Word2VecConfig(dim=8, window=2, batch_size=16, workers=2), show_progress=False)
    with pytest.raises(ValueError, match="several workers train on the CPU only"):
        Word2VecConfig(workers=2, device="cuda")


def test_linear_decay_reaches_its_end_with_subsampling(monkeypatch):
    """word2vec's learning rate decays linearly to ~0 over the whole run: the schedule's length must count
    the examples subsampling keeps, not the corpus tokens (else the rate stops far above 0)."""
    schedules = []

    class Recorded(trainer.LinearLR):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            schedules.append(self)

    monkeypatch.setattr(trainer, "LinearLR", Recorded)
    words, ids, counts = planted_corpus()
    config = Word2VecConfig(dim=8, window=2, batch_size=16, epochs=3, optimizer="sgd", sample=1e-2, seed=0)
    train_word2vec(ids, counts, config, show_progress=False)
    (schedule,) = schedules
    assert 0.9 < schedule.last_epoch / schedule.total_iters < 1.1, (schedule.last_epoch, schedule.total_iters)


# ----- checkpoints, resume, Ctrl-C -------------------------------------------------------------------
def _interrupt_at(n_checks: int):
    """A stand-in for ``graceful_interrupt`` whose flag turns on at the ``n_checks``-th look."""

    class Flag:
        looks = 0

        @property
        def requested(self):
            self.looks += 1
            return self.looks >= n_checks

    @contextlib.contextmanager
    def fake():
        yield Flag()

    return fake


def _params(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("model", ["cbow", "skipgram"])
@pytest.mark.parametrize("stop_step", ["end_of_epoch", "mid_epoch"])
@pytest.mark.parametrize("chunk", [1 << 18, 150])  # one chunk, or four (stopped inside the first)
def test_resume_gives_the_uninterrupted_result(tmp_path, monkeypatch, optimizer, model, stop_step, chunk):
    words, ids, counts = planted_corpus(sentences=60)
    config = Word2VecConfig(model=model, dim=8, window=2, batch_size=64, epochs=2, optimizer=optimizer, seed=3,
                            chunk=chunk)
    full = train_word2vec(ids, counts, config, show_progress=False)
    steps = len(list(trainer.epoch_batches(ids, trainer.chunk_bounds(ids, config.chunk), counts, config, 0)))
    checks = steps if stop_step == "end_of_epoch" else 3  # the flag is read once per step
    monkeypatch.setattr(trainer, "graceful_interrupt", _interrupt_at(checks))
    ckpt = tmp_path / "w2v.npz"
    first = train_word2vec(ids, counts, config, checkpoint=ckpt, show_progress=False)
    assert first.interrupted
    monkeypatch.undo()
    resumed = train_word2vec(ids, counts, config, checkpoint=ckpt, resume=ckpt, show_progress=False)
    assert not resumed.interrupted
    for name, value in _params(full.model).items():
        np.testing.assert_array_equal(_params(resumed.model)[name], value, err_msg=name)
    assert resumed.history == full.history
    assert resumed.words == full.words


def test_ctrl_c_saves_a_loadable_checkpoint(tmp_path, monkeypatch):
    """A real SIGINT to this process in the middle of training: the step finishes, a checkpoint is saved,
    training stops, and the checkpoint holds the model as returned."""
    words, ids, counts = planted_corpus(sentences=100)
    config = Word2VecConfig(dim=8, window=2, batch_size=32, epochs=3, sample=0, seed=0)

    class Bar:
        updates = 0

        def update(self, n):
            Bar.updates += n
            if Bar.updates == 5:
                os.kill(os.getpid(), signal.SIGINT)

        def set_postfix(self, **kw):
            pass

        def close(self):
            pass

    monkeypatch.setattr(trainer, "progress", lambda *a, **k: Bar())
    ckpt = tmp_path / "ckpt.npz"
    run = train_word2vec(ids, counts, config, checkpoint=ckpt)
    assert run.interrupted and run.history["epoch_loss"] == []
    model = trainer.make_model(config, len(counts))
    extra = load_checkpoint(ckpt, model)
    assert (extra["epoch"], extra["step"]) == (0, 5)
    for name, value in _params(run.model).items():
        np.testing.assert_array_equal(model.state_dict()[name], value)


def test_resume_refuses_another_config_or_other_data_naming_each_field(tmp_path):
    words, ids, counts = planted_corpus(sentences=30)
    config = Word2VecConfig(dim=8, window=2, batch_size=64, epochs=1)
    train_word2vec(ids, counts, config, checkpoint=tmp_path / "c.npz", show_progress=False)
    other = Word2VecConfig(dim=8, window=2, batch_size=32, epochs=1, negative=3)
    with pytest.raises(ValueError, match=r"c.npz was written by a different run \(negative 5 in the checkpoint, 3 "
                                         r"now; batch_size 64 in the checkpoint, 32 now\)"):
        train_word2vec(ids, counts, other, resume=tmp_path / "c.npz", show_progress=False)
    with pytest.raises(ValueError, match=r"epochs 1 in the checkpoint, 0|epochs must be at least 1"):
        train_word2vec(ids, counts, Word2VecConfig(dim=8, window=2, batch_size=64, epochs=0), resume=tmp_path / "c.npz")
    with pytest.raises(ValueError, match=rf"data {len(ids)} tokens, sha256 \w+ in the checkpoint, "
                                         rf"{len(ids) - 100} tokens, sha256 \w+ now"):
        train_word2vec(ids[:-100], counts, config, resume=tmp_path / "c.npz", show_progress=False)


def test_a_finished_run_can_be_extended_with_more_epochs(tmp_path):
    words, ids, counts = planted_corpus(sentences=30)
    config = Word2VecConfig(dim=8, window=2, batch_size=64, epochs=1, seed=2)
    first = train_word2vec(ids, counts, config, checkpoint=tmp_path / "c.npz", show_progress=False)
    longer = Word2VecConfig(dim=8, window=2, batch_size=64, epochs=3, seed=2)
    extended = train_word2vec(ids, counts, longer, checkpoint=tmp_path / "c.npz", resume=tmp_path / "c.npz",
                              show_progress=False)
    assert extended.history["epoch_loss"][0] == first.history["epoch_loss"][0]
    assert len(extended.history["epoch_loss"]) == 3
    assert load_checkpoint(tmp_path / "c.npz", trainer.make_model(longer, len(counts)))["epoch"] == 3
    with pytest.raises(ValueError, match="epochs 3 in the checkpoint, 2 now"):  # epochs may grow, not shrink
        train_word2vec(ids, counts, Word2VecConfig(dim=8, window=2, batch_size=64, epochs=2, seed=2),
                       resume=tmp_path / "c.npz", show_progress=False)


def test_learning_rate_defaults_to_word2vec_cs_for_sgd():
    assert (Word2VecConfig(optimizer="sgd").lr, Word2VecConfig().lr, Word2VecConfig(lr=0.1).lr) == (0.025, 0.005, 0.1)


def test_config_errors():
    with pytest.raises(ValueError, match="model must be 'cbow' or 'skipgram'"):
        Word2VecConfig(model="glove")
    with pytest.raises(ValueError, match="window must be at least 1"):
        Word2VecConfig(window=0)


# ----- the demo -------------------------------------------------------------------------------------
def test_demo_cli_on_a_tiny_text(tmp_path):
    gensim = pytest.importorskip("gensim")
    text = "".join(" ".join(sentence) + "\n" for sentence in planted_sentences(sentences=200))
    (tmp_path / "tiny.txt").write_text(text)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, str(REPO / "demos" / "word2vec.py"), "--data", "tiny.txt", "--epochs", "2", "--dim", "8",
           "--window", "2", "--batch-size", "64", "--save", "vectors.txt", "--seed", "1", "--negative", "3"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert re.fullmatch(r"throughput: \d+ words/s", lines[-1]), lines[-1]
    assert f"wrote {Path('vectors.txt')}" in lines
    kv = gensim.models.KeyedVectors.load_word2vec_format(str(tmp_path / "vectors.txt"))
    ours = KeyedVectors.load_word2vec_format(tmp_path / "vectors.txt")
    assert set(kv.index_to_key) == set(ours.words) and kv.vector_size == 8
    np.testing.assert_allclose(kv["g1w1"], ours["g1w1"], rtol=1e-6)
    counts = {w: text.replace("\n", " <eos> ").split().count(w) for w in kv.index_to_key}
    assert [counts[w] for w in kv.index_to_key] == sorted(counts.values(), reverse=True)  # most frequent first
    assert (tmp_path / "out" / "word2vec" / "word2vec_cbow.npz").is_file()
    assert (tmp_path / "out" / "word2vec" / "word2vec_cbow.ids").is_file()  # the ids, read back chunk by chunk


def _demo():
    import importlib.util

    spec = importlib.util.spec_from_file_location("w2v_demo", REPO / "demos" / "word2vec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_says_where_to_get_the_evaluation_files(tmp_path, monkeypatch, capsys):
    demo = _demo()
    monkeypatch.setenv("TINYGRAD_W2V_DATA", str(tmp_path / "ptb"))  # no eval folder beside it
    monkeypatch.setitem(sys.modules, "gensim.test.utils", None)  # gensim's copies unavailable
    text = "".join(" ".join(sentence) + "\n" for sentence in planted_sentences(sentences=100))
    (tmp_path / "tiny.txt").write_text(text)
    (tmp_path / "valid.txt").write_text(text[: len(text) // 4])
    demo.main(["--data", str(tmp_path / "tiny.txt"), "--valid", str(tmp_path / "valid.txt"), "--epochs", "2",
               "--dim", "8", "--window", "2", "--batch-size", "64", "--out", str(tmp_path / "out"),
               "--window-mode", "fixed", "--sample", "0", "--min-count", "2", "--max-vocab", "15", "--noise", "book",
               "--cbow-mean", "0"])
    out = capsys.readouterr().out
    config = load_checkpoint(tmp_path / "out" / "word2vec_cbow.npz", trainer.make_model(Word2VecConfig(dim=8), 15))
    assert {k: config["config"][k] for k in ("dynamic_window", "sample", "noise", "cbow_mean")} == {
        "dynamic_window": False, "sample": 0.0, "noise": "book", "cbow_mean": False}
    assert "no questions-words.txt: download it from https://" in out and "--analogies FILE" in out
    assert "no wordsim353.tsv: download it from http" in out and "--similarity FILE" in out
    assert re.search(r"held-out loss \(.*valid.txt\) per epoch: \d+\.\d{4}, \d+\.\d{4}$", out, re.M)
    assert re.search(r"mean training loss per epoch: \d+\.\d{4}, \d+\.\d{4}$", out, re.M)


def test_mean_cosine_of_frequent_words():
    demo = _demo()
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 8))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    pairs = (unit @ unit.T)[np.triu_indices(30, 1)]
    assert demo.mean_cosine(vectors, top=30) == pytest.approx(pairs.mean(), abs=1e-12)
    assert demo.mean_cosine(vectors + 20.0) > 0.99  # one shared direction: every cosine near 1


# ----- real data, GPU -------------------------------------------------------------------------------
@pytest.mark.ptb
def test_ptb_loss_drops(ptb_dir):
    from tinygrad_w2v.data import load_ptb

    corpus = load_ptb(ptb_dir, download_missing=False)
    config = Word2VecConfig(batch_size=512, epochs=2, seed=0)
    run = train_word2vec(corpus.train[:50_000], corpus.vocab.counts, config, show_progress=False)
    assert run.history["epoch_loss"][1] < run.history["epoch_loss"][0] < np.log(2) * 6
    assert run.words_per_sec > 0


@pytest.mark.gpu
@pytest.mark.skipif(not backend.cuda_available(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("model", ["cbow", "skipgram"])
def test_cuda_matches_cpu(model):
    words, ids, counts = planted_corpus(sentences=60)
    runs = [train_word2vec(ids, counts, Word2VecConfig(model=model, dim=8, window=2, batch_size=64, epochs=1,
                                                       device=device), show_progress=False)
            for device in ("cpu", "cuda")]
    np.testing.assert_allclose(runs[1].model.vectors(), runs[0].model.vectors(), rtol=1e-4, atol=1e-5)
