"""Word vectors and how to judge them: nearest words, analogies (3CosAdd), word-similarity correlation, and
the vector file formats (word2vec text, which gensim reads, and ``.npz``).

Everything works on unit-length rows: the cosine similarity of all words with a query is one matrix
product. Analogy questions ``a : b :: c : ?`` are answered by the word nearest to ``b - a + c`` (unit
vectors, Mikolov et al. 2013's 3CosAdd) other than ``a``, ``b``, ``c``, a chunk of questions at a time.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import files


@dataclass
class AnalogyResult:
    """Accuracy over the questions whose four words are all in the vocabulary; ``sections`` maps each
    ``: section`` header to ``(correct, total)``; ``skipped`` counts questions with an unknown word."""

    correct: int = 0
    total: int = 0
    skipped: int = 0
    sections: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def __str__(self) -> str:
        return (f"analogy accuracy {self.accuracy:.2%} ({self.correct}/{self.total} questions in vocabulary, "
                f"{self.skipped} skipped)")


def _text_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file (a leading byte-order mark is dropped); binary or non-UTF-8 content
    is an error naming the file and the line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path}") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    nul = raw.find(b"\0")
    try:
        if nul >= 0:
            raise UnicodeDecodeError("utf-8", raw, nul, nul + 1, "a NUL byte: binary data")
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ValueError(f"{path}, line {line}: not UTF-8 text ({e.reason}); binary word2vec files are not read, "
                         "save vectors as text") from None
    return text.splitlines()


def _data_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, stripped text)`` of every non-empty line that is not a ``#`` comment."""
    return [(n, line.strip()) for n, line in enumerate(_text_lines(path), 1) if line.strip()
            and not line.lstrip().startswith("#")]


class DuplicateWord(ValueError):
    """A word given twice to ``KeyedVectors``: at row ``first`` and again at row ``row``."""

    def __init__(self, word: str, first: int, row: int):
        super().__init__(f"KeyedVectors: the word {word!r} appears twice (rows {first} and {row})")
        self.word, self.first, self.row = word, first, row


