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

import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (device_name, parse_training, settings, train_timed, training_parser, versions,  # noqa: E402
                    write_result)

import lmlineage  # noqa: E402
from lmlineage.api import evaluate  # noqa: E402


def main() -> None:
    args = parse_training(training_parser(__doc__, steps=1500, batch_size=64, lr=2e-3, warmup=100))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip"
        run, seconds = train_timed("clip", args, out)
        scored = evaluate(out)  # the best checkpoint, as `lmlineage eval` scores it
        model = lmlineage.load(out)
        parameters = sum(p.numel() for p in model.parameters())
        temperature = float(model.logit_scale.exp())
    result = {"data": "digits", "held_out_images": scored["candidates"], "chance": 0.1,
              "train_run": run.metrics, "val_loss": run.val_loss, "eval": scored,
              "zero_shot_accuracy": scored["zero_shot_accuracy"],
              "image_to_text_recall@1": scored["image_to_text_recall@1"],
              "text_to_image_recall@1": scored["text_to_image_recall@1"],
              **settings(args), "threads": torch.get_num_threads(), "train_seconds": seconds,
              "parameters": parameters, "logit_scale_exp": temperature, "device": device_name(),
              "versions": versions()}
    write_result(result, args.json)


if __name__ == "__main__":
    main()
