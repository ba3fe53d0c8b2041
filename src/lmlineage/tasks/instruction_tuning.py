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
        from ..evaluation.translation import exact_match

        questions = instructions.held_out(cluster, ZERO_SHOT_QUESTIONS)
        pairs = [pair for task_pairs in questions.values() for pair in task_pairs]
        answers = self.translate([tokenizer.encode(source) for source, _ in pairs],
                                 max_new_tokens=max(len(tokenizer.encode(answer)) for _, answer in pairs) + 8)
        scores = {"held_out_cluster": cluster, "held_out_questions": len(pairs),
                  "held_out_exact_match": exact_match([tokenizer.decode(ids).strip() for ids in answers],
                                                      [answer for _, answer in pairs])}
        options = instructions.held_out_options(cluster, ZERO_SHOT_QUESTIONS)
        if options:
            ranked = self.rank_classification(tokenizer, [pair for task in options for pair in questions[task]],
                                              [opts for lists in options.values() for opts in lists])
            scores.update(held_out_rank_classification=ranked["accuracy"], held_out_chance=ranked["chance"])
        return scores

    def rank_classification(self, tokenizer, questions: list[tuple[str, str]], options: list[tuple[str, ...]]) -> dict:
        """FLAN's scoring of questions with options (Wei et al. 2022, section 2.2): the option the
        model finds most likely is its answer. ``accuracy``, and ``chance``: one over the number of
        options, averaged."""
        right = [opts[int(self.option_logprobs(tokenizer, source, opts).argmax())] == answer
                 for (source, answer), opts in zip(questions, options, strict=True)]
        return {"accuracy": sum(right) / len(right), "chance": sum(1 / len(o) for o in options) / len(options)}

    def option_logprobs(self, tokenizer, source: str, options) -> torch.Tensor:
        """log p(option, then the end token | source) of each option, encoded as training encodes a pair."""
        from ..data.pairs import PairSplit

        split = PairSplit.encode([(source, option) for option in options], tokenizer, self.objective.pad_id)
        source_ids, target_ids = split.collate(range(len(options)))
        device = next(self.model.parameters()).device
        return self.target_logprobs((source_ids.to(device), target_ids.to(device)))

    @classmethod
    def zero_shot_report(cls, metrics: dict) -> str:
        if "held_out_cluster" not in metrics:
            return ""
        line = (f"\nheld-out cluster {metrics['held_out_cluster']}, zero-shot on {metrics['held_out_questions']} "
                f"questions: exact match {metrics['held_out_exact_match']:.3f}")
        if "held_out_rank_classification" in metrics:
            line += (f" | rank classification {metrics['held_out_rank_classification']:.3f} "
                     f"(chance {metrics['held_out_chance']:.3f})")
        return line
