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


@torch.inference_mode()
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
    track_finished = eos_id is not None or should_stop is not None
    for step in range(max_new_tokens):
        if repetition_penalty != 1.0:
            logits = processors.repetition_penalty(logits.float(), torch.cat([input_ids, out], dim=1),
                                                   repetition_penalty)
        if temperature == 0:
            next_ids = logits.argmax(-1)
        else:
            logits = logits - logits.max(-1, keepdim=True).values  # best at 0: a small temperature can't overflow
            logits = processors.top_p(processors.top_k(logits / temperature, top_k or 0), top_p or 1.0)
            next_ids = torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)
        if track_finished:
            next_ids = torch.where(finished, torch.full_like(next_ids, pad_id), next_ids)
        out = torch.cat([out, next_ids[:, None]], dim=1)
        if on_token is not None:
            on_token(next_ids)
        if eos_id is not None:
            finished |= next_ids == eos_id
        if should_stop is not None:
            finished |= should_stop(out)
        if step == max_new_tokens - 1 or (track_finished and bool(finished.all())):
            break
        attention_mask = torch.cat([attention_mask, torch.ones_like(next_ids)[:, None]], dim=1)
        logits = model(next_ids[:, None], attention_mask=attention_mask if padded or static_cache else None,
                       position_ids=next_pos, cache=cache, logits_slice=-1).logits[:, -1]
        next_pos = next_pos + 1
    model.train(was_training)
    return out


def encode_prompts(tokenizer, prompts: list[str], pad_id: int = 0):
    """Tokenize prompts and left-pad them into (ids, attention_mask)."""
    if tokenizer is None:
        raise UserError("this model has no tokenizer to encode a text prompt", "pass token ids, or load a checkpoint with one")
    encoded = [tokenizer.encode(p) for p in prompts]
    if any(len(e) == 0 for e in encoded):
        raise UserError("a prompt is empty", "give at least one character of prompt")
    width = max(len(e) for e in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, e in enumerate(encoded):
        ids[row, width - len(e):] = torch.tensor(e)
        mask[row, width - len(e):] = 1
    return ids, mask


def generate_text(model, prompt, max_new_tokens: int = 64, stream: Callable[[str], None] | None = None,
                  stop: list[str] | None = None, **options):
    """``prompt``: a string, a list of strings (batched, left-padded) or an id tensor."""
    device = next(model.parameters()).device
    tok = getattr(model, "tokenizer", None)
    if isinstance(prompt, torch.Tensor):
        return generate(model, prompt.to(device), max_new_tokens=max_new_tokens, **options)
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    pad_id = tok.pad_id if tok is not None and tok.pad_id is not None else 0
    ids, mask = encode_prompts(tok, prompts, pad_id)
    options.setdefault("eos_id", tok.eos_id)
    options.setdefault("pad_id", pad_id)
    emitted = [""] * len(prompts)
    produced: list[list[int]] = [[] for _ in prompts]

    def on_token(next_ids):
        for row, t in enumerate(next_ids.tolist()):
            produced[row].append(t)
        if stream is not None and len(prompts) == 1:
            text = _cut_at_stop(tok.decode(produced[0]), stop)
            stream(text[len(emitted[0]):])
            emitted[0] = text

    def should_stop(out):
        return torch.tensor([any(s in tok.decode(row) for s in stop) for row in out.tolist()], device=out.device)

    new = generate(model, ids.to(device), mask.to(device), max_new_tokens=max_new_tokens,
                   on_token=on_token, should_stop=should_stop if stop else None, **options)
    texts = []
    for row in new.tolist():
        if options["eos_id"] is not None and options["eos_id"] in row:
            row = row[: row.index(options["eos_id"])]
        texts.append(_cut_at_stop(tok.decode(row), stop))
    return texts[0] if isinstance(prompt, str) else texts


def _cut_at_stop(text: str, stop: list[str] | None) -> str:
    for s in stop or ():
        if s in text:
            text = text[: text.index(s)]
    return text
