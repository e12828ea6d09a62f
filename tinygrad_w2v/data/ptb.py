"""The Penn Treebank corpus: find it, download and verify it, and read it as word ids.

The data directory is, in order: the ``data_dir`` argument (a demo's ``--data DIR``), the environment
variable ``TINYGRAD_W2V_DATA``, or ``~/.cache/tinygrad_w2v/ptb``. Missing files are downloaded from the
mirror "Deep Learning from Scratch 2" uses, with a progress bar, and every file's md5 is checked. A
download goes to a temporary file that replaces nothing until it is complete and verified.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..files import atomic_write
from .vocab import UNK, Vocab, read_tokens

PTB_URL = "https://raw.githubusercontent.com/tomsercu/lstm/master/data"
PTB_MD5 = {
    "train": "f26c4b92c5fdc7b3f8c7cdcb991d8420",
    "valid": "aa0affc06ff7c36e977d7cd49e3839bf",
    "test": "8b80168b89c18661a38ef683c0dc3721",
}
SPLITS = tuple(PTB_MD5)


@dataclass
class Corpus:
    """Word ids (int32) of the splits and the vocabulary built from ``train``."""

    train: np.ndarray
    vocab: Vocab
    valid: np.ndarray | None = None
    test: np.ndarray | None = None


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir``, else ``$TINYGRAD_W2V_DATA``, else ``~/.cache/tinygrad_w2v/ptb``."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get("TINYGRAD_W2V_DATA"):
        return Path(os.environ["TINYGRAD_W2V_DATA"]).expanduser()
    return Path.home() / ".cache" / "tinygrad_w2v" / "ptb"


def md5sum(path: str | os.PathLike) -> str:
    """The md5 hex digest of a file."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: str | os.PathLike, md5: str, timeout: float = 30.0) -> Path:
    """Fetch ``url`` into ``dest`` with a progress bar; ``dest`` is written only if the whole body arrived
    and its md5 is ``md5``. Raises ``OSError`` naming the url and the problem otherwise."""
    dest = Path(dest)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_write(dest) as out:
            expected = response.headers.get("Content-Length")
            total = int(expected) if expected else None
            digest, size = hashlib.md5(), 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}") as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    digest.update(block)
                    size += len(block)
                    bar.update(len(block))
            if total is not None and size != total:
                raise OSError(f"download of {url} stopped after {size} of {total} bytes")
            if digest.hexdigest() != md5:
                raise OSError(f"download of {url} has md5 {digest.hexdigest()}, expected {md5} (corrupted)")
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as e:
        raise OSError(f"could not download {url}: {getattr(e, 'reason', e)}") from e
    return dest


def ensure_ptb(data_dir: str | os.PathLike | None = None, download_missing: bool = True, url: str = PTB_URL) -> Path:
    """The directory holding verified ``ptb.{train,valid,test}.txt``, downloading missing files."""
    root = resolve_data_dir(data_dir)
    for split, md5 in PTB_MD5.items():
        path = root / f"ptb.{split}.txt"
        where = (
            f"put ptb.train.txt, ptb.valid.txt and ptb.test.txt (from {PTB_URL}) in {root}, "
            "or pass --data DIR / set TINYGRAD_W2V_DATA to a folder that holds them"
        )
        if path.exists():
            actual = md5sum(path)
            if actual != md5:
                raise ValueError(
                    f"{path} is corrupted: md5 {actual}, expected {md5}; delete it to download it again, or {where}"
                )
            continue
        if not download_missing:
            raise FileNotFoundError(f"{path} is missing: {where}")
        try:
            download(f"{url}/ptb.{split}.txt", path, md5)
        except OSError as e:
            raise OSError(f"{path} is missing and {e}; {where}") from e
    return root


def load_ptb(data_dir: str | os.PathLike | None = None, download_missing: bool = True, url: str = PTB_URL) -> Corpus:
    """PTB train/valid/test as ids, with the vocabulary of train in order of first appearance."""
    root = ensure_ptb(data_dir, download_missing, url)
    tokens = {split: read_tokens(root / f"ptb.{split}.txt") for split in SPLITS}
    vocab = Vocab.build(tokens["train"])
    return Corpus(
        train=vocab.encode(tokens["train"]),
        vocab=vocab,
        valid=vocab.encode(tokens["valid"], unknown="unk"),
        test=vocab.encode(tokens["test"], unknown="unk"),
    )


def load_corpus(
    source: str | os.PathLike | None = None, min_count: int = 1, max_vocab: int | None = None
) -> Corpus:
    """PTB from a data directory (or the default one when ``source`` is None), or any whitespace-tokenised
    text file (newlines as ``<eos>``; words below ``min_count`` or beyond ``max_vocab`` become ``<unk>``
    when the text has that word, else they are dropped, as gensim does)."""
    if source is None or Path(source).is_dir():
        if min_count == 1 and max_vocab is None:
            return load_ptb(source)
        root = ensure_ptb(source)
        source = root / "ptb.train.txt"
    path = Path(source)
    tokens = read_tokens(path)
    vocab = Vocab.build(tokens, min_count=min_count, max_size=max_vocab)
    if len(vocab) == 0:
        raise ValueError(f"load_corpus: {path} has no word seen at least {min_count} times")
    return Corpus(train=vocab.encode(tokens, unknown="unk" if UNK in vocab else "drop"), vocab=vocab)
