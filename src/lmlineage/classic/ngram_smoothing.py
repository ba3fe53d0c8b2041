"""Smoothing: from n-gram counts to per-order log-probabilities and back-off weights.

Every method returns tables in one shape, the ARPA back-off form: for each stored
n-gram ``g = (c, w)`` of order ``m`` its probability ``p(w | c)`` and, for each stored
n-gram used as a context, a weight ``bo(c)``, so that for any query

    p(w | c) = p_table(c, w)              if (c, w) is stored
             = bo(c) * p(w | c[1:])       otherwise (bo = 1 where c is not stored).

Interpolated models fit this form exactly: ``p_m(w|c) = alpha(c, w) + gamma(c) p_{m-1}(w|c[1:])``
with ``alpha = 0`` for unseen ``(c, w)``, so ``bo(c) = gamma(c)`` and the stored
probabilities are the interpolated ones. Add-k is the one exception (its unseen words get
a constant, not a scaled lower-order probability); its ``bo`` holds that constant's log.

References: Chen & Goodman (1998), "An Empirical Study of Smoothing Techniques for
Language Modeling", TR-10-98: Sec. 2.7 (Kneser-Ney), Sec. 3 (modified KN, eq. 26 for the
discounts); Katz (1987) for back-off with Good-Turing discounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmlineage.classic.ngram_counts import BOS, OrderCounts, continuation_counts

METHODS = ("mle", "addk", "kn", "mkn", "katz")
KATZ_MAX_DISCOUNTED = 5  # Katz (1987): counts above 5 are reliable and kept undiscounted
MKN_FALLBACK = (0.5, 1.0, 1.5)  # the discounts KenLM's --discount_fallback uses
_TOP_BACKOFF = np.zeros(0)  # top-order n-grams are never contexts: no back-off weights


@dataclass
class Smoothed:
    """Per order (index ``m - 1``): natural-log probabilities and back-off weights."""

    logp: list[np.ndarray]
    logbo: list[np.ndarray]
    info: dict = field(default_factory=dict)


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(x)


def _safe_div(num: np.ndarray, den: np.ndarray, default: float = 0.0) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, default, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _count_of_counts(counts: np.ndarray, upto: int) -> np.ndarray:
    """``n[r]`` = number of n-grams seen exactly ``r`` times, for ``r = 0..upto``."""
    capped = np.minimum(counts, upto + 1).astype(np.int64)
    return np.bincount(capped, minlength=upto + 2)[: upto + 1]


def mkn_discounts(adjusted: np.ndarray) -> tuple[tuple[float, float, float], bool]:
    """Chen & Goodman (1998) eq. 26: D1, D2, D3+ from the count-of-counts n1..n4.

    Returns the discounts and whether they were estimated (False: the count-of-counts
    were degenerate and the fallback (0.5, 1.0, 1.5) is used, as KenLM's
    ``--discount_fallback`` does).
    """
    n = _count_of_counts(adjusted[adjusted > 0], 4)
    if np.all(n[1:5] > 0):
        y = n[1] / (n[1] + 2.0 * n[2])
        d = tuple(float(i - (i + 1) * y * n[i + 1] / n[i]) for i in (1, 2, 3))
        if all(0.0 < d[i - 1] < i for i in (1, 2, 3)):
            return d, True
    return MKN_FALLBACK, False


def katz_discount_ratios(raw: np.ndarray) -> tuple[np.ndarray, str, float]:
    """Good-Turing discount ratios ``d_r`` (``p = d_r * r / N``) for Katz back-off.

    Katz: ``d_r = (r*/r - A) / (1 - A)`` with ``r* = (r+1) n_{r+1} / n_r`` and
    ``A = (K+1) n_{K+1} / n_1`` for ``1 <= r <= K``, ``d_r = 1`` above ``K``. ``K``
    starts at 5 and shrinks until every ``d_r`` lies in (0, 1); where no ``K`` works
    (tiny or odd data), every count is discounted absolutely by ``D = n1 / (n1 + 2 n2)``
    (0.5 where that is undefined). Returns ``ratios[r]`` for ``r = 0..max``, a label,
    and ``K`` (0 for the absolute fallback).
    """
    rmax = int(raw.max(initial=1))
    r = np.arange(rmax + 1, dtype=np.float64)
    n = _count_of_counts(raw[raw > 0], KATZ_MAX_DISCOUNTED + 1).astype(np.float64)
    for k in range(KATZ_MAX_DISCOUNTED, 0, -1):
        if not np.all(n[1 : k + 2] > 0):
            continue
        a = (k + 1) * n[k + 1] / n[1]
        if a >= 1.0:
            continue
        rr = np.arange(1, k + 1)
        d = ((rr + 1) * n[rr + 1] / (rr * n[rr]) - a) / (1.0 - a)
        if np.all((d > 0.0) & (d < 1.0)):
            ratios = np.ones(rmax + 1)
            upto = min(k, rmax)
            ratios[1 : upto + 1] = d[:upto]
            return ratios, "good-turing", float(k)
    big_d = n[1] / (n[1] + 2.0 * n[2]) if n[1] > 0 and n[2] > 0 else 0.5
    ratios = np.ones(rmax + 1)
    ratios[1:] = (r[1:] - big_d) / r[1:]
    return ratios, f"absolute(D={big_d:.4f})", 0.0


def smooth(
    tables: list[OrderCounts],
    vocab_size: int,
    method: str,
    padding: str,
    discount=None,
    k: float = 1.0,
) -> Smoothed:
    """Turn counts into back-off tables for ``method`` (see module docstring)."""
    event = np.ones(vocab_size, dtype=bool)
    if padding == "single":
        event[BOS] = False  # <s> is context only: never predicted
    if method == "mle":
        return _mle(tables, event)
    if method == "addk":
        return _addk(tables, event, k)
    if method == "katz":
        return _katz(tables, event)
    return _kneser_ney(tables, event, method, padding, discount)


def _prefix_sum(table: OrderCounts, values: np.ndarray, n_contexts: int) -> np.ndarray:
    return np.bincount(table.prefix, weights=values, minlength=n_contexts)


def _is_context(table: OrderCounts, n_contexts: int) -> np.ndarray:
    return np.bincount(table.prefix, minlength=n_contexts) > 0


def _mle(tables: list[OrderCounts], event: np.ndarray) -> Smoothed:
    raw1 = np.where(event, tables[0].counts, 0).astype(np.float64)
    total = raw1.sum()
    p1 = raw1 / total if total > 0 else event / event.sum()
    logp, logbo = [_log(p1)], []
    for m in range(1, len(tables)):
        t, n_ctx = tables[m], len(tables[m - 1].keys)
        totals = _prefix_sum(t, t.counts.astype(np.float64), n_ctx)
        logp.append(_log(t.counts / totals[t.prefix]))
        # a seen context gives unseen words probability 0; an unseen one backs off
        logbo.append(np.where(_is_context(t, n_ctx), -np.inf, 0.0))
    logbo.append(_TOP_BACKOFF)
    return Smoothed(logp, logbo)


def _addk(tables: list[OrderCounts], event: np.ndarray, k: float) -> Smoothed:
    v_event = float(event.sum())
    raw1 = np.where(event, tables[0].counts, 0).astype(np.float64)
    p1 = np.where(event, (raw1 + k) / (raw1.sum() + k * v_event), 0.0)
    logp, logbo = [_log(p1)], []
    for m in range(1, len(tables)):
        t, n_ctx = tables[m], len(tables[m - 1].keys)
        totals = _prefix_sum(t, t.counts.astype(np.float64), n_ctx)
        logp.append(np.log((t.counts + k) / (totals[t.prefix] + k * v_event)))
        # here bo is the log-probability of any word unseen after this context
        logbo.append(np.log(k / (totals + k * v_event)))
    logbo.append(_TOP_BACKOFF)
    return Smoothed(logp, logbo, {"k": k})


def _katz(tables: list[OrderCounts], event: np.ndarray) -> Smoothed:
    v_event = float(event.sum())
    info: dict = {"discounting": []}
    raw1 = np.where(event, tables[0].counts, 0)
    ratios, label, kk = katz_discount_ratios(raw1)
    info["discounting"].append(label)
    total = float(raw1.sum())
    kept = ratios[raw1] * raw1 / total if total > 0 else np.zeros(len(raw1))
    left = 1.0 - kept.sum()
    if total > 0 and left <= 1e-12:
        factor = ratios[int(kk)] if kk >= 1 else 0.5
        kept *= factor
        left = 1.0 - kept.sum()
    # the mass left over at the unigram level is spread uniformly over the vocabulary
    p1 = np.where(event, kept + left / v_event, 0.0)
    logp, logbo = [_log(p1)], []
    prev_p = p1
    for m in range(1, len(tables)):
        t, n_ctx = tables[m], len(tables[m - 1].keys)
        ratios, label, kk = katz_discount_ratios(t.counts)
        info["discounting"].append(label)
        totals = _prefix_sum(t, t.counts.astype(np.float64), n_ctx)
        p = ratios[t.counts] * t.counts / totals[t.prefix]
        left = 1.0 - _prefix_sum(t, p, n_ctx)
        # a context whose counts are all above K keeps no mass for unseen words: discount
        # it by the gentlest ratio in use, so no word ever gets probability zero
        stingy = _is_context(t, n_ctx) & (left <= 1e-12)
        if stingy.any():
            factor = ratios[int(kk)] if kk >= 1 else 0.5
            p = np.where(stingy[t.prefix], p * factor, p)
            left = 1.0 - _prefix_sum(t, p, n_ctx)
        lower_seen = _prefix_sum(t, prev_p[t.suffix], n_ctx)
        denom = 1.0 - lower_seen
        # where the seen words already hold all lower-order mass, renormalise instead
        full = _is_context(t, n_ctx) & (denom <= 1e-12)
        if full.any():
            p = np.where(full[t.prefix], p / (1.0 - left[t.prefix]), p)
            left = np.where(full, 0.0, left)
        bo = np.where(_is_context(t, n_ctx), _safe_div(left, denom), 1.0)
        logbo.append(_log(bo))
        logp.append(_log(p))
        prev_p = p
    logbo.append(_TOP_BACKOFF)
    return Smoothed(logp, logbo, info)


def _kneser_ney(tables, event, method, padding, discount) -> Smoothed:
    """Interpolated Kneser-Ney (one discount) and modified Kneser-Ney (three per order).

    Counts: the top order uses raw counts; lower orders use continuation counts
    ``N1+(. g)``, except (``padding="single"``) n-grams starting with ``<s>``, which
    cannot be extended to the left and keep their raw counts (as in KenLM).

    ``method="kn"`` with ``padding="nltk"`` reproduces ``nltk.lm.KneserNeyInterpolated``
    (checked against NLTK 3.10.4) term for term, quirks included: the unigram level is the plain
    continuation distribution (no discount, no uniform floor, so a word never seen after
    anything, such as an unseen ``<unk>``, gets probability 0), and a lower order's
    ``gamma`` counts the *raw* distinct followers of the context over the continuation
    total, which after ``<s> <s>`` is more than the mass removed, so NLTK's distribution
    there sums to more than 1. Everywhere else (and for all other combinations) the
    distributions sum to 1 and the unigram level is interpolated with the uniform
    distribution over the vocabulary.
    """
    n = len(tables)
    v_event = float(event.sum())
    nltk_kn = method == "kn" and padding == "nltk"
    cont = continuation_counts(tables)
    info: dict = {"discounts": [], "estimated": []}

    def adjusted(m: int) -> np.ndarray:
        t = tables[m]
        if m == n - 1:
            return t.counts
        if padding == "single":
            return np.where(t.first == BOS, t.counts, cont[m])
        return cont[m]

    def discounts_for(a: np.ndarray):
        if method == "kn":
            d = float(0.75 if discount is None else discount)
            return (d, d, d), True
        if discount is not None:
            return tuple(float(x) for x in discount), True
        return mkn_discounts(a)

    def discount_of(a: np.ndarray, d3) -> np.ndarray:
        """D(a) capped at a (so no adjusted count goes negative); 0 where a == 0."""
        table = np.array([0.0, *d3])
        dis = table[np.minimum(a, 3)]
        return np.minimum(dis, a, out=dis)

    # unigram level
    a1 = np.where(event, adjusted(0), 0)
    total = float(a1.sum())
    d3, est = discounts_for(a1)
    info["discounts"].append(list(d3))
    info["estimated"].append(est)
    if total <= 0:
        p1 = event / v_event
    elif nltk_kn:
        p1 = a1 / total
    else:
        dis = discount_of(a1, d3)
        gamma = dis.sum() / total
        p1 = np.where(event, (a1 - dis) / total + gamma / v_event, 0.0)
    logp, logbo = [_log(p1)], []
    prev_p = p1
    for m in range(1, n):
        t, n_ctx = tables[m], len(tables[m - 1].keys)
        a = adjusted(m)
        d3, est = discounts_for(a)
        info["discounts"].append(list(d3))
        info["estimated"].append(est)
        totals = _prefix_sum(t, a, n_ctx)
        dis = discount_of(a, d3)
        if nltk_kn and m < n - 1:
            removed = d3[0] * np.bincount(t.prefix, minlength=n_ctx)  # raw distinct followers
        else:
            removed = _prefix_sum(t, dis, n_ctx)
        gamma = np.where(totals > 0, _safe_div(removed, totals), 1.0)
        # p = (a - D(a)) / total(c) + gamma(c) * p_lower(w | c[1:]), in place to spare memory
        p = np.subtract(a, dis, out=dis)
        del dis, a
        inv_totals = _safe_div(1.0, totals)
        p *= inv_totals[t.prefix]
        lower = gamma[t.prefix]
        lower *= prev_p[t.suffix]
        p += lower
        del lower
        logbo.append(np.where(_is_context(t, n_ctx), _log(gamma), 0.0))
        logp.append(_log(p))
        prev_p = p
    logbo.append(_TOP_BACKOFF)
    return Smoothed(logp, logbo, info)
