"""DALL-E (Ramesh et al. 2021, "Zero-Shot Text-to-Image Generation"): a discrete VAE turns an
image into a grid of tokens (``blocks.dvae``); one causal Transformer (the shared decoder stack)
models the sequence [caption tokens; image tokens] with a joint vocabulary, the caption's tokens
first. Positions as the paper has them (section 2.2, appendix B.1): a learned vector per caption
position, a learned row plus a learned column vector per image token. The paper's row, column and
convolutional sparse attention masks are left out: every token attends to every earlier one.
Drawing samples the image tokens one at a time after the caption (KV cache) and decodes them with
the discrete VAE."""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from ..blocks.dvae import DiscreteVAE
from ..blocks.init import init_weights
from ..blocks.stack import Stack
from ..core.cache import DynamicCache
from ..core.dall_e import DallEConfig
from ..heads.lm import LMHead
from .caption_drawer import CaptionDrawer


class DallE(CaptionDrawer):
    def __init__(self, cfg: DallEConfig):
        super().__init__()
        self.config = cfg
        self.dvae = DiscreteVAE(cfg.dvae, cfg.image.channels)
        d, vocab = cfg.d_model, cfg.vocab_size + cfg.dvae.codebook
        self.embed_tokens = nn.Embedding(vocab, d)  # caption ids, then image codes shifted by the caption vocabulary
        self.text_positions = nn.Embedding(cfg.max_positions, d)
        self.image_rows, self.image_columns = nn.Embedding(cfg.grid, d), nn.Embedding(cfg.grid, d)
        self.transformer = Stack(cfg, causal=True, tokens=False)
        self.head = LMHead(d, vocab)
        for part in (self.embed_tokens, self.text_positions, self.image_rows, self.image_columns, self.transformer,
                     self.head):
            part.apply(partial(init_weights, cfg=cfg))
        # Optimizer steps taken so far: the first dvae.steps train the discrete VAE, the rest the
        # Transformer (saved with the weights, so a resumed run knows its stage).
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    @property
    def text_vocab(self) -> int:
        return self.config.vocab_size

    def uses(self) -> list[str]:
        return ["generate --prompt TEXT --out grid.png [--rerank CLIP_RUN] (draws)",
                "eval (held-out text and image cross-entropy, the discrete VAE's reconstruction)"]

    def embed(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        """(B, T) joint-vocabulary ids at sequence places start .. start+T-1 -> (B, T, d): the token's
        vector plus its caption position, or its image row and column."""
        length, grid = self.config.max_positions, self.config.grid
        places = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        cell = (places - length).clamp(min=0)
        text = self.text_positions(places.clamp(max=length - 1))
        image = self.image_rows(cell // grid) + self.image_columns(cell % grid)
        return self.embed_tokens(tokens) + torch.where((places < length)[:, None], text, image)

    def forward(self, ids: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """(B, L) caption ids and (B, h, w) image codes -> (B, L + h*w - 1, vocab) logits, each place's
        over the next token of [caption; image]."""
        sequence = torch.cat([ids, codes.flatten(1) + self.text_vocab], 1)[:, :-1]
        hidden, _ = self.transformer(None, inputs_embeds=self.embed(sequence))
        return self.head(hidden)

    @torch.no_grad()
    def sample_codes(self, ids: torch.Tensor, seed: int | None = 0, temperature: float = 1.0,
                     top_k: int | None = None) -> torch.Tensor:
        """(B, L) caption ids -> (B, h, w) image codes drawn one at a time (the caption's logits
        restricted to the codebook's part of the vocabulary), seeded."""
        device = next(self.parameters()).device
        generator = torch.Generator(device=device)
        generator.manual_seed(seed if seed is not None else torch.seed())
        ids, cache, codes = ids.to(device), DynamicCache(), []
        hidden, _ = self.transformer(None, inputs_embeds=self.embed(ids), cache=cache)
        for i in range(self.config.image_tokens):
            logits = self.head(hidden[:, -1]).float()[:, self.text_vocab:] / temperature
            if top_k is not None and top_k < logits.shape[-1]:
                kth = logits.topk(top_k, -1).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            code = torch.multinomial(logits.softmax(-1), 1, generator=generator)
            codes.append(code)
            if i + 1 < self.config.image_tokens:
                step = self.embed(code + self.text_vocab, ids.shape[1] + i)
                hidden, _ = self.transformer(None, inputs_embeds=step, cache=cache)
        grid = self.config.grid
        return torch.cat(codes, 1).reshape(len(ids), grid, grid)

    @torch.no_grad()
    def draw(self, ids: torch.Tensor, *, seed: int | None = 0, temperature: float = 1.0, top_k: int | None = None,
             guidance: float | None = None, steps: int | None = None, sampler: str | None = None) -> torch.Tensor:
        """(B, L) caption ids -> (B, C, H, W) images in [-1, 1]. ``guidance``, ``steps`` and
        ``sampler`` are diffusion's knobs (``vision.text_to_image.draw`` passes them to every drawer):
        a drawer of one token at a time has none of them, and ignores them."""
        codes = self.sample_codes(ids, seed, temperature, top_k)
        return self.dvae.decode(codes).clamp(-1, 1)
