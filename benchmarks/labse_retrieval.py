"""LaBSE finds a verse's translation among all held-out verses, against the word-by-word dictionary.

Trains `labse` (tiny: 2 layers, width 128, a WordPiece of 8000 shared by English and Chinese) on
the English -> Chinese verse pairs (`bible-en-zh`) with the bidirectional translation ranking loss,
from the library's `train` (the CLI's path). Then every held-out English verse and every held-out
Chinese verse is embedded as `lmlineage embed` embeds it (`sentence_embeddings`: normalised pooled
[CLS]), and each English verse searches all Chinese ones by cosine (en->zh), and the reverse: top-1
accuracy over all held-out pairs.

A tower whose [CLS] vectors start from random weights learns length first and content slowly
(BENCHMARKS.md, LaBSE); LaBSE itself starts from a pre-trained tower (section 3.2). ``--mean-steps
N`` warm-starts it the cheapest way measured here: N steps of the same ranking loss on the mean of
the token states (`train labse --pooling mean`), then ``--steps`` on [CLS] from those weights
(`train labse --init`). Both stages' models are scored; the [CLS] one is the claim.

Baseline: the word-by-word dictionary of evaluation/translation.py (each English word's best-Dice
Chinese character or character pair, fitted on the training pairs), ranking candidates by how much
of an English verse's dictionary translation a Chinese verse holds: the cosine between the two sets
of Chinese units (characters and adjacent pairs, ``target_units``) |A & B| / sqrt(|A| |B|).

    python benchmarks/labse_retrieval.py --json benchmarks/results/labse_retrieval.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import lmlineage
from lmlineage.api import sentence_embeddings
from lmlineage.data.pairs import load_pairs
from lmlineage.evaluation.translation import WordByWord, target_units
from lmlineage.tasks.dual_encoder import TranslationRankingTask


def top1(scores: np.ndarray) -> tuple[float, float]:
    """(row -> column, column -> row) top-1 accuracy of a score matrix whose diagonal is the truth."""
    truth = np.arange(len(scores))
    return float((scores.argmax(1) == truth).mean()), float((scores.argmax(0) == truth).mean())


def dictionary_scores(train_pairs, val_pairs) -> np.ndarray:
    """(N, N): English verse i's dictionary translation against Chinese verse j, set cosine of units."""
    from scipy import sparse

    dictionary = WordByWord.fit(train_pairs)
    translated = [target_units(dictionary.translate(en)) for en, _ in val_pairs]
    chinese = [target_units(zh) for _, zh in val_pairs]
    vocabulary = {u: i for i, u in enumerate(sorted(set().union(*translated, *chinese)))}

    def incidence(sets):
        rows = [r for r, s in enumerate(sets) for _ in s]
        cols = [vocabulary[u] for s in sets for u in s]
        return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), (len(sets), len(vocabulary)))

    overlap = (incidence(translated) @ incidence(chinese).T).toarray()
    sizes_a = np.array([max(len(s), 1) for s in translated], dtype=float)
    sizes_b = np.array([max(len(s), 1) for s in chinese], dtype=float)
    return overlap / np.sqrt(sizes_a[:, None] * sizes_b[None, :])


