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

import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (device_name, parse_training, settings, train_timed, training_parser, versions,  # noqa: E402
                    write_result)

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
    p = training_parser(__doc__, steps=3500, batch_size=16, lr=1e-3, warmup=100)
    p.add_argument("--scenes", type=int, default=3000)
    p.add_argument("--eval-interval", type=int, default=875)
    args = parse_training(p)
    data = f"shapes:{args.scenes}"
    train, val = held_out_split(load_images(data))
    result = {"data": data, "classes": CLASSES, "train_scenes": len(train), "held_out_scenes": len(val),
              "held_out_objects": sum(len(o) for o in val.objects), "floor_map50": floor(train, val)}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "detr"
        run, seconds = train_timed("detr", args, out, data=data, eval_interval=args.eval_interval)
        scored = lmlineage.api.evaluate(out)
        curve = [{k: r[k] for k in ("step", "val_loss", "val_map50", "val_map")}
                 for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "val_map50" in r]
        parameters = sum(p.numel() for p in lmlineage.load(out).parameters())
    result.update(detr={"map50": scored["map50"], "map": scored["map"], "val_loss": scored["loss"],
                        "train_report_map50": run.metrics["map50"], **settings(args), "train_seconds": seconds, "parameters": parameters, "curve": curve,
                        "sample": run.sample},
                  command="python " + " ".join(sys.argv), device=device_name(), versions=versions())
    write_result(result, args.json)


if __name__ == "__main__":
    main()
