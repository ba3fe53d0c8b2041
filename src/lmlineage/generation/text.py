"""``lmlineage.generate(model, prompt, ...)``: the one public way to generate, for every checkpoint.

A model that speaks the engine's step protocol (every Transformer, the RNN seq2seq models) is run
by :func:`~lmlineage.generation.engine.generate_text`. A classic checkpoint that samples by a rule
of its own (the n-gram's counts, a word-level LM's sentences) says so
(``ModelCapabilities.samples_by_own_rule``) and has ``sample_text``; the models never reach up
into this package themselves.
"""

from __future__ import annotations

from ..core.errors import UserError
from .engine import generate_text


def check_generates(model, name="the model") -> None:
    """A one-line refusal for a model that does not write text (an encoder), naming what it does
    instead: what the model declares (``models.capabilities.ModelCapabilities.text_refusal``)."""
    refusal = model.text_refusal()
    if refusal is not None:
        what, instead = refusal
        raise UserError(f"{name} is a {model.config.family} {what}", instead)


def generate(model, prompt="", max_new_tokens: int | None = None, **options):
    """Text in, text out (with the model's tokenizer), or ids (B, T) in, new ids out. ``prompt``: a
    string, a list of strings (one padded batch) or an id tensor. Options are those of
    :func:`lmlineage.generation.generate` (temperature, top_k, top_p, num_beams, seed, ...) plus
    ``stream`` and ``stop``; ``max_new_tokens`` defaults to 64 (30 for a classic sampler)."""
    if model.samples_by_own_rule:
        return model.sample_text(prompt, max_new_tokens=max_new_tokens, **options)
    check_generates(model)
    return generate_text(model, prompt, max_new_tokens=64 if max_new_tokens is None else max_new_tokens, **options)
