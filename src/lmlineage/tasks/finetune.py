"""Fine-tuning an encoder on a labelled task: BERT's Figure 4 set-ups (Devlin et al. 2019, section 4).

An encoder + one task head (heads/tasks.py) + the task's loss, on examples read from JSON lines or
CSV. The fields each task reads (documented in the README):

- ``classify``: ``text``, ``label``                         -> [CLS] text [SEP]
- ``pair``:     ``text_a``, ``text_b``, ``label``           -> [CLS] a [SEP] b [SEP], segments 0 / 1
- ``tag``:      ``tokens`` (words), ``tags`` (one per word) -> each word's first piece is tagged
- ``qa``:       ``context``, ``question``, ``answer_start`` (a character offset into the context),
                ``answer_text``                             -> [CLS] question [SEP] context [SEP] (section 4.2)
- ``choice``:   ``context`` (or ``question``), ``choices`` (a list), ``label`` (the index of the right
                one) -> one [CLS] context [SEP] choice [SEP] per choice (section 4.4)

In CSV, list fields are a JSON array in the cell, or words separated by spaces (``tokens``,
``tags``) or by ``|`` (``choices``). Labels are names: ``1`` and ``"1"`` are the same label.
The schedule is BERT's (appendix A.3): AdamW, linear warmup over the first 10% of steps, then
linear decay to zero; dropout as in pre-training.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..core.errors import UserError
from ..core.config import POOLINGS
from ..data.records import records
from .protocol import Task

FIELDS = {
    "classify": ("text", "label"),
    "pair": ("text_a", "text_b", "label"),
    "tag": ("tokens", "tags"),
    "qa": ("context", "question", "answer_start", "answer_text"),
    "choice": ("context", "choices", "label"),
}
# What a prediction reads: the fields above less the answers (label, tags, the answer's place).
INPUTS = {"classify": ("text",), "pair": ("text_a", "text_b"), "tag": ("tokens",), "qa": ("context", "question"),
          "choice": ("context", "choices")}
HEADS = {"classify": "classifier", "pair": "classifier", "tag": "tagger", "qa": "span", "choice": "choice"}
IGNORE = -100  # targets of positions no loss is computed at ([CLS], [SEP], later pieces of a word)
MAX_ANSWER_TOKENS = 30  # the longest predicted answer span (BERT's run_squad.py)
PROBE_ITERATIONS = 100  # L-BFGS iterations of the linear probe that starts a sentence-level head


# ---- reading ------------------------------------------------------------------------------------
def read_examples(path, task: str, inputs_only: bool = False) -> list[dict]:
    """Examples of ``task`` from a .jsonl or .csv file, each checked; UserError naming the line.
    ``inputs_only``: the inputs to predict from (``INPUTS``), answers not needed, one example enough."""
    if task not in FIELDS:
        raise UserError(f"unknown task {task!r}", f"choose one of: {', '.join(FIELDS)}")
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist or is not a file", "give a .jsonl or .csv file of examples")
    if path.suffix not in (".jsonl", ".csv"):
        raise UserError(f"{path}: unsupported file type {path.suffix or '(none)'}", "give a .jsonl or .csv file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None
    rows = records(path, text)
    examples = [_check(row, task, f"{path} {where}", inputs_only) for where, row in rows]
    if inputs_only and not examples:
        raise UserError(f"{path} holds no example", f"give one per line with the fields {', '.join(INPUTS[task])}")
    if not inputs_only and len(examples) < 2:
        raise UserError(f"{path} holds {len(examples)} example(s)", "give at least 2: one to train on, one to check")
    return examples


def _as_list(value, separator):
    """A list field: a list (JSON lines) or a cell holding a JSON array or separated items (CSV)."""
    if isinstance(value, str):
        if value.strip().startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                return None
        else:
            value = [v.strip() for v in value.split(separator)] if separator != " " else value.split()
    return value if isinstance(value, list) else None


def _check_field(row: dict, task: str, field: str, where: str):
    value = row[field]
    if field in ("tokens", "tags", "choices"):
        value = _as_list(value, "|" if field == "choices" else " ")
        if not value or not all(isinstance(v, (str, int)) and str(v).strip() for v in value):
            raise UserError(f"{where}: {field} must be a non-empty list of non-empty strings")
        value = [str(v) for v in value]
    elif field == "answer_start" or (field == "label" and task == "choice"):
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise UserError(f"{where}: {field} must be an integer, got {value!r}") from None
    elif field == "label":
        if isinstance(value, (dict, list)) or str(value).strip() == "":
            raise UserError(f"{where}: label must be a name or a number, got {value!r}")
        value = str(value).strip()
    elif not isinstance(value, str) or not value.strip():
        raise UserError(f"{where}: {field} must be non-empty text, got {value!r}")
    return value


def _check(row: dict, task: str, where: str, inputs_only: bool = False) -> dict:
    if task == "choice" and "context" not in row and "question" in row:
        row = {**row, "context": row["question"]}
    needed = INPUTS[task] if inputs_only else FIELDS[task]
    missing = [f for f in needed if f not in row or row[f] is None]
    if missing:
        raise UserError(f"{where}: missing field(s) {', '.join(missing)}",
                        f"the {task} task reads: {', '.join(needed)}")
    out = {field: _check_field(row, task, field, where) for field in needed}
    if task == "choice" and len(out["choices"]) < 2:
        raise UserError(f"{where}: {len(out['choices'])} choice(s)", "give 2 or more choices")
    if inputs_only:
        return out
    if task == "tag" and len(out["tokens"]) != len(out["tags"]):
        raise UserError(f"{where}: {len(out['tokens'])} tokens but {len(out['tags'])} tags", "give one tag per token")
    if task == "choice" and not (len(out["choices"]) >= 2 and 0 <= out["label"] < len(out["choices"])):
        raise UserError(f"{where}: label {out['label']} is not the index of one of {len(out['choices'])} choices",
                        "give 2+ choices and the 0-based index of the right one")
    if task == "qa":
        start, answer = out["answer_start"], out["answer_text"]
        if start < 0 or out["context"][start:start + len(answer)] != answer:
            raise UserError(f"{where}: answer_text is not at answer_start {start} of the context",
                            "answer_start is the character offset of the answer in the context")
    return out


def label_names(examples: list[dict], task: str) -> list[str] | None:
    """The label (or tag) vocabulary, numbers in numeric order, names alphabetically."""
    if task in ("classify", "pair"):
        names = {e["label"] for e in examples}
    elif task == "tag":
        names = {t for e in examples for t in e["tags"]}
    else:
        return None
    return sorted(names, key=lambda n: (0, int(n), "") if re.fullmatch(r"-?\d+", n) else (1, 0, n))


# ---- encoding -----------------------------------------------------------------------------------
class Encoder:
    """Examples -> token ids, segment ids and targets, with the tokenizer's [CLS] and [SEP]."""

    def __init__(self, tokenizer, task: str, labels: list[str] | None, max_length: int, segments: bool):
        hf = getattr(tokenizer, "hf", None)
        if hf is None:
            raise UserError(f"fine-tuning needs a subword tokenizer.json, not a {tokenizer.kind} tokenizer",
                            "fine-tune a checkpoint trained with --tokenizer wordpiece (the encoders' default)")
        ids = tokenizer.special_ids
        self.cls = next((ids[n] for n in ("[CLS]", "<s>") if n in ids), None)
        self.sep = next((ids[n] for n in ("[SEP]", "</s>") if n in ids), None)
        if self.cls is None or self.sep is None:
            raise UserError("the checkpoint's tokenizer has no [CLS] / [SEP] token", "fine-tune an encoder checkpoint")
        if max_length < 8:
            raise UserError(f"--max-length {max_length} is too short", "use 8 or more (default 128)")
        self.hf, self.task, self.max_length, self.segments = hf, task, max_length, segments
        self.pad = tokenizer.pad_id if tokenizer.pad_id is not None else 0
        self.label_ids = {name: i for i, name in enumerate(labels or [])}

    def pieces(self, text: str):
        encoding = self.hf.encode(text, add_special_tokens=False)
        return encoding.ids, encoding.offsets

    def _join(self, a: list[int], b: list[int] | None = None):
        """[CLS] a [SEP] (b [SEP]), b then a trimmed to fit; segment ids 0 / 1 where the model has them."""
        room = self.max_length - (2 if b is None else 3)
        if b is not None:
            b = b[:max(room - len(a), room // 2)]
            a = a[:room - len(b)]
        else:
            a = a[:room]
        ids = [self.cls, *a, self.sep] + ([] if b is None else [*b, self.sep])
        types = [0] * (len(a) + 2) + [1] * (0 if b is None else len(b) + 1)
        return ids, types if self.segments else [0] * len(ids)

    def encode(self, example: dict) -> dict:
        task = self.task
        if task == "classify":
            ids, types = self._join(self.pieces(example["text"])[0])
            return {"ids": [ids], "types": [types], "target": self.label_ids.get(example.get("label"), IGNORE)}
        if task == "pair":
            ids, types = self._join(self.pieces(example["text_a"])[0], self.pieces(example["text_b"])[0])
            return {"ids": [ids], "types": [types], "target": self.label_ids.get(example.get("label"), IGNORE)}
        if task == "choice":
            context = self.pieces(example.get("context") or example["question"])[0]
            joined = [self._join(context, self.pieces(c)[0]) for c in example["choices"]]
            return {"ids": [j[0] for j in joined], "types": [j[1] for j in joined], "target": example.get("label", 0)}
        if task == "tag":
            pieces, targets = [], []
            # Without tags (a prediction) every word's first piece is still marked, as the one tagged.
            tags = example["tags"] if "tags" in example else [None] * len(example["tokens"])
            for word, tag in zip(example["tokens"], tags):
                ids = self.pieces(word)[0] or [self.sep]  # a word the vocabulary drops entirely
                pieces += ids
                first = 0 if tag is None else self.label_ids.get(tag, IGNORE)
                targets += [first] + [IGNORE] * (len(ids) - 1)
            ids, types = self._join(pieces)
            targets = [IGNORE] + targets[:len(ids) - 2] + [IGNORE]
            return {"ids": [ids], "types": [types], "target": targets}
        # qa: [CLS] question [SEP] context [SEP]; the answer's first and last context pieces
        question = self.pieces(example["question"])[0][: self.max_length // 2]
        context, offsets = self.pieces(example["context"])
        ids, types = self._join(question, context)
        first = ids.index(self.sep) + 1  # where the context starts
        kept = offsets[: len(ids) - first - 1]
        start = example.get("answer_start", 0)
        end = start + len(example.get("answer_text", ""))
        inside = [i for i, (a, b) in enumerate(kept) if a < end and b > start]
        # An answer cut off by truncation points at [CLS] (BERT's convention for "no answer").
        span = (first + inside[0], first + inside[-1]) if inside else (0, 0)
        return {"ids": [ids], "types": [types], "target": span, "offsets": kept, "first": first}

    def collate(self, items: list[dict]) -> dict:
        rows = [row for item in items for row in item["ids"]]
        width = max(len(r) for r in rows)
        pad = lambda seqs, value: torch.tensor([s + [value] * (width - len(s)) for s in seqs])  # noqa: E731
        batch = {"input_ids": pad(rows, self.pad), "attention_mask": pad([[1] * len(r) for r in rows], 0),
                 "token_type_ids": pad([t for item in items for t in item["types"]], 0)}
        targets = [item["target"] for item in items]
        batch["target"] = pad(targets, IGNORE) if self.task == "tag" else torch.tensor(targets)
        return batch


# ---- the task -----------------------------------------------------------------------------------
class FineTuneTask(Task):
    """An encoder with one task head; ``forward(batch) -> loss``, ``predict(batch) -> predictions``."""

    reads = "examples"
    options = frozenset()  # `finetune` has flags of its own (--epochs, --max-length, ...)

    def __init__(self, model: nn.Module, task: str):
        super().__init__()
        self.model, self.task = model, task

    def encode(self, batch: dict):
        types = batch["token_type_ids"] if self.model.config.embedding.type_vocab_size > 0 else None
        return self.model(batch["input_ids"], attention_mask=batch["attention_mask"], token_type_ids=types)

    def logits(self, batch: dict) -> torch.Tensor:
        out = self.encode(batch).task_logits
        if self.task == "choice":  # one score per (example, choice) row
            out = out.view(len(batch["target"]), -1)
        return out

    def forward(self, batch: dict) -> torch.Tensor:
        logits, target = self.logits(batch), batch["target"]
        if self.task == "tag":
            return F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=IGNORE)
        if self.task == "qa":  # the mean of the start and end losses (section 4.2)
            real = batch["attention_mask"].bool()
            logits = logits.masked_fill(~real[..., None], float("-inf"))
            return (F.cross_entropy(logits[..., 0], target[:, 0]) + F.cross_entropy(logits[..., 1], target[:, 1])) / 2
        return F.cross_entropy(logits, target, ignore_index=IGNORE)

    @classmethod
    def report(cls, result: "FineTuneResult") -> str:
        """The held-out metrics beside the trivial baseline's, what `lmlineage finetune` prints."""
        shown = " | ".join(f"{k.replace('_', ' ')} {v:.3f}" for k, v in result.metrics.items())
        trivial = f" (trivial baseline accuracy {result.baseline['accuracy']:.3f})" if result.baseline else ""
        return (f"{result.task}: {shown}{trivial} | {result.train_examples} training / {result.val_examples} "
                f"held-out examples | checkpoint in {result.out}")

    @torch.no_grad()
    def predict(self, batch: dict) -> list:
        logits = self.logits(batch)
        if self.task == "tag":
            return [row[target != IGNORE].tolist() for row, target in zip(logits.argmax(-1), batch["target"])]
        if self.task == "qa":
            return [best_span(row[..., 0], row[..., 1], mask) for row, mask in
                    zip(logits, batch["attention_mask"].bool())]
        return logits.argmax(-1).tolist()

    @torch.no_grad()
    def predict_scored(self, batch: dict) -> list:
        """As ``predict``, each prediction with its probability (softmax of the head's scores):
        (index, p) for classify, pair and choice; [(tag, p) per word] for tag; ((i, j), p) for qa,
        p the start's probability times the end's, over the real tokens."""
        logits = self.logits(batch)
        if self.task == "tag":
            return [_with_probability(row[target != IGNORE]) for row, target in zip(logits, batch["target"])]
        if self.task == "qa":
            out = []
            for row, real in zip(logits, batch["attention_mask"].bool()):
                i, j = best_span(row[..., 0], row[..., 1], real)
                starts, ends = row[real, 0].float().softmax(-1), row[real, 1].float().softmax(-1)
                out.append(((i, j), float(starts[i] * ends[j])))
            return out
        return _with_probability(logits)


def _with_probability(logits: torch.Tensor) -> list[tuple[int, float]]:
    """Each row's argmax and its softmax probability."""
    probabilities = logits.float().softmax(-1)
    best = logits.argmax(-1)
    return list(zip(best.tolist(), probabilities.gather(-1, best[..., None])[..., 0].tolist()))


def best_span(start: torch.Tensor, end: torch.Tensor, real: torch.Tensor) -> tuple[int, int]:
    """The span i <= j < i + MAX_ANSWER_TOKENS with the highest start_i + end_j (section 4.2)."""
    n = int(real.sum())
    scores = start[:n, None] + end[None, :n]
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    scores = scores.masked_fill((j < i) | (j - i >= MAX_ANSWER_TOKENS), float("-inf"))
    best = int(scores.argmax())
    return best // n, best % n


# ---- metrics ------------------------------------------------------------------------------------
def macro_f1(gold: list[int], predicted: list[int]) -> float:
    """The mean over the classes present in gold or predictions of each class's F1."""
    f1s = []
    for c in set(gold) | set(predicted):
        tp = sum(g == p == c for g, p in zip(gold, predicted))
        fp = sum(p == c != g for g, p in zip(gold, predicted))
        fn = sum(g == c != p for g, p in zip(gold, predicted))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / max(len(f1s), 1)


def _normalise(text: str) -> list[str]:
    """SQuAD's answer normalisation: lower case, no punctuation, articles or extra spaces."""
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    return re.sub(r"\b(a|an|the)\b", " ", text).split()


def answer_f1(predicted: str, gold: str) -> float:
    p, g = _normalise(predicted), _normalise(gold)
    common = sum((Counter(p) & Counter(g)).values())
    if not p or not g:
        return float(p == g)
    return 0.0 if common == 0 else 2 * common / (len(p) + len(g))


def answer_text(example: dict, item: dict, span: tuple[int, int]) -> str:
    """The context's characters under a predicted span of pieces ("" for a span outside the context)."""
    a, b = span[0] - item["first"], span[1] - item["first"]
    offsets = item["offsets"]
    return example["context"][offsets[a][0]:offsets[b][1]] if 0 <= a <= b < len(offsets) else ""


def score(task: str, examples: list[dict], encoded: list[dict], predictions: list) -> dict:
    """accuracy + macro F1 (classify, pair: over labels; tag: over each word's tag), accuracy
    (choice), exact match + F1 of the answer text (qa, SQuAD's definitions)."""
    if task == "qa":
        exact, f1 = 0.0, 0.0
        for example, item, span in zip(examples, encoded, predictions):
            text = answer_text(example, item, span)
            exact += float(_normalise(text) == _normalise(example["answer_text"]))
            f1 += answer_f1(text, example["answer_text"])
        return {"exact_match": exact / len(examples), "f1": f1 / len(examples)}
    if task == "tag":
        gold = [t for item in encoded for t in item["target"] if t != IGNORE]
        predicted = [t for row in predictions for t in row]
    else:
        gold, predicted = [item["target"] for item in encoded], predictions
    result = {"accuracy": sum(g == p for g, p in zip(gold, predicted)) / max(len(gold), 1)}
    if task != "choice":
        result["macro_f1"] = macro_f1(gold, predicted)
    return result


# ---- training -----------------------------------------------------------------------------------
@dataclass
class FineTuneConfig:
    epochs: int = 3
    batch_size: int = 16
    lr: float = 5e-5  # BERT's grid: 5e-5, 3e-5, 2e-5 (appendix A.3)
    weight_decay: float = 0.01
    warmup: float = 0.1  # share of the steps
    seed: int = 0
    device: str = "cpu"
    progress: bool = True
    probe: bool = True  # start a sentence-level head from a linear probe (``probe_head``)


def batches(encoder: Encoder, items: list[dict], size: int, order=None):
    order = range(len(items)) if order is None else order
    order = list(order)
    for start in range(0, len(order), size):
        yield encoder.collate([items[i] for i in order[start:start + size]])


@torch.no_grad()
def _summaries(task: FineTuneTask, encoder: Encoder, items: list[dict], device) -> tuple[torch.Tensor, torch.Tensor]:
    """What the sentence-level head reads for every item, from the encoder as it is, and the targets."""
    task.eval()
    summaries, targets = [], []
    for batch in batches(encoder, items, 32):
        batch = {k: v.to(device) for k, v in batch.items()}
        out = task.encode(batch)
        summaries.append(task.model.summary(out.last_hidden_state, out.pooled, batch["attention_mask"]))
        targets.append(batch["target"])
    return torch.cat(summaries), torch.cat(targets)


def probe_head(task: FineTuneTask, encoder: Encoder, train: list[dict], cfg: FineTuneConfig) -> None:
    """Linear probing before fine-tuning (LP-FT; Kumar et al. 2022, "Fine-Tuning can Distort
    Pretrained Features and Underperform Out-of-Distribution"): a sentence-level head (classify,
    pair, choice) starts as the L2-regularised logistic regression on the frozen encoder's
    summaries (full batch, L-BFGS; the penalty is scikit-learn's default, C = 1), so fine-tuning
    starts from a fitted head rather than letting a random one's gradients distort the features.
    Token and span heads keep their random start."""
    if task.task not in ("classify", "pair", "choice"):
        return
    device = torch.device(cfg.device)
    task.to(device)
    features, targets = _summaries(task, encoder, train, device)
    layer = (task.model.choice if task.task == "choice" else task.model.classifier).out
    optimizer = torch.optim.LBFGS(layer.parameters(), max_iter=PROBE_ITERATIONS, line_search_fn="strong_wolfe")

    def loss():
        optimizer.zero_grad()
        logits = layer(features)
        logits = logits.view(len(targets), -1) if task.task == "choice" else logits
        value = F.cross_entropy(logits, targets, ignore_index=IGNORE, reduction="sum") + layer.weight.square().sum() / 2
        value.backward()
        return value

    optimizer.step(loss)


def fit(task: FineTuneTask, encoder: Encoder, train: list[dict], cfg: FineTuneConfig) -> list[float]:
    """Train on encoded examples through the run driver's fine-tuning loop, in a seeded random order
    every epoch; returns each epoch's mean loss."""
    from ..train.run import fit_epochs

    generator = torch.Generator().manual_seed(cfg.seed)
    return fit_epochs(task, lambda: batches(encoder, train, cfg.batch_size, torch.randperm(len(train), generator=generator)),
                      epochs=cfg.epochs, steps_per_epoch=math.ceil(len(train) / cfg.batch_size), lr=cfg.lr,
                      weight_decay=cfg.weight_decay, warmup_share=cfg.warmup, device=torch.device(cfg.device),
                      progress=cfg.progress)


@torch.no_grad()
def evaluate(task: FineTuneTask, encoder: Encoder, examples: list[dict], items: list[dict], batch_size: int = 32,
             device: str = "cpu") -> dict:
    task.eval()
    predictions = []
    for batch in batches(encoder, items, batch_size):
        predictions += task.predict({k: v.to(device) for k, v in batch.items()})
    return score(encoder.task, examples, items, predictions)


# ---- from a pre-trained encoder to a fine-tuned checkpoint ------------------------------------------
def with_task_head(base: nn.Module, task: str, labels: list[str] | None, seed: int = 0,
                   pooling: str | None = None) -> nn.Module:
    """A copy of ``base``'s backbone with a fresh ``task`` head; pre-training heads (MLM, NSP, ...)
    are left behind. Sentence-level heads (classify, pair, choice) read ``pooling``: "cls" (the
    pooled [CLS], through the checkpoint's pooler where it has one) or "mean" (the mean of the real
    tokens); None: as the checkpoint was trained (a sentence-transformers directory says mean),
    else "cls". The choice is kept in the new config, so the checkpoint reloads pooling the same way."""
    from ..core.registry import get_family
    from ..models import build_model

    cfg = base.config
    if get_family(cfg.family).architecture != "encoder" or not hasattr(base, "backbone"):
        raise UserError(f"the checkpoint is a {cfg.family} model ({get_family(cfg.family).architecture})",
                        "fine-tune an encoder: bert, roberta, deberta, ... or a reference BERT directory")
    sentence_level = task in ("classify", "pair", "choice")
    if pooling is not None and pooling not in POOLINGS:
        raise UserError(f"--pooling {pooling!r} is not supported", f"choose one of: {', '.join(POOLINGS)}")
    if pooling is not None and not sentence_level:
        raise UserError(f"--pooling applies to sentence-level tasks (classify, pair, choice), not {task}",
                        "leave out --pooling")
    pooling = (pooling or cfg.pooling or "cls") if sentence_level else None
    keep = ["pooler"] if pooling == "cls" and "pooler" in (cfg.heads or ()) else []
    torch.manual_seed(seed)
    model = build_model(cfg.replace(heads=keep + [HEADS[task]], pooling=pooling,
                                    labels=list(labels) if labels else None))
    missing, _ = model.load_state_dict(base.state_dict(), strict=False)
    fresh = [k for k in missing if not k.startswith(HEADS[task] + ".")]
    if fresh:
        raise RuntimeError(f"weights not carried over from the base model: {fresh[:5]}")  # a bug, not input
    return model


def held_out(examples: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """A seeded random split: (train, held out), each at least one example."""
    if not 0 < fraction < 1:
        raise UserError(f"--val-fraction must lie in (0, 1), got {fraction}")
    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = min(max(1, round(len(examples) * fraction)), len(examples) - 1)
    return [examples[i] for i in order[n_val:]], [examples[i] for i in order[:n_val]]


def baseline(task: str, train: list[dict], val: list[dict]) -> dict:
    """What a model without the text scores: the training set's most frequent label (tag) on the
    held-out examples, or chance among the choices; no baseline for QA."""
    if task in ("classify", "pair", "tag"):
        key = (lambda e: e["tags"]) if task == "tag" else (lambda e: [e["label"]])
        top = Counter(t for e in train for t in key(e)).most_common(1)[0][0]
        gold = [t for e in val for t in key(e)]
        return {"accuracy": sum(t == top for t in gold) / len(gold)}
    if task == "choice":
        return {"accuracy": sum(1 / len(e["choices"]) for e in val) / len(val)}
    return {}


@dataclass
class FineTuneResult:
    out: Path | None
    task: str
    metrics: dict  # on the held-out examples
    baseline: dict  # the trivial predictor's, on the same examples
    labels: list[str] | None
    train_examples: int
    val_examples: int
    losses: list[float]

    @property
    def report(self) -> str:
        return FineTuneTask.report(self)


def finetune_model(base, *, task: str, train: list[dict], val: list[dict], cfg: FineTuneConfig,
                   max_length: int = 128, pooling: str | None = None, out=None) -> FineTuneResult:
    """Fine-tune ``base`` (a loaded encoder with its tokenizer) on ``train``, score ``val``, and write
    the model, its tokenizer and ``finetune.json`` (task, labels, pooling, metrics) to ``out``
    (atomically). ``pooling``: see ``with_task_head``."""
    if base.tokenizer is None:
        raise UserError("the checkpoint has no tokenizer.json", "fine-tune a checkpoint that carries its tokenizer")
    labels = label_names(train + val, task)
    model = with_task_head(base, task, labels, cfg.seed, pooling)  # refuses a checkpoint that is no encoder
    if labels is not None and len(labels) < 2:  # nothing to learn: every prediction would be right
        what = "tag" if task == "tag" else "label"
        raise UserError(f"every example has the {what} {labels[0]!r}: a {task} task needs two {what}s or more",
                        f"give examples of at least two {what}s")
    encoder = Encoder(base.tokenizer, task, labels, min(max_length, model.max_positions),
                      segments=model.config.embedding.type_vocab_size > 1)
    train_items, val_items = [encoder.encode(e) for e in train], [encoder.encode(e) for e in val]
    head = FineTuneTask(model, task)
    if cfg.probe:
        probe_head(head, encoder, train_items, cfg)
    losses = fit(head, encoder, train_items, cfg)
    metrics = evaluate(head, encoder, val, val_items, device=cfg.device)
    result = FineTuneResult(None, task, metrics, baseline(task, train, val), labels, len(train), len(val), losses)
    if out is not None:
        from ..checkpoint.directory import atomic_directory
        from ..checkpoint.model import save_model_files

        with atomic_directory(Path(out)) as tmp:
            save_model_files(tmp, model.cpu(), base.tokenizer)
            summary = {"task": task, "fields": list(FIELDS[task]), "labels": labels,
                       "pooling": model.config.pooling, "metrics": metrics,
                       "baseline": result.baseline, "train_examples": len(train), "val_examples": len(val),
                       "epoch_losses": losses, "max_length": encoder.max_length, "settings": vars(cfg)}
            (tmp / "finetune.json").write_text(json.dumps(summary, indent=2) + "\n")
        result.out = Path(out)
    return result


# ---- using a fine-tuned checkpoint --------------------------------------------------------------
def from_texts(task: str, texts: list[str]) -> list[dict]:
    """``--text`` inputs as examples: a text to classify, or words (split at spaces) to tag; the
    tasks that read two or more fields take a --data file."""
    if task not in ("classify", "tag"):
        raise UserError(f"a {task} checkpoint reads {', '.join(INPUTS[task])} per example, not one --text",
                        "give --data FILE (.jsonl or .csv) with those fields")
    if not texts or not all(t.strip() for t in texts):
        raise UserError("--text is empty", "give the text to predict for")
    return [{"text": t} if task == "classify" else {"tokens": t.split()} for t in texts]


@torch.no_grad()
def predict_examples(model, summary: dict, examples: list[dict], batch_size: int = 32, device: str = "cpu") -> list[dict]:
    """What the fine-tuned ``model`` (its ``finetune.json`` read as ``summary``) predicts for each
    example, with the probability of it: {"label", "score", "scores" (every label's)} for classify
    and pair, {"tags": [[word, tag, p], ...]} for tag, {"answer", "score"} for qa,
    {"choice" (index), "text", "score"} for choice."""
    task, labels = summary["task"], summary.get("labels")
    encoder = Encoder(model.tokenizer, task, labels, min(int(summary.get("max_length") or 128), model.max_positions),
                      segments=model.config.embedding.type_vocab_size > 1)
    head = FineTuneTask(model, task).eval()
    items = [encoder.encode(e) for e in examples]
    out = []
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        batch = {k: v.to(device) for k, v in encoder.collate(chunk).items()}
        scored = head.predict_scored(batch)
        probabilities = head.logits(batch).float().softmax(-1).tolist() if task in ("classify", "pair") else None
        for n, (example, item, prediction) in enumerate(zip(examples[start:], chunk, scored)):
            if task in ("classify", "pair"):
                index, p = prediction
                out.append({"label": labels[index], "score": p, "scores": dict(zip(labels, probabilities[n]))})
            elif task == "tag":
                out.append({"tags": [[word, labels[i], p] for word, (i, p) in zip(example["tokens"], prediction)]})
            elif task == "qa":
                span, p = prediction
                out.append({"answer": answer_text(example, item, span), "score": p})
            else:
                index, p = prediction
                out.append({"choice": index, "text": example["choices"][index], "score": p})
    return out


def prediction_line(task: str, prediction: dict) -> str:
    """One prediction as `lmlineage predict` prints it: what was predicted, then its probability."""
    if task == "tag":
        return " ".join(f"{word}/{tag}({p:.3f})" for word, tag, p in prediction["tags"])
    if task == "qa":
        return f"{prediction['answer'] or '(no answer)'}\t{prediction['score']:.3f}"
    if task == "choice":
        return f"{prediction['choice']}: {prediction['text']}\t{prediction['score']:.3f}"
    return f"{prediction['label']}\t{prediction['score']:.3f}"
