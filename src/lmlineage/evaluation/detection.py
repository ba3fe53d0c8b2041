"""Scoring and drawing a detector's boxes.

``detections``: DETR's inference (Carion et al. 2020, section 3.1): every query is one detection,
its class the likeliest real one (the "no object" class left out), its score that probability.
``mean_average_precision``: COCO's AP by ``pycocotools`` (Lin et al. 2014), at IoU 0.5 and averaged
over IoU 0.5:0.95, over every class, with up to 100 detections per image.
``draw``: the boxes and their labels on the image (matplotlib), the picture `lmlineage detect` writes.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import torch

from ..core.errors import UserError


def detections(logits: torch.Tensor, boxes: torch.Tensor, height: int, width: int) -> list[dict]:
    """One image's queries (Q, C + 1) and boxes (Q, 4) -> [{"label", "score", "box": [x0, y0, x1, y1]}]
    in pixels, likeliest first."""
    scores, labels = logits.float().softmax(-1)[:, :-1].max(-1)
    cx, cy, w, h = boxes.float().unbind(-1)
    corners = torch.stack([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height], -1)
    order = scores.argsort(descending=True)
    return [{"label": int(labels[i]), "score": float(scores[i]), "box": [float(v) for v in corners[i]]} for i in order]


def mean_average_precision(found: list[list[dict]], truth: list[dict], sizes, n_classes: int) -> dict:
    """COCO AP of ``found`` (per image, :func:`detections`) against ``truth`` (per image, ``labels``
    and fractional centre ``boxes``); ``sizes``: each image's (height, width)."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise UserError("mAP is computed by pycocotools, which is not installed",
                        "pip install pycocotools  (or: pip install -e '.[detection]')") from None
    images, annotations, results = [], [], []
    for i, (target, (height, width)) in enumerate(zip(truth, sizes)):
        images.append({"id": i, "height": int(height), "width": int(width)})
        for label, (cx, cy, w, h) in zip(target["labels"].tolist(), target["boxes"].tolist()):
            box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": int(label), "bbox": box,
                                "area": box[2] * box[3], "iscrowd": 0})
        for d in found[i]:
            x0, y0, x1, y1 = d["box"]
            results.append({"image_id": i, "category_id": d["label"], "bbox": [x0, y0, x1 - x0, y1 - y0],
                            "score": d["score"]})
    if not annotations:
        raise UserError("the held-out scenes hold no objects to score", "give scenes with objects in them")
    if not results:
        return {"map50": 0.0, "map": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco = COCO()
        coco.dataset = {"images": images, "annotations": annotations,
                        "categories": [{"id": c} for c in range(n_classes)]}
        coco.createIndex()
        evaluation = COCOeval(coco, coco.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = [max(float(s), 0.0) for s in evaluation.stats]  # -1: no object of that kind
    return {"map50": stats[1], "map": stats[0]}


def draw(image: np.ndarray, found: list[dict], names: list[str], out: Path, title: str = "") -> Path:
    """``image`` (H, W, C) uint8 with each detection's box and "label score" drawn, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.patches import Rectangle

    height, width = image.shape[:2]
    scale = max(1.0, 6.0 / max(height, width) * 100)  # a small scene is drawn large enough to read
    fig, ax = plt.subplots(figsize=(width * scale / 100, height * scale / 100), dpi=100)
    ax.imshow(image[:, :, 0] if image.shape[2] == 1 else image, cmap="gray" if image.shape[2] == 1 else None,
              extent=(0, width, height, 0), interpolation="nearest")
    colours = plt.get_cmap("tab10")
    for d in found:
        x0, y0, x1, y1 = d["box"]
        colour = colours(d["label"] % 10)
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linewidth=2))
        ax.text(x0, y0, f"{names[d['label']]} {d['score']:.2f}", color="white", fontsize=9, va="bottom",
                bbox={"facecolor": colour, "alpha": 0.8, "pad": 1, "edgecolor": "none"})
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
