"""Do the drawings follow their captions? glide, latent-diffusion and imagen trained on captioned
digits ("a handwritten seven", the 8x8 digits enlarged to 16x16), judged by a digit classifier
trained apart (scikit-learn's MLP on the same 16x16 pixels of the training images).

For each family and guidance scale w: ``--per-digit`` drawings of each of the ten captions (DDIM,
``--sampling-steps``), the share the classifier labels as the caption asks (accuracy), their
diversity (mean pairwise distance between drawings of one caption, in the classifier's feature
space, averaged over captions), and the Frechet distance between the classifier's hidden
features of all drawings and of the held-out real images (Heusel et al. 2017's FID, with this
classifier in place of Inception). w = 0 is the no-caption baseline (the empty caption the models
learnt by caption dropout); the real training images give the distance's floor. Grids of the
drawings are written as PNG beside the JSON.

imagen's cascade is also judged against a plain bicubic upsampling of its own base drawings (8x8):
whether the classifier labels both as captioned, and how sharp each is, as the mean squared
difference between neighbouring pixels (gradient energy; the real 16x16 images' is given beside).
Its frozen text encoder is a T5 trained here for ``--text-encoder-steps`` (0: a random one).

    python benchmarks/image_generation.py --steps 3000 --json benchmarks/results/image_generation.json

``--families-plot PNG`` trains nothing: it reads the committed JSONs (FAMILY_RUNS) and draws the
latest run of each family on one plot, dall-e's two points (benchmarks/dall_e_digits.py, the same
judge) as horizontal references.
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
from lmlineage.vision.captions import CAPTIONS, NUMBER_WORDS, prompts  # noqa: E402
from lmlineage.vision.processor import ImageProcessor  # noqa: E402
from lmlineage.vision.text_to_image import draw, save_grid  # noqa: E402
from lmlineage.vision.images import load_images  # noqa: E402

FAMILIES = ("glide", "latent-diffusion", "imagen")
SIZE = 16
RESULTS = Path(__file__).resolve().parent / "results"
# The latest run of each family and the JSONs that hold its guidance scales (glide's 1000-step run
# was sampled by two calls of this script: w = 5 by the first, w = 1.5 and 2 by the second).
FAMILY_RUNS = {"glide": ("image_generation_guidance.json", "image_generation.json"),
               "latent-diffusion": ("image_generation_latent_diffusion.json",),
               "imagen": ("image_generation_guidance.json",)}


def pixels(images) -> np.ndarray:
    """The images as the models see them: 16x16, in [-1, 1], flattened."""
    return ImageProcessor.drawing(SIZE, 1)(images.images).reshape(len(images), -1).numpy()


class Judge:
    """scikit-learn's MLP classifier on 16x16 pixels: labels and hidden (ReLU) features."""

    def __init__(self, train, val, seed: int):
        from sklearn.neural_network import MLPClassifier

        self.model = MLPClassifier(hidden_layer_sizes=(128,), max_iter=500, random_state=seed)
        self.model.fit(pixels(train), train.labels)
        self.accuracy = float(np.mean(self.model.predict(pixels(val)) == val.labels))

    def labels(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x)

    def features(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x @ self.model.coefs_[0] + self.model.intercepts_[0], 0)


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root, _ = linalg.sqrtm(s_a @ s_b, disp=False)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root.real))


def diversity(features: np.ndarray, per_digit: int) -> float:
    """Mean pairwise Euclidean distance between drawings of one caption, averaged over captions."""
    out = []
    for group in features.reshape(-1, per_digit, features.shape[-1]):
        d = np.sqrt(((group[:, None] - group[None]) ** 2).sum(-1))
        out.append(d.sum() / (per_digit * (per_digit - 1)))
    return float(np.mean(out))


def gradient_energy(images: np.ndarray) -> float:
    """Mean squared difference between horizontally and vertically neighbouring pixels of (N, H, W)
    images in [-1, 1]: higher is sharper."""
    return float(((np.diff(images, axis=1) ** 2).mean() + (np.diff(images, axis=2) ** 2).mean()) / 2)


