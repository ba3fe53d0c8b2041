"""ELECTRA's generator + discriminator as one task (Clark et al. 2020, section 2).

The model the trainer saves is the discriminator (``self.model``); the generator, a narrower
copy of it with the MLM head (section 3.2; width ``generator_fraction`` of the
discriminator's, heads of 64 channels and d_ff = 4 x width as in the released code), shares its
token, position and segment embeddings and their LayerNorm (section 3.2, "Weight Sharing").
One step: mask 15% of the tokens (85% [MASK], 15% kept, the released code's shares), the
generator predicts them (MLM loss), its samples replace them, and the discriminator labels every
token original or replaced (RTD loss); loss = L_MLM + 50 * L_Disc. The generator's own weights go
into each checkpoint beside the discriminator (``own_weights``), so `eval` scores this objective.
"""

from __future__ import annotations

import torch

from ..core.errors import UserError
from ..models import build_model
from ..objectives.mlm import MaskedLM
from ..objectives.rtd import ReplacedTokenDetection
from .masked_lm import MaskedLMTask, masked_lm_report

SHARED_EMBEDDINGS = ("embed_tokens", "embed_positions", "embed_segments", "embed_norm")


def generator_config(cfg):
    """The generator's config: the discriminator's, ``generator_fraction`` as wide, MLM head only."""
    width = max(1, round(cfg.d_model * cfg.generator_fraction))
    heads = max(1, width // 64)
    if width % heads:
        raise UserError(f"the generator width {width} does not split into {heads} heads of 64",
                        "choose a generator_fraction giving a multiple of 64 (or less than 128)")
    return cfg.replace(d_model=width, attention=dict(n_head=heads, n_kv_head=None, head_dim=None),
                       mlp=dict(d_ff=4 * width), embedding=dict(dim=cfg.embedding.dim or cfg.d_model), heads=["mlm"])


class ReplacedTokenDetectionTask(MaskedLMTask):
    masking = {"replace_with_mask": 0.85, "replace_with_random": 0.0}
    own_weights = "the generator"  # saved beside the discriminator: `eval` scores the two together

    def __init__(self, model, cls_id: int, sep_id: int, mask_id: int, special_ids=()):
        super().__init__(model, cls_id, sep_id, mask_id, special_ids)
        if model.rtd is None:
            raise UserError("the ELECTRA task trains a discriminator, and this model has no rtd head",
                            "train with the electra family's own heads")
        self.generator = build_model(generator_config(model.config))
        for name in SHARED_EMBEDDINGS:
            setattr(self.generator.backbone, name, getattr(model.backbone, name))
        if self.generator.config.embedding.tie:  # its output layer is the (shared) input embedding
            self.generator.mlm.tie(self.generator.backbone.embed_tokens)
        self.rtd = ReplacedTokenDetection()

    def forward(self, batch, generator: torch.Generator | None = None, totals: bool = False):
        windows, _ = batch
        encoded = self.encode(windows, generator)  # masked input_ids and the labels to predict
        labels = encoded["labels"]
        chosen = labels != MaskedLM.ignore_index
        mlm_logits = self.generator(encoded["input_ids"], mlm_positions=chosen).logits
        original = torch.where(chosen, labels, encoded["input_ids"])
        fills = self.rtd.sample(mlm_logits.detach(), generator)
        corrupted, replaced = self.rtd.corrupt(original, chosen, fills)
        rtd_logits = self.model(corrupted).rtd_logits
        if not totals:
            return self.objective.loss(mlm_logits, labels[chosen]) + self.rtd.weight * self.rtd.loss(rtd_logits, replaced)
        sums = self.mlm_sums(mlm_logits, encoded["input_ids"], labels)
        sums["rtd_nats"] = self.rtd.loss(rtd_logits, replaced, reduction="sum")
        sums["rtd_correct"] = ((rtd_logits > 0).long() == replaced).sum()
        sums["rtd_replaced"] = replaced.sum()
        sums["rtd_tokens"] = torch.tensor(replaced.numel())
        return sums

    def more_metrics(self, result: dict, totals: dict) -> dict:
        """The generator's MLM metrics (the masked LM's ``evaluate``), and the discriminator's:
        ``rtd_loss`` (binary nats per token), ``rtd_accuracy`` over every token, and
        ``rtd_all_original_accuracy``, that of calling every token original (the trivial baseline:
        the share of tokens the generator's samples left unchanged). ``loss``: L_MLM + 50 L_Disc."""
        tokens = int(totals["rtd_tokens"])
        result["rtd_loss"] = float(totals["rtd_nats"]) / tokens
        result["rtd_accuracy"] = int(totals["rtd_correct"]) / tokens
        result["rtd_all_original_accuracy"] = 1 - int(totals["rtd_replaced"]) / tokens
        result["loss"] = result["mlm_loss"] + self.rtd.weight * result["rtd_loss"]
        return result

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        return (f"loss {metrics['loss']:.4f} (generator MLM {metrics['mlm_loss']:.4f} + 50 x discriminator RTD "
                f"{metrics['rtd_loss']:.4f}) | {masked_lm_report(metrics)} | {metrics['tokens']} masked tokens")
