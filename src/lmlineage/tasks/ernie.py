"""ERNIE's pre-training (Zhang et al. 2019, section 3.4): the masked LM plus the denoising entity
auto-encoder (dEA) on text whose person mentions are linked to a knowledge graph.

Set-up: the graph (``--entities FILE``, or the KJV's genealogies: data/knowledge_graph.py) sizes the
model's entity table and names its entities (``config_from_options``); TransE (classic/transe.py)
is fitted on its triples, with a fixed seed, and its vectors fill the frozen table
(``for_tokenizer``). A checkpoint keeps the table, so ``for_checkpoint`` fits nothing.

One step: each window as ``[CLS] window [SEP]``, 15% of the tokens masked as BERT's; mentions
linked by name on the unmasked text (the entity on the mention's first token); the alignment
corrupted by dEA (5% replaced, 15% masked); loss = MLM + dEA, every aligned token predicting its
entity among its sequence's (eq. 7). The corpus it reads without ``--data`` is ``kjv``.
"""

from __future__ import annotations

import torch

from ..classic.transe import train_transe
from ..core.errors import UserError
from ..data.knowledge_graph import EntityLinker, load_graph
from ..objectives.dea import DenoisingEntityAutoEncoder
from ..objectives.mlm import MaskedLM
from .masked_lm import MaskedLMTask, masked_lm_report

TRANSE = dict(norm=1, margin=1.0, epochs=100, batch_size=512, lr=0.01, seed=0)  # lr, margin, L1: Bordes et al. section 4.2


def entity_vectors(graph, dim: int) -> torch.Tensor:
    """The graph's TransE entity vectors (entities, dim), fitted with ``TRANSE``'s settings."""
    model = train_transe(graph.triples, len(graph.entities), len(graph.relations), dim=dim, **TRANSE)
    return model.entities.weight.detach()


class KnowledgeMaskedLMTask(MaskedLMTask):
    default_data = "kjv"
    checkpoint_has_objective = True

    def __init__(self, model, cls_id: int, sep_id: int, mask_id: int, special_ids=(), linker=None):
        super().__init__(model, cls_id, sep_id, mask_id, special_ids)
        self.linker = linker  # None: no mention is linked (the same-size BERT the benchmark compares with)
        self.dea = DenoisingEntityAutoEncoder(model.config.n_entities)

    @classmethod
    def config_from_options(cls, config, options: dict) -> dict:
        graph = load_graph(options.get("entities"))
        return {"n_entities": len(graph.entities), "entity_names": list(graph.entities),
                "knowledge_graph": None if options.get("entities") is None else str(options["entities"])}

    @classmethod
    def for_tokenizer(cls, model, tokenizer):
        """The task with the entity table filled by TransE on the config's graph."""
        cfg = model.config
        graph = load_graph(cfg.knowledge_graph)
        if list(graph.entities) != list(cfg.entity_names or ()):
            raise UserError(f"the knowledge graph {cfg.knowledge_graph or 'of the KJV'} no longer names the "
                            "entities this model was configured with", "train with the graph it was started with")
        model.set_entity_vectors(entity_vectors(graph, cfg.entity_dim))
        return cls.for_filled_model(model, tokenizer)

    @classmethod
    def for_checkpoint(cls, model, directory):
        return cls.for_filled_model(model, model.tokenizer, True).eval()  # the checkpoint holds the entity table

    @classmethod
    def for_filled_model(cls, model, tokenizer, link: bool = True):
        """The task for a model whose entity table is already filled; ``link=False``: no mention is
        linked, so the model is trained and read as the same-size BERT."""
        ids = cls.check_inputs(tokenizer)
        linker = EntityLinker(tokenizer, model.config.entity_names or ()) if link else None
        return cls(model, ids["cls"], ids["sep"], ids["mask"], special_ids=tokenizer.special_ids.values(),
                   linker=linker)

    def link(self, input_ids: torch.Tensor) -> torch.Tensor:
        if self.linker is None:
            return torch.zeros_like(input_ids)
        return self.linker.link(input_ids)

    def forward(self, batch, generator: torch.Generator | None = None, totals: bool = False):
        windows, _ = batch
        encoded = self.encode(windows, generator)
        labels = encoded["labels"]
        predicted = labels != MaskedLM.ignore_index
        original = torch.where(predicted, labels, encoded["input_ids"])
        entities = self.link(original)
        corrupted = self.dea.prepare(entities, generator)
        out = self.model(encoded["input_ids"], mlm_positions=predicted, entity_ids=corrupted)
        aligned = entities > 0
        dea = None  # (scores, candidates, targets): none in a batch with no mention linked
        if aligned.any():
            scores, candidates = self.dea.scores(out.outputs["entity_vectors"][aligned], aligned.nonzero()[:, 0],
                                                 entities, self.model.entity_embed.weight)
            dea = scores, candidates, entities[aligned]
        if not totals:
            loss = self.objective.loss(out.logits, labels[predicted])
            return loss if dea is None else loss + self.dea.loss(*dea)
        sums = self.mlm_sums(out.logits, encoded["input_ids"], labels)
        sums["dea_aligned"] = aligned.sum()
        if dea is not None:
            scores, candidates, targets = dea
            sums["dea_nats"] = self.dea.loss(*dea, reduction="sum")
            sums["dea_correct"] = (scores.argmax(-1) == torch.searchsorted(candidates, targets)).sum()
            # Chance: one over the number of candidates in the token's sequence.
            sums["dea_chance"] = (1 / torch.isfinite(scores).sum(-1).float()).sum()
        return sums

    def more_metrics(self, result: dict, totals: dict) -> dict:
        """``dea_loss`` (nats per aligned token), ``dea_accuracy`` (the original entity ranked first
        among its sequence's) beside ``dea_chance_accuracy`` (a uniform guess among them), and
        ``aligned`` (tokens linked to an entity). ``loss``: MLM + dEA."""
        aligned = int(totals["dea_aligned"])
        result["aligned"] = aligned
        if aligned:
            result["dea_loss"] = float(totals["dea_nats"]) / aligned
            result["dea_accuracy"] = int(totals["dea_correct"]) / aligned
            result["dea_chance_accuracy"] = float(totals["dea_chance"]) / aligned
            result["loss"] += result["dea_loss"]
        return result

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        return f"loss {metrics['loss']:.4f} | {masked_lm_report(metrics)}{dea_report(metrics)} | " \
               f"{metrics['tokens']} masked tokens"

    @classmethod
    def report(cls, result) -> str:
        return (f"val loss {result.val_loss:.4f} | {masked_lm_report(result.metrics)}{dea_report(result.metrics)} | "
                f"{result.steps} steps | checkpoints in {result.out}")


def dea_report(metrics: dict) -> str:
    if "dea_accuracy" not in metrics:
        return f" | dEA: no mention linked ({metrics.get('aligned', 0)} aligned tokens)"
    return (f" | dEA accuracy {metrics['dea_accuracy']:.3f} (chance: {metrics['dea_chance_accuracy']:.3f}, "
            f"{metrics['aligned']} aligned tokens)")
