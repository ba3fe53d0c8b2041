"""The config of the text-to-image diffusion families (glide, latent-diffusion, imagen): the model
config of their text encoder (a Transformer encoder over the caption), plus the U-Net, the optional KL
autoencoder, the optional cascade's super-resolution stage, the noise schedule and the images they draw."""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import ModelConfig, Spec, require_positive, require_range
from .errors import UserError

SCHEDULES = ("linear", "scaled_linear", "cosine")
PREDICTIONS = ("epsilon", "v_prediction", "sample")


@dataclass
class UNetSpec(Spec):
    """A U-Net (Ronneberger et al. 2015) as Ho et al. 2020 and Rombach et al. 2022 build it: per
    level ``layers_per_block`` ResNet blocks (``channels`` wide), a cross-attention Transformer after
    each where ``attention`` says, a strided downsampling between levels; a middle of ResNet,
    Transformer, ResNet; the mirror image upwards with skip connections. ``heads`` attention heads
    at every width; GroupNorm with ``groups`` groups."""

    channels: list[int] = field(default_factory=lambda: [32, 64])
    attention: list[bool] = field(default_factory=lambda: [False, True])
    layers_per_block: int = 1
    heads: int = 4
    groups: int = 8
    eps: float = 1e-5
    transformer_layers: int = 1
    # The width of a pooled text vector projected into the step embedding (GLIDE, section 2.3: the
    # caption's final token "in place of a class embedding"); None: the caption is read by attention only.
    class_dim: int | None = None

    def validate(self, where: str) -> None:
        require_positive(self, where, "layers_per_block", "heads", "groups", "transformer_layers")
        require_positive(self, where, "class_dim", optional=True)
        if not self.channels or len(self.attention) != len(self.channels):
            raise UserError(f"config {where}channels and {where}attention must be non-empty lists of one length")
        for c in self.channels:
            if c < 1 or c % self.groups or c % self.heads:
                raise UserError(f"config {where}channels={self.channels}: each must be a positive multiple of "
                                f"groups={self.groups} and heads={self.heads}")


@dataclass
class AutoencoderSpec(Spec):
    """A KL-regularized autoencoder (Rombach et al. 2022, section 3 and appendix G): ResNet blocks
    and downsampling to a ``latent_channels`` Gaussian per latent pixel (mean and log-variance),
    one attention layer in the middle, the mirror image back; ``kl_weight`` on the KL term."""

    channels: list[int] = field(default_factory=lambda: [32, 64])
    layers_per_block: int = 1
    latent_channels: int = 4
    groups: int = 8
    kl_weight: float = 1e-4

    def validate(self, where: str) -> None:
        require_positive(self, where, "layers_per_block", "latent_channels", "groups")
        if not self.channels or any(c < 1 or c % self.groups for c in self.channels):
            raise UserError(f"config {where}channels={self.channels}: each must be a positive multiple of "
                            f"groups={self.groups}")
        require_range(self, where, "kl_weight", 0, False)

    @property
    def factor(self) -> int:
        """How many image pixels a latent pixel spans, a side."""
        return 2 ** (len(self.channels) - 1)


@dataclass
class DiffusionSpec(Spec):
    """The forward process and its training: ``schedule`` over ``steps`` steps, what the U-Net
    predicts, and the share of captions dropped in training (classifier-free guidance, Ho &
    Salimans 2021, section 3.2; GLIDE drops 20%)."""

    schedule: str = "cosine"
    steps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    prediction: str = "epsilon"
    caption_dropout: float = 0.2
    # Dynamic thresholding of the predicted x_0 at sampling (Imagen, section 2.3): the percentile of
    # |x_0| each sample is clipped at and divided by, at most ``threshold_max``; None: clip to [-1, 1].
    threshold: float | None = None
    threshold_max: float = 1.0

    def validate(self, where: str) -> None:
        require_positive(self, where, "steps")
        if self.threshold is not None:
            require_range(self, where, "threshold", 0, True, 1.0 + 1e-9)
        require_range(self, where, "threshold_max", 1, False)
        if self.schedule not in SCHEDULES:
            raise UserError(f"config {where}schedule={self.schedule!r} is not one of {', '.join(SCHEDULES)}")
        if self.prediction not in PREDICTIONS:
            raise UserError(f"config {where}prediction={self.prediction!r} is not one of {', '.join(PREDICTIONS)}")
        require_range(self, where, "caption_dropout", 0, False, 1)


