"""word2vec quality after training on PTB train: this project's CBOW / skip-gram against gensim's Word2Vec at gensim's
defaults (dim 100, window 5, 5 negatives, subsampling 1e-3, min_count 5, alpha 0.025, cbow_mean 1), 10 epochs, 1 worker,
both reading ptb.train.txt a sentence a line.

    python benchmarks/word2vec_quality.py [--epochs 10] [--models cbow,skipgram] [--optimizer sgd] [--seed 0 [1 ...]]

Prints, per model, implementation and seed, the analogy accuracy on questions-words.txt (questions fully in the
vocabulary), the WordSim-353 Spearman correlation, the nearest words of "you", and the training time; with several
seeds, then the mean and the range (min-max) of each measure over the seeds. Takes a while (about a minute per model
and seed); run it in the background.
"""

from __future__ import annotations

# isort: off
import _common  # noqa: F401  (first: one thread before NumPy loads)
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from word2vec_throughput import ptb_train_ids

from tinygrad_w2v import cli
from tinygrad_w2v.evaluate import KeyedVectors
from tinygrad_w2v.train.word2vec import Word2VecConfig, train_word2vec

# isort: on

EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"


def report(name: str, kv: KeyedVectors, seconds: float) -> tuple[float, float, float]:
    """Print one run's measures; returns (analogy accuracy, WordSim-353 Spearman, seconds)."""
    analogies = kv.evaluate_analogies(EVAL / "questions-words.txt")
    rho, used, skipped = kv.evaluate_similarity(EVAL / "wordsim353.tsv")
    near = ", ".join(w for w, _ in kv.most_similar("you", topn=3))
    print(f"{name}: {analogies}; WordSim-353 Spearman {rho:.3f} ({used} pairs, {skipped} skipped); "
          f"you -> {near}; {seconds:.0f} s", flush=True)
    return analogies.accuracy, rho, seconds


def summary(results: dict[str, list[tuple[float, float, float]]]) -> None:
    """The mean and min-max of each measure over the seeds, per implementation and model."""
    for name, runs in results.items():
        acc, rho, seconds = np.array(runs).T
        print(f"{name} over {len(runs)} seeds: analogy accuracy mean {acc.mean():.2%} "
              f"({acc.min():.2%}-{acc.max():.2%}); WordSim-353 Spearman mean {rho.mean():.3f} "
              f"({rho.min():.3f}-{rho.max():.3f}); mean {seconds.mean():.0f} s")


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--epochs", type=cli.integer(1), default=10)
    parser.add_argument("--models", type=cli.names(("cbow", "skipgram")), default="cbow,skipgram")
    parser.add_argument("--batch-size", type=cli.integer(1), default=Word2VecConfig.batch_size)
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default=Word2VecConfig.optimizer)
    parser.add_argument("--lr", type=cli.number(0, low_open=True), default=None,
                        help="default: the trainer's for the optimizer")
    parser.add_argument("--seed", type=cli.integer(0, 2**32 - 2), nargs="+", default=[0],
                        help="seeds of ours (gensim's: each + 1); with several, a summary at the end")
    parser.add_argument("--no-gensim", action="store_true", help="train only ours")
    args = parser.parse_args()
    train_file, vocab, ids = ptb_train_ids(args.data)
    results = defaultdict(list)
    for model in args.models:
        for seed in args.seed:
            config = Word2VecConfig(model=model, epochs=args.epochs, batch_size=args.batch_size,
                                    optimizer=args.optimizer, lr=args.lr, seed=seed)
            ours = f"tinygrad_w2v {model} ({config.optimizer} lr {config.lr}, batch {config.batch_size})"
            tic = time.perf_counter()
            run = train_word2vec(ids, vocab.counts, config, show_progress=False)
            results[ours].append(report(f"{ours}, seed {seed}", KeyedVectors(vocab.id_to_word, run.model.vectors()),
                                        time.perf_counter() - tic))
            try:
                from gensim.models import Word2Vec
            except ImportError:
                continue
            if args.no_gensim:
                continue
            tic = time.perf_counter()
            gensim = Word2Vec(corpus_file=str(train_file), sg=int(model == "skipgram"), workers=1, epochs=args.epochs,
                              seed=seed + 1)
            results[f"gensim {model}"].append(report(f"gensim {model}, seed {seed + 1}",
                                                     KeyedVectors(gensim.wv.index_to_key, gensim.wv.vectors),
                                                     time.perf_counter() - tic))
    if len(args.seed) > 1:
        summary(results)


if __name__ == "__main__":
    cli.run(main)
