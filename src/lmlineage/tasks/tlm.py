"""An encoder + translation language modelling (XLM's TLM, ``objectives.tlm``) on parallel pairs,
as the trainer sees it: ``task((source, target)) -> loss``.

Evaluation scores the held-out pairs joined, masks over both sentences (``loss``, ``accuracy``,
beside ``unigram_loss``: the entropy of the masked tokens themselves, the best any predictor that
ignores context can do), and then what TLM is for: each language's masked tokens predicted with
the translation beside them and alone, the same tokens masked the same way (``source_loss_beside``
vs ``source_loss_alone``, ``target_...``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.errors import UserError
from ..objectives.mlm import MaskedLM
from ..objectives.tlm import TranslationLM
from .baselines import unigram_entropy
from .held_out import EVAL_SEED
from .protocol import GENERIC_OPTIONS, Task

# The tokens TLM lays sentences out with, which a BPE trained for it gets (Task.special_tokens).
SPECIALS = {"bos": "<s>", "eos": "</s>", "pad": "<pad>", "mask": "<mask>"}


class TranslationLMTask(Task):
    reads = "pairs"
    options = GENERIC_OPTIONS - {"context"}  # a pair is as long as it is
    special_tokens = tuple(SPECIALS.values())
    needs_data = "parallel sentence pairs"
    # XLM batches sentences of similar length (its loader's group_by_size): a random batch of
    # verse pairs is more than half padding, eight batches' worth sorted about a third
    length_groups = 8

    def __init__(self, model: nn.Module, ids: dict[str, int], special_ids=()):
        super().__init__()
        self.model = model
        masked_lm = MaskedLM(ids["mask"], model.config.vocab_size, special_ids={*ids.values(), *special_ids})
        self.objective = TranslationLM(masked_lm, ids["bos"], ids["eos"], ids["pad"])

    @classmethod
    def pair_length(cls, source: int, target: int) -> int:
        return source + target + 4  # <s> source </s> <s> target </s>

    @classmethod
    def check_inputs(cls, tokenizer, batch_size: int = 1) -> None:
        """Refuses a tokenizer without the specials TLM lays pairs out with; appends nothing to targets."""
        cls.special_ids(tokenizer)
        return None

    @classmethod
    def special_ids(cls, tokenizer) -> dict[str, int]:
        ids = {role: tokenizer.special_ids.get(name) for role, name in SPECIALS.items()}
        missing = [SPECIALS[role] for role, id_ in ids.items() if id_ is None]
        if missing:
            raise UserError(f"the {tokenizer.kind} tokenizer has no {', '.join(missing)} token, which translation "
                            "LM needs", "leave out --tokenizer: the BPE trained for it has them")
        return ids

    @classmethod
    def for_tokenizer(cls, model, tokenizer):
        return cls(model, cls.special_ids(tokenizer), tokenizer.special_ids.values())

    def _logits(self, batch: dict):
        predicted = batch["labels"] != MaskedLM.ignore_index
        out = self.model(batch["input_ids"], attention_mask=batch["attention_mask"],
                         token_type_ids=batch["token_type_ids"], position_ids=batch["position_ids"],
                         mlm_positions=predicted)
        return out.logits, batch["labels"][predicted]

    def forward(self, batch, generator: torch.Generator | None = None):
        source, target = batch
        logits, targets = self._logits(self.objective.prepare(source, target, generator))
        return self.objective.loss(logits, targets)

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        sums: dict[str, float] = {}
        counts = torch.zeros(self.objective.masked_lm.vocab_size, dtype=torch.long)
        generator = None

        def add(key, logits, targets):
            sums[f"{key}_nats"] = sums.get(f"{key}_nats", 0.0) + float(self.objective.loss(logits, targets, "sum"))
            sums[f"{key}_correct"] = sums.get(f"{key}_correct", 0) + int((logits.argmax(-1) == targets).sum())
            sums[f"{key}_tokens"] = sums.get(f"{key}_tokens", 0) + len(targets)

        for source, target in batches:
            if generator is None:
                generator = torch.Generator(source.device).manual_seed(EVAL_SEED)
            both = torch.zeros(source.shape[0], dtype=torch.long)  # every held-out row reads both sentences
            logits, targets = self._logits(self.objective.prepare(source, target, generator, sides=both))
            add("joint", logits, targets)
            counts += torch.bincount(targets.cpu(), minlength=len(counts))
            for language, side in enumerate(("source", "target")):
                beside, alone = self.objective.mask_one_language(source, target, language, generator)
                add(f"{side}_beside", *self._logits(beside))
                add(f"{side}_alone", *self._logits(alone))
        if not sums.get("joint_tokens"):
            raise UserError("the validation split has no pairs to evaluate", "use a larger data set")
        result = {"loss": sums["joint_nats"] / sums["joint_tokens"], "nats": sums["joint_nats"],
                  "tokens": sums["joint_tokens"], "accuracy": sums["joint_correct"] / sums["joint_tokens"],
                  "unigram_loss": unigram_entropy(counts)}
        for side in ("source", "target"):
            for where in ("beside", "alone"):
                key = f"{side}_{where}"
                result[f"{key}_loss"] = sums[f"{key}_nats"] / max(sums[f"{key}_tokens"], 1)
                result[f"{key}_accuracy"] = sums[f"{key}_correct"] / max(sums[f"{key}_tokens"], 1)
        return result

    @classmethod
    def metrics(cls, evaluation: dict) -> dict:
        return {k: v for k, v in evaluation.items() if k not in ("loss", "nats", "tokens")}

    @classmethod
    def report(cls, result) -> str:
        return (f"val loss {result.val_loss:.4f} | {tlm_report(result.metrics)} | {result.steps} steps | "
                f"checkpoints in {result.out}")

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        return f"loss {metrics['loss']:.4f} | {tlm_report(metrics)} | {metrics['tokens']} masked tokens"


def tlm_report(m: dict) -> str:
    return (f"unigram {m['unigram_loss']:.4f} | masked accuracy {m['accuracy']:.3f} | source tokens: loss "
            f"{m['source_beside_loss']:.4f} beside the target, {m['source_alone_loss']:.4f} alone | target tokens: "
            f"{m['target_beside_loss']:.4f} beside the source, {m['target_alone_loss']:.4f} alone")
