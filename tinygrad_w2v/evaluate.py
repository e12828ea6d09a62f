"""Word vectors and how to judge them: nearest words, analogies (3CosAdd), word-similarity correlation, and
the vector file formats (word2vec text, which gensim reads, and ``.npz``).

Everything works on unit-length rows: the cosine similarity of all words with a query is one matrix
product. Analogy questions ``a : b :: c : ?`` are answered by the word nearest to ``b - a + c`` (unit
vectors, Mikolov et al. 2013's 3CosAdd) other than ``a``, ``b``, ``c``, a chunk of questions at a time.
"""

from __future__ import annotations

import os
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


def _data_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, stripped text)`` of every non-empty line that is not a ``#`` comment."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path}") from None
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()
            and not line.lstrip().startswith("#")]


class KeyedVectors:
    """``words`` (N,) and their ``vectors`` (N, D): lookup, nearest words, analogies, evaluation, files."""

    def __init__(self, words: list[str], vectors: np.ndarray):
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(f"KeyedVectors: {len(words)} words but vectors of shape {vectors.shape}")
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("KeyedVectors: words must be unique")
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

    def _nearest(self, query: np.ndarray, exclude: list[int], top: int) -> list[tuple[str, float]]:
        sims = self.unit @ (query / max(float(np.linalg.norm(query)), 1e-12))
        sims[exclude] = -np.inf
        best = np.argsort(-sims, kind="stable")[:top]
        return [(self.words[i], float(sims[i])) for i in best]

    def most_similar(self, word: str, top: int = 5) -> list[tuple[str, float]]:
        """The ``top`` words of highest cosine similarity to ``word`` (itself excluded), with the similarity."""
        i = self.id(word)
        return self._nearest(self.unit[i], [i], top)

    def analogy(self, a: str, b: str, c: str, top: int = 1) -> list[tuple[str, float]]:
        """``a : b :: c : ?`` by 3CosAdd: the words nearest to ``b - a + c`` (unit vectors), not a, b or c."""
        ia, ib, ic = self.id(a), self.id(b), self.id(c)
        return self._nearest(self.unit[ib] - self.unit[ia] + self.unit[ic], [ia, ib, ic], top)

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
                if len(parts) != 3:
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
        """Read a word2vec text file (as written by ``save_word2vec_format`` or gensim)."""
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise FileNotFoundError(f"load_word2vec_format: no such file: {path}") from None
        try:
            count, dim = (int(x) for x in lines[0].split())
        except (IndexError, ValueError):
            raise ValueError(f"{path}, line 1: expected a header 'count dim'") from None
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
        return cls(words, vectors)

    def save_npz(self, path: str | os.PathLike) -> Path:
        """``words`` and ``vectors`` in one ``.npz`` (no pickle), atomically."""
        return files.save_npz(path, {"words": np.asarray(self.words, dtype=str), "vectors": self.vectors})

    @classmethod
    def load_npz(cls, path: str | os.PathLike) -> KeyedVectors:
        arrays = files.load_npz(path)
        if set(arrays) != {"words", "vectors"}:
            raise ValueError(f"{path} is not a vector file: it holds {sorted(arrays)}, expected words and vectors")
        return cls([str(w) for w in arrays["words"]], arrays["vectors"])
