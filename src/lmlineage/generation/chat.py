"""Chat with an instruction-tuned model: the conversation is laid out by the model's own chat
template, and the reply is what the model generates after the assistant's header, up to its
end-of-turn token (the tokenizer's ``eos_id``)."""

from __future__ import annotations

from typing import Callable

from ..tokenizers.chat import render, require_template, special_tokens
from .engine import generate_text


def chat_prompt(model, messages: list[dict], where: str = "this model") -> str:
    """The text the model continues: every turn so far, then the assistant's header."""
    tok = getattr(model, "tokenizer", None)
    return render(require_template(tok, where), messages, add_generation_prompt=True,
                  special_tokens=special_tokens(tok))


def reply(model, messages: list[dict], stream: Callable[[str], None] | None = None, **options) -> str:
    """The assistant's next turn. ``options``: those of ``generate_text`` (max_new_tokens,
    temperature, top_k, top_p, repetition_penalty, stop, seed)."""
    end = end_of_turn(model.tokenizer)
    if end is not None:  # also a stop string, so that the stream never shows the end-of-turn token
        options["stop"] = [*(options.get("stop") or ()), end]
    return generate_text(model, chat_prompt(model, messages), stream=stream, **options).strip()


def end_of_turn(tok) -> str | None:
    """The end-of-turn token's text (the tokenizer's end of text), which ends a reply."""
    return tok.id_to_token(tok.eos_id) if tok.eos_id is not None else None
