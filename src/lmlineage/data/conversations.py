"""Conversations for supervised fine-tuning (SFT; Ouyang et al. 2022, section 3.5): a ``.jsonl`` file,
one ``{"messages": [{"role", "content"}, ...]}`` per line, laid out by a chat template, with the
loss on the assistant's tokens only, packed into rows whose examples never see each other.

A conversation is cut where each assistant turn starts: the template rendered up to that turn with
the assistant's header (``add_generation_prompt``) is what the model reads at generation time,
and the text it adds when the turn is rendered is what the model must learn to write.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.errors import UserError
from ..tokenizers.chat import render
from .records import records

ROLES = ("system", "user", "assistant")
IGNORE = -100  # a target no loss is computed at: prompt tokens, a document's last token, padding


def read_conversations(path) -> list[list[dict]]:
    """Each line's ``messages``, checked: roles among ROLES, text content, an assistant turn."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist or is not a file", "give a .jsonl file with a messages list per line")
    if path.suffix != ".jsonl":
        raise UserError(f"{path}: conversations are read from .jsonl, not {path.suffix or '(no suffix)'}",
                        'give one {"messages": [{"role": ..., "content": ...}, ...]} per line')
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None
    conversations = [check_messages(row.get("messages"), f"{path} {where}") for where, row in records(path, text)]
    if len(conversations) < 2:
        raise UserError(f"{path} holds {len(conversations)} conversation(s)", "give at least 2: one to train on, one to check")
    return conversations


def read_mixture(spec: str, seed: int = 0) -> list[list[dict]]:
    """Koala's training set (Geng et al. 2023): several dialogue sources mixed by weight, each
    conversation's source marked in its prompt (a system turn ``source: NAME``, so the model can be
    asked for one source's style). ``spec``: ``PATH[:WEIGHT],PATH[:WEIGHT],...``; a source of weight w
    contributes round(w / max weight * its size) conversations, drawn without replacement (the
    heaviest source all of it)."""
    import random

    parts = []
    for item in spec.split(","):
        path, _, weight = item.partition(":")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise UserError(f"--data {item}: the weight after ':' must be a number") from None
        if not w > 0:
            raise UserError(f"--data {item}: a source's weight must be > 0")
        parts.append((Path(path), w))
    top = max(w for _, w in parts)
    rng = random.Random(seed)
    mixed = []
    for path, w in parts:
        conversations = read_conversations(path)
        keep = rng.sample(conversations, max(1, round(len(conversations) * w / top)))
        marked = [{"role": "system", "content": f"source: {path.stem}"}]
        mixed += [marked + [m for m in c if m["role"] != "system"] for c in keep]
    rng.shuffle(mixed)
    return mixed


def check_messages(messages, where: str) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise UserError(f"{where}: no messages list", 'give "messages": [{"role": "user", "content": ...}, ...]')
    for n, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise UserError(f"{where}: message {n} is not a {{role, content}} object with role in {', '.join(ROLES)}")
    if not any(m["role"] == "assistant" for m in messages):
        raise UserError(f"{where}: the conversation has no assistant turn, so nothing to learn",
                        "add the assistant's reply after the user's message")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def segments(messages: list[dict], template: str, special_tokens: dict | None = None) -> list[tuple[str, bool]]:
    """The rendered conversation as (text, trained) pieces: every assistant turn is trained, the
    rest (system, user turns, the assistant's header) is read only."""
    pieces, done = [], ""
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render(template, messages[:i], add_generation_prompt=True, special_tokens=special_tokens)
        full = render(template, messages[:i + 1], add_generation_prompt=False, special_tokens=special_tokens)
        if not (prompt.startswith(done) and full.startswith(prompt)):
            raise UserError("the chat template does not lay out earlier turns unchanged when a turn is added, "
                            "so the assistant's tokens cannot be told apart", "fine-tune with another template")
        pieces += [(prompt[len(done):], False), (full[len(prompt):], True)]
        done = full
    return [(text, trained) for text, trained in pieces if text]


@dataclass
class Example:
    ids: list[int]
    trained: list[bool]  # the token is part of an assistant turn: it is predicted with a loss


def encode(tokenizer, messages: list[dict], template: str, special_tokens: dict | None = None) -> Example:
    ids, trained = [], []
    for text, is_trained in segments(messages, template, special_tokens):
        piece = tokenizer.encode(text)
        ids += piece
        trained += [is_trained] * len(piece)
    return Example(ids, trained)


def pack(examples: list[Example], length: int, pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Rows of ``length`` tokens holding whole examples (in order, a new row when the next does not
    fit; longer ones cut to ``length``): ``input_ids``, ``targets`` (the next token of the same
    example where it is trained, else IGNORE), ``document_ids`` (which example; -1 on padding) and
    ``position_ids`` (each example counts from 0)."""
    rows: list[list[tuple[Example, int]]] = [[]]
    used = 0
    for n, example in enumerate(examples):
        size = min(len(example.ids), length)
        if used + size > length:
            rows.append([])
            used = 0
        rows[-1].append((example, n))
        used += size
    shape = (len(rows), length)
    out = {"input_ids": torch.full(shape, pad_id), "targets": torch.full(shape, IGNORE),
           "document_ids": torch.full(shape, -1), "position_ids": torch.zeros(shape, dtype=torch.long)}
    for r, row in enumerate(rows):
        start = 0
        for example, n in row:
            ids, trained = example.ids[:length], example.trained[:length]
            end = start + len(ids)
            out["input_ids"][r, start:end] = torch.tensor(ids)
            out["document_ids"][r, start:end] = n
            out["position_ids"][r, start:end] = torch.arange(len(ids))
            targets = [ids[t + 1] if trained[t + 1] else IGNORE for t in range(len(ids) - 1)] + [IGNORE]
            out["targets"][r, start:end] = torch.tensor(targets)
            start = end
    return out
