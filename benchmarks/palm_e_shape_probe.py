"""Can palm-e's image encoder see the shapes at all? A diagnostic for the PaLM-E scenes result.

The tiny palm-e preset's ViT (2 layers of width 64, 4 heads, 4x4 patches on the 32x32 scenes),
trained as `lmlineage train vit` trains a classifier (its [class] vector, a class head), on the
one-object scenes of a generated set (``vision/shapes.py``, seed 7; a seed the PaLM-E benchmark
does not use), to name the object's shape; scored on the set's own held-out 20%. Same steps,
batch, lr and warmup as `palm_e_vqa.py`. With ``--stem``, also the convolutional stem palm-e was
tried with.

    python benchmarks/palm_e_shape_probe.py --threads 1 --json benchmarks/results/palm_e_shape_probe.json
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import device_name, parse_training, training_parser, versions  # noqa: E402

import lmlineage  # noqa: E402
from lmlineage.core.config import merge  # noqa: E402
from lmlineage.families.palm_e import VISION  # noqa: E402
from lmlineage.vision.shapes import SHAPES, scenes  # noqa: E402

SCENES, SEED = 3000, 7


def main() -> None:
    p = training_parser(__doc__, steps=800, batch_size=64, lr=2e-3, warmup=50)
    p.add_argument("--stem", action="store_true", help="also the encoder with a [32, 32] convolutional stem")
    args = parse_training(p)
    images, objects, _ = scenes(SCENES, seed=SEED)
    single = [i for i, o in enumerate(objects) if len(o) == 1]
    encoder = {k: VISION[k] for k in ("n_layer", "d_model", "attention", "mlp")} | {"image": {"patch": 4}}
    arms = {"vit": encoder} | ({"vit_with_stem": merge(encoder, {"image": {"stem": [32, 32]}})} if args.stem else {})
    result = {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "warmup": args.warmup,
              "seed": args.seed, "scenes": SCENES, "scene_seed": SEED, "one_object_scenes": len(single),
              "device": device_name(), "versions": versions(), "arms": {}}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "one_object.npz"
        np.savez(data, images=np.stack([images[i] for i in single]),
                 labels=np.array([int(objects[i].shapes[0]) for i in single]), label_names=np.array(SHAPES))
        for name, config in arms.items():
            start = time.perf_counter()
            run = lmlineage.train("vit", data=str(data), steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                  warmup=args.warmup, seed=args.seed, out=Path(tmp) / name, progress=False,
                                  config=config)
            result["arms"][name] = {"config": config, "held_out_accuracy": run.metrics["accuracy"],
                                    "held_out_images": run.metrics["images"], "val_loss": run.val_loss,
                                    "train_seconds": time.perf_counter() - start}
            print(json.dumps({name: result["arms"][name]}), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
