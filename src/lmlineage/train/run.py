"""The one run driver: every family's training goes through :func:`run`.

It reads the family from the registry and its task from the task registry, refuses the options
that do not apply to that task, checks the run directory, then feeds the task what it reads
(``Task.reads``): windows of a token stream, (source, target) pairs, a word stream from the
corpus's own word tokenizer, or the whole corpus for a one-pass fit (n-gram counting, word2vec).
Data is prepared into a scratch directory and moved into ``OUT/data`` (bad input leaves no
half-written run; under torchrun rank 0 prepares it while the other ranks wait); the model is
trained by the one :class:`~lmlineage.train.trainer.Trainer`; the result is reported by the task.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import torch

from ..core.config import merge, put
from ..core.errors import UserError
from ..core.registry import families, get_family
from ..tasks.protocol import READS, TrainResult, bits_per_char, perplexity

# `train`'s generic options and their values where not given; an option given (not None, not
# False) that the family's task does not take is refused.
DEFAULTS = dict(tokenizer=None, vocab_size=None, steps=2000, batch_size=12, context=None, lr=1e-3, min_lr=None,
                warmup=100, eval_interval=None, eval_batches=None, device="cpu", dtype="float32", compile=False,
                resume=False, keep_last=1, deterministic=False, parallel="ddp", activation_checkpointing=False,
                init=None)


@dataclass(frozen=True)
class Settings:
    tokenizer: str | None
    vocab_size: int | None
    steps: int
    batch_size: int
    context: int | None
    lr: float
    min_lr: float | None
    warmup: int
    eval_interval: int | None
    eval_batches: int | None
    device: str
    dtype: str
    compile: bool
    resume: bool
    keep_last: int
    deterministic: bool
    parallel: str
    activation_checkpointing: bool
    init: str | None  # a checkpoint whose weights and tokenizer a new run starts from


def check_device(device: str) -> str:
    try:
        d = torch.device(device)
    except RuntimeError:
        raise UserError(f"unknown device {device!r}", "use cpu, cuda or cuda:N") from None
    if d.type == "cuda" and not torch.cuda.is_available():
        raise UserError("CUDA is not available on this machine", "use --device cpu, or install a CUDA build of torch")
    if d.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"unsupported device {device!r}", "use cpu or cuda")
    return device


def check_out_dir(out, flag: str = "--out") -> Path:
    """An output directory that can be created or written into; checked before any work."""
    if not str(out).strip():
        raise UserError(f"{flag} is empty", "give the directory to write into")
    out = Path(out)
    for existing in (out, *out.parents):
        if existing.exists():
            if not existing.is_dir():
                raise UserError(f"{flag} {out}: {existing} is a file, not a directory", f"choose another {flag}")
            if not os.access(existing, os.W_OK | os.X_OK):
                raise UserError(f"{flag} {out}: {existing} is not writable", f"choose another {flag}")
            break
    return out


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def run(family: str, *, preset: str | None = None, data: str | None = None, out="runs/gpt2", seed: int = 1337,
        progress: bool = True, sample_tokens: int = 200, config: dict | None = None, options: dict | None = None,
        objective: str | None = None, load_checkpoint=None, **training) -> TrainResult:
    """Train ``family`` with its task into the run directory ``out``. ``training``: the generic
    options (DEFAULTS) that were given; ``options``: the family's own (--arch, --order, --teacher);
    ``objective``: one of the family's objectives (None: its own, or the one a resumed run started
    with); ``load_checkpoint(path)``: how a checkpoint option's path becomes a model. ``preset``
    None: the shape of the checkpoint a run resumes or starts from (``--init``), else tiny."""
    unexpected = sorted(set(training) - set(DEFAULTS))
    if unexpected:
        raise TypeError(f"run() got unexpected options {unexpected}")
    out = check_out_dir(out)
    fam = get_family(family)
    from ..tasks import TASKS, task_class

    if fam.objective not in TASKS:
        raise UserError(f"training family {family!r} ({fam.objective} objective) is not available yet",
                        f"families that train now: {', '.join(f.name for f in families() if f.objective in TASKS)}")
    objective = _objective_started(out, objective, training.get("resume"))
    objective, implied = fam.pick_objective(objective)
    task_cls = task_class(objective)
    if task_cls.needs_data and data is None and not training.get("resume"):
        raise UserError(f"the {objective} objective of {family!r} reads {task_cls.needs_data}",
                        "give --data bible-en-zh (or a .tsv / .jsonl file of pairs)")
    config = merge(implied, config or {})
    options = options or {}
    unknown = sorted(set(options) - set(fam.options))
    if unknown:
        raise UserError(f"family {family!r} takes no option {', '.join(_flag(k) for k in unknown)}",
                        f"its own options: {', '.join(_flag(k) for k in fam.options) or 'none'}")
    given = {k: v for k, v in training.items() if v is not None and v is not False}
    refused = sorted(set(given) - task_cls.options)
    if refused:
        raise UserError(f"{', '.join(_flag(k) for k in refused)} does not apply to {family!r}, which "
                        f"{READS[task_cls.reads]}", "leave it out")
    s = Settings(**{**DEFAULTS, **given})
    if s.init is not None and s.resume:
        raise UserError("--init starts a new run from a checkpoint, --resume continues the run in --out",
                        "give one of them")
    check_device(s.device)
    data = task_cls.default_data if data is None else data
    if task_cls.reads == "corpus":
        return _fit_in_one_pass(fam, task_cls, data=data, preset=preset or "tiny", out=out, seed=seed,
                                progress=progress, device=s.device, options=options)
    if s.parallel not in ("ddp", "fsdp"):
        raise UserError(f"--parallel {s.parallel!r} is not one of ddp, fsdp")
    if not (math.isfinite(s.lr) and 0 < s.lr <= 100):
        raise UserError(f"--lr {s.lr} is out of range (0, 100]", "typical learning rates are 1e-4 to 1e-2")
    _trainer_config(s, s.context or 1, "cosine", seed, progress).validate()  # before any work
    base = fam.config(preset or "tiny", **(config or {}))  # preset and overrides checked before any work
    from ..checkpoint.directory import recover, verify

    recover(out / "last")  # a crash between the two renames of a checkpoint swap leaves only .last.old-*
    if s.resume and not (out / "last").exists():
        if not (out / RUN_FILE).exists():
            raise UserError(f"--resume: {out}/last does not exist", "start a fresh run without --resume")
        # Started, then killed before its first save: a resume starts it again with what it was
        # started with, so `--resume` after any crash goes on (the same curve from step 0).
        data, s = _as_started(out, data, s)
        s = replace(s, resume=False)
        _note(f"{out} has no checkpoint yet (it stopped before its first save): starting it again from step 0")
    if not s.resume and (out / "last").exists():
        raise UserError(f"{out} already holds a run", "pass --resume to continue it, or choose another --out")
    if s.resume:
        verify(out / "last")  # a damaged checkpoint is refused before anything is written
        data, s = _as_started(out, data, s)
        if preset is None:
            from ..core.registry import load_config

            base = _with_shape_of(load_config(out / "last" / "config.json"), fam, config)
    # Tasks composed around trained checkpoints (distillation's --teacher) load them first: they fix
    # the tokenizer (the task's ``setup``) and the model's shape (its ``config_from_options``, which
    # reads such an option as the loaded checkpoint).
    loaded = {k: load_checkpoint(v) for k, v in options.items() if k in task_cls.checkpoint_options}
    options = {**options, **loaded}
    start = _starting_checkpoint(s, task_cls, load_checkpoint) if s.init is not None else None
    if start is not None and preset is None:
        base = _with_shape_of(start.config, fam, config)
    given_tokenizer = {"tokenizer": start.tokenizer} if start is not None else {}
    prepared = INPUTS[task_cls.reads].prepare(fam, task_cls, base, s, data=data, out=out, options=options,
                                              loaded=loaded, **given_tokenizer)
    cfg = base.replace(**merge(prepared.config, config or {}))
    if start is not None:
        fix = ("leave out --preset: the run then takes the checkpoint's shape" if preset is not None else
               "give data whose pairs or --context fit the checkpoint's position table")
        _check_takes_weights(cfg, start, s.init, fix)  # before anything is written
    from . import distributed
    from .memory import check_fits

    check_fits(cfg, s.batch_size, prepared.context, s.device, distributed.world()[1])  # before anything is allocated
    if s.resume:
        from ..checkpoint.model import check_same_model

        check_same_model(out, cfg, f"resume with the --preset and {prepared.shape_flags} the run was started with")
    if prepared.write is not None:
        prepared.open(_install_data(out, prepared.write))
    if not s.resume:
        _remember(out, data, s, prepared.context if "context" in task_cls.options else None, objective)
    return _train(fam, task_cls, cfg, prepared, s, out=out, seed=seed, progress=progress,
                  sample_tokens=sample_tokens, loaded=loaded, load_checkpoint=load_checkpoint, start=start)


# ---- --init: a new run that starts from a checkpoint's weights ------------------------------------
def _starting_checkpoint(s: Settings, task_cls, load_checkpoint):
    """The model of ``--init PATH``, refused with the fix where a run cannot start from it."""
    if task_cls.reads not in ("tokens", "pairs"):
        raise UserError(f"--init applies to families that read text; this one {READS[task_cls.reads]}", "leave it out")
    if s.tokenizer is not None or s.vocab_size is not None:
        raise UserError(f"--init {s.init}: the run reads with the checkpoint's tokenizer",
                        "leave out --tokenizer and --vocab-size")
    if not Path(s.init).exists():
        raise UserError(f"--init {s.init} does not exist", "give a run, checkpoint or reference directory")
    model = load_checkpoint(s.init)
    if getattr(model, "tokenizer", None) is None:
        raise UserError(f"--init {s.init} has no tokenizer", "give a run or checkpoint directory written by "
                        "`lmlineage train`, or a reference directory with its tokenizer.json")
    return model


def _check_takes_weights(cfg, start, path, fix: str) -> None:
    """Every tensor the new model shares by name with ``start`` must have its shape, and the two
    must share the backbone; heads the checkpoint lacks start fresh."""
    from ..models import build_model

    with torch.device("meta"):
        ours = build_model(cfg).state_dict()
    theirs = start.state_dict()
    for name, tensor in ours.items():
        if name in theirs and theirs[name].shape != tensor.shape:
            raise UserError(f"--init {path}: {name} is {tuple(theirs[name].shape)} there and {tuple(tensor.shape)} in "
                            "this run's model", fix)
    missing = sorted(n for n in ours if n not in theirs and n.startswith("backbone."))
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise UserError(f"--init {path}: it has no {missing[0]}{more} of this run's backbone",
                        "give a checkpoint of a model of the same architecture")


# The fields that fix a model's tensors' shapes, which a run given no --preset takes from the
# checkpoint it resumes or starts from; the rest of its architecture is its family's.
SHAPE_FIELDS = ("vocab_size", "max_positions", "d_model", "n_layer", "layer_groups", "attention.n_head",
                "attention.n_kv_head", "attention.head_dim", "mlp.d_ff", "embedding.type_vocab_size", "embedding.dim")


def _with_shape_of(checkpoint_config, fam, config: dict | None):
    """``fam``'s tiny config with the checkpoint's shape (``SHAPE_FIELDS``), then ``config``'s overrides."""
    shape: dict = {}
    for path in SHAPE_FIELDS:
        owner, _, name = path.rpartition(".")
        part = getattr(checkpoint_config, owner, None) if owner else checkpoint_config
        if hasattr(part, name):
            put(shape, path, getattr(part, name))
    return fam.config("tiny", **merge(shape, config or {}))


