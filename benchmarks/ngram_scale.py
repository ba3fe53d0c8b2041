"""Fit the n-gram LM on a synthetic Zipfian corpus; report wall time and peak RSS.

    python benchmarks/ngram_scale.py                      # 20M tokens, order 3, mkn
    python benchmarks/ngram_scale.py --tokens 2000000 --order 5 --method kn

Word ids are drawn from a Zipf(1.0) law over ``--vocab`` words, sentence lengths from
1 + Poisson(19), so the corpus looks like text to the counter (many singletons, a long
tail of n-gram types). The corpus is built in chunks so that its own peak stays low;
the fit goes through ``NGramLM.fit_ids`` (words already ids), which is what counting
at scale means here; ``--strings`` fits from Python lists of words instead.
Peak RSS is ``resource.getrusage(RUSAGE_SELF).ru_maxrss``: the process's high-water mark.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import sys
import time

import numpy as np

from lmlineage.classic.ngram import NGramLM


def peak_rss_mib() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib / 1024.0 if sys.platform != "darwin" else kib / 2**20


def zipf_corpus(n_tokens: int, vocab: int, seed: int, chunk: int = 1_000_000):
    """Word ids (>= 3; 0-2 are <unk>, <s>, </s>) and sentence lengths."""
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(1.0 / np.arange(1, vocab + 1))
    cdf /= cdf[-1]
    ids = np.empty(n_tokens, dtype=np.int32)
    for lo in range(0, n_tokens, chunk):
        hi = min(lo + chunk, n_tokens)
        ids[lo:hi] = np.searchsorted(cdf, rng.random(hi - lo), side="right") + 3
    lengths = 1 + rng.poisson(19, size=n_tokens // 10 + 1)
    lengths = lengths[: np.searchsorted(np.cumsum(lengths), n_tokens) + 1]
    lengths[-1] -= lengths.sum() - n_tokens
    if lengths[-1] <= 0:
        lengths = lengths[:-1]
        lengths[-1] += n_tokens - lengths.sum()
    return ids, lengths.astype(np.int64)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=20_000_000)
    ap.add_argument("--vocab", type=int, default=100_000)
    ap.add_argument("--order", type=int, default=3)
    ap.add_argument("--method", default="mkn")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-tokens", type=int, default=1_000_000)
    ap.add_argument("--strings", action="store_true", help="fit from lists of word strings (NGramLM.fit)")
    args = ap.parse_args(argv)

    print("command: python " + " ".join(shlex.quote(a) for a in sys.argv))
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, {platform.system()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    t0 = time.perf_counter()
    ids, lengths = zipf_corpus(args.tokens + args.test_tokens, args.vocab, args.seed)
    split = int(np.searchsorted(np.cumsum(lengths), args.tokens)) if args.test_tokens else len(lengths)
    n_train = int(lengths[:split].sum())
    train_ids, test_ids = ids[:n_train], ids[n_train:]
    train_len, test_len = lengths[:split], lengths[split:]
    vocab = ["<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(args.vocab)]
    print(f"corpus: {n_train:,} train tokens in {split:,} sentences, {test_ids.size:,} test tokens, "
          f"vocab {args.vocab:,} (built in {time.perf_counter() - t0:.1f} s)")
    rss_before = peak_rss_mib()
    print(f"peak RSS before fit: {rss_before:,.0f} MiB")

    t0 = time.perf_counter()
    if args.strings:
        offsets = np.concatenate(([0], np.cumsum(train_len)))
        words = np.array(vocab, dtype=object)[train_ids]
        sentences = [words[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])]
        del words
        t_strings = time.perf_counter() - t0
        print(f"built {len(sentences):,} Python sentences in {t_strings:.1f} s; peak RSS {peak_rss_mib():,.0f} MiB")
        t0 = time.perf_counter()
        lm = NGramLM.fit(sentences, order=args.order, method=args.method)
    else:
        lm = NGramLM.fit_ids(train_ids, train_len, vocab, order=args.order, method=args.method)
    fit_s = time.perf_counter() - t0
    rss_after = peak_rss_mib()
    print(f"fit ({args.method}, order {args.order}): {fit_s:.1f} s wall, "
          f"{n_train / fit_s / 1e6:.2f} M tokens/s; n-grams per order {lm.ngram_counts}")
    print(f"peak RSS after fit: {rss_after:,.0f} MiB (fit raised the high-water mark by {rss_after - rss_before:,.0f} MiB)")
    if "discounts" in lm.config:
        print("discounts per order:", [[round(x, 4) for x in d] for d in lm.config["discounts"]],
              "estimated from count-of-counts:", lm.config["estimated"], "(False: degenerate, fallback 0.5/1/1.5)")

    if test_ids.size:
        offsets = np.concatenate(([0], np.cumsum(test_len)))
        words = np.array(lm.vocab, dtype=object)[test_ids]
        test = [words[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])]
        t0 = time.perf_counter()
        score = lm.score_sentences(test)
        score_s = time.perf_counter() - t0
        print(f"scored {score.tokens:,} test tokens in {score_s:.2f} s ({score_s / score.tokens * 1e9:.0f} ns/token, "
              f"including word->id lookup); perplexity {score.perplexity:.2f}")
    print(f"final peak RSS: {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
