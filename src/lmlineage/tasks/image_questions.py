"""Answering questions about images (PaLM-E, Driess et al. 2023, section 3.3: the model is trained
on "prefix" prompts, the question with its image, and the loss is the cross-entropy of the text
after the prefix alone). Scored by answer accuracy on questions about held-out images: an answer
counts when every one of its tokens, its line break included, is the model's likeliest next token
given the right ones before it, which is exactly when greedy decoding writes the answer and stops."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .protocol import GENERIC_OPTIONS, Task, TrainResult


class ImageQuestionTask(Task):
    reads = "image_questions"
    options = GENERIC_OPTIONS - {"tokenizer", "vocab_size", "context"}  # a char vocabulary of the questions

    def __init__(self, model):
        super().__init__()
        self.model = model

    @classmethod
    def for_tokenizer(cls, model, tokenizer, **checkpoints) -> "ImageQuestionTask":
        return cls(model)

    @classmethod
    def config_from_options(cls, config, options: dict) -> dict:
        chosen = {k: True for k in ("freeze_lm", "text_only", "shape_questions", "move_scenes") if options.get(k)}
        if options.get("patch_shapes") is not None:
            chosen["patch_shapes"] = float(options["patch_shapes"])
        return chosen

    def forward(self, batch):
        """The answers' cross-entropy; where the batch carries patch labels and the model reads
        them off its encoder, plus ``patch_shapes`` times their cross-entropy."""
        pixels, rows = batch
        out = self.model(rows.ids, pixels)
        loss = F.cross_entropy(out.logits.float().flatten(0, 1), rows.targets.flatten(), ignore_index=-100)
        if rows.patch_shapes is not None and "patch_shapes" in out.outputs:
            patches = F.cross_entropy(out.outputs["patch_shapes"].float().flatten(0, 1), rows.patch_shapes.flatten())
            loss = loss + self.model.config.patch_shapes * patches
        return loss

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        nats, tokens, correct, count = 0.0, 0, 0, 0
        for pixels, rows in batches:
            logits = self.model(rows.ids, pixels).logits.float()
            scored = rows.targets != -100
            nats += F.cross_entropy(logits[scored], rows.targets[scored], reduction="sum").item()
            tokens += int(scored.sum())
            right = (logits.argmax(-1) == rows.targets) | ~scored
            correct += int(right.all(1).sum())
            count += len(rows)
        return {"loss": nats / max(tokens, 1), "nats": nats, "tokens": tokens, "accuracy": correct / max(count, 1),
                "questions": count}

    @classmethod
    def report(cls, result: TrainResult) -> str:
        m = result.metrics
        return (f"val loss {result.val_loss:.4f} | answer accuracy {m['accuracy']:.4f} on {m['questions']} questions "
                f"about held-out images | {result.steps} steps | checkpoints in {result.out}"
                + (f"\n{result.sample}" if result.sample else ""))

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        return f"loss {metrics['loss']:.4f} | answer accuracy {metrics['accuracy']:.4f} | {metrics['questions']} questions"


def answer(model, questions: list[str], pixel_values: torch.Tensor, max_new_tokens: int = 16) -> list[str]:
    """Greedy answers of an image-text model (``models/image_text_lm.py``) to ``questions``, each
    holding ``<img>`` once, about the rows of ``pixel_values``: the text up to the line break that
    ends an answer. Prompts of different lengths are left-padded, as the engine pads them."""
    from ..generation.engine import generate
    from ..models.image_text_lm import ImagePrompt
    from ..vision.questions import END, prompt_ids

    tok, cfg = model.tokenizer, model.config
    rows = [prompt_ids(tok, q, cfg.image_token_id, cfg.image_tokens, not cfg.text_only) for q in questions]
    width = max(len(r) for r in rows)
    device = next(model.parameters()).device
    ids = torch.zeros((len(rows), width), dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r):] = 1
    end = tok.encode(END)[0]
    new = generate(ImagePrompt(model, pixel_values.to(device)), ids, mask, max_new_tokens=max_new_tokens, eos_id=end,
                   pad_id=end)
    answers = []
    for row in new.tolist():
        row = row[: row.index(end)] if end in row else row
        answers.append(tok.decode(row))
    return answers
