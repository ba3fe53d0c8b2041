"""Denoising diffusion training (Ho et al. 2020, algorithm 1): a random step t, noise eps, the
network's prediction at x_t against eps (or v, or x_0: ``DiffusionSpec.prediction``) by mean
squared error. The caption is replaced by the empty one for ``caption_dropout`` of the images, so
the one network also predicts unconditionally (classifier-free guidance, Ho & Salimans 2021).
Latent diffusion (Rombach et al. 2022) trains its autoencoder in the same step (reconstruction
plus a weighted KL to N(0, I)), the U-Net on its latents with the gradient stopped there."""

from __future__ import annotations

from functools import partial

import torch
from torch.nn import functional as F

from ..core.errors import UserError

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

    def drop_captions(self, ids, generator=None):
        """Each caption replaced by the empty one with probability ``caption_dropout``."""
        model, rate = self.model, self.model.config.diffusion.caption_dropout
        if not rate:
            return ids
        dropped = torch.rand(len(ids), generator=generator, device=ids.device) < rate
        empty = torch.full_like(ids, model.pad_id)
        empty[:, 0] = model.null_id
        return torch.where(dropped[:, None], empty, ids)

    def denoising(self, denoise, x0, text, mask, generator=None):
        """Ho et al.'s loss: a random step, noise, the prediction at x_t against its target."""
        model, n = self.model, len(x0)
        t = torch.randint(0, model.schedule.steps, (n,), generator=generator, device=x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device)
        prediction = denoise(model.schedule.add_noise(x0, noise, t), t, text, mask)
        return F.mse_loss(prediction.float(), model.schedule.target(x0, noise, t))

    def losses(self, pixels, ids, generator=None, drop: bool = True) -> dict:
        model = self.model
        if drop:
            ids = self.drop_captions(ids, generator)
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
        out["denoising"] = self.denoising(model.denoise, x0, *model.encode_text(ids), generator)
        return out

    def forward(self, batch):
        pixels, ids = batch
        parts = self.losses(pixels, ids)
        weight = self.model.config.autoencoder.kl_weight if self.model.autoencoder is not None else 0.0
        return (parts["denoising"] + parts.get("super_resolution", 0.0) + parts.get("reconstruction", 0.0)
                + weight * parts.get("kl", 0.0))

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
        extra = _extra(m)
        return (f"val denoising loss {result.val_loss:.4f}{extra} on {m['images']} held-out images | "
                f"{result.steps} steps | checkpoints in {result.out}" + (f"\n{result.sample}" if result.sample else ""))

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        extra = _extra(metrics)
        return f"denoising loss {metrics['loss']:.4f}{extra} | {metrics['images']} images"


def _extra(metrics: dict) -> str:
    """The losses beyond the denoising one: the autoencoder's reconstruction, a cascade's upsampling."""
    names = {"reconstruction": "reconstruction", "super_resolution": "super-resolution denoising loss"}
    return "".join(f" | {label} {metrics[key]:.4f}" for key, label in names.items() if key in metrics)


class CascadeTask(TextToImageTask):
    """Imagen's cascade trained in one run (Saharia et al. 2022, section 2.5; the paper trains its
    stages apart): the base U-Net on the images downsampled to ``cascade.base_size``, the
    super-resolution U-Net on the full images given the downsampled ones upsampled and noised, the
    captions through the frozen text encoder. ``--text-encoder`` names a T5 checkpoint (ours, or a
    reference directory) whose encoder and tokenizer it reads; without it the encoder is a frozen
    random T5 encoder."""

    checkpoint_options = ("text_encoder",)

    @classmethod
    def setup(cls, text_encoder=None) -> dict:
        """The T5's tokenizer."""
        if text_encoder is None:
            return {}
        encoder = getattr(text_encoder, "encoder", None)
        if not text_encoder.is_encoder_decoder or encoder is None or text_encoder.tokenizer is None:
            raise UserError(f"--text-encoder: a {text_encoder.config.family} checkpoint is no encoder-decoder with "
                            "a tokenizer", "give a t5 (or flan-t5, mt5) run or reference directory")
        return {"tokenizer": text_encoder.tokenizer}

    @classmethod
    def config_from_options(cls, config, options: dict) -> dict:
        """``--text-encoder``: its encoder's shape for the text side (the U-Nets read its width)."""
        text_encoder = options.get("text_encoder")
        if text_encoder is None:
            return {}
        t5 = text_encoder.config
        shape = {k: v for k, v in t5.to_dict().items() if k in TEXT_SHAPE}
        width = {"class_dim": t5.d_model}
        return {**shape, "unet": width, "cascade": {"unet": width}}

    @classmethod
    def for_tokenizer(cls, model, tokenizer, text_encoder=None, **checkpoints) -> "CascadeTask":
        task = super().for_tokenizer(model, tokenizer)
        if text_encoder is not None:
            copy_encoder(text_encoder.encoder, model.text)
        return task

    def losses(self, pixels, ids, generator=None, drop: bool = True) -> dict:
        from ..models.text_to_image import downsample

        model = self.model
        if drop:
            ids = self.drop_captions(ids, generator)
        text, mask = model.encode_text(ids)
        base = downsample(pixels, model.config.cascade.base_size)
        out = {"denoising": self.denoising(model.denoise, base, text, mask, generator)}
        noise = torch.randn(pixels.shape, generator=generator, device=pixels.device)
        low = model.low_resolution(base, noise)
        out["super_resolution"] = self.denoising(partial(model.denoise_super_resolution, low=low), pixels, text,
                                                 mask, generator)
        return out


# The fields of a T5's config that shape its encoder (and so an Imagen's frozen text side).
TEXT_SHAPE = ("d_model", "n_layer", "attention", "mlp", "norm", "position", "bias", "init", "embedding")


@torch.no_grad()
def copy_encoder(source, target) -> None:
    """A T5 encoder's weights into the text side; the token table's rows for the empty caption and
    padding, above the T5's vocabulary, keep their (frozen, random) values."""
    state, own = source.state_dict(), target.state_dict()
    if set(state) != set(own):
        raise UserError(f"--text-encoder: its encoder's weights do not fit the text side "
                        f"(unexpected {sorted(set(state) - set(own))[:3]}, missing {sorted(set(own) - set(state))[:3]})")
    for name, value in state.items():
        if name == "embed_tokens.weight":
            rows = min(len(value), len(own[name]) - 2)
            own[name][:rows] = value[:rows]
        elif value.shape != own[name].shape:
            raise UserError(f"--text-encoder: {name} is {tuple(value.shape)}, the text side's {tuple(own[name].shape)}")
        else:
            own[name].copy_(value)
