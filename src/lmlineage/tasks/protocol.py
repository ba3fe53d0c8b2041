"""The one Task protocol: what a training objective declares, so the run driver, the API and the
CLI call it and probe nothing.

Every member is declared here with its default; a task overrides what differs. A task states

- what it reads (``reads``): windows of a token stream, (source, target) pairs, a word stream from
  its own word tokenizer, the whole corpus fitted in one pass (n-gram counting, word2vec), or
  labelled examples (``finetune``, through the driver's :func:`~lmlineage.train.run.fit_epochs`);
  and without --data, which corpus (``default_data``; ERNIE's is kjv);
- which of `train`'s generic options apply to it (``options``; the driver refuses the rest);
- how it is set up: checkpoints it loads first (``checkpoint_options``, distillation's --teacher)
  and the tokenizer it takes from them (``setup``), the tokenizer it needs (``check_inputs``), how
  it sizes the model from the tokenizer (``model_config``) or from the family's own options, a
  loaded checkpoint among them (``config_from_options``: the one hook for the task's config
  overrides), the text before every document (``control_code``, CTRL), the tokens
  it adds to every window (``added_tokens``, BART's </s>: the driver sizes windows to leave room);
- a task reading captioned images (CLIP, BLIP, CoCa, GLIDE) says what differs between them: how
  labels become captions (``label_templates``), its tokenizer (``caption_tokenizer``,
  ``caption_vocab_size``, ``special_tokens``, ``tokenizer_sees_held_out``), how captions become ids
  (``caption_tokens``, ``caption_encoder``, ``caption_positions``), its images
  (``caption_image_setup``, ``image_processor``), the class names it keeps (``caption_labels``) and
  what it scores on the held-out images beyond ``evaluate`` (``held_out_scores``);
- how it learns: ``forward(batch) -> loss`` under the ``schedule``, or ``fit`` in one pass;
- for images, what it needs of the set (``image_config``), what it reads of it (``image_split``)
  and what it says of the first held-out image (``image_sample``);
- how it evaluates: ``evaluate(batches) -> {"loss", "nats", "tokens", ...}``, set up from a
  checkpoint by ``for_checkpoint`` with the weights it trains beside the model (``own_weights``,
  ELECTRA's generator, saved as ``TASK_WEIGHTS``; ``checkpoint_has_objective``: an encoder whose
  checkpoint holds all its objective needs, ERNIE's entity table); whether it ``generates`` text;
- how its result is reported: ``metrics`` (the dict a run returns), ``report`` (the lines
  `lmlineage train` prints) and ``evaluation_report`` (the line `lmlineage eval` prints).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

from torch import nn

from ..core.errors import UserError

# `train`'s options that every family could take; a task names those that apply to it.
GENERIC_OPTIONS = frozenset({
    "tokenizer", "vocab_size", "steps", "batch_size", "context", "lr", "min_lr", "warmup", "eval_interval",
    "eval_batches", "device", "dtype", "compile", "resume", "keep_last", "deterministic", "parallel",
    "activation_checkpointing", "init",
})

# What each kind of input means for a user, as the refusal of an option says it.
READS = {
    "tokens": "trains on windows of a token stream",
    "pairs": "trains on whole (source, target) pairs",
    "words": "trains on words from its own word tokenizer",
    "corpus": "is fitted in one pass over the corpus",
    "examples": "is fine-tuned on labelled examples",
    "images": "trains on labelled images",
    "captions": "trains on captioned images",
    "image_questions": "trains on questions about images",
    "scenes": "trains on images with boxed objects",
}


# Where a checkpoint keeps the weights a task trains beside its model (``Task.own_weights``).
TASK_WEIGHTS = "task.safetensors"


def perplexity(loss: float) -> float:
    """exp(loss), inf where that overflows a float."""
    return math.exp(loss) if loss < 700 else math.inf


def bits_per_char(nats: float, chars: int) -> float:
    """Total nats over the characters of the text: comparable across tokenizers."""
    return nats / max(chars, 1) / math.log(2)


@dataclass
class TrainResult:
    out: Path
    val_loss: float
    perplexity: float  # of the masked LM alone for encoders
    bits_per_char: float | None  # None where the objective does not predict the text (masked LM)
    sample: str
    steps: int
    rank: int = 0
    metrics: dict | None = None  # the objective's own evaluation (MLM accuracy, ...); None for causal LM
    summary: str = ""  # what a model that is no language model (word2vec) reports instead of a loss
    report: str = ""  # what `lmlineage train` prints: the task's ``report`` of this result


class Task(nn.Module):
    """A model (or several) + heads + an objective, as the run driver and the trainer see it."""

    # ---- what it reads and which generic options apply --------------------------------------
    reads: ClassVar[str] = "tokens"  # a key of READS
    options: ClassVar[frozenset[str]] = GENERIC_OPTIONS

    # ---- set-up -------------------------------------------------------------------------------
    checkpoint_options: ClassVar[tuple[str, ...]] = ()  # `train --NAME PATH` loads a checkpoint for it
    control_code: ClassVar[Callable[[str], str] | None] = None  # text -> the code put before each document
    generates: ClassVar[bool] = False  # the trained model samples text (a sample, bits per char)
    schedule: ClassVar[str] = "cosine"  # the trainer's learning-rate schedule
    # Tokens the task appends to every window before the model reads it: the default window is
    # max_positions minus these, and a --context is given as many more positions.
    added_tokens: ClassVar[int] = 0
    # What the task trains beside the saved model ("" for nothing): written to each checkpoint as
    # TASK_WEIGHTS, for resume and for scoring the objective (ELECTRA: "the generator").
    own_weights: ClassVar[str] = ""
    # The built-in corpus it reads when no --data is given (None: the default corpus, shakespeare).
    default_data: ClassVar[str | None] = None
    # An encoder's checkpoint holds all this objective needs (ERNIE's entity table): `eval` scores it
    # through ``for_checkpoint`` instead of the masked LM its heads allow.
    checkpoint_has_objective: ClassVar[bool] = False
    # Special tokens a trained BPE gets for this task (a masked LM's <mask>, sentence bounds): a
    # GPT-2 style BPE has only <|endoftext|>.
    special_tokens: ClassVar[tuple[str, ...]] = ()
    # A pair task: the tokenizer it trains when --tokenizer is not given (None: the pair set's own).
    pair_tokenizer: ClassVar[str | None] = None
    # A pair task whose training batches hold pairs of similar length: how many batches' worth each
    # step draws to keep one of neighbours (data.pairs.RandomPairs; 1: uniform draws, the default).
    length_groups: ClassVar[int] = 1
    # A pair task that reads parallel text, not any pairs: what --data must give ("" for the default set).
    needs_data: ClassVar[str] = ""
    # A pair task whose model translates: its held-out sources are translated and scored (BLEU).
    translates: ClassVar[bool] = False
    # A caption task: how labelled images are captioned, a pair of templates (a digit's word, any
    # other label; None: ``vision.captions.PROMPTS``, CLIP's), and which loss the reported perplexity is of.
    label_templates: ClassVar[tuple[tuple[str, ...], tuple[str, ...]] | None] = None
    perplexity_of: ClassVar[str] = "loss"
    # A caption task's vocabulary where --vocab-size is not among its options (None: the kind's default),
    # and whether its tokenizer is trained on the held-out captions too (a drawer draws every caption).
    caption_vocab_size: ClassVar[int | None] = None
    tokenizer_sees_held_out: ClassVar[bool] = False
    # A caption task's tokenizer kind where --tokenizer is not among its options (None: the family's default).
    caption_tokenizer: ClassVar[str | None] = None

    @classmethod
    def setup(cls, **checkpoints) -> dict:
        """What the loaded ``checkpoint_options`` fix of the data before the model is built:
        ``tokenizer`` (the model's shape they fix comes from ``config_from_options``)."""
        return {}

    @classmethod
    def check_inputs(cls, tokenizer, batch_size: int = 1):
        """Refuse, before anything is written, a tokenizer (or batch) the task cannot train with;
        returns what the task reads from the tokenizer (special ids), or None."""
        return None

    @classmethod
    def image_processor(cls, side: int):
        """An image task: the processor its images go through, square images of ``side`` pixels."""
        from ..vision.processor import ImageProcessor

        return ImageProcessor.vit(side, side)

    @classmethod
    def caption_image_setup(cls, base, images) -> tuple:
        """A caption task: (the image processor, config overrides) for the image set ``images``
        and the preset's config ``base``: an image tower fitted to the set, read as RGB."""
        from ..vision.batches import fitted_image

        image = {**fitted_image(images, base.vision.image.size, base.vision.image.patch), "channels": 3}
        return cls.image_processor(image["size"]), {"vision": {"image": image}}

    @classmethod
    def caption_tokens(cls, tokenizer) -> tuple[int, int, int]:
        """A caption task: the (start, end, padding) ids its captions are encoded between."""
        raise NotImplementedError(f"{cls.__name__} reads no captions")

    @classmethod
    def caption_encoder(cls, tokenizer, length: int):
        """A caption task: texts -> (M, L) ids, each caption between the ``caption_tokens``, cut to ``length``."""
        from ..vision.captions import encode_captions

        bos, eos, pad = cls.caption_tokens(tokenizer)
        return lambda texts: encode_captions(tokenizer, texts, bos, eos, pad, length)

    @classmethod
    def caption_positions(cls, positions: int, longest: int) -> int:
        """A caption task: the text side's positions, given the preset's and the longest caption's
        tokens (the start and end tokens besides)."""
        return max(positions, longest + 2)

    @classmethod
    def caption_labels(cls, images, captions: list[str]) -> list[str] | None:
        """A caption task: the class names its config keeps (the set's labels)."""
        return images.label_names

    @classmethod
    def pair_length(cls, source: int, target: int) -> int:
        """A pair task: the longest input one pair of these lengths makes (the model's positions
        cover it); an encoder-decoder reads each side alone."""
        return max(source, target)

    @classmethod
    def answer_length(cls, source: int, target: int) -> int:
        """A translating pair task: the most tokens each held-out source is decoded to, given the
        longest source and target of the split (a translation may be longer than either)."""
        return 2 * max(source, target) + 8

    @classmethod
    def model_config(cls, tokenizer) -> dict:
        """Config overrides the task derives from the tokenizer (T5's sentinels above its vocabulary)."""
        return {}

    @classmethod
    def config_from_options(cls, config, options: dict) -> dict:
        """Config overrides from the family's own options (the NNLM's --order; an option of
        ``checkpoint_options`` given as the loaded checkpoint, distillation's --teacher), given the
        preset's config."""
        return {}

    @classmethod
    def for_tokenizer(cls, model, tokenizer, **checkpoints) -> "Task":
        return cls(model, **checkpoints)

    @classmethod
    def for_checkpoint(cls, model, directory: Path) -> "Task":
        """The task that scores ``model``, loaded from the checkpoint ``directory``, on its own
        objective: with its ``own_weights`` from the checkpoint's TASK_WEIGHTS."""
        from safetensors.torch import load_file

        task = cls.for_tokenizer(model, model.tokenizer).eval()  # its own parts are built in training mode
        if not cls.own_weights:
            return task
        file = Path(directory) / TASK_WEIGHTS
        if not file.is_file():
            raise UserError(f"{directory} keeps no {TASK_WEIGHTS}, so not {cls.own_weights} that scoring its "
                            "objective needs", "evaluate a checkpoint written by `lmlineage train`; the model "
                            "itself still serves embed and finetune")
        state = {k: v.to(next(model.parameters()).device) for k, v in load_file(str(file)).items()}
        expected = {name for name, _ in task.named_parameters() if not name.startswith("model.")}
        if set(state) != expected:
            raise UserError(f"{file} does not fit this model's {cls.own_weights} "
                            f"(unexpected: {sorted(set(state) - expected)[:3]}, missing: {sorted(expected - set(state))[:3]})")
        task.load_state_dict(state, strict=False)
        return task

    # ---- images (``reads == "images"``) ---------------------------------------------------------
    @classmethod
    def image_config(cls, images) -> dict:
        """Config overrides a set of images implies (a classifier's label names), checked before
        anything is written; `eval` refuses a set whose overrides differ from the model's."""
        return {}

    @classmethod
    def image_split(cls, images, processor):
        """What training and evaluation read from a set of images, processed by ``processor``:
        ``sampler(batch_size, seed, rank, world)`` for training, ``batches(batch_size)`` of
        (inputs, targets) for evaluation, and ``len`` (the images)."""
        raise NotImplementedError(f"{cls.__name__} reads no images")

    def image_sample(self, split) -> str:
        """The line `lmlineage train` reports about the first image of the held-out ``split``."""
        return ""

    # ---- learning -----------------------------------------------------------------------------
    def forward(self, batch):
        """The training loss of one batch."""
        raise NotImplementedError

    @classmethod
    def fit(cls, corpus: list[str], *, out: Path, preset: dict, options: dict, seed: int, progress: bool,
            device: str) -> dict:
        """A one-pass fit (``reads == "corpus"``) with the ``preset``'s settings and the family's own
        ``options`` given: write ``out/best`` and return the held-out score (``loss``, ``nats``,
        ``tokens``, ``chars``) or a ``summary``."""
        raise NotImplementedError(f"{cls.__name__} is trained by gradient steps, not fitted in one pass")

    # ---- evaluation ---------------------------------------------------------------------------
    def evaluate(self, batches, forward=None) -> dict:
        """``{"loss", "nats", "tokens", ...}`` over ``batches``; ``forward``: the (possibly sharded)
        module to call instead of this task."""
        raise NotImplementedError

    def held_out_scores(self, split, names: list[str] | None, run: Path | None = None,
                        seed: int = 0) -> tuple[dict, str]:
        """A caption task: what it scores on the held-out ``split`` (a ``CaptionSplit``) beyond
        ``evaluate``, given the set's class ``names``, and a line for the run's sample; ``run``: the
        directory of the run just trained (None: a checkpoint being evaluated). ({}, "") where nothing."""
        return {}, ""

    # ---- reporting ----------------------------------------------------------------------------
    @classmethod
    def metrics(cls, evaluation: dict) -> dict | None:
        """What a run returns besides its loss: None for a task that predicts the text, else the
        objective's own metrics."""
        if cls.generates:
            return None
        return {k: v for k, v in evaluation.items() if k not in ("loss", "nats", "tokens")}

    @classmethod
    def report(cls, result: TrainResult) -> str:
        """The lines `lmlineage train` prints (a language model: loss, perplexity, bits per char, a sample)."""
        work = "fitted in one pass" if cls.reads == "corpus" else f"{result.steps} steps"
        return (f"val loss {result.val_loss:.4f} | perplexity {result.perplexity:.2f} | "
                f"bits per char {result.bits_per_char:.4f} | {work} | checkpoints in {result.out}\n"
                f"--- sample ---\n{result.sample}")

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        """The line `lmlineage eval` prints."""
        return (f"loss {metrics['loss']:.4f} | perplexity {metrics['perplexity']:.2f} | "
                f"bits per char {metrics['bits_per_char']:.4f} | {metrics['tokens']} tokens, {metrics['chars']} chars")
