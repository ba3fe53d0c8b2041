"""Which ELMo layer carries the polarity signal: each layer alone, word2vec's mean, and both together
(the paper's ``[x_k; ELMo_k]``), on pang_lee and 1,000 more Rotten Tomatoes sentences, through
``elmo_vs_nnlm_ngram.py``'s classifier and folds. Reads a biLM kept by that script's ``--keep``:

    python benchmarks/elmo_layers_diagnostic.py BILM_DIR [--json OUT]   # BENCHMARKS.md, "Film reviews"

word2vec is retrained as the benchmark trains it (the first 6M characters of ``imdb``, min count 5).
Each row: mean and standard deviation of accuracy over 5 folds x 3 repeats, and the folds it wins and
loses against word2vec's mean.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from lmlineage.tokenizers.word import sentences_from_text
from lmlineage.classic.word2vec import Word2Vec
from lmlineage.core.registry import get_family
from lmlineage.data.corpora import split_text

HERE = Path(__file__).resolve().parent


def _benchmark():
    spec = importlib.util.spec_from_file_location("elmo_vs_nnlm_ngram", HERE / "elmo_vs_nnlm_ngram.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("bilm", help="a biLM directory saved by elmo_vs_nnlm_ngram.py --keep")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    bench = _benchmark()
    train_text, _ = split_text(bench._nnlm_benchmark().corpus_text("imdb")[:6_000_000])
    w2v = Word2Vec.train(sentences_from_text(train_text), arch="skipgram", dim=100, min_count=5, epochs=5, seed=1,
                         progress=False).vectors
    elmo = get_family("elmo").load(Path(args.bilm)).eval()
    report = {}
    for name, (sentences, labels) in (("pang_lee", bench.polarity()), ("rotten_tomatoes_1000", bench.rotten_tomatoes())):
        layers, static = bench.elmo_features(elmo, sentences), bench.word2vec_features(w2v, sentences)[:, None]
        features = {f"elmo_layer{k}": layers[:, k:k + 1] for k in range(layers.shape[1])}
        features["word2vec"] = static
        features["word2vec+elmo_mix"] = torch.cat([layers, static.expand(-1, layers.shape[1], -1)], 2)
        y = torch.tensor(labels, dtype=torch.float32)
        scores = {k: [] for k in features}
        for repeat in range(3):  # the benchmark's folds
            for train, test in StratifiedKFold(5, shuffle=True, random_state=repeat).split(np.zeros(len(y)), labels):
                for k, x in features.items():
                    torch.manual_seed(0)
                    scores[k].append(bench.accuracy(x, y, train, test, repeat))
        baseline = np.array(scores["word2vec"])
        report[name] = {k: {"mean": float(np.mean(v)), "std": float(np.std(v)),
                            "folds_ahead_of_word2vec": int((np.array(v) > baseline).sum()),
                            "folds_behind_word2vec": int((np.array(v) < baseline).sum())} for k, v in scores.items()}
        print(f"## {name} ({len(sentences)} sentences)\n| features | accuracy | vs word2vec (ahead / behind) |\n|---|---|---|")
        for k, r in report[name].items():
            print(f"| {k} | {r['mean']:.3f} +- {r['std']:.3f} | {r['folds_ahead_of_word2vec']} / "
                  f"{r['folds_behind_word2vec']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
