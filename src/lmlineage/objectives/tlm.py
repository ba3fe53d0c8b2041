"""Translation language modelling (Lample & Conneau 2019, section 3.3, figure 1).

A pair of parallel sentences is read as one input, ``<s> source </s> <s> target </s>``: each
token carries its language's id (0 for the source, 1 for the target) and its position within its
own sentence (positions restart at the target), and the masked LM (``objectives.mlm``, 15% /
80-10-10) draws its masks over both sentences, so a masked English word can be read off its
Chinese translation and the reverse. XLM trains TLM alternated with MLM on each language alone
(section 5: "MLM+TLM"); ``alone`` is the share of rows that keep one side only, so the model also
learns to predict without the translation beside it.

Owns no parameters: ``join`` lays pairs out, ``prepare`` draws the sides and the masks.
"""

from __future__ import annotations

import torch

from .clm import CausalLM
from .mlm import MaskedLM

PAD = -100  # how a pair batch pads its rows (data.pairs)
BOTH, SOURCE_ALONE, TARGET_ALONE = 0, 1, 2


class TranslationLM:
    ignore_index = MaskedLM.ignore_index
    def __init__(self, masked_lm: MaskedLM, bos_id: int, eos_id: int, pad_id: int, alone: float = 0.5):
        if not 0.0 <= alone <= 1.0:
            raise ValueError("alone must lie in [0, 1]")
        self.masked_lm, self.alone = masked_lm, alone
        self.bos_id, self.eos_id, self.pad_id = bos_id, eos_id, pad_id

    def join(self, source: torch.Tensor, target: torch.Tensor, sides: torch.Tensor | None = None) -> dict:
        """(B, S) and (B, T) ids padded with ``PAD`` -> the model's inputs (B, L): ``input_ids``
        (padded with ``pad_id``), ``token_type_ids`` (language ids), ``position_ids`` (restarting at
        each sentence) and ``attention_mask``. ``sides`` (B,): BOTH, SOURCE_ALONE or TARGET_ALONE."""
        b = source.shape[0]
        sides = torch.full((b,), BOTH) if sides is None else sides.cpu()
        rows = []
        for i in range(b):
            parts = []
            for language, (ids, alone) in enumerate(((source[i], TARGET_ALONE), (target[i], SOURCE_ALONE))):
                if int(sides[i]) != alone:  # the side this row leaves out
                    real = ids[ids != PAD].tolist()
                    parts.append(([self.bos_id, *real, self.eos_id], language))
            rows.append(parts)
        length = max(sum(len(ids) for ids, _ in parts) for parts in rows)
        input_ids = torch.full((b, length), self.pad_id, dtype=torch.long)
        languages = torch.zeros((b, length), dtype=torch.long)
        positions = torch.zeros((b, length), dtype=torch.long)
        mask = torch.zeros((b, length), dtype=torch.long)
        for i, parts in enumerate(rows):
            at = 0
            for ids, language in parts:
                n = len(ids)
                input_ids[i, at:at + n] = torch.tensor(ids)
                languages[i, at:at + n] = language
                positions[i, at:at + n] = torch.arange(n)
                mask[i, at:at + n] = 1
                at += n
        device = source.device
        return {"input_ids": input_ids.to(device), "token_type_ids": languages.to(device),
                "position_ids": positions.to(device), "attention_mask": mask.to(device)}

    def draw_sides(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Each row: both sentences, or (with probability ``alone``) one of them, either equally often."""
        draw = torch.rand(batch_size, generator=generator, device=generator.device if generator else "cpu")
        sides = torch.full((batch_size,), BOTH, dtype=torch.long, device=draw.device)
        sides[draw < self.alone] = TARGET_ALONE
        sides[draw < self.alone / 2] = SOURCE_ALONE
        return sides

    def prepare(self, source: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None = None,
                sides: torch.Tensor | None = None) -> dict:
        """Joined pairs with masks over every real token of both sides (``labels``: -100 where
        nothing is predicted); ``sides`` None draws them (training), else as given."""
        if sides is None:
            sides = self.draw_sides(source.shape[0], generator)
        return self.masked_lm.prepare(self.join(source, target, sides), generator)

    def mask_one_language(self, source: torch.Tensor, target: torch.Tensor, language: int,
                          generator: torch.Generator | None = None) -> tuple[dict, dict]:
        """The pairs joined with masks drawn over ``language``'s tokens only (0: source, 1: target),
        and the same masked sentence alone, the other left out: (beside its translation, alone),
        the same tokens to predict in both. What shows whether TLM reads the other language."""
        joined = self.join(source, target)
        real = joined["attention_mask"]
        own = real * (joined["token_type_ids"] == language)
        beside = self.masked_lm.prepare({**joined, "attention_mask": own}, generator)
        beside["attention_mask"] = real
        return beside, keep_columns(beside, own.bool(), self.pad_id)

    loss = CausalLM.loss


def keep_columns(batch: dict, keep: torch.Tensor, pad_id: int) -> dict:
    """Each row's ``keep`` columns (B, L) moved to its front, the rest padding (ids ``pad_id``, labels
    -100, mask 0); positions and language ids travel with their tokens."""
    fill = {"input_ids": pad_id, "labels": MaskedLM.ignore_index}
    width = int(keep.sum(1).max())
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)[:, :width]  # kept columns first, in order
    kept = torch.gather(keep, 1, order)
    out = {}
    for key, value in batch.items():
        moved = torch.gather(value, 1, order)
        out[key] = moved.masked_fill(~kept, fill.get(key, 0))
    return out
