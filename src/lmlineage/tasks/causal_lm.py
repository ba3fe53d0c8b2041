"""A language model + the causal LM objective, as the trainer sees it: ``task(batch) -> loss``."""

from __future__ import annotations

import torch
from torch import nn

from ..objectives.clm import CausalLM
from ..objectives.control_codes import ControlCodes
from .protocol import Task


class CausalLMTask(Task):
    def __init__(self, model: nn.Module, objective=None):
        super().__init__()
        self.model = model
        self.objective = objective or CausalLM()

    generates = True  # the model can sample text after training

    def forward(self, batch):
        inputs, targets = self.objective.prepare(batch)
        out = self.model(inputs)
        loss = self.objective.loss(out.logits, targets)
        aux = getattr(out, "aux_loss", None)  # mixture-of-experts router losses, already weighted
        return loss + aux if aux is not None and self.training else loss  # evaluation: the objective alone

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        """Total negative log-likelihood (nats) and token count over ``batches``.
        ``forward`` is the (possibly sharded) task to call; default: this task."""
        nats, count = 0.0, 0
        for inputs, targets in batches:
            if forward is not None:  # a sharded root module must run its own forward hooks
                nats += float(forward((inputs, targets))) * targets.numel()
            else:
                nats += float(self.objective.loss(self.model(inputs).logits, targets, reduction="sum"))
            count += targets.numel()
        return {"nats": nats, "tokens": count, "loss": nats / max(count, 1)}


class ControlCodedLMTask(CausalLMTask):
    """Causal LM over documents that each begin with their control code (CTRL): the training data
    is prepared with ``control_code`` before every document; the loss is unchanged."""

    control_code = staticmethod(ControlCodes.prefix)

    def __init__(self, model: nn.Module):
        super().__init__(model, ControlCodes())


class ToolUseLMTask(CausalLMTask):
    """Causal LM over tool-use dialogues (LaMDA section 6.2): by default the generated
    ``tool-dialogues`` corpus, whose ``Result:`` lines are the tools' answers; the loss is unchanged
    (the model also learns what tools return, which is what a run without tools falls back on)."""

    default_data = "tool-dialogues"


class RuleDialogueLMTask(CausalLMTask):
    """Causal LM over dialogues whose replies keep or break checkable rules (Sparrow's policy
    before reranking): by default the generated ``sparrow-dialogues`` corpus; the loss is unchanged."""

    default_data = "sparrow-dialogues"