def length_only(train_pairs, val_pairs, batch_size: int, seed: int = 0) -> dict:
    """What the two lengths alone give (English words, Chinese characters): each verse a 2-d unit
    vector at an angle proportional to its log length (English shifted by the median log ratio of
    the training pairs), ranked and scored as the tower's vectors are. The in-batch ranking loss
    on the held-out pairs, in random batches (as training draws them) and in batches of about one
    length (as the validation curve takes them, ``PairSplit.batches``); the angle's scale is
    chosen on the training pairs."""
    def log_lengths(pairs):
        return (np.log([max(len(en.split()), 1) for en, _ in pairs]),
                np.log([max(len("".join(zh.split())), 1) for _, zh in pairs]))

    def vectors(log_lengths, scale):
        return torch.tensor(np.stack([np.cos(scale * log_lengths), np.sin(scale * log_lengths)], 1))

    objective = TranslationRankingTask.ranking_objective()
    rng = np.random.default_rng(seed)

    def mean_loss(english, chinese, batches):
        return float(np.mean([float(objective.loss(english[b], chinese[b])) for b in batches]))

    train_en, train_zh = log_lengths(train_pairs)
    shift = float(np.median(train_zh - train_en))
    random_train = [rng.integers(0, len(train_en), batch_size) for _ in range(200)]
    scale = min((1.0, 2.0, 4.0, 8.0), key=lambda k: mean_loss(vectors(train_en + shift, k), vectors(train_zh, k), random_train))
    val_en, val_zh = log_lengths(val_pairs)
    english, chinese = vectors(val_en + shift, scale), vectors(val_zh, scale)
    by_length = np.argsort(val_en + val_zh, kind="stable")
    one_length = [by_length[i : i + batch_size] for i in range(0, len(by_length) - batch_size + 1, batch_size)]
    random_val = [rng.integers(0, len(val_en), batch_size) for _ in range(200)]
    en_zh, zh_en = top1((english @ chinese.T).numpy())
    return {"angle_scale": scale, "en_to_zh": en_zh, "zh_to_en": zh_en,
            "ranking_loss_random_batches": mean_loss(english, chinese, random_val),
            "ranking_loss_one_length_batches": mean_loss(english, chinese, one_length),
            "ranking_loss_identical_vectors": 2 * (float(np.log(batch_size)) + objective.margin * objective.scale)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=1500, help="steps of the [CLS] run")
    p.add_argument("--mean-steps", type=int, default=0, help="warm start: first train the tower this many steps on "
                   "mean-pooled vectors, then the [CLS] run from its weights (0: from scratch)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4)  # 2e-3 left the post-LN tower's [CLS] vectors identical
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--eval-interval", type=int, default=None, help="also evaluate every N steps (the curve)")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    train_pairs, val_pairs = load_pairs("bible-en-zh")
    results = {"device": "2-core CPU, shared with other work", "threads": args.threads, "preset": "tiny",
               "seed": args.seed,
               "train_pairs": len(train_pairs), "held_out_pairs": len(val_pairs)}

    start = time.time()
    en_zh, zh_en = top1(dictionary_scores(train_pairs, val_pairs))
    results["dictionary"] = {"en_to_zh": en_zh, "zh_to_en": zh_en, "seconds": round(time.time() - start, 1)}
    print(json.dumps(results["dictionary"]), flush=True)
    results["length_only"] = length_only(train_pairs, val_pairs, args.batch_size)
    print(json.dumps(results["length_only"]), flush=True)

    work = Path(tempfile.mkdtemp(prefix="labse-bench-"))

    def stage(name: str, steps: int, **given) -> dict:
        start = time.time()
        r = lmlineage.train("labse", data="bible-en-zh", steps=steps, batch_size=args.batch_size, lr=args.lr,
                            warmup=args.warmup, eval_interval=args.eval_interval, eval_batches=8,
                            out=work / name, progress=False, seed=args.seed, **given)
        curve = [json.loads(line) for line in (work / name / "metrics.jsonl").read_text().splitlines()]
        seconds = round(time.time() - start, 1)
        model = lmlineage.load(work / name / "best")
        english = sentence_embeddings(model, [en for en, _ in val_pairs])
        chinese = sentence_embeddings(model, [zh for _, zh in val_pairs])
        en_zh, zh_en = top1((english @ chinese.T).numpy())
        run = {"pooling": model.config.pooling, "steps": steps, "batch_size": args.batch_size, "lr": args.lr,
               "warmup": args.warmup, "seconds": seconds, "en_to_zh": en_zh, "zh_to_en": zh_en,
               "val_ranking_loss": r.val_loss, "training_evaluation": r.metrics, "curve": curve}
        print(json.dumps({name: {k: v for k, v in run.items() if k != "curve"}}), flush=True)
        return run

    try:
        if args.mean_steps:
            results["mean_pooled_warm_start"] = stage("mean", args.mean_steps, options={"pooling": "mean"})
            results["labse"] = stage("labse", args.steps, init=str(work / "mean" / "best"))
        else:
            results["labse"] = stage("labse", args.steps)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["chance"] = 1 / len(val_pairs)
    results["labse_beats_dictionary"] = (results["labse"]["en_to_zh"] > results["dictionary"]["en_to_zh"] and
                                         results["labse"]["zh_to_en"] > results["dictionary"]["zh_to_en"])
    print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