@dataclass
class CascadeSpec(Spec):
    """A cascade (Imagen, Saharia et al. 2022, section 2.5): the base U-Net draws ``base_size``
    pixels a side; a super-resolution U-Net (``unet``) draws the full image reading the base image
    upsampled (bicubic) beside its noisy input, the base image noised to step ``augmentation``
    first (noise conditioning augmentation; the paper draws the level at random and conditions on
    it, here one level in training and sampling)."""

    base_size: int = 8
    unet: UNetSpec = field(default_factory=UNetSpec)
    augmentation: int = 100

    def validate(self, where: str) -> None:
        require_positive(self, where, "base_size")
        require_range(self, where, "augmentation", 0, False)
        self.unet.validate(f"{where}unet.")


@dataclass
class DrawnImage(Spec):
    """The images a model draws: ``size`` pixels a side, ``channels`` channels, values in [-1, 1]."""

    size: int = 16
    channels: int = 1

    def validate(self, where: str) -> None:
        require_positive(self, where, "size", "channels")


@dataclass
class DiffusionConfig(ModelConfig):
    """The text encoder (the ModelConfig's fields), the U-Net, the autoencoder (None: diffusion
    in pixel space), the process, the image. ``vocab_size`` counts the caption tokens plus one
    last id, the empty caption (classifier-free guidance's null condition)."""

    unet: UNetSpec = field(default_factory=UNetSpec)
    autoencoder: AutoencoderSpec | None = None
    diffusion: DiffusionSpec = field(default_factory=DiffusionSpec)
    image: DrawnImage = field(default_factory=DrawnImage)
    cascade: CascadeSpec | None = None

    def validate(self, where: str = "") -> None:
        super().validate(where)
        self.unet.validate(f"{where}unet.")
        self.diffusion.validate(f"{where}diffusion.")
        self.image.validate(f"{where}image.")
        if self.autoencoder is not None:
            self.autoencoder.validate(f"{where}autoencoder.")
        if self.cascade is not None:
            self.cascade.validate(f"{where}cascade.")
            if self.autoencoder is not None or self.image.size <= self.cascade.base_size:
                raise UserError(f"config {where}cascade: a cascade draws pixels, larger than its base's "
                                f"{self.cascade.base_size}, got image.size={self.image.size}",
                                "give image.size above cascade.base_size and no autoencoder")
            if self.cascade.augmentation >= self.diffusion.steps:
                raise UserError(f"config {where}cascade.augmentation={self.cascade.augmentation} is not one of the "
                                f"{self.diffusion.steps} diffusion steps", "give a smaller augmentation step")
            if self.image.size % 2 ** (len(self.cascade.unet.channels) - 1):
                raise UserError(f"config: the super-resolution U-Net's levels halve {self.image.size} pixels to "
                                "a fraction", "choose an image size divisible by 2 per level")
        side = self.latent_size
        if side % 2 ** (len(self.unet.channels) - 1):
            raise UserError(f"config: the U-Net's {len(self.unet.channels)} levels halve {side} pixels to a fraction",
                            "choose an image size (or latent size) divisible by 2 per level")

    @property
    def latent_size(self) -> int:
        """The side the (base) U-Net draws at."""
        if self.cascade is not None:
            return self.cascade.base_size
        if self.autoencoder is None:
            return self.image.size
        if self.image.size % self.autoencoder.factor:
            raise UserError(f"config image.size={self.image.size} is not divisible by the autoencoder's "
                            f"factor {self.autoencoder.factor}")
        return self.image.size // self.autoencoder.factor

    @property
    def latent_channels(self) -> int:
        return self.image.channels if self.autoencoder is None else self.autoencoder.latent_channels