def _take_weights(model, start, path) -> None:
    """The fresh model takes every tensor of ``start`` it shares by name (shapes checked already)."""
    ours = model.state_dict()
    shared = {name: tensor for name, tensor in start.state_dict().items() if name in ours}
    model.load_state_dict(shared, strict=False)
    fresh = sorted({name.split(".")[0] for name in ours if name not in shared})
    _note(f"--init {path}: {len(shared)} of {len(ours)} tensors taken"
          + (f"; {', '.join(fresh)} start fresh" if fresh else ""))


# ---- what a run remembers for its resume ---------------------------------------------------------
RUN_FILE = "run.json"  # the corpus, tokenizer and context a run was started with
REMEMBERED = ("data", "tokenizer", "vocab_size", "context")


def _note(line: str) -> None:
    from . import distributed

    if distributed.world()[0] == 0:
        print(line, file=sys.stderr, flush=True)


def _as_given(key: str, value):
    """A path compares by where it points (a run may be resumed from another directory)."""
    if key in ("data", "tokenizer") and value is not None and Path(value).exists():
        return str(Path(value).resolve())
    return value


def _remember(out: Path, data, s: Settings, context: int | None, objective: str) -> None:
    from . import distributed

    if distributed.world()[0] != 0:
        return
    started = {"data": _as_given("data", data), "tokenizer": _as_given("tokenizer", s.tokenizer),
               "vocab_size": s.vocab_size, "context": context, "objective": objective}
    if s.init is not None:  # where its weights started (a record: a resume reads them from the run)
        started["init"] = str(Path(s.init).resolve())
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{RUN_FILE}.tmp"
    tmp.write_text(json.dumps(started, indent=1) + "\n")
    os.replace(tmp, out / RUN_FILE)


