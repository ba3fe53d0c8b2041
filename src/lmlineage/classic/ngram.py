"""Statistical n-gram language model: counts, smoothing, scoring, sampling, ARPA.

    lm = NGramLM.fit(sentences_from_text(text), order=3, method="mkn")
    lm.perplexity(test_sentences); lm.to_arpa("lm.arpa"); lm.save("ckpt/")

Methods (``method=``):
  ``mle``   maximum likelihood; an unseen context backs off to its longest seen suffix.
  ``addk``  add-k (Lidstone; ``k=1`` is Laplace, also spelled ``laplace``), as NLTK's
            ``Lidstone``: an unseen context gets the uniform distribution.
  ``kn``    interpolated Kneser-Ney with one fixed discount (default 0.75). With
            ``padding="nltk"`` it is ``nltk.lm.KneserNeyInterpolated`` exactly (whose own
            default discount is 0.1; pass it to compare).
  ``mkn``   interpolated modified Kneser-Ney, discounts D1, D2, D3+ per order from the
            count-of-counts (Chen & Goodman 1998, eq. 26).
  ``katz``  Katz back-off with Good-Turing discounts for counts <= 5 (Katz 1987).

Sentence boundaries (``padding=``):
  ``single`` (default) one ``<s>`` before and one ``</s>`` after each sentence, the
            SRILM/KenLM convention; ``<s>`` is never predicted; ARPA files use it.
  ``nltk``  ``order - 1`` of each and every n-gram of the padded sentence counted, as
            ``nltk.lm.preprocessing.padded_everygram_pipeline`` does; every padded
            token after the leading ``<s>`` run is predicted (the ``</s>`` run too).

Words with fewer than ``min_count`` occurrences become ``<unk>``. All log-probabilities
this class returns are natural logs (nats); ARPA files hold base-10 logs.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from lmlineage.core.config import Spec
from lmlineage.models.capabilities import ModelCapabilities

from lmlineage.classic.ngram_arpa import read_arpa, write_arpa
from lmlineage.classic.ngram_counts import (
    BOS,
    EOS,
    SPECIALS,
    UNK,
    count_ngrams,
    lookup_rows,
    pad_flat,
    positions_from_start,
    tokens_to_end,
)
from lmlineage.classic.ngram_smoothing import METHODS, smooth
from lmlineage.tokenizers.word import sentences_from_text
from lmlineage.core.errors import UserError

FORMAT = "lmlineage-ngram"
FORMAT_VERSION = 1
PADDINGS = ("single", "nltk")
__all__ = ["NGramLM", "TextScore", "sentences_from_text"]


class TextScore(NamedTuple):
    """Total natural-log probability of a text and what to divide it by.

    ``tokens``: predicted tokens (words plus ``</s>`` per sentence); ``chars``: characters
    of the text (for sentences: words joined by single spaces, one newline each);
    ``oov``: words that were mapped to ``<unk>``.
    """

    log_prob: float
    tokens: int
    chars: int
    oov: int

    @property
    def nats_per_token(self) -> float:
        return -self.log_prob / self.tokens

    @property
    def perplexity(self) -> float:
        return math.exp(self.nats_per_token)

    @property
    def bits_per_char(self) -> float:
        return -self.log_prob / math.log(2.0) / self.chars


def _check_options(order, method, discount, k, min_count, padding):
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool) or order < 1:
        raise UserError(f"order must be an integer >= 1, got {order!r}")
    method = {"laplace": "addk", "lidstone": "addk"}.get(method, method)
    if method not in METHODS:
        raise UserError(f"unknown n-gram method {method!r}", f"use one of {', '.join(METHODS)} or laplace")
    if padding not in PADDINGS:
        raise UserError(f"unknown padding {padding!r}", f"use one of {', '.join(PADDINGS)}")
    if not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise UserError(f"min_count must be an integer >= 1, got {min_count!r}")
    if method == "addk" and not (k > 0):
        raise UserError(f"add-k needs k > 0, got {k!r}")
    if method == "kn" and discount is not None and not (0 < float(discount) <= 1):
        raise UserError(f"the Kneser-Ney discount must lie in (0, 1], got {discount!r}")
    if method == "mkn" and discount is not None:
        try:
            d = [float(x) for x in discount]
        except TypeError:
            d = []
        if len(d) != 3 or not all(0 < d[i] <= i + 1 for i in range(3)):
            raise UserError(
                f"modified Kneser-Ney takes three discounts 0<D1<=1, 0<D2<=2, 0<D3<=3, got {discount!r}",
                "or leave discount unset to estimate them from the counts",
            )
        discount = tuple(d)
    if method in ("mle", "addk", "katz") and discount is not None:
        raise UserError(f"method {method!r} takes no discount", "discount applies to kn and mkn")
    return int(order), method, discount


@dataclass
class NGramConfig(Spec):
    """A preset's counting options: ``NGramLM.fit``'s, checked as it checks them."""

    family: str = "ngram"
    order: int = 3
    method: str = "mkn"  # mle, addk (laplace, lidstone), katz, kn, mkn
    discount: float | list[float] | None = None  # kn: one D; mkn: D1, D2, D3; None: estimated from the counts
    k: float = 1.0  # add-k's k
    min_count: int = 1  # rarer words become <unk>

    def __post_init__(self):
        _check_options(self.order, self.method, self.discount, self.k, self.min_count, "single")


class NGramLM:
    """An n-gram model stored as per-order back-off tables (see ``ngram_smoothing``).

    ``keys[m-1]``: sorted int64 keys of the stored m-grams (chained ranks, see
    ``ngram_counts``); ``logp[m-1]``: their natural-log probabilities; ``logbo[m-1]``:
    their natural-log back-off weights when used as a context.
    """

    def __init__(self, vocab, keys, logp, logbo, *, order, method, padding="single", config=None):
        self.vocab: list[str] = list(vocab)
        if tuple(self.vocab[:3]) != SPECIALS:
            raise UserError(f"the vocabulary must start with {SPECIALS}, got {self.vocab[:3]}")
        self.word_id = {w: i for i, w in enumerate(self.vocab)}
        self.keys, self.logp, self.logbo = list(keys), list(logp), list(logbo)
        self.order, self.method, self.padding = int(order), method, padding
        self.config = dict(config or {})
        self.event = np.ones(len(self.vocab), dtype=bool)
        if padding == "single":
            self.event[BOS] = False

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls,
        sentences: Iterable[Sequence[str]],
        order: int = 3,
        method: str = "mkn",
        discount=None,
        k: float = 1.0,
        min_count: int = 1,
        *,
        padding: str = "single",
    ) -> "NGramLM":
        """Count and smooth. ``sentences``: lists of words (see ``sentences_from_text``)."""
        order, method, discount = _check_options(order, method, discount, k, min_count, padding)
        sents = _as_sentences(sentences, "training")
        counter: Counter = Counter()
        for s in sents:
            counter.update(s)
        if not counter:
            raise UserError("the training corpus has no words", "pass a non-empty list of sentences")
        words = sorted(
            (w for w, c in counter.items() if c >= min_count and w not in SPECIALS),
            key=lambda w: (-counter[w], w),
        )
        vocab = list(SPECIALS) + words
        ids, lengths = _encode(sents, {w: i for i, w in enumerate(vocab)})
        return cls.fit_ids(ids, lengths, vocab, order, method, discount=discount, k=k, padding=padding, min_count=min_count)

    @classmethod
    def fit_ids(
        cls,
        ids: np.ndarray,
        lengths: np.ndarray,
        vocab: Sequence[str],
        order: int = 3,
        method: str = "mkn",
        *,
        discount=None,
        k: float = 1.0,
        padding: str = "single",
        min_count: int = 1,
    ) -> "NGramLM":
        """Fit from word ids already encoded: ``ids`` is all sentences back to back,
        ``lengths`` their sizes; ``vocab`` starts with ``<unk>, <s>, </s>`` and ids of
        words are >= 3 (the fast path for large corpora)."""
        order, method, discount = _check_options(order, method, discount, k, min_count, padding)
        ids = np.asarray(ids)
        lengths = np.asarray(lengths, dtype=np.int64)
        V = len(vocab)
        if ids.size == 0 or lengths.size == 0:
            raise UserError("the training corpus has no words", "pass a non-empty list of sentences")
        if int(lengths.sum()) != ids.size or (lengths < 0).any():
            raise UserError(f"sentence lengths sum to {int(lengths.sum())} but there are {ids.size} ids")
        if int(ids.min()) < 0 or int(ids.max()) >= V or np.isin(ids, (BOS, EOS)).any():
            raise UserError("word ids must lie in [0, len(vocab)) and not be the ids of <s> or </s>")
        n_pad = 1 if padding == "single" else order - 1
        padded, starts = pad_flat(ids, lengths, n_pad, n_pad)
        remaining = tokens_to_end(starts, padded.size)
        tables = count_ngrams(padded, remaining, V, order)
        del padded, remaining, starts
        smoothed = smooth(tables, V, method, padding, discount=discount, k=k)
        config = {
            "discount": list(discount) if isinstance(discount, tuple) else discount,
            "k": k if method == "addk" else None,
            "min_count": min_count,
            "n_train_tokens": int(ids.size),
            "n_train_sentences": int(lengths.size),
            **smoothed.info,
        }
        keys = [t.keys for t in tables]
        return cls(vocab, keys, smoothed.logp, smoothed.logbo, order=order, method=method, padding=padding, config=config)

    # ------------------------------------------------------------------ scoring
    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def ngram_counts(self) -> list[int]:
        """Number of stored n-grams per order (order 1: the whole vocabulary)."""
        return [len(k) for k in self.keys]

    def _n_pad(self) -> int:
        return 1 if self.padding == "single" else self.order - 1

    def _logprob_positions(self, t: np.ndarray, avail: np.ndarray) -> np.ndarray:
        """Natural-log probability of every token of ``t`` given up to ``avail[i]``
        preceding tokens (capped at ``order - 1``): ARPA back-off semantics, applied
        upward one order at a time, vectorised over all positions."""
        V = self.vocab_size
        t = np.asarray(t, dtype=np.int64)
        result = self.logp[0][t]
        rank_prev = t  # row of the (m-1)-gram ending at each position (-1: not stored)
        uniform = -math.log(float(self.event.sum()))
        for m in range(2, self.order + 1):
            usable = avail >= m - 1
            ctx = np.full_like(rank_prev, -1)
            ctx[1:] = rank_prev[:-1]
            ctx[~usable] = -1
            has_ctx = ctx >= 0
            ctx_c = np.where(has_ctx, ctx, 0)
            keys_m = self.keys[m - 1]
            key = ctx_c * V + t
            idx = _sorted_lookup(keys_m, key)
            idx_c = np.minimum(idx, max(len(keys_m) - 1, 0))
            found = has_ctx & (idx < len(keys_m))
            if len(keys_m):
                found &= keys_m[idx_c] == key
            p_found = self.logp[m - 1][idx_c] if len(keys_m) else np.zeros(len(t))
            bo = self.logbo[m - 2][ctx_c]
            if self.method == "addk":
                unseen = np.where(has_ctx, bo, uniform)
                result = np.where(usable, np.where(found, p_found, unseen), result)
            else:
                with np.errstate(invalid="ignore"):
                    backed_off = result + np.where(has_ctx, bo, 0.0)
                result = np.where(found, p_found, np.where(usable, backed_off, result))
            rank_prev = np.where(found, idx, -1)
        return result

    def _sentence_logprobs(self, sentences) -> tuple[np.ndarray, int, int]:
        sents = _as_sentences(sentences, "test")
        if not sents:
            raise UserError("there are no sentences to score")
        ids, lengths = _encode(sents, self.word_id)
        oov = int((ids == UNK).sum()) - sum(s.count("<unk>") for s in sents)
        n_pad = self._n_pad()
        padded, starts = pad_flat(ids, lengths, n_pad, n_pad)
        before = positions_from_start(starts, padded.size)
        avail = np.minimum(before, self.order - 1)
        lp = self._logprob_positions(padded, avail)
        chars = sum(len(" ".join(s)) + 1 for s in sents)
        return lp[before >= n_pad], chars, oov

    def score_sentences(self, sentences: Iterable[Sequence[str]]) -> TextScore:
        """Total natural-log probability of sentences (lists of words), vectorised."""
        lp, chars, oov = self._sentence_logprobs(sentences)
        return TextScore(float(lp.sum()), int(lp.size), chars, oov)

    def token_logprobs(self, sentences: Iterable[Sequence[str]]) -> np.ndarray:
        """Natural-log probability of every predicted token, sentences back to back."""
        return self._sentence_logprobs(sentences)[0]

    def score_text(self, text: str, lowercase: bool = True) -> TextScore:
        """Score raw text split by ``tokenizers.word.sentences_from_text`` (which keeps
        words only); ``chars`` is ``len(text)``, so characters it drops still count."""
        s = self.score_sentences(sentences_from_text(text, lowercase=lowercase))
        return s._replace(chars=len(text))

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        return self.score_sentences(sentences).perplexity

    def _context_ids(self, context: Sequence[str]) -> list[int]:
        if isinstance(context, str):
            raise UserError("the context must be a list of words, not a string", "e.g. ['<s>', 'to', 'be']")
        return [self.word_id.get(w, UNK) for w in context]

    def logprob(self, word: str, context: Sequence[str] = ()) -> float:
        """Natural log of p(word | context). Context words are the preceding words,
        oldest first; in ``single`` padding a sentence start is ``['<s>', ...]``."""
        t = np.array(self._context_ids(context) + [self.word_id.get(word, UNK)], dtype=np.int64)
        avail = np.minimum(np.arange(t.size), self.order - 1)
        return float(self._logprob_positions(t, avail)[-1])

    def prob_distribution(self, context: Sequence[str] = ()) -> np.ndarray:
        """p(w | context) for every vocabulary id ``w`` (``self.vocab[w]``)."""
        return self._distribution(self._context_ids(context))

    def _distribution(self, ctx: list[int]) -> np.ndarray:
        V = self.vocab_size
        ctx = ctx[len(ctx) - (self.order - 1) :] if self.order > 1 else []
        if self.method == "addk" and ctx:
            m = len(ctx) + 1
            row = int(lookup_rows(self.keys, np.array([ctx]), V)[0])
            if row < 0:
                return self.event / self.event.sum()
            p = np.where(self.event, math.exp(self.logbo[m - 2][row]), 0.0)
            lo, hi = np.searchsorted(self.keys[m - 1], [row * V, (row + 1) * V])
            p[self.keys[m - 1][lo:hi] % V] = np.exp(self.logp[m - 1][lo:hi])
            return p
        p = np.exp(self.logp[0])
        for m in range(2, len(ctx) + 2):
            row = int(lookup_rows(self.keys, np.array([ctx[len(ctx) - (m - 1) :]]), V)[0])
            if row < 0:
                continue
            p = p * math.exp(self.logbo[m - 2][row])
            lo, hi = np.searchsorted(self.keys[m - 1], [row * V, (row + 1) * V])
            p[self.keys[m - 1][lo:hi] % V] = np.exp(self.logp[m - 1][lo:hi])
        return np.where(self.event, p, 0.0)

    # ------------------------------------------------------------------ sampling
    def sample(self, n_sentences: int = 1, max_len: int = 50, seed: int = 0, skip_unk: bool = False,
               prefix: list[str] = ()) -> list[list[str]]:
        """Draw sentences word by word from the model until ``</s>`` or ``max_len`` words, each
        continuing the words of ``prefix`` (not included in what is returned).

        ``<s>`` is never drawn; with ``skip_unk`` neither is ``<unk>``."""
        if n_sentences < 0 or max_len < 1:
            raise UserError(f"need n_sentences >= 0 and max_len >= 1, got {n_sentences}, {max_len}")
        rng = np.random.default_rng(seed)
        banned = [BOS] + ([UNK] if skip_unk else [])
        out = []
        for _ in range(n_sentences):
            ctx, words = [BOS] * self._n_pad() + self._context_ids(list(prefix)), []
            while len(words) < max_len:
                p = self._distribution(ctx)
                p[banned] = 0.0
                total = p.sum()
                if not total > 0:
                    break
                cdf = np.cumsum(p)
                w = int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(p) - 1))
                if w == EOS:
                    break
                words.append(self.vocab[w])
                ctx.append(w)
            out.append(words)
        return out

    # ------------------------------------------------------------------ files
    def to_arpa(self, path) -> None:
        """Write the model as an ARPA back-off file (base-10 logs)."""
        if self.method == "addk":
            raise UserError(
                "add-k is not a back-off model and has no exact ARPA form",
                "fit with method kn, mkn, katz or mle to export ARPA",
            )
        if self.padding != "single":
            raise UserError(
                "ARPA files assume one <s> per sentence; this model was fit with padding='nltk'",
                "refit with padding='single' to export ARPA",
            )
        write_arpa(path, self.vocab, self.keys, self.logp, self.logbo)

    @classmethod
    def from_arpa(cls, path) -> "NGramLM":
        """Read an ARPA back-off file (e.g. from KenLM's lmplz, SRILM or ``to_arpa``)."""
        vocab, keys, logp, logbo = read_arpa(path)
        return cls(vocab, keys, logp, logbo, order=len(keys), method="arpa", padding="single", config={"source": str(path)})

    def save(self, directory) -> None:
        """``config.json`` + ``vocab.json`` + ``tables.safetensors`` (no pickle)."""
        from safetensors.numpy import save_file

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        config = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "order": self.order,
            "method": self.method,
            "padding": self.padding,
            "vocab_size": self.vocab_size,
            **self.config,
        }
        (d / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (d / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False) + "\n", encoding="utf-8")
        arrays = {}
        for m in range(self.order):
            arrays[f"keys.{m + 1}"] = np.ascontiguousarray(self.keys[m], dtype=np.int64)
            arrays[f"logp.{m + 1}"] = np.ascontiguousarray(self.logp[m], dtype=np.float64)
            arrays[f"logbo.{m + 1}"] = np.ascontiguousarray(self.logbo[m], dtype=np.float64)
        save_file(arrays, str(d / "tables.safetensors"))

    @classmethod
    def load(cls, directory) -> "NGramLM":
        from safetensors.numpy import load_file

        d = Path(directory)
        for name in ("config.json", "vocab.json", "tables.safetensors"):
            if not (d / name).is_file():
                raise UserError(f"{d} is not an n-gram checkpoint: {name} is missing", "save one with NGramLM.save")
        config = json.loads((d / "config.json").read_text())
        if config.get("format") != FORMAT:
            raise UserError(f"{d}/config.json is not an n-gram checkpoint (format={config.get('format')!r})")
        if config.get("version") != FORMAT_VERSION:
            raise UserError(f"{d}: unsupported n-gram checkpoint version {config.get('version')!r}")
        vocab = json.loads((d / "vocab.json").read_text(encoding="utf-8"))
        arrays = load_file(str(d / "tables.safetensors"))
        order = int(config["order"])
        try:
            keys = [arrays[f"keys.{m}"] for m in range(1, order + 1)]
            logp = [arrays[f"logp.{m}"] for m in range(1, order + 1)]
            logbo = [arrays[f"logbo.{m}"] for m in range(1, order + 1)]
        except KeyError as e:
            raise UserError(f"{d}/tables.safetensors lacks {e.args[0]}", "the checkpoint is incomplete") from None
        header = ("format", "version", "order", "method", "padding", "vocab_size")
        extra = {k: v for k, v in config.items() if k not in header}
        if len(vocab) != config.get("vocab_size", len(vocab)) or len(keys[0]) != len(vocab):
            raise UserError(f"{d}: vocab.json and tables.safetensors disagree on the vocabulary size")
        method, padding = config["method"], config["padding"]
        return cls(vocab, keys, logp, logbo, order=order, method=method, padding=padding, config=extra)

    def __repr__(self) -> str:
        return (
            f"NGramLM(order={self.order}, method={self.method!r}, padding={self.padding!r}, "
            f"vocab={self.vocab_size}, ngrams={self.ngram_counts})"
        )


