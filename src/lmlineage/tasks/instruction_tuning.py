"""Instruction tuning (FLAN, Wei et al. 2022; Flan-T5, Chung et al. 2022): an encoder-decoder
trained, teacher forced, on a mixture of tasks each phrased as an instruction
(``data.instructions``); by default the ``flan`` mixture of checkable tasks.

What differs from translation's training (``Seq2SeqTask``): the data, and T5's fine-tuning
recipe rather than the Transformer's: no label smoothing, a plain warmup + cosine schedule
(Chung et al. used Adafactor at a constant rate; AdamW with a schedule is the trainer's)."""

from __future__ import annotations

import torch
from torch import nn

from ..data import instructions
from .seq2seq import Seq2SeqTask

ZERO_SHOT_QUESTIONS = 100  # per task of a held-out cluster


class InstructionTuningTask(Seq2SeqTask):
    default_data = "flan"
    schedule = "cosine"

    def __init__(self, model: nn.Module, pad_id: int, eps: float = 0.0):
        super().__init__(model, pad_id, eps)

    @classmethod
    def answer_length(cls, source: int, target: int) -> int:
        """An answer is no longer than the longest target (few-shot sources are long, answers short)."""
        return target + 8

    def zero_shot_scores(self, tokenizer, data) -> dict:
        """With a cluster held out of the mixture (``flan:without=CLUSTER``): its tasks asked
        zero-shot, as FLAN evaluates (Wei et al. 2022, section 2.2): greedy exact match, and for the
        tasks whose answer is one of given options, rank classification (the option the model finds
        most likely is its answer). {} for a mixture without a held-out cluster."""
        parsed = instructions.parse_name(data)
        if parsed is None or parsed["without"] is None:
            return {}
        was_training = self.model.training
        self.model.eval()
        try:
            return self._zero_shot(tokenizer, parsed["without"])
        finally:
            self.model.train(was_training)

    def _zero_shot(self, tokenizer, cluster: str) -> dict:
        questions = instructions.held_out(cluster, ZERO_SHOT_QUESTIONS)
        pairs = [pair for task_pairs in questions.values() for pair in task_pairs]
        answers = self.translate([tokenizer.encode(source) for source, _ in pairs],
                                 max_new_tokens=max(len(tokenizer.encode(answer)) for _, answer in pairs) + 8)
        scores = {"held_out_cluster": cluster, "held_out_questions": len(pairs),
                  "held_out_exact_match": sum(tokenizer.decode(ids).strip() == answer
                                              for ids, (_, answer) in zip(answers, pairs)) / len(pairs)}
        options = instructions.held_out_options(cluster, ZERO_SHOT_QUESTIONS)
        if options:
            asked = [(pair, opts) for task, lists in options.items() for pair, opts in zip(questions[task], lists)]
            right = [opts[int(self.option_logprobs(tokenizer, source, opts).argmax())] == answer
                     for (source, answer), opts in asked]
            scores.update(held_out_rank_classification=sum(right) / len(right),
                          held_out_chance=sum(1 / len(opts) for _, opts in asked) / len(asked))
        return scores

    def option_logprobs(self, tokenizer, source: str, options) -> torch.Tensor:
        """log p(option, then the end token | source) of each option, encoded as training encodes a pair."""
        from ..data.pairs import PairSplit

        split = PairSplit.encode([(source, option) for option in options], tokenizer, self.objective.pad_id)
        source_ids, target_ids = split.collate(range(len(options)))
        device = next(self.model.parameters()).device
        return self.target_logprobs((source_ids.to(device), target_ids.to(device)))
