"""Test-set scoring speed and perplexity: lmlineage's n-gram LM vs NLTK vs KenLM.

    python benchmarks/ngram_vs_nltk_kenlm.py
    python benchmarks/ngram_vs_nltk_kenlm.py --train-lines 6000 --nltk-sentences 10 --runs 5

Data: tiny Shakespeare, one sentence per line (``sentences_from_text``), the first
``--train-lines`` lines to train, the last 10% of lines to test.

Three comparisons, all trigram (``--order``) interpolated Kneser-Ney with one discount:
1. NLTK parity: ``nltk.lm.KneserNeyInterpolated`` and ours with ``padding="nltk"`` on
   ``--nltk-sentences`` held-out sentences whose words are all in the vocabulary
   (NLTK costs tens of milliseconds per trigram, so it only gets a sample).
2. KenLM parity: ours with ``padding="single"`` exported to ARPA and loaded by the
   ``kenlm`` package; both score the whole test set (OOV words included).
3. Speed: per scored token (= per trigram), timed runs interleaved
   (NLTK, ours on NLTK's sample, ours on the whole test set, KenLM on the whole test set),
   reported as median and min-max over ``--runs`` runs. Ours is timed end to end from
   lists of words (word->id lookup included); KenLM's from sentence strings through its
   Python ``Model.score`` (one call per sentence).
"""

from __future__ import annotations

import argparse
import os
import math
import platform
import shlex
import statistics
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from lmlineage.classic.ngram import NGramLM, sentences_from_text

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"


def pkg_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def summary(label: str, per_token_s: list[float]) -> str:
    med = statistics.median(per_token_s)
    return (f"{label:<34} median {med * 1e6:>12.3f} us/token   "
            f"min-max {min(per_token_s) * 1e6:.3f}-{max(per_token_s) * 1e6:.3f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--order", type=int, default=3)
    ap.add_argument("--discount", type=float, default=0.75)
    ap.add_argument("--train-lines", type=int, default=6000)
    ap.add_argument("--nltk-sentences", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    if not args.data.is_file():
        sys.exit(f"no corpus at {args.data}")

    import kenlm
    from nltk.lm import KneserNeyInterpolated
    from nltk.lm.preprocessing import pad_both_ends, padded_everygram_pipeline
    from nltk.util import ngrams

    print("command: python " + " ".join(shlex.quote(a) for a in sys.argv))
    print(f"python {platform.python_version()} ({platform.machine()}), numpy {np.__version__}, "
          f"nltk {pkg_version('nltk')}, kenlm {pkg_version('kenlm')}, lmlineage {pkg_version('lmlineage')}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    sents = sentences_from_text(args.data.read_text(encoding="utf-8"))
    train, test = sents[: args.train_lines], sents[int(len(sents) * 0.9) :]
    n = args.order
    print(f"train: {len(train):,} sentences, {sum(map(len, train)):,} words; "
          f"test: {len(test):,} sentences, {sum(map(len, test)):,} words; order {n}, discount {args.discount}")

    t_nltk_fit, nltk_lm = timed(lambda: _fit_nltk(KneserNeyInterpolated, padded_everygram_pipeline, train, n, args.discount))
    t_ours_nltk_fit, ours_nltk = timed(lambda: NGramLM.fit(train, order=n, method="kn", discount=args.discount, padding="nltk"))
    t_ours_fit, ours = timed(lambda: NGramLM.fit(train, order=n, method="kn", discount=args.discount))
    print(f"fit: NLTK {t_nltk_fit:.2f} s, ours (nltk padding) {t_ours_nltk_fit:.3f} s, ours (single) {t_ours_fit:.3f} s")

    sample = [s for s in test if all(w in nltk_lm.vocab for w in s)][: args.nltk_sentences]
    sample_ngrams = [g for s in sample for g in ngrams(pad_both_ends(s, n=n), n)]
    with tempfile.TemporaryDirectory() as tmp:
        arpa = Path(tmp) / "kn.arpa"
        ours.to_arpa(arpa)
        klm = kenlm.Model(str(arpa))
    test_strings = [" ".join(s) for s in test]

    def kenlm_total() -> float:
        return sum(klm.score(s, bos=True, eos=True) for s in test_strings) * math.log(10.0)

    times = {"nltk": [], "ours_sample": [], "ours_full": [], "kenlm_full": []}
    for _ in range(args.runs):
        dt, nltk_ppl = timed(lambda: nltk_lm.perplexity(sample_ngrams))
        times["nltk"].append(dt / len(sample_ngrams))
        dt, ours_sample = timed(lambda: ours_nltk.score_sentences(sample))
        times["ours_sample"].append(dt / ours_sample.tokens)
        dt, ours_full = timed(lambda: ours.score_sentences(test))
        times["ours_full"].append(dt / ours_full.tokens)
        dt, k_total = timed(kenlm_total)
        times["kenlm_full"].append(dt / ours_full.tokens)

    print(f"\nNLTK parity on {len(sample)} in-vocabulary test sentences ({len(sample_ngrams)} trigrams):")
    rel = abs(ours_sample.perplexity / nltk_ppl - 1)
    print(f"  perplexity NLTK {nltk_ppl:.10f}  ours {ours_sample.perplexity:.10f}  relative difference {rel:.2e}")
    k_ppl = math.exp(-k_total / ours_full.tokens)
    rel_k = abs(ours_full.perplexity / k_ppl - 1)
    print(f"KenLM parity on the whole test set ({ours_full.tokens:,} tokens, {ours_full.oov:,} OOV), ARPA from ours:")
    print(f"  kn: perplexity KenLM {k_ppl:.10f}  ours {ours_full.perplexity:.10f}  relative difference {rel_k:.2e}")

    with tempfile.TemporaryDirectory() as tmp:
        for method in ("mkn", "katz"):
            other = NGramLM.fit(train, order=n, method=method)
            other.to_arpa(Path(tmp) / f"{method}.arpa")
            model = kenlm.Model(str(Path(tmp) / f"{method}.arpa"))
            theirs = sum(model.score(s, bos=True, eos=True) for s in test_strings) * math.log(10.0)
            mine = other.score_sentences(test)
            ppl = math.exp(-theirs / mine.tokens)
            print(f"  {method}: perplexity KenLM {ppl:.10f}  ours {mine.perplexity:.10f}  "
                  f"relative difference {abs(mine.perplexity / ppl - 1):.2e}")

    print(f"\nscoring time per token over {args.runs} interleaved runs:")
    print(summary("NLTK KneserNeyInterpolated", times["nltk"]))
    print(summary("ours, NLTK's sample", times["ours_sample"]))
    print(summary("ours, whole test set", times["ours_full"]))
    print(summary("kenlm Model.score, whole test set", times["kenlm_full"]))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\nspeed-up over NLTK per trigram: {med['nltk'] / med['ours_full']:,.0f}x (whole test set), "
          f"{med['nltk'] / med['ours_sample']:,.0f}x (NLTK's sample)")
    print(f"ours vs kenlm (whole test set): ours takes {med['ours_full'] / med['kenlm_full']:.2f}x kenlm's time")


def _fit_nltk(cls, pipeline, train, n, discount):
    lm = cls(n, discount=discount)
    grams, vocab = pipeline(n, train)
    lm.fit(grams, vocab)
    return lm


if __name__ == "__main__":
    main()
