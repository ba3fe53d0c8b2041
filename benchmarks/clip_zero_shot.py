"""CLIP on scikit-learn's handwritten digits: zero-shot accuracy on the held-out digits from text
prompts alone, and image<->text retrieval recall@1, after contrastive training on captions made
from the training digits' labels ("a photo of the digit seven", five phrasings).

CLIP trains as `lmlineage train clip --steps N --batch-size B --lr LR` does (the tiny preset: a
4-layer ViT of width 64 over 2x2 patches of the 8x8 images, a 2-layer causal text tower, a
64-wide joint space), on the 80% `lmlineage eval` does not hold out. Zero-shot: each class's five
prompts embedded and averaged, each held-out image given the nearest class; no class head is
trained. Recall@1: the 20% held-out images against their captions (the first phrasing; the
captions of one class are the same text, so a hit is any caption, or image, of the right class).
Chance is 10%.

    python benchmarks/clip_zero_shot.py --steps 1500 --threads 1 --json benchmarks/results/clip_zero_shot.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import device_name, versions  # noqa: E402

import lmlineage  # noqa: E402
from lmlineage.api import evaluate  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, help="write the raw numbers here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip"
        start = time.perf_counter()
        run = lmlineage.train("clip", steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
                              seed=args.seed, out=out, progress=False)
        seconds = time.perf_counter() - start
        scored = evaluate(out)  # the best checkpoint, as `lmlineage eval` scores it
        model = lmlineage.load(out)
        parameters = sum(p.numel() for p in model.parameters())
        temperature = float(model.logit_scale.exp())
    result = {"data": "digits", "held_out_images": scored["candidates"], "chance": 0.1,
              "train_run": run.metrics, "val_loss": run.val_loss, "eval": scored,
              "zero_shot_accuracy": scored["zero_shot_accuracy"],
              "image_to_text_recall@1": scored["image_to_text_recall@1"],
              "text_to_image_recall@1": scored["text_to_image_recall@1"],
              "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "warmup": args.warmup,
              "seed": args.seed, "threads": torch.get_num_threads(), "train_seconds": seconds,
              "parameters": parameters, "logit_scale_exp": temperature, "device": device_name(),
              "versions": versions()}
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
