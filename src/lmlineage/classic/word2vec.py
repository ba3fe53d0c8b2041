"""word2vec: CBOW and skip-gram (Mikolov et al. 2013a), negative sampling and subsampling (2013b).

2013a, "Efficient Estimation of Word Representations in Vector Space": the continuous
bag-of-words model predicts a word from the mean of its context's vectors; skip-gram predicts
each context word from the word. The softmax over the vocabulary is replaced by

* hierarchical softmax over a Huffman tree (2013a, Sec. 3; 2013b, Sec. 2.1): a word is the path
  of binary decisions from the root to its leaf, frequent words get short codes; or
* negative sampling (2013b, Sec. 2.2): the true word against ``negative`` words drawn from the
  unigram distribution raised to 3/4.

Frequent words are subsampled (2013b, Sec. 2.3; the released tool's form of the rule: a word of
frequency f is kept with probability ``(sqrt(f / (s * total)) + 1) * (s * total) / f``), the
window is shrunk uniformly at random for each word (2013a, Sec. 3.2: nearer words weigh more),
and the learning rate falls linearly from ``alpha`` to ``min_alpha`` over training.

Two training paths run the same algorithm: a compiled CPU loop (numba, one SGD step per pair,
Hogwild threads; :mod:`lmlineage.classic._w2v_kernels`) and a torch path that trains on
vectorised batches of pairs with sparse ``index_add_`` updates, for GPUs (and for CPUs without
numba).
"""

from __future__ import annotations

import heapq
import json
import os
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lmlineage.core.config import Spec
from lmlineage.core.errors import UserError
from lmlineage.models.capabilities import ModelCapabilities

from .vectors import WordVectors

__all__ = [
    "Word2Vec",
    "Word2VecConfig",
    "build_vocab",
    "huffman_tree",
    "keep_probabilities",
    "negative_sampling_table",
    "noise_distribution",
]

# Longer sentences are cut into pieces of this many words (a window never spans a cut).
MAX_SENTENCE_WORDS = 10_000
# Words handed to one worker call: small enough to balance threads, large enough to amortise a call.
JOB_WORDS = 10_000
# torch path: the most summed SGD steps one row takes from one batch (see add_rows).
MAX_ROW_STEPS = 8
_FORMAT = "lmlineage.word2vec"


