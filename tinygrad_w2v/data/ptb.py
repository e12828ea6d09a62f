"""The Penn Treebank corpus: find it, download and verify it, and read it as word ids.

The data directory is, in order: the ``data_dir`` argument (a demo's ``--data DIR``), the environment
variable ``TINYGRAD_W2V_DATA``, or ``~/.cache/tinygrad_w2v/ptb``. Missing files are downloaded from the
mirror "Deep Learning from Scratch 2" uses, with a progress bar, and every file's md5 is checked. A
download goes to a temporary file that replaces nothing until it is complete and verified; it has an
overall deadline besides the per-read timeout, and stops as soon as the server sends (or announces) more
bytes than the file has.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
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
PTB_SIZE = {"train": 5101618, "valid": 399782, "test": 449945}
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


class _DownloadError(OSError):
    """A failed download, with the url in its message."""


def download(
    url: str, dest: str | os.PathLike, md5: str, size: int | None = None, timeout: float = 30.0,
    deadline: float = 600.0,
) -> Path:
    """Fetch ``url`` into ``dest`` with a progress bar; ``dest`` is written only if the whole body arrived
    and its md5 is ``md5``. ``size``: the file's known size in bytes; a server announcing or sending more
    stops the download. ``timeout``: the seconds one read may wait; ``deadline``: the seconds the whole
    download may take (checked after every read, so it may run over by up to ``timeout``). Raises
    ``OSError`` naming the url and the problem otherwise."""
    dest = Path(dest)
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=min(timeout, deadline)) as response, atomic_write(dest) as out:
            announced = response.headers.get("Content-Length")
            total = int(announced) if announced is not None and announced.strip().isdigit() else None
            if announced is not None and total is None:
                raise _DownloadError(f"download of {url}: the server sent the Content-Length {announced!r}, "
                                     "not a number of bytes")
            if size is not None and total is not None and total > size:
                raise _DownloadError(f"download of {url}: the server announces {total} bytes, the file has {size}")
            digest, received = hashlib.md5(), 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}") as bar:
                for block in iter(lambda: response.read1(1 << 16), b""):
                    received += len(block)
                    if size is not None and received > size:
                        raise _DownloadError(f"download of {url}: the server sent more than the {size} bytes of "
                                             "the file")
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
                    if time.monotonic() - start > deadline:
                        raise _DownloadError(f"download of {url} did not finish within {deadline:g} s "
                                             f"({received} bytes arrived)")
            if total is not None and received != total:
                raise _DownloadError(f"download of {url} stopped after {received} of {total} bytes")
            if digest.hexdigest() != md5:
                raise _DownloadError(f"download of {url} has md5 {digest.hexdigest()}, expected {md5} (corrupted)")
    except _DownloadError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as e:  # URLError, timeouts, resets, a full disk
        reason = getattr(e, "reason", None) or f"{type(e).__name__}: {e}"
        raise _DownloadError(f"could not download {url}: {reason}") from e
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
            download(f"{url}/ptb.{split}.txt", path, md5, size=PTB_SIZE[split])
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
