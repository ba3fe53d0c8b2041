"""Sampling replies from a decoder for RL, and the log-probabilities and values of given replies.

Prompts are left-padded into one batch (their positions count from each prompt's first real
token), replies grow to the right until the end-of-turn token; everything after it is padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core import masks
from .losses import token_logprobs


@dataclass
class Batch:
    ids: torch.Tensor  # (B, P + N): left-padded prompt, then the reply
    mask: torch.Tensor  # (B, P + N): 1 at real tokens
    reply_mask: torch.Tensor  # (B, N): 1 at the reply's tokens (up to and with the end-of-turn token)
    prompt_length: int  # P


def left_pad(rows: list[list[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


def forward(model, ids: torch.Tensor, mask: torch.Tensor):
    return model(ids, attention_mask=mask, position_ids=masks.positions(mask))


@torch.no_grad()
def sample(model, prompts: list[list[int]], max_new_tokens: int, stop_id: int, temperature: float = 1.0,
           generator: torch.Generator | None = None, pad: int = 0) -> Batch:
    """Replies to ``prompts`` (token ids), sampled at ``temperature`` (0: greedy)."""
    ids, mask = left_pad(prompts, pad)
    prompt_length = ids.shape[1]
    done = torch.zeros(len(prompts), dtype=torch.bool)
    for _ in range(max_new_tokens):
        logits = forward(model, ids, mask).logits[:, -1].float()
        if temperature == 0:
            token = logits.argmax(-1)
        else:
            token = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=generator).squeeze(-1)
        token = torch.where(done, torch.full_like(token, pad), token)
        ids = torch.cat([ids, token[:, None]], 1)
        mask = torch.cat([mask, (~done).long()[:, None]], 1)
        done |= token == stop_id
        if bool(done.all()):
            break
    return Batch(ids, mask, mask[:, prompt_length:], prompt_length)


def reply_logprobs(model, batch: Batch):
    """(log-probabilities of the reply tokens (B, N), the model's output) for the whole batch."""
    out = forward(model, batch.ids, batch.mask)
    p = batch.prompt_length
    logits = out.logits[:, p - 1:-1]
    return token_logprobs(logits, batch.ids[:, p:]) * batch.reply_mask, out


def last_token(mask: torch.Tensor) -> torch.Tensor:
    """Each row's last real position."""
    return mask.shape[1] - 1 - mask.flip(1).float().argmax(1)