def _sorted_lookup(table: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """``np.searchsorted(table, queries)``, with the queries sorted first: numpy's binary
    search starts from the previous answer when keys increase, so sorted queries walk
    the table in cache order (several times faster on large tables)."""
    if queries.size < 1024:
        return np.searchsorted(table, queries)
    order = np.argsort(queries)
    out = np.empty(queries.size, dtype=np.int64)
    out[order] = np.searchsorted(table, queries[order])
    return out


def _as_sentences(sentences, what: str) -> list[list[str]]:
    if isinstance(sentences, str):
        raise UserError(f"the {what} data must be a list of sentences, not one string", "use sentences_from_text(text)")
    out = []
    for s in sentences:
        if isinstance(s, str):
            raise UserError(
                f"each {what} sentence must be a list of words, got the string {s[:40]!r}",
                "split text with sentences_from_text(text)",
            )
        s = list(s)
        if "<s>" in s or "</s>" in s:
            raise UserError(f"a {what} sentence contains <s> or </s>", "the model adds sentence boundaries itself")
        out.append(s)
    return out


def _encode(sents: list[list[str]], word_id: dict) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(s) for s in sents), dtype=np.int64, count=len(sents))
    total = int(lengths.sum())
    get = word_id.get
    ids = np.fromiter((get(w, UNK) for s in sents for w in s), dtype=np.int32, count=total)
    return ids, lengths


