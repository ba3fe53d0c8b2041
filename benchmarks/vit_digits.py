"""ViT on scikit-learn's handwritten digits, next to scikit-learn's logistic regression and SVC
on the same held-out split (the 20% `lmlineage train vit` and `lmlineage eval` hold out).

ViT trains as `lmlineage train vit --steps N --batch-size B --lr LR` does (the tiny preset: 2x2
patches of the 8x8 images, 16 patches + [class], 4 layers of width 64); the baselines read the
same pixels scaled to [0, 1], fitted on the same training images. The majority class is the floor.

    python benchmarks/vit_digits.py --steps 600 --json benchmarks/results/vit_digits.json
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

import lmlineage  # noqa: E402
from lmlineage.vision.batches import held_out_split  # noqa: E402
from lmlineage.vision.images import load_images  # noqa: E402


def baselines(train, val) -> dict:
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    x_train = np.stack([im.reshape(-1) for im in train.images]) / 255.0
    x_val = np.stack([im.reshape(-1) for im in val.images]) / 255.0
    out = {"majority_class": float(np.mean(val.labels == np.bincount(train.labels).argmax()))}
    for name, model in (("logistic_regression", LogisticRegression(max_iter=5000)), ("svc_rbf", SVC())):
        start = time.perf_counter()
        model.fit(x_train, train.labels)
        out[name] = float(np.mean(model.predict(x_val) == val.labels))
        out[f"{name}_seconds"] = time.perf_counter() - start
    out["sklearn"] = sklearn.__version__
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--dropout", type=float, default=None, help="override the preset's dropout")
    p.add_argument("--d-model", type=int, default=None, help="override the preset's width (its MLP: twice it)")
    p.add_argument("--patch", type=int, default=None, help="override the preset's patch side")
    p.add_argument("--layers", type=int, default=None, help="override the preset's number of layers")
    p.add_argument("--pooling", choices=("cls", "mean"), default=None, help="what the class head reads: [class] "
                   "(the preset's) or the mean of the patch vectors (global average pooling)")
    p.add_argument("--validation", action="store_true", help="choosing settings: train on the training images "
                   "only, held out as `train` holds out (20%%, seeded) a validation part of them; the held-out "
                   "images are not read")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, help="write the raw numbers here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = "digits"
    train, val = held_out_split(load_images("digits"))
    with tempfile.TemporaryDirectory() as tmp:
        if args.validation:  # the training images alone, as a set of their own that `train` splits again
            data = str(Path(tmp) / "training_images.npz")
            np.savez(data, images=np.stack(train.images), labels=train.labels, label_names=np.array(train.label_names))
            train, val = held_out_split(load_images(data))
        result = {"data": "digits, training images only (validation)" if args.validation else "digits",
                  "train_images": len(train), "held_out_images": len(val), **baselines(train, val)}
        start = time.perf_counter()
        config = {} if args.dropout is None else {"dropout": args.dropout}
        if args.d_model is not None:
            config.update(d_model=args.d_model, mlp={"d_ff": 2 * args.d_model})
        if args.patch is not None:
            config.update(image={"patch": args.patch})
        if args.pooling is not None:
            config.update(pooling=args.pooling)
        if args.layers is not None:
            config.update(n_layer=args.layers)
        run = lmlineage.train("vit", steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
                              seed=args.seed, out=Path(tmp) / "vit", progress=False, config=config, data=data)
        seconds = time.perf_counter() - start
        scored = lmlineage.api.evaluate(Path(tmp) / "vit")
        trained = lmlineage.load(Path(tmp) / "vit")
        dropout, parameters = trained.config.dropout, sum(p.numel() for p in trained.parameters())
        shape = {"d_model": trained.config.d_model, "patch": trained.config.image.patch,
                 "layers": trained.config.n_layer, "pooling": trained.config.pooling or "cls"}
    result.update(vit={"accuracy": run.metrics["accuracy"], "val_loss": run.val_loss, "eval_accuracy": scored["accuracy"],
                       "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "warmup": args.warmup,
                       "seed": args.seed, "dropout": dropout, "train_seconds": seconds, **shape,
                       "parameters": parameters},
                  device=device_name(), versions=versions())
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
