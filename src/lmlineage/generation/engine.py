"""One generation engine for every model that speaks the step protocol:

``model(input_ids, attention_mask=..., position_ids=..., cache=..., logits_slice=-1).logits``
and ``model.new_cache(...)``. Greedy when ``temperature == 0``, else sampling with
temperature, top-k, top-p and a repetition penalty. Prompts of different lengths are
left-padded; finished rows keep emitting ``pad_id``.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..core.errors import UserError
from . import processors


@torch.no_grad()
def generate(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    *,
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
    eos_id: int | None = None,
    pad_id: int = 0,
    seed: int | None = None,
    static_cache: bool = False,
    on_token: Callable[[torch.Tensor], None] | None = None,
    should_stop: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Return the new tokens, shape (B, n <= max_new_tokens).

    ``on_token(next_ids)`` streams each step; ``should_stop(generated) -> (B,) bool`` ends
    rows early (stop strings)."""
    processors.check_sampling(temperature, top_k, top_p, repetition_penalty)
    if max_new_tokens < 1:
        raise UserError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if input_ids.ndim != 2 or input_ids.shape[1] == 0:
        raise UserError("the prompt is empty", "give at least one token of prompt")
    b, t = input_ids.shape
    limit = getattr(model, "max_positions", None)
    if limit is not None and t + max_new_tokens > limit:
        if t >= limit:
            raise UserError(f"the prompt is {t} tokens, longer than the model's context of {limit}",
                            "shorten the prompt")
        raise UserError(f"prompt ({t}) + max_new_tokens ({max_new_tokens}) exceeds the context of {limit}",
                        f"use --max-new-tokens {limit - t} or less")
    device = input_ids.device
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    padded = not bool(attention_mask.all())
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    cache = model.new_cache(batch_size=b, max_length=t + max_new_tokens, static=static_cache)

    was_training = model.training
    model.eval()
    logits = model(input_ids, attention_mask=attention_mask if padded or static_cache else None,
                   position_ids=position_ids, cache=cache, logits_slice=-1).logits[:, -1]
    out = torch.empty(b, 0, dtype=input_ids.dtype, device=device)
    finished = torch.zeros(b, dtype=torch.bool, device=device)
    next_pos = position_ids[:, -1:] + 1
    for step in range(max_new_tokens):
        history = torch.cat([input_ids, out], dim=1)
        logits = processors.repetition_penalty(logits.float(), history, repetition_penalty)
        if temperature == 0:
            next_ids = logits.argmax(-1)
        else:
            logits = processors.top_p(processors.top_k(logits / temperature, top_k or 0), top_p or 1.0)
            next_ids = torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)
        next_ids = torch.where(finished, torch.full_like(next_ids, pad_id), next_ids)
        out = torch.cat([out, next_ids[:, None]], dim=1)
        if on_token is not None:
            on_token(next_ids)
        if eos_id is not None:
            finished |= next_ids == eos_id
        if should_stop is not None:
            finished |= should_stop(out)
        if step == max_new_tokens - 1 or bool(finished.all()):
            break
        attention_mask = torch.cat([attention_mask, torch.ones_like(next_ids)[:, None]], dim=1)
        logits = model(next_ids[:, None], attention_mask=attention_mask if padded or static_cache else None,
                       position_ids=next_pos, cache=cache, logits_slice=-1).logits[:, -1]
        next_pos = next_pos + 1
    model.train(was_training)
    return out
