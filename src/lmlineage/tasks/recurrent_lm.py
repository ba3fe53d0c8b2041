"""A segment-recurrent language model (Transformer-XL) + the causal LM objective.

Training is the causal LM's: the model reads each window segment by segment with its memory.
Evaluation reads the held-out text as long streams instead of independent windows, so every
segment after a stream's first sees the memory of the text before it, as the paper evaluates
(Dai et al. 2019, section 3.2: "the representations from the previous segments can be reused").
"""

from __future__ import annotations

import torch

from ..models.recurrent import check_mem_len
from .causal_lm import CausalLMTask


class MemoryLMTask(CausalLMTask):
    @classmethod
    def config_from_options(cls, config, options: dict) -> dict:
        """``--mem-len``: the memory the model trains (and by default evaluates) with."""
        mem_len = options.get("mem_len")
        return {} if mem_len is None else {"mem_len": check_mem_len(mem_len)}

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        """The windows, in order, are one text: it is cut into as many contiguous streams as the
        first batch has rows, each read segment by segment with the memory; the few tokens past
        an equal split form a last, shorter stream."""
        pieces = list(batches)
        if not pieces:
            return {"nats": 0.0, "tokens": 0, "loss": 0.0}
        rows = pieces[0][0].shape[0]
        inputs = torch.cat([x.reshape(-1) for x, _ in pieces])
        targets = torch.cat([y.reshape(-1) for _, y in pieces])
        length = inputs.numel() // rows
        streams = [(inputs[: rows * length].view(rows, length), targets[: rows * length].view(rows, length))]
        if inputs.numel() > rows * length:
            streams.append((inputs[rows * length:][None], targets[rows * length:][None]))
        nats = 0.0
        for x, y in streams:
            if x.shape[1]:
                nats += float(self.objective.loss(self.model(x).logits, y, reduction="sum"))
        return {"nats": nats, "tokens": targets.numel(), "loss": nats / max(targets.numel(), 1)}