def _objective_started(out: Path, objective: str | None, resume) -> str | None:
    """The objective a resume continues: the one its run started with (a different one is refused)."""
    path = out / RUN_FILE
    if not resume or not path.exists():
        return objective
    started = json.loads(path.read_text()).get("objective")
    if objective is not None and started is not None and objective != started:
        raise UserError(f"--resume with --objective {objective}: {out} was started with --objective {started}",
                        "leave out --objective: a resume reads what the run was started with")
    return objective or started


def _as_started(out: Path, data, s: Settings):
    """(data, settings) of a resume: what the run was started with (``run.json``) where a flag is
    not given; a flag given that contradicts it is refused."""
    path = out / RUN_FILE
    if not path.exists():  # started before runs remembered their inputs: the flags given are all there is
        return data, s
    started = json.loads(path.read_text())
    given = {"data": data, **{k: getattr(s, k) for k in REMEMBERED if k != "data"}}
    for key in REMEMBERED:
        if given[key] is not None and _as_given(key, given[key]) != started.get(key):
            flag = _flag(key)
            was = f"{flag} {started[key]}" if started.get(key) is not None else f"no {flag}"
            raise UserError(f"--resume with {flag} {given[key]}: {out} was started with {was}",
                            f"leave out {flag}: a resume reads what the run was started with")
    s = replace(s, **{k: started.get(k) for k in REMEMBERED if k != "data"})
    return started.get("data"), s


# ---- what each kind of task reads ---------------------------------------------------------------
@dataclass
class Prepared:
    tokenizer: object  # what turns raw input into model input (a tokenizer or an image processor), saved with it
    train: object  # token ids, or a split with its own batches (pairs)
    val: object
    context: int
    config: dict  # overrides of the preset's config (vocabulary, positions, the task's own)
    shape_flags: str  # the flags that fix the model's shape besides --preset, for a resume mismatch
    schedule: str
    held_out: object = None  # what the result is scored on after training (pairs, or the held-out text)
    write: object = None  # write(scratch): the run's data files, installed as out/data before training
    open: object = None  # open(data_dir): read train and val back from the installed files



