"""The config of dall-e (Ramesh et al. 2021): the model config of its causal Transformer over
[caption tokens; image tokens], plus the discrete VAE that turns an image into its grid of tokens,
the two stages' split of a run, the weights of the text and image losses, and the images it draws."""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import ModelConfig, Spec, require_positive, require_range
from .diffusion import DrawnImage
from .errors import UserError


@dataclass
class DiscreteVAESpec(Spec):
    """The discrete VAE (section 2.1): ResNet blocks and strided downsampling to logits over
    ``codebook`` codes per grid cell, a factor 2^(levels-1) smaller a side; the mirror image back from
    the chosen codes' ``code_dim``-wide vectors. It trains for the first ``steps`` optimizer steps of
    a run (stage one), its Gumbel-softmax temperature annealed from ``temperature`` to
    ``temperature_end`` over them, with ``kl_weight`` on the KL to the uniform prior over codes."""

    channels: list[int] = field(default_factory=lambda: [32, 64, 64])
    layers_per_block: int = 1
    groups: int = 8
    codebook: int = 128
    code_dim: int = 32
    steps: int = 300
    temperature: float = 1.0
    temperature_end: float = 1 / 16
    kl_weight: float = 1e-3

    def validate(self, where: str) -> None:
        require_positive(self, where, "layers_per_block", "groups", "codebook", "code_dim")
        if self.steps < 0:
            raise UserError(f"config {where}steps must be >= 0 (the discrete VAE's share of a run), got {self.steps}")
        if not self.channels or any(c < 1 or c % self.groups for c in self.channels):
            raise UserError(f"config {where}channels={self.channels}: each must be a positive multiple of "
                            f"groups={self.groups}")
        require_range(self, where, "temperature", 0, True)
        require_range(self, where, "temperature_end", 0, True)
        require_range(self, where, "kl_weight", 0, False)

    @property
    def factor(self) -> int:
        """How many image pixels a token spans, a side."""
        return 2 ** (len(self.channels) - 1)


@dataclass
class DallEConfig(ModelConfig):
    """The Transformer (the ModelConfig's fields; ``vocab_size`` counts the caption tokens, the
    empty caption and padding, ``max_positions`` the caption's tokens), the discrete VAE, the image,
    and the weights of the text and image cross-entropies (section 2.2: 1/8 and 7/8)."""

    dvae: DiscreteVAESpec = field(default_factory=DiscreteVAESpec)
    image: DrawnImage = field(default_factory=DrawnImage)
    text_loss_weight: float = 1 / 8
    image_loss_weight: float = 7 / 8

    def validate(self, where: str = "") -> None:
        super().validate(where)
        self.dvae.validate(f"{where}dvae.")
        self.image.validate(f"{where}image.")
        require_range(self, where, "text_loss_weight", 0, False)
        require_range(self, where, "image_loss_weight", 0, True)
        if self.image.size % self.dvae.factor:
            raise UserError(f"config image.size={self.image.size} is not divisible by the discrete VAE's factor "
                            f"{self.dvae.factor}", "choose an image size divisible by 2 per dvae level")

    @property
    def grid(self) -> int:
        """Image tokens a side."""
        return self.image.size // self.dvae.factor

    @property
    def image_tokens(self) -> int:
        return self.grid ** 2
