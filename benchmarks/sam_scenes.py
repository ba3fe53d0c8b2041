"""SAM on the generated scenes of coloured shapes: mean mask IoU from one point per held-out object
(prompted at the object's centre, the likeliest of the three masks by the model's own IoU
prediction), as `lmlineage eval` scores it, with the oracle (best of the three) beside it.

SAM trains as `lmlineage train sam --steps N --batch-size B --lr LR` does (the tiny preset: 32 x 32
scenes, 4 x 4 patches, a 4-layer windowed ViT of width 64 and a 2-block two-way decoder of width
64), one point drawn inside one object per image and step. Two reference points on the same prompts:
a disc of the training objects' median area around the point (a floor), and a flood fill of the
point's exact colour (the scenes are flat colours on a flat background, so it is exact: these
scenes test that the model learns segmentation from prompts, not that the task is hard).

    python benchmarks/sam_scenes.py --threads 1 --json benchmarks/results/sam_scenes.json
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (device_name, parse_training, settings, train_timed, training_parser, versions,  # noqa: E402
                    write_result)

import lmlineage  # noqa: E402
from lmlineage.api import evaluate  # noqa: E402
from lmlineage.vision.batches import held_out_split  # noqa: E402
from lmlineage.vision.images import load_images  # noqa: E402
from lmlineage.vision.prompts import centre_point  # noqa: E402


def flood(image: np.ndarray, x: int, y: int) -> np.ndarray:
    """The 4-connected pixels of exactly the colour at (x, y)."""
    same = (image == image[y, x]).all(-1)
    mask, todo = np.zeros_like(same), [(y, x)]
    while todo:
        i, j = todo.pop()
        if 0 <= i < same.shape[0] and 0 <= j < same.shape[1] and same[i, j] and not mask[i, j]:
            mask[i, j] = True
            todo += [(i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)]
    return mask


def baselines(train, val) -> dict:
    area = float(np.median([m.sum() for o in train.objects for m in o.masks]))
    radius = (area / np.pi) ** 0.5
    disc, fill = [], []
    for image, objects in zip(val.images, val.objects):
        yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
        for mask in objects.masks:
            x, y = centre_point(mask)
            for guess, scores in (((xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2, disc), (flood(image, x, y), fill)):
                scores.append((guess & mask).sum() / (guess | mask).sum())
    return {"disc_of_median_area": float(np.mean(disc)), "colour_flood_fill": float(np.mean(fill)),
            "median_object_pixels": area}


def main() -> None:
    args = parse_training(training_parser(__doc__, steps=1000, batch_size=32, lr=2e-3, warmup=100))
    train, val = held_out_split(load_images("shapes"))
    result = {"data": "shapes (1,000 generated 32 x 32 scenes, 1 to 3 shapes each)", "train_images": len(train),
              "held_out_images": len(val), "held_out_objects": sum(len(o) for o in val.objects),
              "baselines": baselines(train, val)}
    with tempfile.TemporaryDirectory() as tmp:
        cpu = time.process_time()
        run, seconds = train_timed("sam", args, Path(tmp) / "sam")
        cpu_seconds = time.process_time() - cpu
        scored = evaluate(Path(tmp) / "sam")
    result.update(sam={"mean_iou": run.metrics["mean_iou"], "oracle_iou": run.metrics["oracle_iou"],
                       "eval_mean_iou": scored["mean_iou"], "val_loss": run.val_loss, "objects": run.metrics["objects"],
                       **settings(args), "threads": torch.get_num_threads(), "train_minutes": seconds / 60,
                       "train_cpu_minutes": cpu_seconds / 60,
                       "parameters": sum(p.numel() for p in lmlineage.load("sam").parameters())},
                  device=device_name(), versions=versions())
    write_result(result, args.json)


if __name__ == "__main__":
    main()