def _token_stream(fam, task_cls, base, s: Settings, *, data, out: Path, options, loaded, tokenizer=None) -> Prepared:
    from ..data.corpora import load_corpus
    from ..data.tokens import open_token_file, prepare_tokens
    from ..tokenizers import build_tokenizer, load_tokenizer

    setup = task_cls.setup(**loaded)
    if setup.get("tokenizer") is not None and tokenizer is not None:
        raise UserError(f"--init: {fam.name} reads the vocabulary of {', '.join(loaded)}", "leave out --init")
    if setup.get("tokenizer") is not None and s.tokenizer is not None:
        raise UserError(f"--tokenizer {s.tokenizer}: {fam.name} reads the vocabulary of {', '.join(loaded)}",
                        "leave out --tokenizer")
    control_code = task_cls.control_code  # CTRL: a code before every document
    docs = load_corpus(data, control_code)
    if s.resume:
        tok = load_tokenizer(out / "last")
    else:
        tok = setup.get("tokenizer") or tokenizer or build_tokenizer(
            s.tokenizer or fam.default_tokenizer, docs, s.vocab_size, task_cls.special_tokens)
    task_cls.check_inputs(tok, s.batch_size)  # e.g. masked LM needs [MASK]: refused before anything is written
    context = s.context or base.max_positions - task_cls.added_tokens
    positions = max(context + task_cls.added_tokens, base.max_positions)  # room for what the task adds
    overrides = merge(merge({"vocab_size": tok.vocab_size, "max_positions": positions}, task_cls.model_config(tok)),
                      task_cls.config_from_options(base, options))
    prepared = Prepared(tok, None, None, context, overrides, "--context", task_cls.schedule)

    def write(scratch: Path) -> None:
        train_tokens, val_tokens = prepare_tokens(data, tok, scratch, control_code=control_code)
        _check_long_enough(train_tokens, val_tokens, context, "tokens")

    def read(data_dir: Path) -> None:
        prepared.train = open_token_file(data_dir / "train.bin")
        prepared.val = open_token_file(data_dir / "val.bin")

    prepared.write, prepared.open = write, read
    return prepared


def _pairs(fam, task_cls, base, s: Settings, *, data, out: Path, options, loaded, tokenizer=None) -> Prepared:
    """(source, target) pairs (``data.pairs``) with a tokenizer shared by both sides (Vaswani et al.
    2017 section 5.1: "a shared source-target vocabulary")."""
    from ..data import pairs as pair_data
    from ..tokenizers import build_tokenizer, load_tokenizer

    train_pairs, val_pairs = pair_data.load_pairs(data)
    if s.resume:
        tok = load_tokenizer(out / "last")
    elif tokenizer is not None:  # --init: the checkpoint's
        tok = tokenizer
    else:
        kind, default_size = pair_data.default_tokenizer(data)
        texts = (text for pair in train_pairs for text in pair)
        tok = build_tokenizer(s.tokenizer or task_cls.pair_tokenizer or kind, texts,
                              s.vocab_size or (default_size if s.tokenizer is None else None), task_cls.special_tokens)
    eos = task_cls.check_inputs(tok, s.batch_size)
    train_split = pair_data.PairSplit.encode(train_pairs, tok, eos, task_cls.length_groups)
    val_split = pair_data.PairSplit.encode(val_pairs, tok, eos)
    longest = max(task_cls.pair_length(*split.max_lengths()) for split in (train_split, val_split))

    def write(scratch: Path) -> None:
        train_split.save(scratch, "train")
        val_split.save(scratch, "val")
        (scratch / "source.json").write_text(json.dumps({"data": str(data), "train": len(train_split),
                                                         "val": len(val_split)}) + "\n")

    overrides = merge({"vocab_size": tok.vocab_size, "max_positions": max(longest, base.max_positions)},
                      task_cls.config_from_options(base, options))
    if eos is not None:  # a translating task's targets end with it, and it starts the decoder
        overrides["decoder"] = {"start_id": eos, "pad_id": eos, "eos_id": eos}
    return Prepared(tok, train_split, val_split, longest, overrides, "--data", task_cls.schedule,
                    held_out=(val_pairs, pair_data.target_language(data), data), write=write,
                    open=lambda data_dir: None)


def _words(fam, task_cls, base, s: Settings, *, data, out: Path, options, loaded) -> Prepared:
    """The n-gram LM's split (the last 10% of the text, from a line break) in words of a tokenizer
    built on the training part, so every word-level model is scored on the same tokens."""
    from ..classic.word_lm import split_corpus
    from ..data.corpora import load_corpus

    overrides = task_cls.config_from_options(base, options)
    tok, train_ids, val_text, val_ids = split_corpus(load_corpus(data), options.get("min_count") or 2)
    context = s.context or base.max_positions
    _check_long_enough(train_ids, val_ids, context, "words")
    return Prepared(tok, train_ids, val_ids, context, {"vocab_size": tok.vocab_size, **overrides}, "--context",
                    task_cls.schedule, held_out=val_text)


