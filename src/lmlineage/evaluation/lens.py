"""Looking inside a Transformer: its attention maps and, for a decoder-only language model, its
next-token distribution and the logit lens (nostalgebraist 2020): each layer's hidden state read
through the final norm and the LM head, as if the model stopped there. What ``lmlineage serve``'s
page shows."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Reading:
    """One forward pass over one sequence, looked at. ``attentions`` (L, H, T, T): every layer's
    and head's attention probabilities; ``next_probs``/``next_ids`` (k,): the top next tokens
    after the last position; ``lens_probs``/``lens_ids`` (L + 1, T, top): the lens at the
    embeddings, then after each block (its last row is the model's own prediction). An encoder
    predicts no next token: its reading has the attentions alone."""

    ids: list[int]
    attentions: torch.Tensor
    next_probs: torch.Tensor | None = None
    next_ids: torch.Tensor | None = None
    lens_probs: torch.Tensor | None = None
    lens_ids: torch.Tensor | None = None


def logit_lens(model, hidden_states, top: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The top ``top`` tokens and their probabilities at every position when each of
    ``hidden_states`` (a model output's: the embeddings, then each block's output before the final
    norm) goes through the final norm and the LM head: (probs, ids), each (L + 1, B, T, top)."""
    norm = model.backbone.norm
    probs, ids = [], []
    for h in hidden_states:
        p, i = model.lm_head(h if norm is None else norm(h)).float().softmax(-1).topk(top, dim=-1)
        probs.append(p)
        ids.append(i)
    return torch.stack(probs), torch.stack(ids)


@torch.inference_mode()
def read(model, ids: list[int], top: int = 10, lens_top: int = 1) -> Reading:
    """One forward pass of ``model`` (a decoder-only LM or an encoder) over the token ids ``ids``."""
    x = torch.tensor([ids], device=next(model.parameters()).device)
    predicts = model.backbone.causal
    out = model(x, output_hidden_states=predicts, output_attentions=True)
    attentions = torch.stack([a[0] for a in out.attentions]).float()
    if not predicts:
        return Reading(list(ids), attentions)
    next_probs, next_ids = out.logits[0, -1].float().softmax(-1).topk(min(top, out.logits.shape[-1]))
    lens_probs, lens_ids = logit_lens(model, out.hidden_states, min(lens_top, out.logits.shape[-1]))
    return Reading(list(ids), attentions, next_probs, next_ids, lens_probs[:, 0], lens_ids[:, 0])
