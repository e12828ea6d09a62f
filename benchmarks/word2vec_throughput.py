"""word2vec training throughput on PTB: this project's CBOW and skip-gram against the same models in PyTorch
(sparse embeddings, same batch size, same loss, same optimizer, same data pipeline) and gensim's Word2Vec (1 worker).

    python benchmarks/word2vec_throughput.py [--max-tokens 300000] [--settings demo,sgd] [--repeats 2]

Two settings. ``demo``: exactly the demo's defaults (Adam lr 0.005 -- PyTorch's SparseAdam --, batch 1024,
subsampling 1e-3). ``sgd``: word2vec.c's update (the summed loss, SGD lr 0.025) at batch 1024 without
subsampling. Both: PTB train read a sentence a line with min count 5 (its first ``--max-tokens`` ids), dim
100, window 5 (word2vec's dynamic window), 5 negatives; gensim at the same subsampling. One thread
everywhere. Words/s are counted as gensim counts them: corpus words trained (CBOW targets, skip-gram centre
words, after subsampling) per second of training, the whole epoch loop included (windows, shuffling, noise
words). Best of ``--repeats`` epochs, interleaved (the machine is shared and noisy).
"""

from __future__ import annotations

# isort: off
from _common import import_torch  # first: one thread before NumPy loads
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from tinygrad_w2v import cli
from tinygrad_w2v.data import SEP, UnigramSampler, Vocab, resolve_data_dir
from tinygrad_w2v.data.corpus_file import build_vocab, chunk_bounds, encode_file
from tinygrad_w2v.train.word2vec import Word2VecConfig, batch_loss, epoch_batches, noise_rng, train_word2vec

# isort: on


def data_dir(given: str | None) -> Path:
    if given is not None or os.environ.get("TINYGRAD_W2V_DATA"):
        return resolve_data_dir(given)
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "ptb"


