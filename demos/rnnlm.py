"""Train an RNN or LSTM language model on the Penn Treebank and report perplexity.

    python demos/rnnlm.py --preset small     # the book's chapter 5: RNN on the first 1000 tokens, 100 epochs
    python demos/rnnlm.py --preset book      # the book's chapter 6: LSTM on all of PTB, 4 epochs (~1 h on 1 core)
    python demos/rnnlm.py --cell lstm --layers 2 --embed 650 --hidden 650 --dropout 0.5 --tie-weights ...

Flags given explicitly override the preset's values. Prints the training perplexity of every epoch,
``valid perplexity: X`` / ``test perplexity: Y`` where it evaluates, ``--generate N`` sampled words, the
path of the perplexity plot, and as its last line ``throughput: <integer> tokens/s`` (training tokens per
second of training time). A checkpoint is written after every epoch, every ``--checkpoint-every`` minutes
and on Ctrl-C / SIGTERM / SIGHUP; ``--resume`` continues from it (see the README's "Runs, checkpoints and
resuming").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from tinygrad_w2v import cli
from tinygrad_w2v.data import UNK, Corpus, Vocab, ensure_ptb, load_corpus, read_tokens
from tinygrad_w2v.models.rnnlm import RNNLM
from tinygrad_w2v.train.common import plot_history, prepare_checkpoint
from tinygrad_w2v.train.lm import LMTrainer, evaluate_perplexity

PRESETS = {
    "small": dict(cell="rnn", layers=1, embed=100, hidden=100, batch_size=10, bptt=5, lr=0.1, optimizer="sgd",
                  clip=None, dropout=0.0, epochs=100, max_tokens=1000, generate=0),
    "book": dict(cell="lstm", layers=1, embed=100, hidden=100, batch_size=20, bptt=35, lr=20.0, optimizer="sgd",
                 clip=0.25, dropout=0.0, epochs=4, max_tokens=None, generate=30),
}
DEFAULTS = PRESETS["book"] | {"epochs": 1}  # without a preset: the book's model for one epoch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), help="the book's settings (flags given override them)")
    # flags left out take the preset's value (the book's model for one epoch without --preset)
    preset = p.add_argument_group("model and training (default: the preset's value)",
                                  argument_default=argparse.SUPPRESS)
    preset.add_argument("--cell", choices=["rnn", "lstm"])
    preset.add_argument("--layers", type=cli.integer(1))
    preset.add_argument("--embed", type=cli.integer(1), help="embedding size")
    preset.add_argument("--hidden", type=cli.integer(1), help="hidden state size")
    preset.add_argument("--batch-size", type=cli.integer(1), help="parallel streams")
    preset.add_argument("--bptt", type=cli.integer(1), help="steps per truncated-BPTT window")
    preset.add_argument("--lr", type=cli.number(0, low_open=True), help="learning rate")
    preset.add_argument("--optimizer", choices=["sgd", "adam"])
    preset.add_argument("--clip", type=cli.number(0, low_open=True, none=True),
                        help="global gradient-norm limit, or 'none'")
    preset.add_argument("--dropout", type=cli.number(0, 1, high_open=True), help="drop probability")
    p.add_argument("--tie-weights", action="store_true", default=None, help="output matrix = embedding matrix")
    preset.add_argument("--epochs", type=cli.integer(1))
    preset.add_argument("--max-tokens", type=cli.integer(2),
                        help="train on the first N tokens only (no valid/test evaluation)")
    p.add_argument("--data", help="PTB directory or a text file (default: $TINYGRAD_W2V_DATA, else the cache)")
    p.add_argument("--seed", type=cli.SEED, default=0)
    p.add_argument("--device", type=cli.device, default="cpu", help="cpu or cuda")
    preset.add_argument("--generate", type=cli.integer(0), help="sample N words after training")
    p.add_argument("--temperature", type=cli.number(0), default=1.0,
                   help="sampling temperature for --generate (0: always the likeliest word)")
    p.add_argument("--init", choices=["book", "torch"], default="book", help="weight initialisation")
    p.add_argument("--out", type=cli.writable_dir, default=Path("out/rnnlm"),
                   help="folder for the checkpoint and the plot")
    cli.add_checkpoint_flags(p, "OUT/checkpoint.npz")
    p.add_argument("--no-checkpoint", action="store_true", help="do not write checkpoints")
    p.add_argument("--no-plot", action="store_true", help="do not write the perplexity plot")
    args = p.parse_args(argv)
    for key, value in PRESETS.get(args.preset, DEFAULTS).items():  # the preset fills the flags not given
        if not hasattr(args, key):
            setattr(args, key, value)
    args.tie_weights = bool(args.tie_weights)
    if args.tie_weights and args.embed != args.hidden:
        p.error(f"--tie-weights needs --embed equal to --hidden, got {args.embed} and {args.hidden}")
    if args.no_checkpoint and (args.resume or args.overwrite):
        p.error("--no-checkpoint cannot be combined with --resume or --overwrite")
    return args


def first_tokens(data: str | None, n: int) -> Corpus:
    """The first ``n`` training tokens with a vocabulary of just their words, as the book's chapter 5 does
    (``vocab_size = max(ids) + 1``): ids go by first appearance, so they equal the full vocabulary's ids.
    No valid/test split (their words may be missing from this vocabulary)."""
    source = Path(data) if data is not None and Path(data).is_file() else ensure_ptb(data) / "ptb.train.txt"
    tokens = read_tokens(source)[:n]
    vocab = Vocab.build(tokens)
    return Corpus(train=vocab.encode(tokens), vocab=vocab)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    checkpoint = None if args.no_checkpoint else args.out / "checkpoint.npz"
    resume = None if checkpoint is None else prepare_checkpoint(checkpoint, args.resume, args.overwrite)
    if args.max_tokens is None:
        corpus = load_corpus(args.data)
    else:
        corpus = first_tokens(args.data, args.max_tokens)
    train, valid, test, vocab_size = corpus.train, corpus.valid, corpus.test, len(corpus.vocab)
    print(f"{len(train):,} training tokens, vocabulary {vocab_size:,}; {args.cell} x{args.layers}, embed "
          f"{args.embed}, hidden {args.hidden}, batch {args.batch_size}, bptt {args.bptt}, {args.optimizer} lr "
          f"{args.lr}, clip {args.clip}, dropout {args.dropout}, tied {args.tie_weights}, {args.epochs} epochs")
    model = RNNLM(vocab_size, args.embed, args.hidden, cell=args.cell, layers=args.layers, dropout=args.dropout,
                  tie_weights=args.tie_weights, init=args.init, seed=args.seed).to(args.device)
    trainer = LMTrainer(model, train, args.batch_size, args.bptt, args.lr, optimizer=args.optimizer,
                        clip=args.clip, valid_ids=valid,
                        config={"init": args.init, "seed": args.seed, "epochs": args.epochs})
    if resume is not None:
        trainer.load(resume)
        print(f"resumed from {resume} at epoch {trainer.epoch + 1}, window {trainer.step_in_epoch + 1}")

    def report(t: LMTrainer) -> None:
        line = f"epoch {t.epoch}/{args.epochs}: train perplexity {t.history['train perplexity'][-1]:.2f}"
        if "valid perplexity" in t.history:
            line += f", lr {t.optimizer.lr:g}\nvalid perplexity: {t.history['valid perplexity'][-1]:.2f}"
        tqdm.write(line)

    finished = trainer.fit(args.epochs, checkpoint=checkpoint, on_epoch=report,
                           checkpoint_every=args.checkpoint_every)
    if checkpoint is not None and checkpoint.exists():
        print(f"checkpoint: {checkpoint}")
    if not finished:
        print(f"stopped after window {trainer.step_in_epoch} of epoch {trainer.epoch + 1}"
              + ("; run the same command with --resume to continue" if checkpoint is not None else ""))
        return cli.EXIT_INTERRUPTED
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
        whole = trainer.step_in_epoch == 0 and trainer.epoch > 0  # epochs are marked when all are whole
        path = plot_history(trainer.history, args.out / "perplexity.png", title="RNN LM perplexity",
                            xlabel="window", ylabel="perplexity", epochs=trainer.epoch if whole else None)
        if path is not None:
            print(f"plot: {path}")
    print(f"throughput: {trainer.throughput():.0f} tokens/s")
    return 0


if __name__ == "__main__":
    cli.run(main)
