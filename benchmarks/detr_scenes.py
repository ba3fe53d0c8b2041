"""DETR on the generated scenes of coloured shapes: mAP@0.5 on the held-out 20% (what `lmlineage
train detr` and `lmlineage eval` hold out), scored by pycocotools in each scene's own pixels, next
to a floor that ignores the image (every scene gets each class's mean training box, scored by the
class's frequency).

DETR trains as `lmlineage train detr --data shapes:N --steps S --batch-size B --lr LR --warmup W`
does (the tiny preset: a one-stage ResNet of stride 4 on the 32x32 scenes, an 8x8 map, 2+2
post-norm layers of width 64, 10 object queries, auxiliary losses); the classes are the shapes.

    python benchmarks/detr_scenes.py --threads 1 --json benchmarks/results/detr_scenes.json
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
from lmlineage.evaluation.detection import mean_average_precision  # noqa: E402
from lmlineage.vision.batches import held_out_split  # noqa: E402
from lmlineage.vision.detection import CLASSES, scene_targets  # noqa: E402
from lmlineage.vision.images import load_images  # noqa: E402


def floor(train, val) -> float:
    """mAP@0.5 of predicting, in every scene, each class's mean training box with its frequency as score."""
    targets = scene_targets(train)
    labels = torch.cat([t["labels"] for t in targets])
    boxes = torch.cat([t["boxes"] for t in targets])
    guesses = []
    for c in range(len(CLASSES)):
        cx, cy, w, h = boxes[labels == c].mean(0).tolist()
        guesses.append((c, float((labels == c).float().mean()), (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)))
    found, sizes = [], []
    for image in val.images:
        height, width = image.shape[:2]
        sizes.append((height, width))
        found.append([{"label": c, "score": s, "box": [b[0] * width, b[1] * height, b[2] * width, b[3] * height]}
                      for c, s, b in guesses])
    return mean_average_precision(found, scene_targets(val), sizes, len(CLASSES))["map50"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", type=int, default=3000)
    p.add_argument("--steps", type=int, default=3500)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--eval-interval", type=int, default=875)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, help="write the raw numbers here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = f"shapes:{args.scenes}"
    train, val = held_out_split(load_images(data))
    result = {"data": data, "classes": CLASSES, "train_scenes": len(train), "held_out_scenes": len(val),
              "held_out_objects": sum(len(o) for o in val.objects), "floor_map50": floor(train, val)}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "detr"
        start = time.perf_counter()
        run = lmlineage.train("detr", data=data, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                              warmup=args.warmup, eval_interval=args.eval_interval, seed=args.seed, out=out,
                              progress=False)
        seconds = time.perf_counter() - start
        scored = lmlineage.api.evaluate(out)
        curve = [{k: r[k] for k in ("step", "val_loss", "val_map50", "val_map")}
                 for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "val_map50" in r]
        parameters = sum(p.numel() for p in lmlineage.load(out).parameters())
    result.update(detr={"map50": scored["map50"], "map": scored["map"], "val_loss": scored["loss"],
                        "train_report_map50": run.metrics["map50"], "steps": args.steps,
                        "batch_size": args.batch_size, "lr": args.lr, "warmup": args.warmup, "seed": args.seed,
                        "train_seconds": seconds, "parameters": parameters, "curve": curve,
                        "sample": run.sample},
                  command="python " + " ".join(sys.argv), device=device_name(), versions=versions())
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
