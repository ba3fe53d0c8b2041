"""Do dall-e's drawings follow their captions, with and without CLIP reranking? dall-e trained on
captioned digits ("a handwritten seven", the 8x8 digits enlarged to 16x16) in one run (its
discrete VAE for --dvae-steps, then its Transformer on the frozen codes), judged by the digit
classifier of benchmarks/image_generation.py (scikit-learn's MLP on the 16x16 pixels of the
training images, trained apart) with its accuracy, diversity and Frechet machinery.

Scored: the discrete VAE's own reconstructions of the held-out images (the ceiling of what its
tokens can show); ``--per-digit`` drawings of each of the ten captions (the no-reranking row);
and the best ``--per-digit`` of ``--per-digit x --candidates`` drawings of each caption by a CLIP
trained on the same captioned digits (`lmlineage train clip`, --clip-steps) scoring caption and
image (the reranked row); with a no-caption baseline: the same number of drawings, each from a
random caption, judged against the caption asked for. Grids (a row per digit, zero to nine) as PNG
beside the JSON.

    python benchmarks/dall_e_digits.py --json benchmarks/results/dall_e_digits.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import device_name, versions  # noqa: E402
from image_generation import Judge, diversity, frechet, pixels  # noqa: E402

import lmlineage  # noqa: E402
from lmlineage.api import clip_scorer  # noqa: E402
from lmlineage.vision.batches import held_out_split  # noqa: E402
from lmlineage.vision.captions import CAPTIONS, prompts  # noqa: E402
from lmlineage.vision.images import load_images  # noqa: E402
from lmlineage.vision.processor import ImageProcessor  # noqa: E402
from lmlineage.vision.rerank import draw_reranked  # noqa: E402
from lmlineage.vision.text_to_image import draw, save_grid  # noqa: E402


def scores(judge, drawn: torch.Tensor, wanted: np.ndarray, per_digit: int, real_features) -> dict:
    flat = drawn.reshape(len(drawn), -1).numpy()
    features = judge.features(flat)
    return {"accuracy": float(np.mean(judge.labels(flat) == wanted)), "diversity": diversity(features, per_digit),
            "frechet": frechet(features, real_features)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1500, help="training steps of the dall-e run, both stages")
    p.add_argument("--dvae-steps", type=int, default=500, help="of which the discrete VAE's")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--clip-steps", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--per-digit", type=int, default=20)
    p.add_argument("--candidates", type=int, default=8, help="drawings per kept one, reranked by CLIP")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", default=None, help="keep the runs here (default: a temporary directory)")
    p.add_argument("--json", default=None, help="write the raw numbers here; grids go beside it")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out_dir = Path(args.json).parent if args.json else Path(tempfile.mkdtemp())
    runs = Path(args.runs) if args.runs else Path(tempfile.mkdtemp())
    train, val = held_out_split(load_images("digits"))
    judge = Judge(train, val, args.seed)
    real_features = judge.features(pixels(val))
    captions = [prompts(str(d), defaults=CAPTIONS)[0] for d in range(10)]
    wanted = np.repeat(np.arange(10), args.per_digit)
    result = {"data": "digits at 16x16", "train_images": len(train), "held_out_images": len(val),
              "classifier": "sklearn MLPClassifier(128 hidden) on 16x16 pixels", "classifier_accuracy": judge.accuracy,
              "frechet_train_vs_held_out": frechet(judge.features(pixels(train)), real_features),
              "per_digit": args.per_digit, "candidates": args.candidates, "captions": captions, "args": vars(args)}

    def save(part: str, drawn: torch.Tensor) -> None:
        grid = drawn.reshape(10, args.per_digit, *drawn.shape[1:])[:, :10].reshape(-1, *drawn.shape[1:])
        save_grid(grid, 10, out_dir / f"dall_e_digits_{part}.png")

    def write() -> None:  # after each part, so a later failure keeps what was measured
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n")

    start = time.perf_counter()
    run = lmlineage.train("dall-e", steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
                          seed=args.seed, out=runs / "dall-e", progress=False, options={"dvae_steps": args.dvae_steps})
    model = lmlineage.load(runs / "dall-e" / "best")
    result["dall-e"] = {"train_seconds": time.perf_counter() - start, "val_loss": run.val_loss, "metrics": run.metrics,
                        "parameters": sum(p.numel() for p in model.parameters()),
                        "dvae_parameters": sum(p.numel() for p in model.dvae.parameters())}
    real = ImageProcessor.drawing(16, 1)(val.images)
    with torch.no_grad():
        rebuilt = model.dvae.decode(model.dvae.encode(real)).clamp(-1, 1)
    flat = rebuilt.reshape(len(rebuilt), -1).numpy()
    result["dvae_reconstructions"] = {"accuracy": float(np.mean(judge.labels(flat) == val.labels)),
                                      "frechet": frechet(judge.features(flat), real_features)}
    print("reconstructions", result["dvae_reconstructions"], flush=True)
    write()

    start = time.perf_counter()
    drawn = draw(model, model.tokenizer, captions, per_caption=args.per_digit, seed=args.seed)
    result["no_reranking"] = {**scores(judge, drawn, wanted, args.per_digit, real_features),
                              "seconds": time.perf_counter() - start}
    save("no_reranking", drawn)
    print("no reranking", result["no_reranking"], flush=True)
    shuffled = np.random.default_rng(args.seed).integers(0, 10, len(wanted))
    baseline = draw(model, model.tokenizer, [captions[d] for d in shuffled], seed=args.seed + 1)
    result["random_caption_baseline"] = scores(judge, baseline, wanted, args.per_digit, real_features)
    print("random-caption baseline", result["random_caption_baseline"], flush=True)
    write()

    start = time.perf_counter()
    clip = lmlineage.train("clip", steps=args.clip_steps, batch_size=64, lr=2e-3, warmup=100, seed=args.seed,
                           out=runs / "clip", progress=False)
    result["clip"] = {"train_seconds": time.perf_counter() - start, "metrics": clip.metrics, "steps": args.clip_steps}
    scorer = clip_scorer(runs / "clip" / "best")
    start = time.perf_counter()
    kept, kept_scores = draw_reranked(model, model.tokenizer, captions, scorer, per_caption=args.per_digit,
                                      candidates=args.candidates, seed=args.seed)
    result["clip_reranking"] = {**scores(judge, kept, wanted, args.per_digit, real_features),
                                "mean_clip_score": float(kept_scores.mean()), "seconds": time.perf_counter() - start}
    save("clip_reranked", kept)
    print("CLIP reranking", result["clip_reranking"], flush=True)
    result.update(device=device_name(), versions=versions())
    write()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
