"""word2vec quality after training on PTB train: this project's CBOW / skip-gram against gensim's Word2Vec at gensim's
defaults (dim 100, window 5, 5 negatives, subsampling 1e-3, min_count 5, alpha 0.025, cbow_mean 1), 10 epochs, 1 worker,
both reading ptb.train.txt a sentence a line.

    python benchmarks/word2vec_quality.py [--epochs 10] [--models cbow,skipgram] [--optimizer sgd] [--seed 0]

Prints, per model and implementation, the analogy accuracy on questions-words.txt (questions fully in the
vocabulary), the WordSim-353 Spearman correlation, the nearest words of "you", and the training time.
Takes a while (ours: minutes per model); run it in the background.
"""

from __future__ import annotations

# isort: off
import _common  # noqa: F401  (first: one thread before NumPy loads)
import time
from pathlib import Path

from word2vec_throughput import ptb_train_ids

from tinygrad_w2v import cli
from tinygrad_w2v.evaluate import KeyedVectors
from tinygrad_w2v.train.word2vec import Word2VecConfig, train_word2vec

# isort: on

EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"


def report(name: str, kv: KeyedVectors, seconds: float) -> None:
    analogies = kv.evaluate_analogies(EVAL / "questions-words.txt")
    rho, used, skipped = kv.evaluate_similarity(EVAL / "wordsim353.tsv")
    near = ", ".join(w for w, _ in kv.most_similar("you", topn=3))
    print(f"{name}: {analogies}; WordSim-353 Spearman {rho:.3f} ({used} pairs, {skipped} skipped); "
          f"you -> {near}; {seconds:.0f} s", flush=True)


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--epochs", type=cli.integer(1), default=10)
    parser.add_argument("--models", type=cli.names(("cbow", "skipgram")), default="cbow,skipgram")
    parser.add_argument("--batch-size", type=cli.integer(1), default=Word2VecConfig.batch_size)
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default=Word2VecConfig.optimizer)
    parser.add_argument("--lr", type=cli.number(0, low_open=True), default=None,
                        help="default: the trainer's for the optimizer")
    parser.add_argument("--seed", type=cli.integer(0, 2**32 - 2), default=0, help="seed of ours and of gensim")
    parser.add_argument("--no-gensim", action="store_true", help="train only ours")
    args = parser.parse_args()
    train_file, vocab, ids = ptb_train_ids(args.data)
    for model in args.models:
        config = Word2VecConfig(model=model, epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer,
                                lr=args.lr, seed=args.seed)
        tic = time.perf_counter()
        run = train_word2vec(ids, vocab.counts, config, show_progress=False)
        report(f"tinygrad_w2v {model} ({config.optimizer} lr {config.lr}, batch {config.batch_size}, seed {args.seed})",
               KeyedVectors(vocab.id_to_word, run.model.vectors()), time.perf_counter() - tic)
        try:
            from gensim.models import Word2Vec
        except ImportError:
            continue
        if args.no_gensim:
            continue
        tic = time.perf_counter()
        gensim = Word2Vec(corpus_file=str(train_file), sg=int(model == "skipgram"), workers=1, epochs=args.epochs,
                          seed=args.seed + 1)
        report(f"gensim {model} (seed {args.seed + 1})", KeyedVectors(gensim.wv.index_to_key, gensim.wv.vectors),
               time.perf_counter() - tic)


if __name__ == "__main__":
    cli.run(main)