class KeyedVectors:
    """``words`` (N,) and their ``vectors`` (N, D): lookup, nearest words, analogies, evaluation, files."""

    def __init__(self, words: list[str], vectors: np.ndarray):
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(f"KeyedVectors: {len(words)} words but vectors of shape {vectors.shape}")
        self.words = list(words)
        self.index = {}
        for i, w in enumerate(self.words):
            if self.index.setdefault(w, i) != i:
                raise DuplicateWord(w, self.index[w], i)
        self.vectors = vectors
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.unit = vectors / np.maximum(norms, 1e-12)  # rows of length 1 (a zero row stays zero)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def id(self, word: str) -> int:
        try:
            return self.index[word]
        except KeyError:
            raise KeyError(f"'{word}' is not in the vocabulary ({len(self)} words)") from None

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.id(word)]

    def similarity(self, w1: str, w2: str) -> float:
        """Cosine similarity of two words."""
        return float(self.unit[self.id(w1)] @ self.unit[self.id(w2)])

    def _nearest(self, query: np.ndarray, exclude: list[int], topn: int) -> list[tuple[str, float]]:
        if not isinstance(topn, (int, np.integer)) or topn < 0:
            raise ValueError(f"KeyedVectors: topn must be an integer >= 0, got {topn!r}")
        sims = self.unit @ (query / max(float(np.linalg.norm(query)), 1e-12))
        order = np.argsort(-np.nan_to_num(sims, nan=-np.inf), kind="stable")  # NaN similarities rank last
        order = order[~np.isin(order, exclude)][:topn]
        return [(self.words[i], float(sims[i])) for i in order]

    def most_similar(self, word: str, topn: int = 5) -> list[tuple[str, float]]:
        """The ``topn`` words of highest cosine similarity to ``word`` (never ``word`` itself; fewer when the
        vocabulary is smaller), with the similarity; NaN similarities (NaN vectors) rank last."""
        i = self.id(word)
        return self._nearest(self.unit[i], [i], topn)

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> list[tuple[str, float]]:
        """``a : b :: c : ?`` by 3CosAdd: the words nearest to ``b - a + c`` (unit vectors), not a, b or c."""
        ia, ib, ic = self.id(a), self.id(b), self.id(c)
        return self._nearest(self.unit[ib] - self.unit[ia] + self.unit[ic], [ia, ib, ic], topn)

    def evaluate_analogies(self, path: str | os.PathLike, lowercase: bool = True, chunk: int = 512) -> AnalogyResult:
        """Accuracy on a ``questions-words.txt`` file (``: section`` headers, ``a b c d`` lines), per section
        and in total, over the questions whose words are all in the vocabulary (after lowercasing)."""
        path = Path(path)
        result = AnalogyResult()
        section, names, ids = None, [], []
        for n, line in _data_lines(path):
            if line.startswith(":"):
                section = line[1:].strip()
                result.sections.setdefault(section, (0, 0))
                continue
            words = line.lower().split() if lowercase else line.split()
            if len(words) != 4:
                raise ValueError(f"{path}, line {n}: expected 4 words 'a b c d', got {line!r}")
            if section is None:
                raise ValueError(f"{path}, line {n}: a question before the first ': section' header")
            if all(w in self.index for w in words):
                names.append(section)
                ids.append([self.index[w] for w in words])
            else:
                result.skipped += 1
        if not ids:
            return result
        ids = np.asarray(ids)
        hits = np.empty(len(ids), dtype=bool)
        for start in range(0, len(ids), chunk):
            q = ids[start : start + chunk]
            sims = (self.unit[q[:, 1]] - self.unit[q[:, 0]] + self.unit[q[:, 2]]) @ self.unit.T  # (chunk, N)
            rows = np.arange(len(q))[:, None]
            sims[rows, q[:, :3]] = -np.inf  # never answer with a question word
            hits[start : start + chunk] = sims.argmax(axis=1) == q[:, 3]
        names = np.asarray(names)
        for name in result.sections:
            mine = hits[names == name]
            result.sections[name] = (int(mine.sum()), int(mine.size))
        result.correct, result.total = int(hits.sum()), len(hits)
        return result

    def evaluate_similarity(self, path: str | os.PathLike, lowercase: bool = True) -> tuple[float, int, int]:
        """Spearman correlation between cosine similarity and the human scores of a WordSim-353 style file
        (``word1<TAB>word2<TAB>score``, ``#`` comments) over pairs in the vocabulary; returns
        ``(spearman, pairs_used, pairs_skipped)``."""
        from scipy.stats import spearmanr

        path = Path(path)
        ours, human, skipped = [], [], 0
        for n, line in _data_lines(path):
            parts = line.split("\t")
            try:
                w1, w2, score = parts[0].strip(), parts[1].strip(), float(parts[2])
                if len(parts) != 3 or not np.isfinite(score):
                    raise ValueError
            except (IndexError, ValueError):
                raise ValueError(f"{path}, line {n}: expected 'word1<TAB>word2<TAB>score', got {line!r}") from None
            if lowercase:
                w1, w2 = w1.lower(), w2.lower()
            if w1 in self.index and w2 in self.index:
                ours.append(self.similarity(w1, w2))
                human.append(score)
            else:
                skipped += 1
        if len(ours) < 2:
            return float("nan"), len(ours), skipped
        return float(spearmanr(ours, human).statistic), len(ours), skipped

    # ----- files ----------------------------------------------------------------------------------
    def save_word2vec_format(self, path: str | os.PathLike) -> Path:
        """The word2vec text format (a ``count dim`` header, then ``word v1 ... vD`` per line), atomically."""
        path = Path(path)
        for w in self.words:
            if not w or any(ch.isspace() for ch in w):
                raise ValueError(f"save_word2vec_format: the word {w!r} is empty or has whitespace in it")
        with files.atomic_write(path, "w", encoding="utf-8") as f:
            f.write(f"{len(self)} {self.vectors.shape[1]}\n")
            for w, row in zip(self.words, self.vectors):
                f.write(w + " " + " ".join(f"{x:.7g}" for x in row.tolist()) + "\n")
        return path

    @classmethod
    def load_word2vec_format(cls, path: str | os.PathLike) -> KeyedVectors:
        """Read a word2vec text file (as written by ``save_word2vec_format`` or gensim). Errors name the file
        and the line: not UTF-8 text, a bad header, a short or long row, a duplicate word. NaN or infinite
        entries load with a warning naming the first such line."""
        path = Path(path)
        lines = _text_lines(path)
        try:
            count, dim = (int(x) for x in lines[0].split())
            if count < 0 or dim < 1:
                raise ValueError
        except (IndexError, ValueError):
            raise ValueError(f"{path}, line 1: expected a header 'count dim' (count >= 0, dim >= 1), got "
                             f"{lines[0] if lines else ''!r}") from None
        if len(lines) - 1 < count:
            raise ValueError(f"{path}: the header announces {count} words but the file has {len(lines) - 1} lines")
        words, vectors = [], np.empty((count, dim), dtype=np.float32)
        for i, line in enumerate(lines[1 : count + 1]):
            parts = line.rstrip().split(" ")
            if len(parts) != dim + 1:
                raise ValueError(f"{path}, line {i + 2}: expected a word and {dim} numbers, got {len(parts)} fields")
            try:
                vectors[i] = [float(x) for x in parts[1:]]
            except ValueError:
                raise ValueError(f"{path}, line {i + 2}: a vector entry is not a number") from None
            words.append(parts[0])
        bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
        if bad.size:
            warnings.warn(f"{path}: {bad.size} vectors hold NaN or infinite values (first on line {bad[0] + 2})",
                          stacklevel=2)
        try:
            return cls(words, vectors)
        except DuplicateWord as e:  # rows to file lines: the header is line 1
            raise ValueError(f"{path}, line {e.row + 2}: the word {e.word!r} appears again "
                             f"(first on line {e.first + 2})") from None

    def save_npz(self, path: str | os.PathLike) -> Path:
        """``words`` and ``vectors`` in one ``.npz`` (no pickle), atomically."""
        return files.save_npz(path, {"words": np.asarray(self.words, dtype=str), "vectors": self.vectors})

    @classmethod
    def load_npz(cls, path: str | os.PathLike) -> KeyedVectors:
        arrays = files.load_npz(path)
        if set(arrays) != {"words", "vectors"}:
            raise ValueError(f"{path} is not a vector file: it holds {sorted(arrays)}, expected words and vectors")
        try:
            return cls([str(w) for w in arrays["words"]], arrays["vectors"])
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
