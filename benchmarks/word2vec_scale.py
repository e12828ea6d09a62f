"""word2vec on a corpus of any size: peak memory and words/s for one epoch of CBOW, this project beside gensim's
``corpus_file`` training, on the same file.

    python benchmarks/word2vec_scale.py [--tokens 5000000,20000000] [--optimizer adam|sgd]

For each size, a corpus is written to a temporary folder: PTB train's sentences (one a line), shuffled
copies of them until it holds that many tokens. Each run is a fresh process (its peak RSS is its own):
ours reads the file twice (vocabulary, then ids to a file read back chunk by chunk) and trains one epoch at the
demo's defaults (CBOW, dim 100, window 5 dynamic, 5 negatives, subsampling 1e-3, min count 5, batch
1024, Adam); gensim builds its vocabulary from the same file and trains one epoch with the same
settings (1 worker). Words/s: words trained (after subsampling) per second of training; the vocabulary
and encoding passes are timed apart. One thread everywhere.
"""

from __future__ import annotations

# isort: off
import _common  # noqa: F401  (first: one thread before NumPy loads)
import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from word2vec_throughput import data_dir

from tinygrad_w2v import cli

# isort: on

SETTINGS = {"dim": 100, "window": 5, "negative": 5, "sample": 1e-3, "min_count": 5}


def sizes(text: str) -> list[int]:
    """``--tokens``: comma-separated positive integers."""
    return [cli.integer(1)(t) for t in text.split(",")]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def write_corpus(path: Path, sentences: list[str], tokens: int, seed: int = 0) -> int:
    """Shuffled copies of ``sentences`` (lines of text) until ``tokens`` words are written."""
    rng = np.random.default_rng(seed)
    lengths = np.array([len(s.split()) for s in sentences])
    written = 0
    with open(path, "w") as f:
        while written < tokens:
            for i in rng.permutation(len(sentences)):
                f.write(sentences[i])
                written += int(lengths[i])
                if written >= tokens:
                    break
    return written


def run_ours(path: Path, optimizer: str) -> dict:
    from tinygrad_w2v.data.corpus_file import build_vocab, encode_file
    from tinygrad_w2v.train.word2vec import Word2VecConfig, train_word2vec

    tic = time.perf_counter()
    vocab = build_vocab(path, SETTINGS["min_count"], show_progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        ids = encode_file(path, vocab, Path(tmp) / "corpus.ids", show_progress=False)
        prepare = time.perf_counter() - tic
        config = Word2VecConfig(model="cbow", dim=SETTINGS["dim"], window=SETTINGS["window"],
                                negative=SETTINGS["negative"], sample=SETTINGS["sample"], epochs=1, optimizer=optimizer)
        run = train_word2vec(ids, vocab.counts, config, show_progress=False)
        del ids
    return {"words": run.words, "train_s": run.seconds, "prepare_s": prepare, "peak_rss_mib": peak_rss_mib()}


def run_gensim(path: Path) -> dict:
    from gensim.models import Word2Vec

    tic = time.perf_counter()
    model = Word2Vec(vector_size=SETTINGS["dim"], window=SETTINGS["window"], negative=SETTINGS["negative"],
                     sample=SETTINGS["sample"], min_count=SETTINGS["min_count"], sg=0, workers=1, seed=1)
    model.build_vocab(corpus_file=str(path))
    prepare = time.perf_counter() - tic
    tic = time.perf_counter()
    words, _ = model.train(corpus_file=str(path), total_words=model.corpus_total_words, epochs=1)
    return {"words": words, "train_s": time.perf_counter() - tic, "prepare_s": prepare, "peak_rss_mib": peak_rss_mib()}


def child(which: str, path: Path, optimizer: str) -> dict:
    cmd = [sys.executable, __file__, "--child", which, "--file", str(path), "--optimizer", optimizer]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="PTB dir (default: $TINYGRAD_W2V_DATA)")
    parser.add_argument("--tokens", type=sizes, default="5000000,20000000", help="corpus sizes, comma-separated")
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    parser.add_argument("--no-gensim", action="store_true")
    parser.add_argument("--child", choices=("ours", "gensim"), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_ours(args.file, args.optimizer) if args.child == "ours" else run_gensim(args.file)
        print(json.dumps(result))
        return
    sentences = (data_dir(args.data) / "ptb.train.txt").read_text().splitlines(keepends=True)
    print(f"CBOW, one epoch, dim 100, window 5, 5 negatives, sample 1e-3, min count 5; ours: {args.optimizer}, "
          f"batch 1024; gensim: corpus_file, 1 worker")
    with tempfile.TemporaryDirectory() as tmp:
        for tokens in args.tokens:
            path = Path(tmp) / f"corpus_{tokens}.txt"
            written = write_corpus(path, sentences, tokens)
            size = path.stat().st_size / 2**20
            for which in ("ours",) + (() if args.no_gensim else ("gensim",)):
                r = child(which, path, args.optimizer)
                print(f"{written:,} tokens ({size:.0f} MiB) {which}: peak RSS {r['peak_rss_mib']:.0f} MiB, "
                      f"{r['words'] / r['train_s']:,.0f} words/s ({r['words']:,} words in {r['train_s']:.1f} s), "
                      f"vocabulary + ids {r['prepare_s']:.1f} s", flush=True)
            path.unlink()


if __name__ == "__main__":
    cli.run(main)
