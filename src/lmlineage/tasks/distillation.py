"""DistilBERT's teacher + student as one task (Sanh et al. 2019, sections 2 and 3).

The student (``self.model``, the model the trainer saves) is the teacher's architecture at half
the depth, without token-type embeddings; it starts from the teacher, "taking one layer out of
two" (student layer i <- teacher layer 2i), with the teacher's embeddings and MLM head. The
teacher, a trained BERT, is frozen and always in evaluation mode; it reads the same masked input
as the student. Loss: objectives/distill.py (soft targets at temperature T, masked LM, cosine).
"""

from __future__ import annotations

import torch

from ..core.errors import UserError
from ..objectives.distill import Distillation
from ..objectives.mlm import MaskedLM
from .masked_lm import MaskedLMTask

SAME_SHAPE = ("vocab_size", "d_model", "bias", "max_positions", "attention.n_head", "attention.n_kv_head",
              "attention.head_dim", "mlp.d_ff", "mlp.activation", "norm", "position.kind", "embedding.dim")


def student_config(teacher_cfg) -> dict:
    """The student's shape (section 3): the teacher's, with half the layers and no segments."""
    teacher = teacher_cfg.to_dict()
    shape: dict = {"n_layer": max(1, teacher_cfg.n_layer // 2), "embedding": {"type_vocab_size": 0}}
    for path in SAME_SHAPE:
        *parents, leaf = path.split(".")
        source, target = teacher, shape
        for part in parents:
            source, target = source[part], target.setdefault(part, {})
        target[leaf] = source[leaf]
    return shape


def initialize_from_teacher(student, teacher) -> None:
    """Copy the teacher's weights into the student: embeddings (segment row 0, the only one a
    single-segment input reads, folded into the positions, so the embedding output is unchanged),
    every other layer, the MLM head."""
    source = teacher.state_dict()
    stride = teacher.config.n_layer // student.config.n_layer
    state = {}
    for key in student.state_dict():
        if key.startswith("backbone.layers."):
            index, rest = key.removeprefix("backbone.layers.").split(".", 1)
            state[key] = source[f"backbone.layers.{int(index) * stride}.{rest}"]
        else:
            state[key] = source[key]
    if student.backbone.embed_segments is None and teacher.backbone.embed_segments is not None:
        rows = state["backbone.embed_positions.weight"]
        state["backbone.embed_positions.weight"] = rows + source["backbone.embed_segments.weight"][0]
    student.load_state_dict(state)


class DistillationTask(MaskedLMTask):
    def __init__(self, model, cls_id: int, sep_id: int, mask_id: int, special_ids=(), teacher=None,
                 distillation: Distillation | None = None):
        super().__init__(model, cls_id, sep_id, mask_id, special_ids)
        self.check_teacher(teacher)
        expected = model.config.replace(**student_config(teacher.config)).to_dict()
        ours = model.config.to_dict()
        differ = [f"{k}={ours[k]!r} (teacher: {v!r})" for k, v in expected.items() if ours[k] != v]
        if differ or model.mlm is None:
            raise UserError(f"the student does not have the teacher's shape at half depth: {', '.join(differ)}",
                            "let `train` derive the student from --teacher")
        self.teacher = teacher.eval().requires_grad_(False)
        self.distillation = distillation or Distillation()
        initialize_from_teacher(model, teacher)

    checkpoint_options = ("teacher",)  # `train --teacher PATH` loads it and hands it over

    @classmethod
    def setup(cls, teacher=None) -> dict:
        """What `train` takes from the teacher before building the student: its tokenizer (the
        student predicts the same vocabulary)."""
        cls.check_teacher(teacher)
        if teacher.tokenizer is None:
            raise UserError("the teacher checkpoint has no tokenizer.json", "distil a checkpoint written by `train`")
        return {"tokenizer": teacher.tokenizer}

    @classmethod
    def config_from_options(cls, config, options: dict) -> dict:
        """The student's shape, from the teacher (``--teacher``, loaded)."""
        teacher = options.get("teacher")
        cls.check_teacher(teacher)
        return student_config(teacher.config)

    @staticmethod
    def check_teacher(teacher) -> None:
        if teacher is None:
            raise UserError("distillation needs a trained teacher", "train one first (lmlineage train bert --out "
                            "runs/bert) and pass --teacher runs/bert")
        cfg = teacher.config
        if cfg.family != "bert" or getattr(teacher, "mlm", None) is None or cfg.layer_groups or cfg.n_layer < 2:
            heads = f"heads {', '.join(cfg.heads)}" if cfg.heads else "no heads besides its own output layer"
            layers = f"{cfg.n_layer} layer{'s' if cfg.n_layer != 1 else ''}" + (" shared" if cfg.layer_groups else "")
            raise UserError(f"the teacher is a {cfg.family} model with {heads} and {layers}",
                            "distil a bert checkpoint with an MLM head (mlm) and 2 layers or more")

    @classmethod
    def for_tokenizer(cls, model, tokenizer, teacher=None):
        ids = cls.check_inputs(tokenizer)
        return cls(model, ids["cls"], ids["sep"], ids["mask"], special_ids=tokenizer.special_ids.values(),
                   teacher=teacher)

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # the teacher's soft targets come without dropout
        return self

    def forward(self, batch, generator: torch.Generator | None = None, totals: bool = False):
        windows, _ = batch
        encoded = self.encode(windows, generator)
        ids, labels = encoded["input_ids"], encoded["labels"]
        chosen = labels != MaskedLM.ignore_index
        if totals:  # evaluation: the student's masked LM, as any encoder's
            return self.mlm_sums(self.model(ids, mlm_positions=chosen).logits, ids, labels)
        student = self.model(ids)
        with torch.no_grad():
            teacher = self.teacher(ids)
        d = student.logits.shape[-1]
        return self.distillation.loss(
            self.objective.loss(student.logits[chosen], labels[chosen]),
            student.logits.reshape(-1, d), teacher.logits.reshape(-1, d),
            student.last_hidden_state.flatten(0, 1), teacher.last_hidden_state.flatten(0, 1))