def draw_cascade(model, captions, w, args):
    """imagen's base drawings (8x8) and the cascade's (16x16), all captions in one batch."""
    from lmlineage.vision.captions import CaptionIds

    ids = CaptionIds(model.tokenizer, model.config.max_positions)([c for c in captions for _ in range(args.per_digit)])
    return model.draw_stages(ids, guidance=w, steps=args.sampling_steps, sampler=args.sampler, seed=args.seed)


def cascade_scores(judge, base, drawn, wanted) -> dict:
    """The cascade's drawings against its base drawings upsampled bicubically: labelled as captioned,
    and sharpness."""
    from lmlineage.models.text_to_image import upsample

    bicubic = upsample(base, drawn.shape[-1]).clamp(-1, 1)
    out = {}
    for name, images in (("cascade", drawn), ("bicubic_of_base", bicubic)):
        flat = images.reshape(len(images), -1).numpy()
        out[name] = {"accuracy": float(np.mean(judge.labels(flat) == wanted)),
                     "gradient_energy": gradient_energy(images[:, 0].numpy())}
    return out


def train_or_reuse(family: str, runs: Path, args, **extra):
    """Train ``family`` into ``runs/family`` (seconds taken), or read a run already there (None)."""
    if (runs / family / "best").is_dir():
        return None, None
    start = time.perf_counter()
    run = lmlineage.train(family, steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
                          seed=args.seed, out=runs / family, progress=False, **extra)
    return run, time.perf_counter() - start


def trained_steps(run: Path) -> int:
    """The steps a run trained for (the last its metrics record)."""
    return max(json.loads(line).get("step", 0) for line in (run / "metrics.jsonl").read_text().splitlines() if line)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--families", nargs="+", default=list(FAMILIES))
    p.add_argument("--steps", type=int, default=3000, help="training steps of each family")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--guidance", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0, 5.0])
    p.add_argument("--per-digit", type=int, default=20)
    p.add_argument("--sampling-steps", type=int, default=25)
    p.add_argument("--sampler", default="ddim")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", default=None, help="keep the runs here (default: a temporary directory); a run "
                   "already there is read, not trained again")
    p.add_argument("--text-encoder-steps", type=int, default=300, help="imagen's T5, trained first (0: random)")
    p.add_argument("--json", default=None, help="write the raw numbers here; grids and the plot go beside it")
    p.add_argument("--families-plot", default=None, metavar="PNG",
                   help="train nothing: plot the committed JSONs' latest run of each family and dall-e's points")
    args = p.parse_args()
    if args.families_plot:
        result, references = committed_families(RESULTS)
        plot(result, Path(args.families_plot), references)
        return
    torch.set_num_threads(args.threads)
    out_dir = Path(args.json).parent if args.json else Path(tempfile.mkdtemp())
    train, val = held_out_split(load_images("digits"))
    judge = Judge(train, val, args.seed)
    real_features = judge.features(pixels(val))
    result = {"data": "digits at 16x16", "train_images": len(train), "held_out_images": len(val),
              "classifier": "sklearn MLPClassifier(128 hidden) on 16x16 pixels", "classifier_accuracy": judge.accuracy,
              "frechet_train_vs_held_out": frechet(judge.features(pixels(train)), real_features),
              "sampler": args.sampler, "sampling_steps": args.sampling_steps, "per_digit": args.per_digit,
              "families": {}}
    captions = [prompts(str(d), defaults=CAPTIONS)[0] for d in range(10)]
    wanted = np.repeat(np.arange(10), args.per_digit)
    runs = Path(args.runs) if args.runs else Path(tempfile.mkdtemp())
    for family in args.families:
        extra = {}
        if family == "imagen" and args.text_encoder_steps:
            if not (runs / "t5" / "best").is_dir():
                lmlineage.train("t5", steps=args.text_encoder_steps, seed=args.seed, out=runs / "t5", progress=False)
            extra["options"] = {"text_encoder": str(runs / "t5" / "best")}
        run, seconds = train_or_reuse(family, runs, args, **extra)
        model = lmlineage.load(runs / family / "best")
        scores = {}
        for w in args.guidance:
            start = time.perf_counter()
            if family == "imagen":
                base, drawn = draw_cascade(model, captions, w, args)
            else:
                drawn = draw(model, model.tokenizer, captions, per_caption=args.per_digit, guidance=w,
                             steps=args.sampling_steps, sampler=args.sampler, seed=args.seed)
            flat = drawn.reshape(len(drawn), -1).numpy()
            features = judge.features(flat)
            scores[str(w)] = {"accuracy": float(np.mean(judge.labels(flat) == wanted)),
                              "diversity": diversity(features, args.per_digit),
                              "frechet": frechet(features, real_features),
                              "seconds": time.perf_counter() - start}
            if family == "imagen":
                scores[str(w)]["cascade"] = cascade_scores(judge, base, drawn, wanted)
            save_grid(drawn.reshape(10, args.per_digit, *drawn.shape[1:])[:, :10].reshape(-1, *drawn.shape[1:]), 10,
                      out_dir / f"image_generation_{family}_w{w:g}.png")
            print(family, w, scores[str(w)], flush=True)
        metrics = run.metrics if run is not None else None  # a run read back: see its own report
        result["families"][family] = {
            "val_denoising_loss": run.val_loss if run is not None else None, "metrics": metrics,
            "steps": trained_steps(runs / family), "batch_size": args.batch_size, "lr": args.lr, "train_seconds": seconds,
            "prediction": model.config.diffusion.prediction,
            "parameters": sum(p.numel() for p in model.parameters()),
            "trained_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad), "guidance": scores,
            "no_caption_baseline": scores.get("0.0")}
        if family == "imagen":
            result["real_gradient_energy"] = gradient_energy(pixels(val).reshape(-1, SIZE, SIZE))
            result["families"][family]["text_encoder"] = (f"t5 tiny, {args.text_encoder_steps} steps of span "
                                                          "corruption on shakespeare" if args.text_encoder_steps
                                                          else "a random T5 encoder")
        if args.json:  # after each family, so a later failure keeps what was measured
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    result.update(device=device_name(), versions=versions(), captions=captions, number_words=list(NUMBER_WORDS))
    plot(result, out_dir / f"{Path(args.json).stem if args.json else 'image_generation'}.png")
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