# ---- the n-gram family's run: a fit into a run directory, and the checkpoint's face -----------------
class NGramCheckpoint(ModelCapabilities):
    """A fitted model plus the eval/generate face every checkpoint shows."""

    samples_by_own_rule = True

    def __init__(self, lm: NGramLM):
        self.lm = lm
        self.tokenizer = None

    def evaluate_text(self, text: str) -> dict:
        score = self.lm.score_text(text)
        return {"loss": score.nats_per_token, "nats": -score.log_prob, "tokens": score.tokens, "chars": score.chars}

    def sample_text(self, prompt: str = "", max_new_tokens: int | None = None, seed: int | None = None, **_) -> str:
        """The prompt echoed and continued by ``max_new_tokens`` tokens (default 30), sentence after
        sentence, as the neural word LMs continue: a sentence end is a token, written as a line break."""
        from lmlineage.tokenizers.word import words_from_line

        left = 30 if max_new_tokens is None else max_new_tokens
        rng = np.random.default_rng(seed)
        text, prefix = (prompt if prompt.strip() else ""), words_from_line(prompt)
        while left > 0:
            words = self.lm.sample(1, max_len=left, seed=int(rng.integers(2**63)), skip_unk=True, prefix=prefix)[0]
            for word in words:
                text += (" " if text and not text.endswith("\n") else "") + word
            left -= len(words)
            if left > 0:  # the sentence ended before the budget: its end is the next token
                text += "\n"
                left -= 1
            prefix = []  # the next sentence starts afresh, as the model's own sentences do
        return text


