"""Denoising diffusion training (Ho et al. 2020, algorithm 1): a random step t, noise eps, the
network's prediction at x_t against eps (or v, or x_0: ``DiffusionSpec.prediction``) by mean
squared error. The caption is replaced by the empty one for ``caption_dropout`` of the images, so
the one network also predicts unconditionally (classifier-free guidance, Ho & Salimans 2021).
Latent diffusion (Rombach et al. 2022) trains its autoencoder in the same step (reconstruction
plus a weighted KL to N(0, I)), the U-Net on its latents with the gradient stopped there."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..vision.captions import CAPTIONS
from .protocol import GENERIC_OPTIONS, Task, TrainResult

EVAL_SEED = 0  # held-out steps and noise are drawn from this seed, so every evaluation scores the same draws
MAX_DRAWN_CAPTIONS = 64  # the distinct captions a run keeps in its config for `generate` without --prompt
SAMPLE_STEPS = 10  # the DDIM steps of the grid a run draws when it ends


class TextToImageTask(Task):
    """Captions are read as WordPiece words (the one word that tells two digits apart is one key for
    the U-Net's attention), the tokenizer trained on every caption (a drawer draws any of them),
    two ids above its vocabulary for the empty caption and padding (``vision.captions.CaptionIds``)."""

    reads = "captions"
    options = GENERIC_OPTIONS - {"tokenizer", "vocab_size", "context"}
    label_templates = CAPTIONS
    caption_tokenizer = "wordpiece"
    tokenizer_sees_held_out = True

    def __init__(self, model, tokenizer=None):
        super().__init__()
        self.model, self.tokenizer = model, tokenizer

    @classmethod
    def for_tokenizer(cls, model, tokenizer, **checkpoints) -> "TextToImageTask":
        from ..vision.captions import ImageTextProcessor

        return cls(model, tokenizer.text if isinstance(tokenizer, ImageTextProcessor) else tokenizer)

    @classmethod
    def caption_image_setup(cls, base, images) -> tuple:
        """Pixels at the model's own size, to [-1, 1], in the set's channels."""
        from ..vision.processor import ImageProcessor

        return ImageProcessor.drawing(base.image.size, images.channels), {"image": {"channels": images.channels}}

    @classmethod
    def caption_encoder(cls, tokenizer, length: int):
        from ..vision.captions import CaptionIds

        return CaptionIds(tokenizer, length)

    @classmethod
    def caption_positions(cls, positions: int, longest: int) -> int:
        return max(positions, longest)  # the words alone: no start or end token

    @classmethod
    def model_config(cls, tokenizer) -> dict:
        return {"vocab_size": tokenizer.vocab_size + 2}  # the empty caption and padding above the vocabulary

    @classmethod
    def caption_labels(cls, images, captions: list[str]) -> list[str] | None:
        """The distinct captions, which `generate` draws without --prompt (None where too many)."""
        distinct = sorted(set(captions))
        return distinct if len(distinct) <= MAX_DRAWN_CAPTIONS else None

    def held_out_scores(self, split, names, run=None, seed: int = 0) -> tuple[dict, str]:
        """After a run: a grid of drawings of the run's captions (a few DDIM steps) in samples.png."""
        from ..vision.text_to_image import draw_grid

        if run is None:
            return {}, ""
        model = self.model.eval()
        grid = draw_grid(model, self.tokenizer, model.config.labels or [split.captions[0]], run / "samples.png",
                         per_caption=2, steps=SAMPLE_STEPS, seed=seed)
        return {}, f"samples of {len(grid)} caption(s) drawn with {SAMPLE_STEPS} DDIM steps: {run / 'samples.png'}"

    def losses(self, pixels, ids, generator=None, drop: bool = True) -> dict:
        model, cfg = self.model, self.model.config
        n = len(pixels)
        if drop and cfg.diffusion.caption_dropout:
            dropped = torch.rand(n, generator=generator, device=pixels.device) < cfg.diffusion.caption_dropout
            empty = torch.full_like(ids, model.pad_id)
            empty[:, 0] = model.null_id
            ids = torch.where(dropped[:, None], empty, ids)
        out = {}
        if model.autoencoder is None:
            x0 = pixels
        else:  # the autoencoder's own objective, and the latents the U-Net learns (gradient stopped)
            posterior = model.autoencoder.encode(pixels)
            z = posterior.sample(generator)
            out["reconstruction"] = F.mse_loss(model.autoencoder.decode(z), pixels)
            out["kl"] = posterior.kl().mean() / pixels[0].numel()
            x0 = z.detach() * model.latent_scale
            if self.training:
                model.track_latent_scale(posterior.mean.detach())
        t = torch.randint(0, model.schedule.steps, (n,), generator=generator, device=pixels.device)
        noise = torch.randn(x0.shape, generator=generator, device=pixels.device)
        prediction = model(model.schedule.add_noise(x0, noise, t), t, ids)
        out["denoising"] = F.mse_loss(prediction.float(), model.schedule.target(x0, noise, t))
        return out

    def forward(self, batch):
        pixels, ids = batch
        parts = self.losses(pixels, ids)
        weight = self.model.config.autoencoder.kl_weight if self.model.autoencoder is not None else 0.0
        return parts["denoising"] + parts.get("reconstruction", 0.0) + weight * parts.get("kl", 0.0)

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        """The held-out denoising loss (and the autoencoder's reconstruction error), at fixed draws."""
        generator = None
        totals, count = {}, 0
        for pixels, ids in batches:
            if generator is None:
                generator = torch.Generator(device=pixels.device).manual_seed(EVAL_SEED)
            parts = self.losses(pixels, ids, generator, drop=False)
            for k, v in parts.items():
                totals[k] = totals.get(k, 0.0) + float(v) * len(pixels)
            count += len(pixels)
        metrics = {k: v / max(count, 1) for k, v in totals.items()}
        return {"loss": metrics["denoising"], "nats": 0.0, "tokens": count, "images": count, **metrics}

    @classmethod
    def report(cls, result: TrainResult) -> str:
        m = result.metrics
        extra = f" | reconstruction {m['reconstruction']:.4f}" if "reconstruction" in m else ""
        return (f"val denoising loss {result.val_loss:.4f}{extra} on {m['images']} held-out images | "
                f"{result.steps} steps | checkpoints in {result.out}" + (f"\n{result.sample}" if result.sample else ""))

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        extra = f" | reconstruction {metrics['reconstruction']:.4f}" if "reconstruction" in metrics else ""
        return f"denoising loss {metrics['loss']:.4f}{extra} | {metrics['images']} images"