def committed_families(results: Path) -> tuple[dict, list]:
    """The latest run of each family (FAMILY_RUNS; a guidance scale from the first JSON that has it)
    and dall-e's two points, as ``plot`` reads them."""
    families = {}
    for family, files in FAMILY_RUNS.items():
        scores = {}
        for name in reversed(files):
            run = json.loads((results / name).read_text())["families"][family]
            scores.update(run["guidance"])
            label = f"{family} ({run['steps']} steps)"
        families[label] = {"guidance": scores}
    dall_e = json.loads((results / "dall_e_digits.json").read_text())
    references = [("dall-e, no reranking", dall_e["no_reranking"], "--"),
                  ("dall-e, best of 8 by CLIP", dall_e["clip_reranking"], "-.")]
    return {"families": families}, references


def plot(result: dict, path: Path, references: list = ()) -> None:
    """Accuracy and diversity against the guidance scale, a line per family; ``references``:
    (label, scores, line style) drawn across both panels (a model without a guidance scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    for family, data in result["families"].items():
        ws = sorted(data["guidance"], key=float)
        left.plot([float(w) for w in ws], [data["guidance"][w]["accuracy"] for w in ws], "o-", label=family)
        right.plot([float(w) for w in ws], [data["guidance"][w]["diversity"] for w in ws], "o-", label=family)
    for label, scores, style in references:
        label = f"{label}: {scores['accuracy']:.1%}, {scores['diversity']:.2f}"
        left.axhline(scores["accuracy"], color="black", ls=style, lw=1, label=label)
        right.axhline(scores["diversity"], color="black", ls=style, lw=1, label=label)
    bar = "90%: the bar for the guided diffusion families" if references else None  # named where dall-e's lines are
    left.axhline(0.9, color="grey", ls=":", lw=1, label=bar)
    left.set(xlabel="guidance scale w", ylabel="drawings labelled as captioned", ylim=(0, 1.05))
    right.set(xlabel="guidance scale w", ylabel="diversity (mean pairwise feature distance)")
    if references:  # too many lines for a corner of one panel: one legend below both
        fig.set_size_inches(10, 4.6)
        fig.legend(*left.get_legend_handles_labels(), loc="lower center", ncol=2, frameon=False)
        fig.tight_layout(rect=(0, 0.2, 1, 1))
    else:
        left.legend()
        fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