def _images(fam, task_cls, base, s: Settings, *, data, out: Path, options, loaded) -> Prepared:
    """Images (``vision.images``), held out as `eval` holds them out, processed as the reference
    image processor would, read as the task reads them (``Task.image_split``); the model's image
    size and channels come from the set, and whatever else the task takes from it (label names)."""
    from ..vision.batches import fitted_image, held_out_split
    from ..vision.images import DEFAULT, load_images
    from ..vision.processor import ImageProcessor

    images = load_images(data)
    implied = task_cls.image_config(images)
    train, val = held_out_split(images)
    image = fitted_image(images, base.image.size, base.image.patch)
    processor = ImageProcessor.read(out / "last") if s.resume else \
        ImageProcessor.vit(image["size"], image["size"], image["channels"])
    train_split, val_split = task_cls.image_split(train, processor), task_cls.image_split(val, processor)
    tokens = (image["size"] // image["patch"]) ** 2 + 1  # the patches and [class]
    overrides = {"image": image, "max_positions": tokens, **implied}

    def write(scratch: Path) -> None:
        (scratch / "source.json").write_text(json.dumps({"data": str(data or DEFAULT), "train": len(train),
                                                         "val": len(val), "labels": images.label_names}) + "\n")

    return Prepared(processor, train_split, val_split, tokens, overrides, "--data", task_cls.schedule, held_out=val,
                    write=write, open=lambda data_dir: None)


def _captions(fam, task_cls, base, s: Settings, *, data, out: Path, options, loaded) -> Prepared:
    """Captioned images (``vision.captions``: their own captions, or their labels' captions from the
    task's ``label_templates``), held out as `eval` holds them out; the images as the task sets them
    up (``caption_image_setup``: CLIP's and BLIP's processors, grey as RGB; a drawing's [-1, 1]); a
    tokenizer trained on the training captions (every caption where ``tokenizer_sees_held_out``),
    the task's special tokens added where it lacks them; the captions encoded by the task's
    ``caption_encoder``. Training draws every caption of an image; the held-out images keep one
    each (to retrieve, to caption, to draw)."""
    from ..tokenizers import build_tokenizer, load_tokenizer
    from ..tokenizers.hf import with_specials
    from ..vision.batches import held_out_split
    from ..vision.captions import CaptionSplit, ImageTextProcessor, captions_of
    from ..vision.images import DEFAULT, load_images
    from ..vision.processor import ImageProcessor

    images = load_images(data)
    train, val = held_out_split(images)
    templates = task_cls.label_templates
    train_captions = [c for texts in captions_of(train, templates) for c in texts]
    val_captions = [texts[0] for texts in captions_of(val, templates)]  # refused before anything is written
    processor, image_config = task_cls.caption_image_setup(base, images)
    if s.resume:
        processor = ImageProcessor.read(out / "last")
    seen = train_captions + val_captions if task_cls.tokenizer_sees_held_out else train_captions
    kind = s.tokenizer or task_cls.caption_tokenizer or fam.default_tokenizer
    setup = task_cls.setup(**loaded)  # a checkpoint read first (Imagen's text encoder) may fix the tokenizer
    if s.resume:
        tok = load_tokenizer(out / "last")
    elif setup.get("tokenizer") is not None:
        tok = setup["tokenizer"]
    else:
        tok = with_specials(build_tokenizer(kind, seen, s.vocab_size or task_cls.caption_vocab_size,
                                            task_cls.special_tokens), task_cls.special_tokens)
    ids = task_cls.check_inputs(tok, s.batch_size) or {}
    longest = max(len(t) for t in tok.encode_batch(train_captions + val_captions))
    positions = task_cls.caption_positions(base.max_positions, longest)
    encode = task_cls.caption_encoder(tok, positions)
    train_split, val_split = CaptionSplit.process(train, processor, encode, templates=templates), \
        CaptionSplit.process(val, processor, encode, every_caption=False, templates=templates)
    overrides = merge(merge({"vocab_size": tok.vocab_size, "max_positions": positions,
                             "labels": task_cls.caption_labels(images, train_captions + val_captions)}, image_config),
                      merge(merge(ids, task_cls.model_config(tok)), task_cls.config_from_options(base, options)))

    def write(scratch: Path) -> None:
        (scratch / "source.json").write_text(json.dumps({"data": str(data or DEFAULT), "train": len(train),
                                                         "val": len(val), "captions": len(train_split)}) + "\n")

    return Prepared(ImageTextProcessor(processor, tok), train_split, val_split, train_split.texts.shape[1], overrides,
                    "--data", task_cls.schedule, held_out=val, write=write, open=lambda data_dir: None)


def _image_questions(fam, task_cls, base, s: Settings, *, data, out: Path, options, loaded) -> Prepared:
    """Questions about images (``vision.questions``): the images held out as every image family
    holds them out, and the questions about them held out with them; a char tokenizer of the
    questions and answers, one id past it the image placeholder; the image encoder's size and
    channels from the set."""
    from ..tokenizers import build_tokenizer, load_tokenizer
    from ..vision.batches import fitted_image, held_out_split
    from ..vision.images import DEFAULT, load_images
    from ..vision.processor import ImageProcessor
    from ..vision.captions import ImageTextProcessor
    from ..vision.questions import END, SEPARATOR, QuestionSplit, questions_about

    images = load_images(data)
    train, val = held_out_split(images)
    image = fitted_image(images, base.vision.image.size, base.vision.image.patch)
    chosen = task_cls.config_from_options(base, options)
    if s.resume:
        tok, processor = load_tokenizer(out / "last"), ImageProcessor.read(out / "last")
    else:  # the vocabulary comes before the config, which needs its size
        asked = questions_about(images, chosen.get("shape_questions", base.shape_questions))
        tok = build_tokenizer("char", [q.text + SEPARATOR + q.answer + END for q in asked])
        processor = ImageProcessor.vit(image["size"], image["size"], image["channels"])
    overrides = merge({"vocab_size": tok.vocab_size + 1, "image_token_id": tok.vocab_size,
                       "vision": {"image": image, "max_positions": (image["size"] // image["patch"]) ** 2 + 1}},
                      chosen)
    cfg = base.replace(**overrides)
    # The shape questions and the moved scenes are training's alone: the held-out images are asked
    # what eval asks, as they are.
    splits = [QuestionSplit.build(part, processor, tok, cfg.image_token_id, cfg.image_tokens, not cfg.text_only,
                                  shape_questions=cfg.shape_questions and part is train,
                                  move_scenes=cfg.move_scenes and part is train,
                                  patch=image["patch"] if cfg.patch_shapes and part is train else 0)
              for part in (train, val)]
    longest = max(split.longest for split in splits)
    overrides["max_positions"] = max(longest, base.max_positions)

    def write(scratch: Path) -> None:
        (scratch / "source.json").write_text(json.dumps({"data": str(data or DEFAULT), "train": len(splits[0]),
                                                         "val": len(splits[1])}) + "\n")

    return Prepared(ImageTextProcessor(processor, tok), splits[0], splits[1], longest, overrides, "--data",
                    task_cls.schedule, held_out=val, write=write, open=lambda data_dir: None)


def _scenes(fam, task_cls, base, s: Settings, *, data, out: Path, options, loaded) -> Prepared:
    """Scenes with boxed objects (``vision.detection``), held out as `eval` holds them out, resized
    to the model's image side as the reference image processor would; the classes are the shapes."""
    from ..vision.batches import held_out_split
    from ..vision.detection import CLASSES, SceneSplit, require_objects
    from ..vision.images import load_images
    from ..vision.processor import ImageProcessor

    images = load_images(data)
    require_objects(images)
    train, val = held_out_split(images)
    side, channels = base.image.size, images.channels
    processor = ImageProcessor.read(out / "last") if s.resume else ImageProcessor.vit(side, side, channels)
    train_split, val_split = SceneSplit.process(train, processor), SceneSplit.process(val, processor)
    overrides = {"image": {"channels": channels}, "labels": CLASSES}

    def write(scratch: Path) -> None:
        (scratch / "source.json").write_text(json.dumps({"data": str(data), "train": len(train), "val": len(val),
                                                         "labels": CLASSES}) + "\n")

    return Prepared(processor, train_split, val_split, base.n_queries, overrides, "--data", task_cls.schedule,
                    held_out=val, write=write, open=lambda data_dir: None)


def _check_long_enough(train, val, context: int, unit: str) -> None:
    for name, split in (("training", train), ("validation", val)):
        if len(split) < context + 2:
            raise UserError(f"the {name} split has {len(split)} {unit}, fewer than the context of {context} + 2",
                            "use a larger corpus or a smaller --context")


def _install_data(out: Path, write) -> Path:
    """``write(scratch)`` the run's data into a scratch directory, then move it to ``out/data``:
    bad input leaves no half-written run. Under torchrun rank 0 does it while the others wait."""
    from . import distributed

    rank, _ = distributed.world()
    data_dir = out / "data"
    if rank == 0:
        scratch = Path(tempfile.mkdtemp(prefix="lmlineage-"))
        try:
            write(scratch)
            out.mkdir(parents=True, exist_ok=True)
            if data_dir.exists():
                shutil.rmtree(data_dir)
            shutil.move(str(scratch), data_dir)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    distributed.barrier()
    return data_dir


# ---- training and its report ---------------------------------------------------------------------
def _trainer_config(s: Settings, context: int, schedule: str, seed: int, progress: bool):
    from .trainer import TrainConfig

    return TrainConfig(
        steps=s.steps, batch_size=s.batch_size, context=context, lr=s.lr,
        min_lr=s.lr / 10 if s.min_lr is None else s.min_lr, warmup=s.warmup, seed=seed, schedule=schedule,
        device=s.device, dtype=s.dtype, compile=s.compile, eval_interval=s.eval_interval,
        eval_batches=s.eval_batches, progress=progress, keep_last=s.keep_last, deterministic=s.deterministic,
        parallel=s.parallel, activation_checkpointing=s.activation_checkpointing,
    )


def _train(fam, task_cls, cfg, prepared: Prepared, s: Settings, *, out: Path, seed: int, progress: bool,
           sample_tokens: int, loaded: dict, load_checkpoint, start=None) -> TrainResult:
    from ..models import build_model
    from .trainer import Trainer

    train_cfg = _trainer_config(s, prepared.context, prepared.schedule, seed, progress)
    train_cfg.validate()
    tok = prepared.tokenizer
    torch.manual_seed(seed)
    model = build_model(cfg)
    if start is not None:
        _take_weights(model, start, s.init)
    task = task_cls.for_tokenizer(model, tok, **loaded)
    trainer = Trainer(task, prepared.train, prepared.val, train_cfg, out, tokenizer=tok)
    if s.resume:
        trainer.resume(out / "last")
    if trainer.step < s.steps:
        evaluation = trainer.fit()
    else:  # killed after the last checkpoint: the loss curve may not have been drawn
        evaluation = trainer.evaluate()
        trainer.plot()
    check_converged(evaluation["loss"], f"the validation loss is {evaluation['loss']} at step {trainer.step}", s.lr)
    model.tokenizer = tok
    result = INPUTS[task_cls.reads].result(fam, task_cls, task, trainer, evaluation, prepared, out=out, seed=seed,
                                           sample_tokens=sample_tokens, load_checkpoint=load_checkpoint)
    result.report = task_cls.report(result)
    return result


def check_converged(loss: float, what: str, lr: float, fix: str = " or raise --warmup") -> None:
    """The one divergence check of every run: a loss that is not finite is refused with the fix."""
    if not math.isfinite(loss):
        raise UserError(f"training diverged: {what}", f"lower --lr (it was {lr}){fix}")


def fit_epochs(task, epoch_batches, *, epochs: int, steps_per_epoch: int, lr: float, weight_decay: float,
               warmup_share: float, device, progress: bool) -> list[float]:
    """Fine-tuning's loop (BERT, Devlin et al. 2019, appendix A.3): AdamW, linear warmup over the first
    ``warmup_share`` of the steps then linear decay to zero, gradients clipped at 1.
    ``epoch_batches()`` gives one epoch's batches (dicts of tensors); returns each epoch's mean loss."""
    from .progress import progress as progress_bar
    from .trainer import parameter_groups

    task.to(device).train()
    optimizer = torch.optim.AdamW(parameter_groups(task, weight_decay), lr=lr)
    total = steps_per_epoch * epochs
    warmup = max(1, int(warmup_share * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total - s) / max(total - warmup, 1)))
    losses = []
    with progress_bar(total, enabled=progress, desc="fine-tuning") as bar:
        for _ in range(epochs):
            summed = 0.0
            for batch in epoch_batches():
                loss = task({k: v.to(device) for k, v in batch.items()})
                loss.backward()
                torch.nn.utils.clip_grad_norm_(task.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                summed += loss.item()
                bar.set_postfix(loss=f"{loss.item():.4f}")
                bar.update(1)
            losses.append(summed / steps_per_epoch)
    check_converged(sum(losses), f"the training loss is {losses[-1]}", lr, fix="")
    return losses


def _token_stream_result(fam, task_cls, task, trainer, evaluation, prepared, *, out, seed, sample_tokens,
                         load_checkpoint) -> TrainResult:
    model, tok = task.model, prepared.tokenizer
    metrics = task_cls.metrics(evaluation)
    if not task_cls.generates:  # its objective's metrics, no bits per char
        return TrainResult(out, evaluation["loss"], perplexity(evaluation.get("mlm_loss", evaluation["loss"])), None,
                           "", trainer.step, trainer.rank, metrics)
    # The packed windows cover a prefix of the split (all of it without --eval-batches): the
    # characters are those of the tokens they predicted, every one after the first.
    val_chars = len(tok.decode(prepared.val[1 : 1 + evaluation["tokens"]].tolist()))
    generative = trainer.rank == 0
    if generative and trainer.world > 1:  # the live model may be sharded: sample from the consolidated copy
        model = load_checkpoint(out / "last")
    sample = ""
    if sample_tokens and generative:
        sample = _sample(model, tok, min(sample_tokens, model.config.max_positions - 1), seed)
    return TrainResult(out, evaluation["loss"], perplexity(evaluation["loss"]),
                       bits_per_char(evaluation["nats"], val_chars), sample, trainer.step, trainer.rank, metrics)


def _pairs_result(fam, task_cls, task, trainer, evaluation, prepared, *, out, seed, sample_tokens,
                  load_checkpoint) -> TrainResult:
    """The held-out sources translated (greedy, with the best checkpoint's weights, what
    ``lmlineage.load(out)`` gives) and scored: BLEU (sacrebleu), exact match, token accuracy; a
    task that does not translate reports its evaluation alone."""
    from ..evaluation.translation import bleu, exact_match

    if not task_cls.translates:
        return TrainResult(out, evaluation["loss"], perplexity(evaluation["loss"]), None, "", trainer.step,
                           trainer.rank, task_cls.metrics(evaluation))
    model, tok, val_split = task.model, prepared.tokenizer, prepared.val
    val_pairs, language, data = prepared.held_out
    if (out / "best" / "model.safetensors").exists():
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(out / "best" / "model.safetensors")), strict=False)
    sources = [val_split.pair(i)[0].tolist() for i in range(len(val_split))]
    max_new = min(model.config.max_positions, task_cls.answer_length(*val_split.max_lengths()))
    hyps = [tok.decode(ids) for ids in task.translate(sources, max_new_tokens=max_new, progress=trainer.cfg.progress)]
    refs = [target for _, target in val_pairs]
    metrics = task_cls.metrics(evaluation)
    metrics.update(bleu=bleu(hyps, refs, language), exact_match=exact_match(hyps, refs), pairs=len(refs))
    metrics.update(task.zero_shot_scores(tok, data))
    trainer._log({"step": trainer.step, **{f"val_{k}": v for k, v in metrics.items()}})
    sample = f"{val_pairs[0][0]} -> {hyps[0]} (reference: {refs[0]})"
    return TrainResult(out, evaluation["loss"], perplexity(evaluation["loss"]), None, sample, trainer.step,
                       trainer.rank, metrics)


def _images_result(fam, task_cls, task, trainer, evaluation, prepared, *, out, seed, sample_tokens,
                   load_checkpoint) -> TrainResult:
    """Scored on the held-out images; the sample is what the task says of the first of them."""
    return TrainResult(out, evaluation["loss"], perplexity(evaluation["loss"]), None, task.image_sample(prepared.val),
                       trainer.step, trainer.rank, task_cls.metrics(evaluation))


def _captions_result(fam, task_cls, task, trainer, evaluation, prepared, *, out, seed, sample_tokens,
                     load_checkpoint) -> TrainResult:
    """Scored on the held-out images: the trainer's evaluation, and what the task scores beyond it
    (``held_out_scores``: CLIP's zero-shot accuracy, a captioner's share of captions naming the
    right thing with the best checkpoint's weights, a drawer's grid of drawings); the sample is its line."""
    metrics = task_cls.metrics(evaluation)
    scores, sample = task.eval().held_out_scores(prepared.val, prepared.held_out.label_names, out, seed)
    if scores:
        metrics.update(scores)
        trainer._log({"step": trainer.step, **{f"val_{k}": v for k, v in scores.items()}})
    return TrainResult(out, evaluation["loss"], perplexity(evaluation[task_cls.perplexity_of]), None, sample,
                       trainer.step, trainer.rank, metrics)


def _image_questions_result(fam, task_cls, task, trainer, evaluation, prepared, *, out, seed, sample_tokens,
                            load_checkpoint) -> TrainResult:
    """Scored on the questions about held-out images; the sample is the first of them, answered."""
    from ..tasks.image_questions import answer

    model, val = task.model.eval(), prepared.val
    model.tokenizer = prepared.tokenizer.text
    question = val.questions[0]
    pixels, _ = val.collate([0])
    said = answer(model, [question.text], pixels)[0]
    sample = f"held-out image 0: {question.text} -> {said!r} (right answer: {question.answer!r})"
    return TrainResult(out, evaluation["loss"], perplexity(evaluation["loss"]), None, sample, trainer.step,
                       trainer.rank, task_cls.metrics(evaluation))


def _scenes_result(fam, task_cls, task, trainer, evaluation, prepared, *, out, seed, sample_tokens,
                   load_checkpoint) -> TrainResult:
    """Scored on the held-out scenes (mAP); the sample is what was found in the first of them."""
    from ..evaluation.detection import detections

    model, val = task.model, prepared.val
    with torch.no_grad():
        pixels, targets = val.collate([0])
        out_ = model.eval()(pixels.to(next(model.parameters()).device))
    names = model.config.labels
    height, width = val.sizes[0]
    found = [d for d in detections(out_.logits[0], out_.pred_boxes[0], height, width) if d["score"] >= 0.5]
    said = ", ".join(f"{names[d['label']]} ({d['score']:.2f})" for d in found) or "nothing above 0.5"
    held = ", ".join(names[i] for i in targets[0]["labels"].tolist())
    sample = f"held-out scene 0: detected {said}; it holds {held}"
    return TrainResult(out, evaluation["loss"], perplexity(evaluation["loss"]), None, sample, trainer.step,
                       trainer.rank, task_cls.metrics(evaluation))


def _words_result(fam, task_cls, task, trainer, evaluation, prepared, *, out, seed, sample_tokens,
                  load_checkpoint) -> TrainResult:
    """Scored as every word-level model is: the best checkpoint on the held-out text, token by token."""
    from ..generation.text import generate

    best = fam.load(out / "best")
    score = best.evaluate_text(prepared.held_out)
    return TrainResult(out, score["loss"], perplexity(score["loss"]), bits_per_char(score["nats"], score["chars"]),
                       generate(best, seed=seed), trainer.step, trainer.rank)


class Input(NamedTuple):
    prepare: Callable[..., Prepared]  # (fam, task_cls, base, settings, *, data, out, options, loaded)
    result: Callable[..., TrainResult]  # (fam, task_cls, task, trainer, evaluation, prepared, *, out, seed, ...)


# Each kind of input a task reads (``Task.reads``): how its data is prepared and how its run's result
# is scored. A new kind is one entry. ("corpus", a one-pass fit, has no trainer: ``_fit_in_one_pass``.)
INPUTS = {
    "tokens": Input(_token_stream, _token_stream_result),
    "pairs": Input(_pairs, _pairs_result),
    "words": Input(_words, _words_result),
    "images": Input(_images, _images_result),
    "captions": Input(_captions, _captions_result),
    "image_questions": Input(_image_questions, _image_questions_result),
    "scenes": Input(_scenes, _scenes_result),
}


def _fit_in_one_pass(fam, task_cls, *, data, preset: str, out: Path, seed: int, progress: bool, device: str,
                     options: dict) -> TrainResult:
    """Counting (n-gram) or word2vec's kernels, into the same run layout (``out/best``)."""
    from ..data.corpora import load_corpus
    from ..checkpoint.directory import recover_run
    from ..generation.text import generate

    settings = fam.preset(preset)
    fam.config(preset)  # the preset checked by the family's config before anything is written
    recover_run(out)  # a crashed fit's half-written best/
    if (out / "best").exists() or (out / "last").exists():
        raise UserError(f"{out} already holds a run", "choose another --out")
    docs = load_corpus(data)
    score = task_cls.fit(docs, out=out, preset=settings, options=options, seed=seed, progress=progress,
                         device=device)
    if "summary" in score:  # word vectors: no likelihood, no sample
        result = TrainResult(out, math.nan, math.nan, None, "", 0, summary=score["summary"])
    else:
        sample = generate(fam.load(out / "best"), seed=seed)
        result = TrainResult(out, score["loss"], perplexity(score["loss"]),
                             bits_per_char(score["nats"], score["chars"]), sample, 0)
    result.report = task_cls.report(result)
    return result


def _sample(model, tok, max_new_tokens: int, seed: int) -> str:
    """An unconditional sample: start from the document separator's last token (a newline for char,
    ``<|endoftext|>`` for GPT-2-style BPE), which every tokenizer can encode in one token; or from
    token 0 where the corpus has no such token."""
    from ..generation.text import generate

    try:
        start = tok.encode(tok.document_separator)[-1:]
    except UserError:  # a char tokenizer whose corpus has no newline
        start = []
    device = next(model.parameters()).device
    new = generate(model, torch.tensor([start or [0]], device=device), max_new_tokens=max_new_tokens,
                   temperature=0.8, top_k=200, seed=seed, eos_id=tok.eos_id)[0].tolist()
    if tok.eos_id in new:
        new = new[: new.index(tok.eos_id)]
    return tok.decode(new)