@dataclass
class Word2VecConfig(Spec):
    """Hyperparameters; defaults are the released word2vec tool's (alpha: 0.025 skip-gram, 0.05 CBOW)."""

    family: str = "word2vec"
    arch: str = "skipgram"  # "skipgram" | "cbow"
    dim: int = 100
    window: int = 5
    negative: int = 5  # noise words per positive pair; 0 turns negative sampling off
    hs: bool = False  # hierarchical softmax
    sample: float = 1e-3  # subsampling threshold s; 0 turns subsampling off
    min_count: int = 5
    epochs: int = 5
    alpha: float | None = None  # None: 0.025 for skip-gram, 0.05 for CBOW
    min_alpha: float = 1e-4
    seed: int = 1
    batch_pairs: int = 1024  # torch path: (input, target) pairs per update (raise it on a GPU)

    def __post_init__(self):
        if self.alpha is None:
            self.alpha = 0.025 if self.arch == "skipgram" else 0.05
        self.validate()

    def validate(self) -> None:
        if self.arch not in ("skipgram", "cbow"):
            raise UserError(f"unknown word2vec arch {self.arch!r}", "use --arch skipgram or --arch cbow")
        for name in ("dim", "window", "min_count", "epochs", "batch_pairs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"word2vec {name} must be a whole number of at least 1, got {value!r}")
        if not isinstance(self.negative, int) or self.negative < 0:
            raise UserError(f"word2vec negative must be a whole number >= 0, got {self.negative!r}")
        if self.negative == 0 and not self.hs:
            raise UserError("word2vec needs an output layer", "set negative > 0 or hs=True (or both)")
        if not self.sample >= 0:
            raise UserError(f"word2vec sample must be >= 0, got {self.sample}", "1e-3 to 1e-5 is usual; 0 is off")
        if not (self.alpha > 0 and 0 <= self.min_alpha <= self.alpha):
            raise UserError(
                "word2vec learning rates need alpha > 0 and 0 <= min_alpha <= alpha, "
                f"got alpha={self.alpha}, min_alpha={self.min_alpha}"
            )


# ---------------------------------------------------------------------- vocabulary and tables
def build_vocab(sentences: Sequence[Sequence[str]], min_count: int) -> tuple[list[str], np.ndarray]:
    """Words seen at least ``min_count`` times, most frequent first (ties: first seen first)."""
    if isinstance(sentences, str) or not isinstance(sentences, Sequence):
        raise UserError(
            "word2vec trains on a list of sentences, each a list of words",
            "split raw text with lmlineage.tokenizers.word.sentences_from_text",
        )
    counts: Counter[str] = Counter()
    for number, sentence in enumerate(sentences):
        if isinstance(sentence, str) or not isinstance(sentence, Sequence):
            raise UserError(
                f"sentence {number} is a {type(sentence).__name__}, not a list of words",
                "split raw text with lmlineage.tokenizers.word.sentences_from_text",
            )
        counts.update(sentence)
    bad = next((w for w in counts if not isinstance(w, str) or not w), None)
    if bad is not None:
        raise UserError(f"word2vec words must be non-empty strings, found {bad!r}")
    kept = [(w, c) for w, c in counts.items() if c >= min_count]
    kept.sort(key=lambda wc: -wc[1])  # stable: equal counts keep first-seen order
    if len(kept) < 2:
        raise UserError(
            f"only {len(kept)} distinct word(s) occur at least min_count={min_count} times",
            "give more text or lower min_count",
        )
    return [w for w, _ in kept], np.array([c for _, c in kept], dtype=np.int64)


def huffman_tree(counts: Sequence[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Huffman codes for hierarchical softmax (2013b, Sec. 2.1).

    Returns, per word, its ``codes`` (the 0/1 branch taken at each inner node, root first) and
    ``points`` (those inner nodes' indices, 0 .. V-2; the root is V-2). Ties are broken by
    creation order, so the tree is deterministic.
    """
    size = len(counts)
    if size < 2:
        raise UserError("hierarchical softmax needs at least 2 words in the vocabulary")
    heap = [(int(c), node) for node, c in enumerate(counts)]
    heapq.heapify(heap)
    parent = np.zeros(2 * size - 1, dtype=np.int64)
    branch = np.zeros(2 * size - 1, dtype=np.uint8)
    for inner in range(size, 2 * size - 1):
        (c0, n0), (c1, n1) = heapq.heappop(heap), heapq.heappop(heap)
        parent[n0], parent[n1] = inner, inner
        branch[n1] = 1  # the larger of the two merged nodes takes code 1
        heapq.heappush(heap, (c0 + c1, inner))
    root = 2 * size - 2
    codes, points = [], []
    for word in range(size):
        path_codes, path_points, node = [], [], word
        while node != root:
            path_codes.append(branch[node])
            node = parent[node]
            path_points.append(node - size)
        codes.append(np.array(path_codes[::-1], dtype=np.uint8))
        points.append(np.array(path_points[::-1], dtype=np.int32))
    return codes, points


def noise_distribution(counts: Sequence[int], power: float = 0.75) -> np.ndarray:
    """The negative-sampling distribution: unigram counts raised to 3/4, normalised (2013b, Sec. 2.2)."""
    weights = np.asarray(counts, dtype=np.float64) ** power
    return weights / weights.sum()


def negative_sampling_table(counts: Sequence[int], power: float = 0.75) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table for :func:`noise_distribution`: O(1) draws, exact up to float32.

    A draw picks a column i uniformly, keeps i with probability ``prob[i]`` and otherwise
    takes ``alias[i]`` (Vose's construction). The released tool fills a 10^8-entry table
    instead; the distribution is the same.
    """
    scaled = noise_distribution(counts, power) * len(counts)
    prob = np.ones(len(counts), dtype=np.float64)
    alias = np.arange(len(counts), dtype=np.int64)
    small = [i for i, x in enumerate(scaled) if x < 1.0]
    large = [i for i, x in enumerate(scaled) if x >= 1.0]
    while small and large:
        lo, hi = small.pop(), large.pop()
        prob[lo], alias[lo] = scaled[lo], hi
        scaled[hi] -= 1.0 - scaled[lo]  # hi gives the rest of lo's column
        (small if scaled[hi] < 1.0 else large).append(hi)
    return prob.astype(np.float32), alias


def keep_probabilities(counts: Sequence[int], sample: float) -> np.ndarray:
    """Probability of keeping each occurrence of a word under subsampling threshold ``sample``.

    ``(sqrt(f / (s * total)) + 1) * (s * total) / f`` capped at 1 (the released tool's form of
    2013b's ``1 - sqrt(t / f)``); ``sample=0`` keeps everything.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones(len(counts), dtype=np.float32)
    threshold = sample * counts.sum()
    keep = (np.sqrt(counts / threshold) + 1.0) * threshold / counts
    return np.minimum(keep, 1.0).astype(np.float32)


# ---------------------------------------------------------------------- the model
@dataclass
class TrainStats:
    backend: str = ""
    device: str = "cpu"
    workers: int = 1
    epochs: int = 0
    raw_words: int = 0  # words read (in vocabulary), all epochs
    effective_words: int = 0  # words trained on after subsampling, all epochs
    seconds: float = 0.0  # training loop only, vocabulary building excluded

    @property
    def words_per_second(self) -> float:
        return self.effective_words / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Word2Vec:
    """A trained word2vec model: vocabulary, input vectors (the embeddings) and output weights."""

    config: Word2VecConfig
    words: list[str]
    counts: np.ndarray
    syn0: np.ndarray  # (V, dim) input vectors: the word embeddings
    syn1neg: np.ndarray | None = None  # (V, dim) output vectors for negative sampling
    syn1: np.ndarray | None = None  # (V-1, dim) inner-node vectors for hierarchical softmax
    stats: TrainStats = field(default_factory=TrainStats)

    @property
    def vectors(self) -> WordVectors:
        return WordVectors(self.words, self.syn0, self.counts)

    @classmethod
    def train(
        cls,
        sentences: Sequence[Sequence[str]],
        arch: str = "skipgram",
        dim: int = 100,
        window: int = 5,
        negative: int = 5,
        hs: bool = False,
        sample: float = 1e-3,
        min_count: int = 5,
        epochs: int = 5,
        alpha: float | None = None,
        min_alpha: float = 1e-4,
        seed: int = 1,
        workers: int = 2,
        device: str = "cpu",
        backend: str = "auto",
        batch_pairs: int = 1024,
        progress: bool = True,
    ) -> Word2Vec:
        """Build the vocabulary from ``sentences`` (lists of words) and train.

        ``backend``: ``"numba"`` (compiled CPU loop, ``workers`` threads), ``"torch"`` (batched,
        on ``device``), or ``"auto"``: numba on CPU when it is installed, else torch.
        """
        config = Word2VecConfig(
            arch=arch, dim=dim, window=window, negative=negative, hs=hs, sample=sample, min_count=min_count,
            epochs=epochs, alpha=alpha, min_alpha=min_alpha, seed=seed, batch_pairs=batch_pairs,
        )
        words, counts = build_vocab(sentences, min_count)
        rng = np.random.default_rng(seed)
        # input vectors start uniform in [-0.5/dim, 0.5/dim], output weights at zero (word2vec.c)
        syn0 = ((rng.random((len(words), dim), dtype=np.float32) - 0.5) / dim).astype(np.float32)
        model = cls(
            config, words, counts, syn0,
            syn1neg=np.zeros((len(words), dim), np.float32) if negative > 0 else None,
            syn1=np.zeros((len(words) - 1, dim), np.float32) if hs else None,
        )
        model.train_more(sentences, epochs=epochs, workers=workers, device=device, backend=backend, progress=progress)
        return model

    def train_more(
        self,
        sentences: Sequence[Sequence[str]],
        epochs: int | None = None,
        workers: int = 2,
        device: str = "cpu",
        backend: str = "auto",
        progress: bool = True,
        seed: int | None = None,
    ) -> Word2Vec:
        """Train (further) on ``sentences`` with the learning rate falling from alpha to min_alpha again.

        Words outside the vocabulary are skipped. Returns ``self``.
        """
        cfg = self.config
        epochs = cfg.epochs if epochs is None else epochs
        if not isinstance(epochs, int) or epochs < 1:
            raise UserError(f"epochs must be a whole number of at least 1, got {epochs!r}")
        if not isinstance(workers, int) or workers < 1:
            raise UserError(f"workers must be a whole number of at least 1, got {workers!r}")
        backend = _choose_backend(backend, device)
        corpus, bounds = _encode(sentences, {w: i for i, w in enumerate(self.words)})
        if len(corpus) == 0:
            raise UserError("none of the sentences has a word in the vocabulary")
        tables = _Tables.build(self, cfg)
        seed = cfg.seed if seed is None else seed
        bar = _progress_bar(progress, epochs * len(corpus), f"word2vec {cfg.arch}")
        start = time.perf_counter()
        try:
            if backend == "numba":
                trained = _train_numba(self, tables, corpus, bounds, epochs, workers, seed, bar)
            else:
                trained = _train_torch(self, tables, corpus, bounds, epochs, device, workers, seed, bar)
        finally:
            bar.close()
        self.stats = TrainStats(
            backend=backend, device=device, workers=workers if str(device) == "cpu" else 1, epochs=epochs,
            raw_words=epochs * len(corpus), effective_words=trained, seconds=time.perf_counter() - start,
        )
        return self

    # ------------------------------------------------------------------ checkpoints
    def save(self, directory: str | os.PathLike) -> Path:
        """``config.json`` (hyperparameters, vocabulary, counts) + ``model.safetensors`` (weights)."""
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {"input": self.syn0}
        if self.syn1neg is not None:
            tensors["output_negative"] = self.syn1neg
        if self.syn1 is not None:
            tensors["output_hs"] = self.syn1
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(directory / "model.safetensors"))
        meta = {
            "format": _FORMAT,
            "version": 1,
            "family": "word2vec",
            "config": asdict(self.config),
            "stats": asdict(self.stats),
            "words": self.words,
            "counts": self.counts.tolist(),
        }
        (directory / "config.json").write_text(json.dumps(meta, ensure_ascii=False) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Word2Vec:
        from safetensors.numpy import load_file

        directory = Path(directory)
        config_path, weights_path = directory / "config.json", directory / "model.safetensors"
        if not config_path.is_file() or not weights_path.is_file():
            raise UserError(f"{directory} is not a word2vec checkpoint", "it needs config.json and model.safetensors")
        try:
            meta = json.loads(config_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise UserError(f"{config_path} is not valid JSON: {err}") from None
        found = meta.get("format") if isinstance(meta, dict) else None
        if found != _FORMAT:
            raise UserError(f"{config_path} is not a word2vec checkpoint (format {found!r}, expected {_FORMAT!r})")
        try:
            config = Word2VecConfig(**meta["config"])
            stats = TrainStats(**meta.get("stats", {}))
            words, counts = list(meta["words"]), np.array(meta["counts"], dtype=np.int64)
        except (KeyError, TypeError) as err:
            raise UserError(f"{config_path} is missing or has unknown fields: {err}") from None
        tensors = {k: np.array(v, dtype=np.float32) for k, v in load_file(str(weights_path)).items()}  # writable
        expected = {"input": len(words)}
        if config.negative > 0:
            expected["output_negative"] = len(words)
        if config.hs:
            expected["output_hs"] = len(words) - 1
        for name, rows in expected.items():
            if name not in tensors or tensors[name].shape != (rows, config.dim):
                raise UserError(f"{weights_path} has no {name!r} matrix of shape ({rows}, {config.dim})")
        model = cls(config, words, counts, tensors["input"], tensors.get("output_negative"), tensors.get("output_hs"))
        model.stats = stats
        return model


# ---------------------------------------------------------------------- training paths
@dataclass
class _Tables:
    keep: np.ndarray  # (V,) float32 subsampling keep probability
    noise_prob: np.ndarray  # (V,) float32 alias-table keep probability
    noise_alias: np.ndarray  # (V,) int64 alias-table alternative
    codes: np.ndarray  # (V, L) uint8 Huffman codes, padded
    points: np.ndarray  # (V, L) int32 inner nodes, padded
    lengths: np.ndarray  # (V,) int32 code lengths

    @classmethod
    def build(cls, model: Word2Vec, cfg: Word2VecConfig) -> _Tables:
        size = len(model.words)
        if cfg.hs:
            code_list, point_list = huffman_tree(model.counts)
            longest = max(len(c) for c in code_list)
            codes = np.zeros((size, longest), np.uint8)
            points = np.zeros((size, longest), np.int32)
            for i, (c, p) in enumerate(zip(code_list, point_list)):
                codes[i, : len(c)], points[i, : len(p)] = c, p
            lengths = np.array([len(c) for c in code_list], np.int32)
        else:
            codes, points = np.zeros((size, 1), np.uint8), np.zeros((size, 1), np.int32)
            lengths = np.zeros(size, np.int32)
        keep = keep_probabilities(model.counts, cfg.sample)
        return cls(keep, *negative_sampling_table(model.counts), codes, points, lengths)


def _choose_backend(backend: str, device: str) -> str:
    if backend not in ("auto", "numba", "torch"):
        raise UserError(f"unknown word2vec backend {backend!r}", "use 'auto', 'numba' or 'torch'")
    on_cpu = str(device) == "cpu"
    if backend == "numba" and not on_cpu:
        raise UserError(f"the numba backend runs on the CPU, not {device!r}", "use backend='torch' for a GPU")
    if backend in ("auto", "numba") and on_cpu:
        try:
            import numba  # noqa: F401
        except ImportError:
            if backend == "numba":
                raise UserError("the numba backend needs the numba package", "pip install numba") from None
            return "torch"
        return "numba"
    return "torch"


def _encode(sentences: Sequence[Sequence[str]], index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Word ids of in-vocabulary words, and sentence bounds (long sentences cut to MAX_SENTENCE_WORDS)."""
    if isinstance(sentences, str) or not isinstance(sentences, Sequence):
        raise UserError("word2vec trains on a list of sentences, each a list of words")
    ids: list[int] = []
    bounds = [0]
    lookup = index.get
    for sentence in sentences:
        if isinstance(sentence, str):
            raise UserError("a sentence is a str, not a list of words", "split it with sentences_from_text")
        row = [i for i in map(lookup, sentence) if i is not None]
        for start in range(0, len(row), MAX_SENTENCE_WORDS):
            piece = row[start : start + MAX_SENTENCE_WORDS]
            if piece:
                ids.extend(piece)
                bounds.append(len(ids))
    return np.array(ids, dtype=np.int64), np.array(bounds, dtype=np.int64)


def _jobs(bounds: np.ndarray) -> list[tuple[int, int, int]]:
    """(first sentence, last sentence, words before) for runs of ~JOB_WORDS words."""
    jobs, first = [], 0
    for s in range(1, len(bounds)):
        if bounds[s] - bounds[first] >= JOB_WORDS or s == len(bounds) - 1:
            jobs.append((first, s, int(bounds[first])))
            first = s
    return jobs


def _job_seed(seed: int, epoch: int, job: int) -> int:
    """A well-mixed 64-bit seed per (seed, epoch, job) (splitmix64 finaliser)."""
    x = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + job * 0x94D049BB133111EB + 1) % 2**64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) % 2**64
    return x ^ (x >> 31)


def _train_numba(model, tables, corpus, bounds, epochs, workers, seed, bar) -> int:
    from . import _w2v_kernels as kernels

    cfg = model.config
    dim, total = cfg.dim, epochs * len(corpus)
    syn0 = model.syn0
    syn1neg = model.syn1neg if model.syn1neg is not None else np.zeros((1, dim), np.float32)
    syn1 = model.syn1 if model.syn1 is not None else np.zeros((1, dim), np.float32)
    table = kernels.sigmoid_table()
    fixed = (syn0, syn1neg, syn1, tables.keep, tables.noise_prob, tables.noise_alias, tables.codes, tables.points,
             tables.lengths,
             cfg.arch == "skipgram", cfg.hs, cfg.negative, cfg.window, dim, cfg.alpha, cfg.min_alpha)
    jobs = _jobs(bounds)
    trained = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = []
        for epoch in range(epochs):
            for number, (first, last, before) in enumerate(jobs):
                done = epoch * len(corpus) + before
                futures.append(pool.submit(
                    kernels.train_sentences, corpus, bounds, first, last, *fixed,
                    float(done), float(total), np.uint64(_job_seed(seed, epoch, number)), table,
                ))
        try:
            for future in as_completed(futures):
                effective, read = future.result()
                trained += effective
                bar.update(read)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return trained


def _train_torch(model, tables, corpus, bounds, epochs, device, workers, seed, bar) -> int:
    import torch

    dev = torch.device(device)
    if dev.type != "cpu":
        return _train_torch_on(model, tables, corpus, bounds, epochs, dev, seed, bar)
    threads = torch.get_num_threads()
    torch.set_num_threads(workers)  # on a CPU, ``workers`` are torch's threads
    try:
        return _train_torch_on(model, tables, corpus, bounds, epochs, dev, seed, bar)
    finally:
        torch.set_num_threads(threads)


def _train_torch_on(model, tables, corpus, bounds, epochs, dev, seed, bar) -> int:
    import torch

    cfg = model.config
    gen = torch.Generator(device=dev).manual_seed(seed)

    def on(array, dtype=None):
        return torch.as_tensor(np.ascontiguousarray(array), device=dev, dtype=dtype)

    syn0 = on(model.syn0)
    syn1neg = on(model.syn1neg) if model.syn1neg is not None else None
    syn1 = on(model.syn1) if model.syn1 is not None else None
    tokens_all = on(corpus)
    sentence_of = on(np.repeat(np.arange(len(bounds) - 1), np.diff(bounds)))
    keep = on(tables.keep)
    noise_prob, noise_alias = on(tables.noise_prob), on(tables.noise_alias)
    codes, points, lengths = on(tables.codes, torch.float32), on(tables.points, torch.int64), on(tables.lengths)
    path_mask = torch.arange(codes.shape[1], device=dev)[None, :] < lengths[:, None]
    total, trained, window = epochs * len(corpus), 0, cfg.window

    def output_layer(l1: torch.Tensor, centers: torch.Tensor, lr: float) -> torch.Tensor:
        """Gradient for the inputs ``l1`` (B, dim); output weights are updated in place."""
        work = torch.zeros_like(l1)
        units = []
        if cfg.hs:
            units.append((syn1, points[centers], 1.0 - codes[centers], path_mask[centers].float()))
        if cfg.negative:
            column = torch.randint(0, len(noise_prob), (len(centers), cfg.negative), device=dev, generator=gen)
            coin = torch.rand(column.shape, device=dev, generator=gen)
            noise = torch.where(coin < noise_prob[column], column, noise_alias[column])  # alias method
            targets = torch.cat([centers[:, None], noise], dim=1)
            labels = torch.zeros(targets.shape, device=dev)
            labels[:, 0] = 1.0
            mask = torch.ones(targets.shape, device=dev)
            mask[:, 1:] = (noise != centers[:, None]).float()
            units.append((syn1neg, targets, labels, mask))
        for weights, rows, labels, mask in units:
            out = weights[rows]  # (B, K, dim)
            score = torch.einsum("bd,bkd->bk", l1, out)
            g = (labels - torch.sigmoid(score)) * mask * lr
            work += torch.einsum("bk,bkd->bd", g, out)
            add_rows(weights, rows.reshape(-1), (g[..., None] * l1[:, None, :]).reshape(-1, cfg.dim), mask.reshape(-1))
        return work

    def add_rows(weights: torch.Tensor, rows: torch.Tensor, updates: torch.Tensor, mask=None) -> None:
        """``weights[rows] += updates``, summed over repeats, but a row hit k > MAX_ROW_STEPS times in
        one batch moves MAX_ROW_STEPS / k of its sum: stale gradients summed over a big batch
        overshoot where sequential SGD would have corrected itself (small vocabularies diverge)."""
        hits = torch.bincount(rows, weights=mask, minlength=weights.shape[0])[rows]
        scale = (MAX_ROW_STEPS / hits.clamp(min=1.0)).clamp(max=1.0)
        weights.index_add_(0, rows, updates * scale[:, None].to(updates.dtype))

    for epoch in range(epochs):
        for first, last, before in _jobs(bounds):
            lo, hi = int(bounds[first]), int(bounds[last])
            tokens, sentence = tokens_all[lo:hi], sentence_of[lo:hi]
            kept = torch.rand(hi - lo, device=dev, generator=gen) < keep[tokens]
            tokens, sentence = tokens[kept], sentence[kept]
            n = len(tokens)
            trained += n
            if n < 2:
                bar.update(hi - lo)
                continue
            reach = window - torch.randint(0, window, (n,), device=dev, generator=gen)
            position = torch.arange(n, device=dev)
            # context slots at offsets -window..window (0 excluded), valid inside the sentence and reach
            offsets = [o for o in range(-window, window + 1) if o != 0]
            context = torch.zeros((n, len(offsets)), dtype=torch.int64, device=dev)
            valid = torch.zeros((n, len(offsets)), dtype=torch.bool, device=dev)
            for slot, o in enumerate(offsets):
                j = (position + o).clamp(0, n - 1)
                ok = (position + o >= 0) & (position + o < n) & (reach >= abs(o))
                valid[:, slot] = ok & (sentence[j] == sentence)
                context[:, slot] = tokens[j]
            done = epoch * len(corpus) + before
            if cfg.arch == "skipgram":
                center_pos, slot = valid.nonzero(as_tuple=True)
                centers, inputs = tokens[center_pos], context[center_pos, slot]
                steps = range(0, len(centers), cfg.batch_pairs)
                for k, start in enumerate(steps):
                    lr = _rate(cfg, done + (hi - lo) * k / max(len(steps), 1), total)
                    c, x = centers[start : start + cfg.batch_pairs], inputs[start : start + cfg.batch_pairs]
                    add_rows(syn0, x, output_layer(syn0[x], c, lr))
            else:
                has = valid.any(dim=1)
                centers, context, valid = tokens[has], context[has], valid[has]
                rows = max(1, cfg.batch_pairs // (2 * window))
                steps = range(0, len(centers), rows)
                for k, start in enumerate(steps):
                    lr = _rate(cfg, done + (hi - lo) * k / max(len(steps), 1), total)
                    c, ctx, m = (t[start : start + rows] for t in (centers, context, valid))
                    m = m.float()
                    l1 = (syn0[ctx] * m[..., None]).sum(1) / m.sum(1, keepdim=True)
                    work = output_layer(l1, c, lr)
                    add_rows(syn0, ctx[m.bool()], work[:, None, :].expand(-1, ctx.shape[1], -1)[m.bool()])
            bar.update(hi - lo)
    model.syn0[...] = syn0.cpu().numpy()
    if syn1neg is not None:
        model.syn1neg[...] = syn1neg.cpu().numpy()
    if syn1 is not None:
        model.syn1[...] = syn1.cpu().numpy()
    return trained


def _rate(cfg: Word2VecConfig, done: float, total: int) -> float:
    """Linear decay from alpha to min_alpha over the run."""
    return cfg.alpha - (cfg.alpha - cfg.min_alpha) * min(1.0, done / total)


def _progress_bar(enabled: bool, total: int, label: str):
    from ..train.progress import progress

    return progress(total, enabled=enabled, desc=label, unit="word", transient=True, unit_scale=True)



# ---- the word2vec family's run: a fit into a run directory, and the checkpoint's face ---------------
class Word2VecCheckpoint(ModelCapabilities):
    """A trained model as the CLI sees it: neighbours and text vectors, no likelihood."""

    word_vectors = True
    samples_by_own_rule = True  # its sampler refuses, saying what to do instead

    def __init__(self, model: Word2Vec):
        self.model = model
        self.vectors = model.vectors

    def most_similar(self, positive, negative=(), topn: int = 10):
        return self.vectors.most_similar(positive, negative, topn=topn)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Per text, the L2-normalised mean of its in-vocabulary words' unit vectors (zeros if none)."""
        from ..tokenizers.word import words_from_line

        out = np.zeros((len(texts), self.vectors.dim), np.float32)
        for row, text in enumerate(texts):
            known = [w for w in words_from_line(text) if w in self.vectors]
            if known:
                mean = np.mean([self.vectors.unit(w) for w in known], axis=0)
                out[row] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        return out

    def evaluate_text(self, text: str) -> dict:
        raise UserError("word2vec learns word vectors, not a language model: it has no perplexity",
                        "query it with `lmlineage similar CHECKPOINT WORD` or evaluate analogies in Python")

    def sample_text(self, *_, **__):
        raise UserError("word2vec does not generate text", "query it with `lmlineage similar CHECKPOINT WORD`")


def fit_run(corpus: list[str], out: Path, settings: dict, options: dict, *, seed: int, progress: bool,
            device: str) -> dict:
    """Train on every sentence of ``corpus`` with the preset's ``settings`` overridden by the
    ``options`` given (--arch, --hs, ...) into ``out/best`` (also ``vectors.bin``, word2vec's binary
    format); return a one-line ``summary``: the vocabulary and a probe word's neighbours."""
    from lmlineage.checkpoint.directory import atomic_directory

    from ..tokenizers.word import sentences_from_text

    settings = {**settings, **{k: v for k, v in options.items() if v is not None}}
    if settings["hs"] and options.get("negative") is None:
        settings["negative"] = 0  # --hs alone: the Huffman softmax instead of negative sampling
    sentences = sentences_from_text("\n".join(corpus))
    if not sentences:
        raise UserError("the corpus has no words to train word2vec on", "give a text corpus")
    model = Word2Vec.train(sentences, seed=seed % 2**31, progress=progress, device=device, **settings)
    with atomic_directory(Path(out) / "best") as tmp:
        model.save(tmp)
        model.vectors.save_word2vec_format(tmp / "vectors.bin", binary=True)
    probe = next((w for w in model.words if len(w) > 3), model.words[0])
    neighbours = ", ".join(w for w, _ in model.vectors.most_similar(probe, topn=5))
    return {"summary": f"{len(model.words)} words x {model.config.dim} ({model.config.arch}, "
                       f"{model.stats.words_per_second:,.0f} words/s) | nearest to {probe!r}: {neighbours}"}


def load_checkpoint(directory) -> Word2VecCheckpoint:
    return Word2VecCheckpoint(Word2Vec.load(directory))