def ptb_train_ids(given: str | None, max_tokens: int | None = None) -> tuple[Path, Vocab, np.ndarray]:
    """PTB's training file, its vocabulary (min count 5, as the demo) and its ids, as the trainer reads them."""
    train_file = data_dir(given) / "ptb.train.txt"
    vocab = build_vocab(train_file, min_count=5, show_progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        ids = encode_file(train_file, vocab, Path(tmp) / "ptb.ids", max_tokens=max_tokens, show_progress=False)[:]
    return train_file, vocab, ids


def ours(ids, counts, config: Word2VecConfig) -> float:
    run = train_word2vec(ids, counts, config, show_progress=False)
    return run.words_per_sec


def torch_step_fn(torch, config: Word2VecConfig, V: int):
    """The same model in PyTorch: two sparse nn.Embedding tables, the same loss (with word2vec.c's CBOW
    update for SGD), SGD or SparseAdam."""
    dim = config.dim
    emb_in = torch.nn.Embedding(V, dim, sparse=True)
    emb_out = torch.nn.Embedding(V, dim, sparse=True)
    torch.nn.init.uniform_(emb_in.weight, -0.5 / dim, 0.5 / dim)
    torch.nn.init.zeros_(emb_out.weight)
    params = list(emb_in.parameters()) + list(emb_out.parameters())
    sgd = config.optimizer == "sgd"
    opt = torch.optim.SGD(params, lr=config.lr) if sgd else torch.optim.SparseAdam(params, lr=config.lr)
    F = torch.nn.functional

    def loss(a, b, negatives, mask=None, reduction="mean"):  # called by batch_loss as our model would be
        if config.model == "cbow":  # a: contexts (B, C), b: targets (B,)
            h = emb_in(torch.from_numpy(a))
            m = torch.from_numpy(mask).to(h.dtype)
            total, count = (h * m[:, :, None]).sum(1), m.sum(1, keepdim=True)
            # the mean; for SGD word2vec.c's update: every context word gets the whole error
            v = total + (total / count - total).detach() if sgd else total / count
            words = torch.from_numpy(np.concatenate([b[:, None], negatives], 1))  # (B, 1+K)
        else:  # a: context words (P,), b: centres (P, 1), negatives (P, 1, K)
            v = emb_in(torch.from_numpy(a))
            words = torch.from_numpy(np.concatenate([b, negatives[:, 0]], 1))
        u = emb_out(words)
        scores = torch.bmm(u, v[:, :, None])[:, :, 0]
        sign = torch.ones(words.shape[1])
        sign[1:] = -1
        keep = words != words[:, :1]  # noise words equal to the true word are skipped
        keep[:, 0] = True
        losses = -(F.logsigmoid(scores * sign) * keep).sum(1)
        return losses.sum() if reduction == "sum" else losses.mean()

    def step(value):
        opt.zero_grad()
        value.backward()
        opt.step()

    return loss, step


def pytorch(torch, ids, counts, config: Word2VecConfig) -> float:
    loss, step = torch_step_fn(torch, config, len(counts))
    sampler = UnigramSampler(counts)
    tic = time.perf_counter()
    words = 0
    bounds = chunk_bounds(ids, config.chunk)
    for position, s, (contexts, targets, mask) in epoch_batches(ids, bounds, counts, config, 0):
        sampler.rng = noise_rng(config, 0, position, s)
        step(batch_loss(loss, config, sampler, contexts, targets, mask)[0])
        words += len(targets)
    return words / (time.perf_counter() - tic)


def gensim_rate(sentences, sg: int, config: Word2VecConfig) -> float | None:
    try:
        from gensim.models import Word2Vec
    except ImportError:
        return None
    model = Word2Vec(vector_size=config.dim, window=config.window, negative=config.negative, sg=sg, workers=1,
                     sample=config.sample, min_count=1, seed=1)
    model.build_vocab(sentences)
    tic = time.perf_counter()
    words, _ = model.train(sentences, total_examples=len(sentences), epochs=1)
    return words / (time.perf_counter() - tic)


# SGD at batch 1024: at 4096, skip-gram's summed update of ~22,000 pairs from the same parameters overflows
SETTINGS = {"demo": {}, "sgd": {"optimizer": "sgd", "sample": 0.0, "batch_size": 1024}}


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="PTB dir (default: $TINYGRAD_W2V_DATA)")
    parser.add_argument("--max-tokens", type=cli.integer(11), default=300_000)
    parser.add_argument("--settings", type=cli.names(("demo", "sgd")), default="demo,sgd")
    parser.add_argument("--batch-size", type=cli.integer(1), default=None, help="instead of each setting's batch")
    parser.add_argument("--repeats", type=cli.integer(1), default=2)
    parser.add_argument("--models", type=cli.names(("cbow", "skipgram")), default="cbow,skipgram")
    args = parser.parse_args()
    train_file, vocab, ids = ptb_train_ids(args.data, args.max_tokens)
    counts = vocab.counts
    sentences = [s for s in (vocab.decode(x[x != SEP]) for x in np.split(ids, np.flatnonzero(ids == SEP))) if s]
    torch = import_torch()
    print(f"PTB {train_file}: {int((ids != SEP).sum()):,} tokens, {len(sentences):,} sentences, dim 100, window 5, "
          f"negative 5, one thread, best of {args.repeats}")
    for setting in args.settings:
        for model in args.models:
            config = Word2VecConfig(model=model, epochs=1, seed=0, **SETTINGS[setting])
            if args.batch_size is not None:
                config = dataclasses.replace(config, batch_size=args.batch_size)
            runs = {"tinygrad_w2v": lambda c=config: ours(ids, counts, c)}
            if torch is not None:
                runs["pytorch"] = lambda c=config: pytorch(torch, ids, counts, c)
            runs["gensim"] = lambda c=config: gensim_rate(sentences, int(c.model == "skipgram"), c)
            rates: dict[str, float] = {}
            for _ in range(args.repeats):
                for name, fn in runs.items():
                    rate = fn()
                    if rate is not None:
                        rates[name] = max(rates.get(name, 0.0), rate)
            line = ", ".join(f"{name} {rate:,.0f} words/s" for name, rate in rates.items())
            ratios = ", ".join(f"{rates['tinygrad_w2v'] / rate:.2f}x {name}" for name, rate in rates.items()
                               if name != "tinygrad_w2v")
            print(f"{setting} ({config.optimizer} lr {config.lr}, batch {config.batch_size}, sample {config.sample}) "
                  f"{model}: {line}; ours = {ratios}", flush=True)


if __name__ == "__main__":
    cli.run(main)
