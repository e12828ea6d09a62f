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

import numpy as np

from tinygrad_w2v import cli
from tinygrad_w2v.data import ensure_ptb, resolve_data_dir
from tinygrad_w2v.data.corpus_file import build_vocab, encode_file
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
    p.add_argument("--batch-size", type=cli.integer(1), default=defaults.batch_size, help="words per step")
    p.add_argument("--lr", type=cli.number(0, low_open=True), default=None,
                   help="learning rate (default: 0.005 Adam, 0.025 SGD)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default=defaults.optimizer,
                   help="sgd: word2vec.c's update (summed loss, linear decay); adam: lazy Adam on the mean loss")
    p.add_argument("--noise", choices=("word2vec", "book"), default=defaults.noise,
                   help="word2vec: i.i.d. noise words, those equal to the true word skipped; "
                   "book: distinct noise words, never the true word")
    p.add_argument("--cbow-mean", type=int, choices=(0, 1), default=int(defaults.cbow_mean),
                   help="CBOW's v_c: 1 the mean of the context vectors, 0 their sum (gensim's cbow_mean)")
    p.add_argument("--max-tokens", type=cli.integer(1), default=None, help="train on the first N tokens only")
    p.add_argument("--data", default=None, help="PTB directory or a text file of any size, one sentence a line, "
                   "words separated by spaces (default: $TINYGRAD_W2V_DATA, else ~/.cache/tinygrad_w2v/ptb, "
                   "downloaded when missing)")
    p.add_argument("--valid", type=cli.existing_file, default=None, help="held-out text for the validation loss "
                   "(default: PTB's valid with a PTB directory)")
    p.add_argument("--min-count", type=cli.integer(1), default=5,
                   help="ignore words seen fewer times (word2vec.c, gensim)")
    p.add_argument("--max-vocab", type=cli.integer(1), default=None, help="keep only the N most frequent words")
    p.add_argument("--sample", type=cli.number(0), default=defaults.sample, help="subsampling threshold t (0: off)")
    p.add_argument("--window-mode", choices=("dynamic", "fixed"), default="dynamic",
                   help="dynamic: word2vec's random radius in 1..window per word; fixed: always window")
    p.add_argument("--eos", action="store_true", help="read each line end as the word <eos> and let windows "
                   "cross lines (the book's Penn Treebank convention); default: a line is a sentence")
    p.add_argument("--save", type=cli.writable_file, default=None,
                   help="write the vectors here in word2vec text format")
    p.add_argument("--workers", type=cli.integer(1, 256), default=1,
                   help="processes training at once (Hogwild, as word2vec.c's threads; CPU only)")
    p.add_argument("--seed", type=cli.SEED, default=defaults.seed)
    p.add_argument("--device", type=cli.device, default="cpu", help="cpu or cuda")
    p.add_argument("--out", type=cli.writable_dir, default=Path("out/word2vec"),
                   help="folder for the checkpoint, the plot and the ids")
    cli.add_checkpoint_flags(p, "OUT/word2vec_<model>.npz")
    p.add_argument("--analogies", type=cli.existing_file, default=None,
                   help="word2vec's questions-words.txt (default: eval/ beside the PTB folder, if there)")
    p.add_argument("--similarity", type=cli.existing_file, default=None,
                   help="WordSim-353 as wordsim353.tsv (default: eval/ beside the PTB folder, if there)")
    return p.parse_args(argv)


EVAL_SOURCES = {
    "questions-words.txt": "https://raw.githubusercontent.com/tmikolov/word2vec/master/questions-words.txt",
    "wordsim353.tsv": "http://www.cs.technion.ac.il/~gabr/resources/data/wordsim353/",
}


def default_eval_file(given: Path | None, name: str, data: str | None) -> Path | None:
    """``given``, else ``name`` in the ``eval`` folder beside the PTB folder, else gensim's copy (in its
    test data), else None."""
    if given is not None:
        return given
    found = resolve_data_dir(data if data and Path(data).is_dir() else None).parent / "eval" / name
    if found.is_file():
        return found
    try:
        from gensim.test.utils import datapath
    except ImportError:
        return None
    return Path(datapath(name)) if Path(datapath(name)).is_file() else None


