"""DALL-E's two stages (Ramesh et al. 2021, section 2), in one run: for the first ``dvae.steps``
optimizer steps the discrete VAE learns to reconstruct the images through a Gumbel-softmax
relaxation of its code choice, the temperature annealed (stage one); then, the discrete VAE
frozen, the Transformer learns the sequence [caption; image codes] by cross-entropy, the caption's
tokens weighted 1/8 and the image's 7/8 (section 2.2), each the mean over its tokens (stage two).
The captions, their tokenizer and the images are set up as for the diffusion drawers
(``TextToImageTask``)."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from ..core.errors import UserError
from ..layers.gumbel import annealed_temperature
from .protocol import TrainResult
from .text_to_image import TextToImageTask

EVAL_SEED = 0  # the Gumbel noise of the held-out relaxed reconstruction


def token_losses(model, ids: torch.Tensor, codes: torch.Tensor) -> dict:
    """The caption's and the image's mean cross-entropy (nats per token) of [ids; codes]: a caption
    token is predicted over the caption vocabulary (padding is no target), an image token over the
    codebook; the caption's first token has nothing before it and is not predicted."""
    logits = model(ids, codes).float()
    length, vocab = ids.shape[1], model.text_vocab
    targets = ids[:, 1:]
    real = targets != model.pad_id
    text_logits = logits[:, : length - 1, :vocab]
    text = F.cross_entropy(text_logits[real], targets[real]) if bool(real.any()) else logits.new_zeros(())
    image_logits = logits[:, length - 1:, vocab:]
    image = F.cross_entropy(image_logits.reshape(-1, image_logits.shape[-1]), codes.flatten())
    return {"text": text, "image": image}


def weighted(parts: dict, cfg) -> torch.Tensor:
    """Section 2.2: text and image cross-entropies weighted 1/8 and 7/8 (``text_loss_weight``, ``image_loss_weight``)."""
    return cfg.text_loss_weight * parts["text"] + cfg.image_loss_weight * parts["image"]


def code_perplexity(codes: torch.Tensor, codebook: int) -> float:
    """exp(entropy) of how often each code is used: how many codes the images really use."""
    counts = torch.bincount(codes.flatten(), minlength=codebook).float()
    p = counts / counts.sum()
    return float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()))


class DallETask(TextToImageTask):
    @classmethod
    def config_from_options(cls, config, options: dict) -> dict:
        """``--dvae-steps N``: the discrete VAE's share of the run."""
        steps = options.get("dvae_steps")
        if steps is not None and steps < 0:
            raise UserError(f"--dvae-steps {steps} is negative", "give the discrete VAE's steps, 0 or more")
        return {} if steps is None else {"dvae": {"steps": steps}}

    def temperature(self, step: int) -> float:
        spec = self.model.config.dvae
        return annealed_temperature(step, spec.steps, spec.temperature, spec.temperature_end)

    def stage(self) -> str:
        return "dvae" if int(self.model.steps_done) < self.model.config.dvae.steps else "transformer"

    def dvae_loss(self, pixels: torch.Tensor, step: int) -> torch.Tensor:
        parts = self.model.dvae.losses(pixels, self.temperature(step))
        return parts["reconstruction"] + self.model.config.dvae.kl_weight * parts["kl"]

    def forward(self, batch):
        pixels, ids = batch
        model = self.model
        step = int(model.steps_done)
        if self.training:
            model.steps_done += 1
        if step < model.config.dvae.steps:
            return self.dvae_loss(pixels, step)
        model.dvae.eval()  # frozen: its codes are the Transformer's data
        return weighted(token_losses(model, ids, model.dvae.encode(pixels)), model.config)

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        """Held out: the Transformer's weighted loss (the reported loss) and its text and image parts
        on the discrete VAE's codes; the discrete VAE's reconstruction from its hard codes and its
        relaxed loss at the run's current temperature; how many codes the images use."""
        model = self.model
        generator, totals, count, used = None, {}, 0, []
        for pixels, ids in batches:
            if generator is None:
                generator = torch.Generator(device=pixels.device).manual_seed(EVAL_SEED)
            codes = model.dvae.encode(pixels)
            parts = token_losses(model, ids, codes)
            relaxed = model.dvae.losses(pixels, self.temperature(int(model.steps_done)), generator=generator)
            values = {"loss": weighted(parts, model.config), "text_loss": parts["text"],
                      "image_loss": parts["image"], "reconstruction": F.mse_loss(model.dvae.decode(codes), pixels),
                      "relaxed_reconstruction": relaxed["reconstruction"], "kl": relaxed["kl"]}
            for k, v in values.items():
                totals[k] = totals.get(k, 0.0) + float(v) * len(pixels)
            count += len(pixels)
            used.append(codes)
        metrics = {k: v / max(count, 1) for k, v in totals.items()}
        perplexity = code_perplexity(torch.cat(used), model.config.dvae.codebook) if used else math.nan
        return {**metrics, "nats": 0.0, "tokens": count, "images": count, "code_perplexity": perplexity,
                "stage": self.stage()}

    def held_out_scores(self, split, names, run=None, seed: int = 0) -> tuple[dict, str]:
        """After a run: a grid of drawings of the run's captions in samples.png."""
        from ..vision.text_to_image import draw_grid

        if run is None:
            return {}, ""
        model = self.model.eval()
        grid = draw_grid(model, self.tokenizer, model.config.labels or [split.captions[0]], run / "samples.png",
                         per_caption=2, seed=seed)
        return {}, f"samples of {len(grid)} caption(s), image tokens drawn one at a time: {run / 'samples.png'}"

    @classmethod
    def report(cls, result: TrainResult) -> str:
        return (f"val loss {result.val_loss:.4f} (1/8 text + 7/8 image) | {cls._parts(result.metrics)} on "
                f"{result.metrics['images']} held-out images | {result.steps} steps | checkpoints in {result.out}"
                + (f"\n{result.sample}" if result.sample else ""))

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        return f"loss {metrics['loss']:.4f} (1/8 text + 7/8 image) | {cls._parts(metrics)} | {metrics['images']} images"

    @staticmethod
    def _parts(m: dict) -> str:
        return (f"text {m['text_loss']:.4f}, image {m['image_loss']:.4f} nats/token | dVAE reconstruction "
                f"{m['reconstruction']:.4f}, {m['code_perplexity']:.1f} codes in use | stage: {m['stage']}")
