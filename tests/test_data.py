"""The data module against the book's own (loop-based) definitions, and the sampler's statistics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tinygrad_w2v.data import (
    SEP,
    BPTTBatches,
    UnigramSampler,
    Vocab,
    context_target,
    keep_probabilities,
    load_corpus,
    load_ptb,
    read_tokens,
    sentence_windows,
    subsample,
)
from tinygrad_w2v.data.corpus_file import build_vocab, chunk_bounds, encode_file


def book_load(path):
    """The book's ``ptb.load_data``: newline as <eos>, ids in order of first appearance."""
    words = open(path).read().replace("\n", "<eos>").strip().split()
    word_to_id = {}
    for w in words:
        word_to_id.setdefault(w, len(word_to_id))
    return np.array([word_to_id[w] for w in words]), word_to_id


def book_contexts_target(corpus, window_size):
    """The book's ``create_contexts_target`` (common/util.py)."""
    target = corpus[window_size:-window_size]
    contexts = []
    for idx in range(window_size, len(corpus) - window_size):
        cs = []
        for t in range(-window_size, window_size + 1):
            if t == 0:
                continue
            cs.append(corpus[idx + t])
        contexts.append(cs)
    return np.array(contexts), np.array(target)


@pytest.fixture
def tiny_text(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text(" the cat sat on the mat \n the dog sat \n a cat ran \n")
    return path


def test_tokens_and_vocab_match_the_book(tiny_text):
    ids, word_to_id = book_load(tiny_text)
    vocab = Vocab.build(read_tokens(tiny_text))
    assert vocab.word_to_id == word_to_id
    np.testing.assert_array_equal(vocab.encode(read_tokens(tiny_text)), ids)
    assert vocab.decode(ids[:3]) == ["the", "cat", "sat"]
    assert vocab.counts[vocab["the"]] == 3 and vocab.counts[vocab["<eos>"]] == 3


def test_vocab_min_count_max_size_and_unknown_words(tiny_text):
    tokens = read_tokens(tiny_text)
    vocab = Vocab.build(tokens, min_count=2)
    assert vocab.id_to_word == ["the", "cat", "sat", "<eos>"]  # first-appearance order kept
    assert Vocab.build(tokens, max_size=2).id_to_word == ["the", "<eos>"]  # the two most frequent (3 each)
    with pytest.raises(KeyError, match="'dog'"):
        vocab.encode(["the", "dog"])
    assert vocab.encode(["the", "dog", "cat"], unknown="drop").tolist() == [0, 1]
    with pytest.raises(KeyError, match="<unk>"):
        vocab.encode(["dog"], unknown="unk")  # this vocabulary has no <unk>
    with pytest.raises(KeyError, match="'zebra' is not in the vocabulary"):
        vocab["zebra"]


def test_load_corpus_on_a_text_file(tiny_text):
    corpus = load_corpus(tiny_text, min_count=2)
    assert corpus.valid is None and len(corpus.vocab) == 4
    assert corpus.vocab.decode(corpus.train) == "the cat sat the <eos> the sat <eos> cat <eos>".split()
    with pytest.raises(ValueError, match="no word seen at least 9 times"):
        load_corpus(tiny_text, min_count=9)


@pytest.mark.ptb
def test_ptb_ids_and_counts_as_the_book(ptb_dir):
    corpus = load_ptb(ptb_dir, download_missing=False)
    assert (len(corpus.train), len(corpus.valid), len(corpus.test), len(corpus.vocab)) == (929589, 73760, 82430, 10000)
    assert corpus.vocab["aer"] == 0 and corpus.vocab["<eos>"] == 24
    ids, word_to_id = book_load(ptb_dir / "ptb.train.txt")
    assert corpus.vocab.word_to_id == word_to_id
    np.testing.assert_array_equal(corpus.train, ids)
    assert corpus.train.dtype == np.int32
    assert corpus.vocab.counts.sum() == len(corpus.train)


@pytest.mark.parametrize("window", [1, 2, 5])
def test_context_target_equals_the_book_loop(window):
    ids = np.random.default_rng(window).integers(0, 50, size=200)
    contexts, targets = context_target(ids, window)
    want_c, want_t = book_contexts_target(ids, window)
    np.testing.assert_array_equal(contexts, want_c)
    np.testing.assert_array_equal(targets, want_t)


def test_context_target_errors():
    with pytest.raises(ValueError, match="too few"):
        context_target(np.arange(4), 2)
    with pytest.raises(ValueError, match="1-D integer"):
        context_target(np.zeros(10), 1)


def test_dynamic_windows_mask_a_random_radius():
    window, rng = 4, np.random.default_rng(0)
    ids = np.arange(5000)
    contexts, targets, mask = sentence_windows(ids, window, rng)
    np.testing.assert_array_equal(targets, ids)
    inner = slice(window, -window)  # away from the ends: the book's windows
    np.testing.assert_array_equal(np.where(mask, contexts, 0)[inner],
                                  np.where(mask[inner], context_target(ids, window)[0], 0))
    radius = mask[inner, window:].sum(axis=1)  # kept words on the right
    np.testing.assert_array_equal(radius, mask[inner, :window].sum(axis=1))  # symmetric
    # each row keeps exactly the words within its radius: a contiguous block around the target
    distance = np.abs(context_target(ids, window)[0] - targets[inner, None])
    np.testing.assert_array_equal(mask[inner], distance <= radius[:, None])
    counts = np.bincount(radius, minlength=window + 1)
    assert counts[0] == 0
    assert stats.chisquare(counts[1:]).pvalue > 1e-3  # radius uniform on 1..window


def test_sentence_windows_stop_at_sentence_ends():
    """Every word with a neighbour in its sentence is a target; its contexts never cross SEP (a line end)."""
    sentences = [[5, 6, 7], [8], [9, 10]]
    ids = np.array([5, 6, 7, SEP, 8, SEP, 9, 10])
    contexts, targets, mask = sentence_windows(ids, 2)
    np.testing.assert_array_equal(targets, [5, 6, 7, 9, 10])  # 8 is alone in its sentence
    got = [sorted(c[m].tolist()) for c, m in zip(contexts, mask)]
    want = [sorted(w for j, w in enumerate(s) if j != i and abs(j - i) <= 2)
            for s in sentences for i in range(len(s)) if len(s) > 1]
    assert got == want
    assert (contexts[~mask] == 0).all()



@pytest.mark.parametrize("dynamic", [False, True])
def test_sentence_windows_match_a_loop_over_words(dynamic):
    """word2vec.c's loop: for each word, its radius b (drawn in order, one per word, or ``window``), then
    the words at distance 1..b on each side that are inside its sentence; random texts full of short
    sentences, and the empty and all-separator texts (no examples)."""
    rng = np.random.default_rng(5)
    for _ in range(100):
        ids, window = rng.integers(-1, 6, rng.integers(0, 25)), int(rng.integers(1, 4))
        draws = np.random.default_rng(7).integers(1, window + 1, size=int((ids != SEP).sum()))
        want, word = [], 0
        for i, w in enumerate(ids):
            if w == SEP:
                continue
            b = draws[word] if dynamic else window
            word += 1
            row, keep = np.zeros(2 * window, np.int32), np.zeros(2 * window, bool)
            for k, j in enumerate([*range(i - window, i), *range(i + 1, i + window + 1)]):
                if abs(j - i) <= b and 0 <= j < len(ids) and SEP not in ids[min(i, j) : max(i, j) + 1]:
                    row[k], keep[k] = ids[j], True
            if keep.any():
                want.append((row, w, keep))
        got = sentence_windows(ids, window, np.random.default_rng(7) if dynamic else None)
        assert got[0].shape == (len(want), 2 * window) and got[0].dtype == got[1].dtype == np.int32
        for have, column in zip(got, zip(*want) if want else [[]] * 3):
            np.testing.assert_array_equal(have, np.array(column).reshape(have.shape))


def test_subsample_keeps_words_at_word2vecs_rate():
    rng = np.random.default_rng(1)
    counts = np.array([50_000, 5_000, 500, 50])
    ids = np.repeat(np.arange(4), counts)
    keep = keep_probabilities(counts, t=1e-2)
    assert keep[-1] == 1.0 and keep[0] < keep[1] < 1.0
    kept = np.bincount(subsample(ids, counts, t=1e-2, rng=rng), minlength=4)
    # binomial: each count within 5 standard deviations of its expectation
    sd = np.sqrt(counts * keep * (1 - keep)) + 1e-9
    assert np.all(np.abs(kept - counts * keep) <= 5 * sd + 1e-9)


def test_sampler_frequencies_match_the_075_power_distribution():
    counts = np.array([100, 40, 10, 5, 1, 0, 30])
    sampler = UnigramSampler(counts, seed=0)
    want = counts**0.75 / (counts**0.75).sum()
    np.testing.assert_allclose(sampler.probs, want)
    draws = sampler.sample(20_000, 5)
    assert draws.shape == (20_000, 5)
    observed = np.bincount(draws.ravel(), minlength=len(counts))
    assert observed[5] == 0  # a zero count is never drawn
    nz = want > 0
    assert stats.chisquare(observed[nz], want[nz] * draws.size).pvalue > 1e-3


def test_exact_sampler_excludes_the_target_and_repeats():
    counts = np.array([500, 200, 100, 50, 20, 10, 5, 2])
    sampler = UnigramSampler(counts, seed=3)
    targets = np.random.default_rng(0).integers(0, 8, size=5000)
    draws = sampler.sample(targets, 4, exclude_target=True)
    assert not (draws == targets[:, None]).any()
    ordered = np.sort(draws, axis=1)
    assert not (ordered[:, 1:] == ordered[:, :-1]).any()
    with pytest.raises(ValueError, match="cannot draw 8 distinct"):
        sampler.sample(targets, 8, exclude_target=True)


def test_exact_sampler_matches_sampling_without_replacement():
    """Each ordered pair (i, j) must come with probability p_i/(1-p_t) * p_j/(1-p_t-p_i), as in
    ``np.random.choice(V, 2, replace=False, p=p_without_target)``, which is what the book calls."""
    counts = np.array([5, 1, 3, 10, 2])
    sampler = UnigramSampler(counts, seed=1)
    target = 3
    draws = sampler.sample(np.full(100_000, target), 2, exclude_target=True)
    p = sampler.probs.copy()
    p[target] = 0
    p /= p.sum()
    pairs = [(i, j) for i in range(5) for j in range(5) if i != j and target not in (i, j)]
    want = np.array([p[i] * p[j] / (1 - p[i]) for i, j in pairs])
    code = draws[:, 0] * 5 + draws[:, 1]
    observed = np.bincount(code, minlength=25)[[i * 5 + j for i, j in pairs]]
    assert observed.sum() == len(draws)
    assert stats.chisquare(observed, want * len(draws)).pvalue > 1e-3


def book_batches(corpus, batch_size, time_size, epochs):
    """The book's ``RnnlmTrainer.get_batch`` over ``epochs`` epochs (time_idx carried across them)."""
    xs, ts = corpus[:-1], corpus[1:]
    data_size = len(xs)
    jump = data_size // batch_size
    offsets = [i * jump for i in range(batch_size)]
    time_idx = 0
    for _ in range(epochs):
        for _ in range(data_size // (batch_size * time_size)):
            bx = np.empty((batch_size, time_size), dtype="i")
            bt = np.empty((batch_size, time_size), dtype="i")
            for t in range(time_size):
                for i, offset in enumerate(offsets):
                    bx[i, t] = xs[(offset + time_idx) % data_size]
                    bt[i, t] = ts[(offset + time_idx) % data_size]
                time_idx += 1
            yield bx, bt


def test_bptt_batches_equal_the_books_get_batch():
    ids = np.random.default_rng(0).integers(0, 30, size=1001)
    batches = BPTTBatches(ids, batch_size=7, bptt=9)
    assert len(batches) == 1000 // 63
    ours = [b for _ in range(3) for b in batches]
    want = list(book_batches(ids, 7, 9, 3))
    assert len(ours) == len(want)
    for (x, t), (bx, bt) in zip(ours, want):
        np.testing.assert_array_equal(x, bx)
        np.testing.assert_array_equal(t, bt)
        assert x.dtype == np.int32
    # a window continues the previous one in every stream, so the hidden state can carry over
    x0, _ = ours[0]
    x1, _ = ours[1]
    np.testing.assert_array_equal(x1[:, 0], ids[:-1][(batches.offsets + 9) % 1000])
    np.testing.assert_array_equal(x0[:, 1:], ids[:-1][(batches.offsets[:, None] + np.arange(1, 9)) % 1000])


def test_bptt_state_resumes_where_it_stopped():
    ids = np.arange(500)
    a = BPTTBatches(ids, 4, 5)
    first = [x for x, _ in a]
    b = BPTTBatches(ids, 4, 5)
    b.load_state_dict(a.state_dict())
    resumed = next(iter(b))[0]
    np.testing.assert_array_equal(resumed, next(iter(a))[0])
    assert not np.array_equal(resumed, first[0])  # the second epoch starts where the first stopped
    with pytest.raises(ValueError, match="too few"):
        BPTTBatches(np.arange(10), 4, 5)


# ----- a corpus file of any size ----------------------------------------------------------------------
LINES = ["the cat sat on the mat", "", "the dog sat", "a cat and a dog and the bird", "rare words"]


def test_build_vocab_counts_keeps_and_orders_like_gensim(tmp_path):
    (tmp_path / "c.txt").write_text("\n".join(LINES) + "\n")
    from collections import Counter

    counts = Counter(" ".join(LINES).split())
    vocab = build_vocab(tmp_path / "c.txt", min_count=2, show_progress=False)
    want = sorted((w for w in counts if counts[w] >= 2), key=lambda w: -counts[w])  # stable: first seen first
    assert vocab.id_to_word == want == ["the", "cat", "sat", "dog", "a", "and"]
    assert vocab.counts.tolist() == [counts[w] for w in want]
    assert build_vocab(tmp_path / "c.txt", min_count=1, max_vocab=3, show_progress=False).id_to_word == ["the", "cat",
                                                                                                          "sat"]
    eos = build_vocab(tmp_path / "c.txt", min_count=2, eos=True, show_progress=False)
    assert eos["<eos>"] == 0 and eos.counts[0] == len(LINES)
    with pytest.raises(ValueError, match="no word seen at least 9 times"):
        build_vocab(tmp_path / "c.txt", min_count=9, show_progress=False)
    with pytest.raises(FileNotFoundError, match="no such corpus file"):
        build_vocab(tmp_path / "missing.txt", show_progress=False)


@pytest.mark.parametrize("eos", [False, True])
def test_encode_file_writes_sentences_as_ids(tmp_path, eos):
    (tmp_path / "c.txt").write_text("\n".join(LINES) + "\n")
    vocab = build_vocab(tmp_path / "c.txt", min_count=2, eos=eos, show_progress=False)
    ids = encode_file(tmp_path / "c.txt", vocab, tmp_path / "c.ids", eos=eos, show_progress=False)
    end = vocab["<eos>"] if eos else SEP
    want = [i for line in LINES for i in [vocab[w] for w in line.split() if w in vocab] + [end]]
    assert len(ids) == len(want) and ids[:].dtype == np.int32
    assert ids[:].tolist() == want  # words below min_count dropped, each line closed
    assert ids[3:7].tolist() == want[3:7] and ids[-2:].tolist() == want[-2:] and ids[5:5].size == 0
    assert (tmp_path / "c.ids").stat().st_size == 4 * len(want)
    short = encode_file(tmp_path / "c.txt", vocab, tmp_path / "s.ids", eos=eos, max_tokens=5, show_progress=False)
    assert short[:].tolist() == want[:5]


def test_chunk_bounds_cut_after_sentence_ends():
    ids = np.array([1, 2, 3, SEP, 4, 5, SEP, 6, 7, 8, 9, 10, 11, SEP, 12])
    bounds = chunk_bounds(ids, 3)
    assert bounds[0] == 0 and bounds[-1] == len(ids) and (np.diff(bounds) > 0).all()
    assert bounds.tolist() == [0, 4, 7, 10, 14, 15]  # after a SEP within 3 ids of the nominal end, else there
    assert chunk_bounds(np.arange(10), 4).tolist() == [0, 4, 8, 10]  # no SEP: cut where the chunk ends
    assert chunk_bounds(ids, 100).tolist() == [0, len(ids)]


@pytest.mark.parametrize("vocab", [7, 5000])
def test_sampler_draws_are_those_of_inverting_the_cdf(vocab):
    """The guide table gives exactly ``searchsorted(cdf, u)`` for the same uniforms, words of zero count
    never drawn, on a skewed distribution (many tiny words share a bucket, one word spans many)."""
    rng = np.random.default_rng(4)
    counts = rng.zipf(1.2, vocab).astype(float)
    counts[::5] = 0
    counts[1] = 1e9
    sampler = UnigramSampler(counts, seed=np.random.default_rng(9))
    draws = sampler.sample(200_000, 3)
    cdf = np.cumsum(sampler.probs)
    cdf[-1] = 1.0
    want = np.searchsorted(cdf, np.random.default_rng(9).random((200_000, 3)), side="right")
    np.testing.assert_array_equal(draws, want)
    assert draws.dtype == np.int32 and counts[draws].min() > 0