def mean_cosine(vectors, top: int = 1000) -> float:
    """The mean cosine between the vectors of the ``top`` first words (the most frequent), all pairs."""
    v = vectors[:top] / np.maximum(np.linalg.norm(vectors[:top], axis=1, keepdims=True), 1e-12)
    n = len(v)
    return float((np.square(v.sum(axis=0)).sum() - n) / max(1, n * (n - 1)))


def corpus_files(data: str | None, valid: Path | None) -> tuple[Path, Path | None]:
    """The training text and the held-out text (PTB's train and valid for a PTB directory)."""
    if data is None or Path(data).is_dir():
        root = ensure_ptb(data)
        return root / "ptb.train.txt", valid or root / "ptb.valid.txt"
    return Path(data), valid


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    checkpoint = args.out / f"word2vec_{args.model}.npz"
    resume = prepare_checkpoint(checkpoint, args.resume, args.overwrite)
    train_file, valid_file = corpus_files(args.data, args.valid)
    vocab = build_vocab(train_file, args.min_count, args.max_vocab, eos=args.eos)
    # the ids go to a file beside the checkpoint, read a chunk at a time: the corpus is never held in memory
    ids = encode_file(train_file, vocab, args.out / f"word2vec_{args.model}.ids", args.eos, args.max_tokens)
    print(f"corpus: {train_file}, {len(vocab):,} words seen at least {args.min_count} times")
    valid = None if valid_file is None else encode_file(
        valid_file, vocab, args.out / f"word2vec_{args.model}_valid.ids", args.eos)
    config = Word2VecConfig(model=args.model, dim=args.dim, window=args.window, negative=args.negative,
                            batch_size=args.batch_size, epochs=args.epochs, lr=args.lr, optimizer=args.optimizer,
                            noise=args.noise, cbow_mean=bool(args.cbow_mean), sample=args.sample,
                            dynamic_window=args.window_mode == "dynamic", workers=args.workers, seed=args.seed,
                            device=args.device)
    run = train_word2vec(ids, vocab.counts, config, checkpoint=checkpoint, resume=resume,
                         plot=args.out / f"word2vec_{args.model}_loss.png", valid=valid,
                         checkpoint_every=args.checkpoint_every,
                         on_resume=lambda epoch, step: print(f"resumed from {checkpoint} at epoch {epoch + 1}, "
                                                             f"step {step + 1}"))
    if run.interrupted:
        print(f"stopped early; {checkpoint} holds the state reached: run the same command with --resume to continue")
        return cli.EXIT_INTERRUPTED
    print(f"trained {run.words:,} words in {run.seconds:.1f} s")
    for name, key in (("mean training loss", "epoch_loss"), (f"held-out loss ({valid_file})", "valid_loss")):
        if run.history.get(key):
            print(f"{name} per epoch: " + ", ".join(f"{x:.4f}" for x in run.history[key]))

    kv = KeyedVectors(vocab.id_to_word, run.model.vectors())  # most frequent first, as gensim saves them
    written = [checkpoint] + ([run.plot] if run.plot else [])
    if args.save:  # before the evaluation, which may find a malformed file
        written.append(kv.save_word2vec_format(args.save))
    shared = mean_cosine(kv.vectors)
    if shared > 0.5:  # early in training every update moves the vectors along one shared direction
        print(f"note: the 1000 most frequent words' vectors have a mean cosine of {shared:.2f} with each other: "
              "after this few updates they still share one common direction, so every neighbour below is near "
              "1.00 and means little; train longer (more epochs or tokens) for meaningful neighbours")
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
    for found, name, flag in ((analogies, "questions-words.txt", "--analogies"),
                              (similarity, "wordsim353.tsv", "--similarity")):
        if found is None:
            print(f"no {name}: download it from {EVAL_SOURCES[name]} (or pip install gensim, which ships a "
                  f"copy in gensim/test/test_data/) and pass {flag} FILE to evaluate the vectors")

    for path in written:
        print(f"wrote {path}")
    sys.stdout.flush()
    print(f"throughput: {round(run.words_per_sec)} words/s")
    return 0


if __name__ == "__main__":
    cli.run(main)
