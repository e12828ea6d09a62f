"""Train an RNN or LSTM language model on the Penn Treebank and report perplexity.

    python demos/rnnlm.py --preset small     # the book's chapter 5: RNN on the first 1000 tokens, 100 epochs
    python demos/rnnlm.py --preset book      # the book's chapter 6: LSTM on all of PTB, 4 epochs (~1 h on 1 core)
    python demos/rnnlm.py --cell lstm --layers 2 --embed 650 --hidden 650 --dropout 0.5 --tie-weights ...

Flags given explicitly override the preset's values. Prints the training perplexity of every epoch,
``valid perplexity: X`` / ``test perplexity: Y`` where it evaluates, ``--generate N`` sampled words, the
path of the perplexity plot, and as its last line ``throughput: <integer> tokens/s`` (training tokens per
second of training time). A checkpoint is written after every epoch and on Ctrl-C; ``--resume``
continues from it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from tinygrad_w2v import backend
from tinygrad_w2v.data import UNK, Corpus, Vocab, ensure_ptb, load_corpus, read_tokens
from tinygrad_w2v.models.rnnlm import RNNLM
from tinygrad_w2v.train.common import plot_history
from tinygrad_w2v.train.lm import LMTrainer, evaluate_perplexity

PRESETS = {
    "small": dict(cell="rnn", layers=1, embed=100, hidden=100, batch_size=10, bptt=5, lr=0.1, optimizer="sgd",
                  clip=None, dropout=0.0, epochs=100, max_tokens=1000, generate=0),
    "book": dict(cell="lstm", layers=1, embed=100, hidden=100, batch_size=20, bptt=35, lr=20.0, optimizer="sgd",
                 clip=0.25, dropout=0.0, epochs=4, max_tokens=None, generate=30),
}
DEFAULTS = PRESETS["book"] | {"epochs": 1}  # without a preset: the book's model for one epoch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), help="the book's settings (flags given override them)")
    p.add_argument("--cell", choices=["rnn", "lstm"])
    p.add_argument("--layers", type=int)
    p.add_argument("--embed", type=int, help="embedding size")
    p.add_argument("--hidden", type=int, help="hidden state size")
    p.add_argument("--batch-size", type=int, help="parallel streams")
    p.add_argument("--bptt", type=int, help="steps per truncated-BPTT window")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--optimizer", choices=["sgd", "adam"])
    p.add_argument("--clip", type=float, help="global gradient-norm limit (default: the preset's)")
    p.add_argument("--dropout", type=float)
    p.add_argument("--tie-weights", action="store_true", default=None, help="output matrix = embedding matrix")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-tokens", type=int, help="train on the first N tokens only (no valid/test evaluation)")
    p.add_argument("--data", help="PTB directory or a text file (default: $TINYGRAD_W2V_DATA, else the cache)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--generate", type=int, help="sample N words after training")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature for --generate")
    p.add_argument("--init", choices=["book", "torch"], default="book", help="weight initialisation")
    p.add_argument("--out", type=Path, default=Path("out/rnnlm"), help="folder for the checkpoint and the plot")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz if it exists")
    p.add_argument("--no-checkpoint", action="store_true", help="do not write checkpoints")
    p.add_argument("--no-plot", action="store_true", help="do not write the perplexity plot")
    args = p.parse_args(argv)
    for key, value in PRESETS.get(args.preset, DEFAULTS).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.tie_weights = bool(args.tie_weights)
    return args


def first_tokens(data: str | None, n: int) -> Corpus:
    """The first ``n`` training tokens with a vocabulary of just their words, as the book's chapter 5 does
    (``vocab_size = max(ids) + 1``): ids go by first appearance, so they equal the full vocabulary's ids.
    No valid/test split (their words may be missing from this vocabulary)."""
    source = Path(data) if data is not None and Path(data).is_file() else ensure_ptb(data) / "ptb.train.txt"
    tokens = read_tokens(source)[:n]
    vocab = Vocab.build(tokens)
    return Corpus(train=vocab.encode(tokens), vocab=vocab)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.max_tokens is None:
        corpus = load_corpus(args.data)
    else:
        corpus = first_tokens(args.data, args.max_tokens)
    train, valid, test, vocab_size = corpus.train, corpus.valid, corpus.test, len(corpus.vocab)
    print(f"{len(train):,} training tokens, vocabulary {vocab_size:,}; {args.cell} x{args.layers}, embed "
          f"{args.embed}, hidden {args.hidden}, batch {args.batch_size}, bptt {args.bptt}, {args.optimizer} lr "
          f"{args.lr}, clip {args.clip}, dropout {args.dropout}, tied {args.tie_weights}, {args.epochs} epochs")
    model = RNNLM(vocab_size, args.embed, args.hidden, cell=args.cell, layers=args.layers, dropout=args.dropout,
                  tie_weights=args.tie_weights, init=args.init, seed=args.seed)
    if args.device == "cuda":
        backend.check_device("cuda")
        model.to("cuda")
    trainer = LMTrainer(model, train, args.batch_size, args.bptt, args.lr, optimizer=args.optimizer,
                        clip=args.clip, valid_ids=valid)
    checkpoint = None if args.no_checkpoint else args.out / "checkpoint.npz"
    if args.resume and checkpoint is not None and checkpoint.exists():
        trainer.load(checkpoint)
        print(f"resumed from {checkpoint} at epoch {trainer.epoch + 1}, window {trainer.step_in_epoch + 1}")

    def report(t: LMTrainer) -> None:
        line = f"epoch {t.epoch}/{args.epochs}: train perplexity {t.history['train perplexity'][-1]:.2f}"
        if "valid perplexity" in t.history:
            line += f", lr {t.optimizer.lr:g}\nvalid perplexity: {t.history['valid perplexity'][-1]:.2f}"
        tqdm.write(line)

    finished = trainer.fit(args.epochs, checkpoint=checkpoint, on_epoch=report)
    if checkpoint is not None and checkpoint.exists():
        print(f"checkpoint: {checkpoint}")
    if not finished:
        print("stopped by Ctrl-C; run again with --resume to continue")
    else:
        if test is not None:
            print(f"test perplexity: {evaluate_perplexity(model, test):.2f}")
        if args.generate:
            words, ids_of = corpus.vocab.id_to_word, corpus.vocab.word_to_id
            skip = [ids_of[UNK]] if ids_of.get(UNK, vocab_size) < vocab_size else []
            start = ids_of["you"] if ids_of.get("you", vocab_size) < vocab_size else int(train[0])
            ids = model.generate(start, args.generate, temperature=args.temperature, skip_ids=skip,
                                 rng=np.random.default_rng(args.seed))
            text = " ".join(words[i] for i in [start, *ids]).replace(" <eos>", ".\n")
            print(f"generated ({args.generate} words after '{words[start]}'):\n{text}")
        if not args.no_plot:
            path = plot_history(trainer.history, args.out / "perplexity.png", title="RNN LM perplexity",
                                xlabel="epoch")
            if path is not None:
                print(f"plot: {path}")
    print(f"throughput: {trainer.throughput():.0f} tokens/s")


if __name__ == "__main__":
    sys.exit(main())