def first_tokens(sentences: list[list[str]], limit: int | None) -> list[list[str]]:
    """The first whole sentences holding at most ``limit`` tokens as the model predicts them (each
    sentence's words and its ``</s>``); all of them for None."""
    if limit is None:
        return sentences
    if limit < 1:
        raise UserError(f"--max-words {limit} counts nothing", "give --max-words 1 or more")
    kept, total = [], 0
    for sentence in sentences:
        total += len(sentence) + 1
        if total > limit:
            break
        kept.append(sentence)
    return kept


def fit_run(corpus: list[str], out: Path, settings: dict) -> dict:
    """Count the first 90% of ``corpus`` (``settings``: the preset's order and smoothing; ``max_words``:
    only its first sentences holding that many tokens) into ``out/best``; return the held-out score
    of the last 10%."""
    from lmlineage.data.corpora import split_text
    from lmlineage.checkpoint.directory import atomic_directory

    train_text, val_text = split_text("\n".join(corpus))
    settings = dict(settings)
    sentences = first_tokens(sentences_from_text(train_text), settings.pop("max_words", None))
    if not sentences or not val_text.strip():
        raise UserError("the corpus has too little text to fit an n-gram model and hold out 10%",
                        "give a larger corpus")
    lm = NGramLM.fit(sentences, **settings)
    with atomic_directory(Path(out) / "best") as tmp:
        lm.save(tmp)
        config = json.loads((tmp / "config.json").read_text())
        (tmp / "config.json").write_text(json.dumps({**config, "family": "ngram"}, indent=2) + "\n")
    return NGramCheckpoint(lm).evaluate_text(val_text)


def load_checkpoint(directory) -> NGramCheckpoint:
    return NGramCheckpoint(NGramLM.load(directory))
