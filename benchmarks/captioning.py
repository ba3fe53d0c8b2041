"""BLIP and CoCa caption scikit-learn's handwritten digits: the share of held-out images (the 20%
`lmlineage train` and `lmlineage eval` hold out) whose generated caption names the right digit and
no other ("a handwritten seven"), greedy and with beam search, next to the floor of always giving
the commonest training caption.

Each family trains as `lmlineage train FAMILY --steps N --batch-size B --lr LR --warmup W` does
(the tiny presets: 2x2 patches of the 8x8 digits as RGB, 2 text layers of width 64), on captions
made from the labels; BLIP with its three losses (contrast, matching with hard negatives,
captioning), CoCa with its two (contrast + 2 x captioning).

    python benchmarks/captioning.py --threads 1 --json benchmarks/results/captioning.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (device_name, parse_training, settings, train_timed, training_parser, versions,  # noqa: E402
                    write_result)

import lmlineage  # noqa: E402
from lmlineage.evaluation.captions import caption_split  # noqa: E402
from lmlineage.tasks.captioning import CaptioningTask  # noqa: E402
from lmlineage.vision.batches import held_out_split  # noqa: E402
from lmlineage.vision.captions import CaptionSplit, captions_of, encode_captions, names_right, phrases_of  # noqa: E402
from lmlineage.vision.images import load_images  # noqa: E402


def floor(data: str) -> float:
    """The share named right by always giving the commonest training caption."""
    train, val = held_out_split(load_images(data))
    commonest = Counter(c for texts in captions_of(train, CaptioningTask.label_templates) for c in texts)
    phrases = phrases_of(val)
    every = {p for row in phrases for p in row}
    return sum(names_right(commonest.most_common(1)[0][0], row, every) for row in phrases) / len(phrases)


def run(family: str, args, tmp: Path) -> dict:
    result, seconds = train_timed(family, args, tmp / family, data=args.data)
    model = lmlineage.load(tmp / family)  # the best checkpoint, with its tokenizer and processor
    ids = CaptioningTask.caption_tokens(model.tokenizer)
    val = CaptionSplit.process(held_out_split(load_images(args.data))[1], model.processor,
                               lambda texts: encode_captions(model.tokenizer, texts, *ids), every_caption=False,
                               templates=CaptioningTask.label_templates)
    captions, beam = caption_split(model, model.tokenizer, val, num_beams=args.beams)
    every = {p for row in val.phrases for p in row}
    wrong = [(c, r) for c, r, p in zip(captions, val.captions, val.phrases) if not names_right(c, p, every)]
    return {"named_greedy": result.metrics["named"], f"named_beam_{args.beams}": beam,
            "val_loss": result.val_loss, **{f"val_{k}": result.metrics[k] for k in ("contrast", "matching", "caption")
                                            if k in result.metrics},
            "examples": [[c, r] for c, r in zip(captions[:5], val.captions[:5])], "wrong_examples": wrong[:5],
            "train_seconds": seconds, "parameters": sum(p.numel() for p in model.parameters()), **settings(args)}


def main() -> None:
    p = training_parser(__doc__, steps=600, batch_size=64, lr=2e-3, warmup=50)
    p.add_argument("--families", nargs="+", default=["blip", "coca"])
    p.add_argument("--data", default="digits")
    p.add_argument("--beams", type=int, default=3)
    args = parse_training(p)
    train, val = held_out_split(load_images(args.data))
    result = {"data": args.data, "train_images": len(train), "held_out_images": len(val),
              "commonest_caption_floor": floor(args.data)}
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            result[family] = run(family, args, Path(tmp))
            print(family, json.dumps(result[family]), flush=True)
    result.update(device=device_name(), versions=versions())
    write_result(result, args.json)


if __name__ == "__main__":
    main()
