"""Supervised fine-tuning of a decoder on conversations (InstructGPT's first stage, Ouyang et al.
2022, section 3.5): the causal LM loss on the assistant's tokens only, over packed rows whose
examples attend only to themselves (``data/conversations.py``). The model's own chat template lays
the conversation out; a model without one (ours) gets ``PLAIN_TEMPLATE``, which is then saved with
the fine-tuned checkpoint so `generate --chat` lays turns out the same way.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn import functional as F

from ..core.errors import UserError
from ..data.conversations import IGNORE, encode, pack
from ..tokenizers.chat import PLAIN_TEMPLATE, special_tokens
from .protocol import Task


class SFTTask(Task):
    """``forward(batch) -> loss``: mean cross-entropy of the trained (assistant) targets."""

    reads = "examples"
    options = frozenset()  # `finetune` has flags of its own
    generates = True

    def __init__(self, model, adapter=None):
        super().__init__()
        self.model = model
        self.adapter = adapter  # a LoRA adapter hooked onto the model: its parameters train, the model's not

    def logits(self, batch: dict) -> torch.Tensor:
        return self.model(batch["input_ids"], position_ids=batch["position_ids"],
                          document_ids=batch["document_ids"]).logits

    def forward(self, batch: dict) -> torch.Tensor:
        logits = self.logits(batch)
        return F.cross_entropy(logits.flatten(0, 1).float(), batch["targets"].flatten(), ignore_index=IGNORE)

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        """Nats per response token (the assistant's) over ``batches``."""
        nats, count = 0.0, 0
        for batch in batches:
            logits = self.logits(batch)
            nats += float(F.cross_entropy(logits.flatten(0, 1).float(), batch["targets"].flatten(),
                                          ignore_index=IGNORE, reduction="sum"))
            count += int((batch["targets"] != IGNORE).sum())
        return {"nats": nats, "tokens": count, "loss": nats / max(count, 1)}


def chat_template_of(model) -> tuple[str, bool]:
    """(the template to lay conversations out with, whether it is the model's own)."""
    own = getattr(model.tokenizer, "chat_template", None)
    return (own, True) if own else (PLAIN_TEMPLATE, False)


def packed_batches(packed: dict, batch_size: int, order=None):
    rows = packed["input_ids"].shape[0]
    order = list(range(rows)) if order is None else list(order)
    for start in range(0, rows, batch_size):
        pick = torch.tensor(order[start:start + batch_size])
        yield {k: v[pick] for k, v in packed.items()}


@dataclass
class SFTConfig:
    epochs: int = 3
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 0.0
    warmup: float = 0.1
    seed: int = 0
    device: str = "cpu"
    progress: bool = True
    max_length: int | None = None  # tokens per packed row (default: the model's context, at most 1024)


@dataclass
class SFTResult:
    out: Path | None
    val_loss_before: float  # held-out nats per response token, before fine-tuning
    val_loss: float  # and after
    train_conversations: int
    val_conversations: int
    losses: list[float] = field(default_factory=list)
    template: str = "own"  # "own" (the model's chat template) or "plain" (PLAIN_TEMPLATE)
    lora: dict | None = None  # the adapter's settings when only an adapter was trained

    @property
    def report(self) -> str:
        what = f"LoRA adapter (rank {self.lora['r']})" if self.lora else "full fine-tuning"
        return (f"chat SFT ({what}, {self.template} template): held-out response loss {self.val_loss_before:.4f} -> "
                f"{self.val_loss:.4f} nats/token | {self.train_conversations} training / {self.val_conversations} "
                f"held-out conversations | written to {self.out}")


def encode_all(model, conversations: list[list[dict]], template: str):
    tok = model.tokenizer
    if tok is None:
        raise UserError("the checkpoint has no tokenizer.json", "fine-tune a checkpoint that carries its tokenizer")
    special = special_tokens(tok)
    return [encode(tok, messages, template, special) for messages in conversations]


def row_length(model, cfg: SFTConfig, examples) -> int:
    limit = model.context_window or model.max_positions
    longest = max(len(e.ids) for e in examples)
    return min(cfg.max_length or min(limit, 1024), limit, max(longest, 2))


def sft(model, train: list[list[dict]], val: list[list[dict]], cfg: SFTConfig, extra=None) -> SFTResult:
    """Fine-tune ``model`` (in place) on ``train``; score held-out response loss before and after.
    ``extra``: a LoRA adapter already attached to the model (then only it trains)."""
    from ..train.run import fit_epochs

    template, own = chat_template_of(model)
    train_examples, val_examples = encode_all(model, train, template), encode_all(model, val, template)
    length = row_length(model, cfg, train_examples + val_examples)
    pad = model.tokenizer.pad_id if model.tokenizer.pad_id is not None else 0
    train_rows, val_rows = pack(train_examples, length, pad), pack(val_examples, length, pad)
    if int((val_rows["targets"] != IGNORE).sum()) == 0:
        raise UserError("no held-out assistant token is left after cutting conversations to "
                        f"{length} tokens", "give shorter conversations or a larger --max-length")
    task = SFTTask(model, extra).to(cfg.device)
    device_rows = lambda rows: {k: v.to(cfg.device) for k, v in rows.items()}  # noqa: E731
    task.eval()
    before = task.evaluate(packed_batches(device_rows(val_rows), cfg.batch_size))["loss"]
    generator = torch.Generator().manual_seed(cfg.seed)
    rows = train_rows["input_ids"].shape[0]
    losses = fit_epochs(task, lambda: packed_batches(train_rows, cfg.batch_size, torch.randperm(rows, generator=generator)),
                        epochs=cfg.epochs, steps_per_epoch=math.ceil(rows / cfg.batch_size), lr=cfg.lr,
                        weight_decay=cfg.weight_decay, warmup_share=cfg.warmup, device=torch.device(cfg.device),
                        progress=cfg.progress)
    task.eval()
    after = task.evaluate(packed_batches(device_rows(val_rows), cfg.batch_size))["loss"]
    if not own:  # the checkpoint carries the layout it was fine-tuned with
        model.tokenizer.chat_template = PLAIN_TEMPLATE
    return SFTResult(None, before, after, len(train), len(val), losses, "own" if own else "plain")


def write_chat_template(directory: Path, tokenizer) -> None:
    """``tokenizer_config.json`` with the chat template and the end-of-turn token, as a reference
    directory keeps them (``apply_tokenizer_config`` reads them back)."""
    config = {"chat_template": tokenizer.chat_template}
    if tokenizer.eos_id is not None:
        config["eos_token"] = tokenizer.id_to_token(tokenizer.eos_id)
    (Path(directory) / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
