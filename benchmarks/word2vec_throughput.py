"""word2vec training throughput on PTB: this project's CBOW and skip-gram against the same models in PyTorch
(sparse embeddings, same batch size, same loss, same data pipeline) and gensim's Word2Vec (1 worker).

    python benchmarks/word2vec_throughput.py [--max-tokens 300000] [--batch-size 4096] [--repeats 2]

One thread everywhere; dim 100, window 5 (word2vec's dynamic window), 5 negatives, no subsampling (so
every corpus word is trained, for all three). Words/s are counted as gensim counts them: corpus words
trained (CBOW targets, skip-gram centre words) per second of training, the whole epoch loop included
(windows, shuffling, noise words). Best of ``--repeats`` epochs (the machine is shared and noisy).
"""

from __future__ import annotations

# isort: off
from _common import import_torch  # first: one thread before NumPy loads
import math
import os
import time
from pathlib import Path

import numpy as np

from tinygrad_w2v import cli
from tinygrad_w2v.data import UnigramSampler, load_ptb, resolve_data_dir
from tinygrad_w2v.train.word2vec import Word2VecConfig, batch_loss, epoch_examples, train_word2vec

# isort: on


def data_dir(given: str | None) -> Path:
    if given is not None or os.environ.get("TINYGRAD_W2V_DATA"):
        return resolve_data_dir(given)
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "ptb"


def ours(ids, counts, config: Word2VecConfig) -> float:
    run = train_word2vec(ids, counts, config, show_progress=False)
    return run.words_per_sec


def torch_step_fn(torch, model: str, V: int, dim: int, lr: float):
    """The same model in PyTorch: two sparse nn.Embedding tables, the same loss, SGD."""
    emb_in = torch.nn.Embedding(V, dim, sparse=True)
    emb_out = torch.nn.Embedding(V, dim, sparse=True)
    torch.nn.init.uniform_(emb_in.weight, -0.5 / dim, 0.5 / dim)
    torch.nn.init.zeros_(emb_out.weight)
    opt = torch.optim.SGD(list(emb_in.parameters()) + list(emb_out.parameters()), lr=lr)
    F = torch.nn.functional

    def loss(a, b, negatives, mask=None):  # called by batch_loss as our model would be
        if model == "cbow":  # a: contexts (B, C), b: targets (B,)
            h = emb_in(torch.from_numpy(a))
            m = torch.from_numpy(mask).to(h.dtype)
            v = (h * m[:, :, None]).sum(1) / m.sum(1, keepdim=True)  # (B, D)
            words = torch.from_numpy(np.concatenate([b[:, None], negatives], 1))  # (B, 1+K)
        else:  # a: centres (P,), b: contexts (P, 1), negatives (P, 1, K)
            v = emb_in(torch.from_numpy(a))
            words = torch.from_numpy(np.concatenate([b, negatives[:, 0]], 1))
        u = emb_out(words)
        scores = torch.bmm(u, v[:, :, None])[:, :, 0]
        sign = torch.ones(words.shape[1])
        sign[1:] = -1
        return -F.logsigmoid(scores * sign).sum(1).mean()

    def step(value):
        opt.zero_grad()
        value.backward()
        opt.step()

    return loss, step


def pytorch(torch, ids, counts, config: Word2VecConfig) -> float:
    loss, step = torch_step_fn(torch, config.model, len(counts), config.dim, config.lr)
    sampler = UnigramSampler(counts)
    tic = time.perf_counter()
    contexts, targets, mask = epoch_examples(ids, counts, config, 0)
    for s in range(math.ceil(len(targets) / config.batch_size)):
        rows = slice(s * config.batch_size, (s + 1) * config.batch_size)
        sampler.rng = np.random.default_rng((config.seed, 0, s))
        step(batch_loss(loss, config, sampler, contexts[rows], targets[rows], mask[rows]))
    return len(targets) / (time.perf_counter() - tic)


def gensim_rate(sentences, sg: int, config: Word2VecConfig) -> float | None:
    try:
        from gensim.models import Word2Vec
    except ImportError:
        return None
    model = Word2Vec(vector_size=config.dim, window=config.window, negative=config.negative, sg=sg, workers=1,
                     sample=0, min_count=1, seed=1)
    model.build_vocab(sentences)
    words = sum(len(s) for s in sentences)
    tic = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=1)
    return words / (time.perf_counter() - tic)


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="PTB dir (default: $TINYGRAD_W2V_DATA, else ../shared/data/ptb)")
    parser.add_argument("--max-tokens", type=cli.integer(11), default=300_000)
    parser.add_argument("--batch-size", type=cli.integer(1), default=4096)
    parser.add_argument("--repeats", type=cli.integer(1), default=2)
    parser.add_argument("--models", type=cli.names(("cbow", "skipgram")), default="cbow,skipgram")
    args = parser.parse_args()
    root = data_dir(args.data)
    corpus = load_ptb(root, download_missing=False)
    ids, counts = corpus.train[: args.max_tokens], corpus.vocab.counts
    words = corpus.vocab.decode(ids)
    sentences, current = [], []
    for w in words:
        current.append(w)
        if w == "<eos>":
            sentences.append(current)
            current = []
    sentences.append(current)
    torch = import_torch()
    print(f"PTB {root}: {len(ids):,} tokens, dim 100, window 5, negative 5, batch {args.batch_size}, one thread, "
          f"best of {args.repeats}")
    for model in args.models:
        config = Word2VecConfig(model=model, dim=100, window=5, negative=5, batch_size=args.batch_size, epochs=1,
                                optimizer="sgd", sample=0, seed=0)
        rates = {"tinygrad_w2v": max(ours(ids, counts, config) for _ in range(args.repeats))}
        if torch is not None:
            rates["pytorch"] = max(pytorch(torch, ids, counts, config) for _ in range(args.repeats))
        g = gensim_rate(sentences, int(model == "skipgram"), config)
        if g is not None:
            rates["gensim"] = max([g] + [gensim_rate(sentences, int(model == "skipgram"), config)
                                         for _ in range(args.repeats - 1)])
        line = ", ".join(f"{name} {rate:,.0f} words/s" for name, rate in rates.items())
        ratios = ", ".join(f"{rates['tinygrad_w2v'] / rate:.2f}x {name}" for name, rate in rates.items()
                           if name != "tinygrad_w2v")
        print(f"{model}: {line}; ours = {ratios}")


if __name__ == "__main__":
    cli.run(main)
