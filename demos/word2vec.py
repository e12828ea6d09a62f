"""Train word2vec (CBOW or skip-gram with negative sampling) on the Penn Treebank and look at the vectors.

    python demos/word2vec.py                         # CBOW on PTB, a few minutes on a laptop CPU
    python demos/word2vec.py --model skipgram --epochs 3 --save vectors.txt
    python demos/word2vec.py --data my_text.txt --max-tokens 100000

Prints the nearest words of a few queries and a few analogies (and the analogy accuracy and WordSim
Spearman correlation when the evaluation files are given, or found in an ``eval`` folder beside the PTB
folder: word2vec's ``questions-words.txt`` and WordSim-353 as ``wordsim353.tsv``), the paths of
the files it wrote, and as its last line ``throughput: <integer> words/s`` (CBOW targets / skip-gram
centre words trained per second of training, as gensim counts). Checkpoints, resuming and exit codes:
see the README's "Runs, checkpoints and resuming".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tinygrad_w2v import cli
from tinygrad_w2v.data import load_corpus, resolve_data_dir
from tinygrad_w2v.evaluate import KeyedVectors
from tinygrad_w2v.train.common import prepare_checkpoint
from tinygrad_w2v.train.word2vec import Word2VecConfig, train_word2vec

QUERIES = ("you", "year", "car", "toyota", "chip")
ANALOGIES = (("take", "took", "go"), ("big", "bigger", "small"), ("car", "cars", "child"), ("good", "better", "bad"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = Word2VecConfig()
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("cbow", "skipgram"), default=defaults.model)
    p.add_argument("--epochs", type=cli.integer(1), default=defaults.epochs)
    p.add_argument("--dim", type=cli.integer(1), default=defaults.dim, help="vector size")
    p.add_argument("--window", type=cli.integer(1), default=defaults.window, help="context words on each side")
    p.add_argument("--negative", type=cli.integer(1), default=defaults.negative, help="noise words per true word")
    p.add_argument("--batch-size", type=cli.integer(1), default=defaults.batch_size)
    p.add_argument("--lr", type=cli.number(0, low_open=True), default=None,
                   help="learning rate (default: 0.005 Adam, 0.025 x batch SGD)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default=defaults.optimizer)
    p.add_argument("--max-tokens", type=cli.integer(1), default=None, help="train on the first N tokens only")
    p.add_argument("--data", default=None, help="PTB directory or a whitespace-tokenised text file "
                   "(default: $TINYGRAD_W2V_DATA, else ~/.cache/tinygrad_w2v/ptb, downloaded when missing)")
    p.add_argument("--save", type=cli.writable_file, default=None,
                   help="write the vectors here in word2vec text format")
    p.add_argument("--seed", type=cli.SEED, default=defaults.seed)
    p.add_argument("--device", type=cli.device, default="cpu", help="cpu or cuda")
    p.add_argument("--out", type=cli.writable_dir, default=Path("out/word2vec"),
                   help="folder for the checkpoint and the plot")
    p.add_argument("--resume", action="store_true", help="continue from OUT/word2vec_<model>.npz if it exists")
    p.add_argument("--overwrite", action="store_true", help="replace the checkpoint of an earlier run in OUT")
    p.add_argument("--checkpoint-every", type=cli.number(0, low_open=True), default=10.0, metavar="MINUTES",
                   help="also write a checkpoint every MINUTES of training (default: 10)")
    p.add_argument("--analogies", type=cli.existing_file, default=None,
                   help="word2vec's questions-words.txt (default: eval/ beside the PTB folder, if there)")
    p.add_argument("--similarity", type=cli.existing_file, default=None,
                   help="WordSim-353 as wordsim353.tsv (default: eval/ beside the PTB folder, if there)")
    return p.parse_args(argv)


def default_eval_file(given: Path | None, name: str, data: str | None) -> Path | None:
    """``given``, else ``name`` in the ``eval`` folder beside the PTB folder, if it is there."""
    if given is not None:
        return given
    found = resolve_data_dir(data if data and Path(data).is_dir() else None).parent / "eval" / name
    return found if found.is_file() else None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    checkpoint = args.out / f"word2vec_{args.model}.npz"
    resume = prepare_checkpoint(checkpoint, args.resume, args.overwrite)
    corpus = load_corpus(args.data)
    ids = corpus.train if args.max_tokens is None else corpus.train[: args.max_tokens]
    print(f"corpus: {len(ids):,} tokens, {len(corpus.vocab):,} words")
    config = Word2VecConfig(model=args.model, dim=args.dim, window=args.window, negative=args.negative,
                            batch_size=args.batch_size, epochs=args.epochs, lr=args.lr, optimizer=args.optimizer,
                            seed=args.seed, device=args.device)
    run = train_word2vec(ids, corpus.vocab.counts, config, checkpoint=checkpoint, resume=resume,
                         plot=args.out / f"word2vec_{args.model}_loss.png", checkpoint_every=60 * args.checkpoint_every,
                         on_resume=lambda epoch, step: print(f"resumed from {checkpoint} at epoch {epoch + 1}, "
                                                             f"step {step + 1}"))
    if run.interrupted:
        print(f"stopped early; {checkpoint} holds the state reached: run the same command with --resume to continue")
        return cli.EXIT_INTERRUPTED
    print(f"trained {run.words:,} words in {run.seconds:.1f} s, final epoch loss "
          f"{run.history['epoch_loss'][-1] if run.history['epoch_loss'] else float('nan'):.4f}")

    kv = KeyedVectors(corpus.vocab.id_to_word, run.model.vectors())
    written = [checkpoint] + ([run.plot] if run.plot else [])
    if args.save:  # before the evaluation, which may find a malformed file
        written.append(kv.save_word2vec_format(args.save))
    for word in QUERIES:
        if word in kv:
            print(f"{word}: " + ", ".join(f"{w} {s:.2f}" for w, s in kv.most_similar(word, topn=5)))
    for a, b, c in ANALOGIES:
        if all(w in kv for w in (a, b, c)):
            print(f"{a}:{b} :: {c}:" + ", ".join(w for w, _ in kv.analogy(a, b, c, topn=3)))
    analogies = default_eval_file(args.analogies, "questions-words.txt", args.data)
    if analogies is not None:
        result = kv.evaluate_analogies(analogies)
        print(f"{result} [{analogies}]")
    similarity = default_eval_file(args.similarity, "wordsim353.tsv", args.data)
    if similarity is not None:
        rho, used, skipped = kv.evaluate_similarity(similarity)
        print(f"WordSim Spearman {rho:.3f} over {used} pairs ({skipped} skipped) [{similarity}]")

    for path in written:
        print(f"wrote {path}")
    sys.stdout.flush()
    print(f"throughput: {round(run.words_per_sec)} words/s")
    return 0


if __name__ == "__main__":
    cli.run(main)
