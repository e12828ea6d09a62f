"""word2vec Hogwild workers: words/s of 1 against N worker processes on PTB, same settings otherwise.

    python benchmarks/word2vec_workers.py [--workers 2] [--max-tokens 300000] [--optimizer adam,sgd] [--repeats 2]

One epoch of CBOW at the demo's defaults (dim 100, window 5 dynamic, 5 negatives, subsampling 1e-3,
batch 1024), runs interleaved, best of ``--repeats``; one BLAS thread per process. The speed-up can only
show when the machine has that many idle cores.
"""

from __future__ import annotations

# isort: off
import _common  # noqa: F401  (first: one thread before NumPy loads)
from word2vec_throughput import data_dir

from tinygrad_w2v import cli

from tinygrad_w2v.data import load_ptb
from tinygrad_w2v.train.word2vec import Word2VecConfig, train_word2vec

# isort: on


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--workers", type=cli.integer(2, 256), default=2)
    parser.add_argument("--max-tokens", type=cli.integer(1), default=300_000)
    parser.add_argument("--optimizer", type=cli.names(("adam", "sgd")), default="adam,sgd")
    parser.add_argument("--repeats", type=cli.integer(1), default=2)
    args = parser.parse_args()
    corpus = load_ptb(data_dir(args.data), download_missing=False)
    ids = corpus.train[: args.max_tokens]
    for optimizer in args.optimizer:
        best = {1: 0.0, args.workers: 0.0}
        for _ in range(args.repeats):
            for workers in best:
                config = Word2VecConfig(epochs=1, optimizer=optimizer, workers=workers, chunk=1 << 16)
                run = train_word2vec(ids, corpus.vocab.counts, config, show_progress=False)
                best[workers] = max(best[workers], run.words_per_sec)
        print(f"CBOW {optimizer}, {len(ids):,} tokens: 1 worker {best[1]:,.0f} words/s, {args.workers} workers "
              f"{best[args.workers]:,.0f} words/s ({best[args.workers] / best[1]:.2f}x)", flush=True)


if __name__ == "__main__":
    cli.run(main)
