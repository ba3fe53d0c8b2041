"""The Python API: ``lmlineage.load``, ``lmlineage.train``, ``lmlineage.families``.

    model = lmlineage.load("gpt2", preset="tiny")          # a fresh model
    model = lmlineage.load("runs/gpt2")                     # a trained checkpoint (best/)
    model = lmlineage.load("path/to/hf-gpt2")               # a reference directory
    print(lmlineage.generate(model, "ROMEO:", max_new_tokens=100))
    result = lmlineage.train("gpt2", steps=2000, out="runs/gpt2")
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .core.errors import UserError
from .core.registry import families as _families
from .core.registry import get_family

__all__ = ["load", "train", "embed", "finetune", "align", "families", "resolve_checkpoint", "TrainResult"]


def families():
    return _families()


def resolve_checkpoint(path) -> Path:
    """A checkpoint directory, or a run directory (its ``best/``, else ``last/``)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist", "give a checkpoint directory or a run directory")
    if not path.is_dir():
        raise UserError(f"{path} is not a directory", "a checkpoint is a directory")
    for candidate in (path, path / "best", path / "last"):
        if (candidate / "config.json").exists() or (candidate / "manifest.json").exists():
            return candidate
    raise UserError(f"{path} holds no checkpoint (no config.json)", "point at a run's best/ or last/ directory")


def load(path_or_family: str, preset: str = "tiny", device: str = "cpu", dtype: str | None = None, **overrides):
    """A model by family name (fresh weights), from a directory (ours or a reference one) or from a
    ``.gguf`` file (llama.cpp's format; LLaMA architecture)."""
    from .interop.reference import from_hf, read_json
    from .models import build_model
    from .tokenizers import load_tokenizer
    from .train.checkpoint import load_model

    candidate = Path(path_or_family)
    if candidate.suffix.lower() == ".gguf" and not candidate.is_dir():  # llama.cpp's one-file format
        from .interop.gguf import from_gguf

        model = from_gguf(candidate)
    elif not candidate.exists() and "/" not in str(path_or_family) and not str(path_or_family).startswith("."):
        if path_or_family not in {f.name for f in families()}:
            raise UserError(f"{path_or_family!r} is neither a directory nor a family name",
                            f"give a checkpoint directory, or one of: {', '.join(f.name for f in families())}")
        model = build_model(get_family(path_or_family).config(preset, **overrides))
        model.tokenizer = None
    else:
        directory = resolve_checkpoint(candidate)
        config = read_json(directory / "config.json")
        own = config.get("family")
        if isinstance(own, str) and own in {f.name for f in families()} and get_family(own).load is not None:
            from .train.checkpoint import verify

            verify(directory)
            if dtype is not None or device != "cpu":
                raise UserError(f"{own} checkpoints run on the CPU in float64", "leave out --device and --dtype")
            return get_family(own).load(directory)  # a classic model with its own format
        model = from_hf(directory) if "model_type" in config and "family" not in config else load_model(directory)
        has_tokenizer = any((directory / n).exists() for n in ("tokenizer.json",))
        model.tokenizer = load_tokenizer(directory) if has_tokenizer else None
        if model.tokenizer is not None and "model_type" in config:  # chat template, end-of-turn token
            from .tokenizers.chat import apply_tokenizer_config

            apply_tokenizer_config(model.tokenizer, directory)
    if dtype is not None:
        model = model.to(parse_dtype(dtype))
    return model.to(device).eval()


def parse_dtype(name: str) -> torch.dtype:
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if name not in names:
        raise UserError(f"unknown dtype {name!r}", "choose float32, bfloat16 or float16")
    return names[name]


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


def perplexity(loss: float) -> float:
    """exp(loss), inf where that overflows a float."""
    return math.exp(loss) if loss < 700 else math.inf


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


def bits_per_char(nats: float, chars: int) -> float:
    """Total nats over the characters of the text: comparable across tokenizers."""
    return nats / max(chars, 1) / math.log(2)


def train(
    family: str = "gpt2",
    *,
    preset: str = "tiny",
    data: str | None = None,
    tokenizer: str | None = None,
    vocab_size: int | None = None,
    steps: int = 2000,
    batch_size: int = 12,
    context: int | None = None,
    lr: float = 1e-3,
    min_lr: float | None = None,
    warmup: int = 100,
    seed: int = 1337,
    out: str | Path = "runs/gpt2",
    device: str = "cpu",
    dtype: str = "float32",
    compile: bool = False,
    resume: bool = False,
    eval_interval: int | None = None,
    eval_batches: int | None = None,
    sample_tokens: int = 200,
    progress: bool = True,
    config: dict | None = None,
    keep_last: int = 1,
    deterministic: bool = False,
    parallel: str = "ddp",
    activation_checkpointing: bool = False,
    options: dict | None = None,
) -> TrainResult:
    """Train ``family`` with its own objective on a corpus; write checkpoints to ``out``.
    ``tokenizer=None``: the family's default (char for decoders, wordpiece for encoders)."""
    from .data.corpora import load_corpus
    from .data.tokens import open_token_file, prepare_tokens
    from .models import build_model
    from .tasks import TASKS, make_task
    from .tokenizers import build_tokenizer, load_tokenizer
    from .train.checkpoint import check_same_model, recover, verify
    from .train.trainer import TrainConfig, Trainer

    out = check_out_dir(out)
    fam = get_family(family)
    unknown = sorted(set(options or {}) - set(fam.options))
    if unknown:
        raise UserError(f"family {family!r} takes no option {', '.join('--' + k.replace('_', '-') for k in unknown)}",
                        f"its own options: {', '.join('--' + k.replace('_', '-') for k in fam.options) or 'none'}")
    if fam.fit is not None:
        training = dict(steps=steps, batch_size=batch_size, context=context, lr=lr, min_lr=min_lr, warmup=warmup,
                        eval_interval=eval_interval, eval_batches=eval_batches, dtype=dtype, compile=compile,
                        keep_last=keep_last, deterministic=deterministic)
        return _fit_own_path(fam, data=data, preset=preset, out=out, seed=seed, progress=progress, resume=resume,
                             device=check_device(device), options={**(options or {}), **training})
    if fam.objective not in TASKS:
        raise UserError(f"training family {family!r} ({fam.objective} objective) is not available yet",
                        f"families that train now: {', '.join(f.name for f in _families() if f.objective in TASKS)}")
    if parallel not in ("ddp", "fsdp"):
        raise UserError(f"--parallel {parallel!r} is not one of ddp, fsdp")
    check_device(device)
    if not (math.isfinite(lr) and 0 < lr <= 100):
        raise UserError(f"--lr {lr} is out of range (0, 100]", "typical learning rates are 1e-4 to 1e-2")
    fam.config(preset, **(config or {}))  # validate preset and overrides before any work
    recover(out / "last")  # a crash between the two renames of a checkpoint swap leaves only .last.old-*
    if resume and not (out / "last").exists():
        raise UserError(f"--resume: {out}/last does not exist", "start a fresh run without --resume")
    if not resume and (out / "last").exists():
        raise UserError(f"{out} already holds a run", "pass --resume to continue it, or choose another --out")
    if resume:
        verify(out / "last")  # a damaged checkpoint is refused before anything is written
    if getattr(TASKS[fam.objective], "trains_on_pairs", False):  # encoder-decoder on (source, target) pairs
        from .train.seq2seq import train_on_pairs

        return train_on_pairs(fam, preset=preset, data=data, tokenizer=tokenizer, vocab_size=vocab_size, steps=steps,
                              batch_size=batch_size, lr=lr, warmup=warmup, seed=seed, out=out, resume=resume,
                              config=config, device=device, dtype=dtype, compile=compile, eval_interval=eval_interval,
                              eval_batches=eval_batches, progress=progress, keep_last=keep_last,
                              deterministic=deterministic)
    # Tasks composed around trained checkpoints (distillation's --teacher) load them first: they
    # fix the tokenizer and the model's shape.
    task_cls = TASKS[fam.objective]
    loaded = {k: load(v) for k, v in (options or {}).items() if k in getattr(task_cls, "checkpoint_options", ())}
    setup = task_cls.setup(**loaded) if hasattr(task_cls, "setup") else {}
    if setup.get("tokenizer") is not None and tokenizer is not None:
        raise UserError(f"--tokenizer {tokenizer}: {family} reads the vocabulary of {', '.join(loaded)}",
                        "leave out --tokenizer")

    control_code = getattr(TASKS[fam.objective], "control_code", None)  # CTRL: a code before every document
    docs = load_corpus(data, control_code)
    if resume:
        tok = load_tokenizer(out / "last")
    else:
        tok = setup.get("tokenizer") or build_tokenizer(tokenizer or fam.default_tokenizer, docs, vocab_size)
    check_inputs = getattr(TASKS[fam.objective], "check_inputs", None)
    if check_inputs is not None:  # e.g. masked LM needs [MASK]: refused before anything is written
        check_inputs(tok, batch_size)
    preset_context = fam.config(preset).max_positions
    context = context or preset_context
    # A task may size the model from the tokenizer (span corruption's sentinels above its vocabulary).
    sized = task_cls.model_config(tok) if hasattr(task_cls, "model_config") else {}
    overrides = {"vocab_size": tok.vocab_size, "max_positions": max(context, preset_context),
                 **sized, **setup.get("config", {}), **(config or {})}
    cfg = fam.config(preset, **overrides)
    if resume:
        check_same_model(out, cfg, "resume with the --preset and --context the run was started with")
    train_cfg = TrainConfig(
        steps=steps, batch_size=batch_size, context=context, lr=lr, min_lr=lr / 10 if min_lr is None else min_lr,
        warmup=warmup, seed=seed, device=device, dtype=dtype, compile=compile, eval_interval=eval_interval,
        eval_batches=eval_batches, progress=progress, keep_last=keep_last, deterministic=deterministic,
        parallel=parallel, activation_checkpointing=activation_checkpointing,
    )
    train_cfg.validate()

    # Tokenize into a scratch directory first: bad input leaves no half-written run behind.
    scratch = Path(tempfile.mkdtemp(prefix="lmlineage-"))
    try:
        train_tokens, val_tokens = prepare_tokens(data, tok, scratch, control_code=control_code)
        for name, split in (("training", train_tokens), ("validation", val_tokens)):
            if len(split) < context + 2:
                raise UserError(
                    f"the {name} split has {len(split)} tokens, fewer than the context of {context} + 2",
                    "use a larger corpus or a smaller --context",
                )
        out.mkdir(parents=True, exist_ok=True)
        data_dir = out / "data"
        if data_dir.exists():
            shutil.rmtree(data_dir)
        shutil.move(str(scratch), data_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    train_tokens, val_tokens = open_token_file(data_dir / "train.bin"), open_token_file(data_dir / "val.bin")

    torch.manual_seed(seed)
    model = build_model(cfg)
    task = make_task(fam.objective, model, tok, **loaded)
    trainer = Trainer(task, train_tokens, val_tokens, train_cfg, out, tokenizer=tok)
    if resume:
        trainer.resume(out / "last")
    if trainer.step < steps:
        result = trainer.fit()
    else:  # killed after the last checkpoint: the loss curve may not have been drawn
        result = trainer.evaluate()
        trainer.plot()
    if not math.isfinite(result["loss"]):
        raise UserError(f"training diverged: the validation loss is {result['loss']} at step {trainer.step}",
                        f"lower --lr (it was {lr}) or raise --warmup")
    model.tokenizer = tok
    if not getattr(task, "generates", False):  # an encoder: its objective's metrics, no bits per char
        metrics = {k: v for k, v in result.items() if k not in ("loss", "nats", "tokens")}
        return TrainResult(out, result["loss"], perplexity(result.get("mlm_loss", result["loss"])), None, "", trainer.step, trainer.rank,
                           metrics)
    val_chars = len(tok.decode(val_tokens[1:].tolist()))  # every token after the first is predicted
    generative = trainer.rank == 0
    if generative and trainer.world > 1:  # the live model may be sharded: sample from the consolidated copy
        model = load(out / "last")
    sample = _sample(model, tok, min(sample_tokens, cfg.max_positions - 1), seed) if sample_tokens and generative else ""
    return TrainResult(out, result["loss"], perplexity(result["loss"]), bits_per_char(result["nats"], val_chars),
                       sample, trainer.step, trainer.rank)


def _fit_own_path(fam, *, data, preset, out, seed, progress, resume, device="cpu", options=None) -> TrainResult:
    """Families fitted by a fast path of their own (counting, word2vec), into the same run layout."""
    from .data.corpora import load_corpus
    from .generation.text import generate
    from .train.checkpoint import recover_run

    if resume:
        raise UserError(f"--resume does not apply to {fam.name!r}, which is fitted in one pass")
    recover_run(out)  # a crashed fit's half-written best/
    if (out / "best").exists() or (out / "last").exists():
        raise UserError(f"{out} already holds a run", "choose another --out")
    docs = load_corpus(data)
    result = fam.fit(docs, out=out, preset=preset, seed=seed, progress=progress, device=device, **(options or {}))
    if "summary" in result:  # word vectors: no likelihood, no sample
        return TrainResult(out, math.nan, math.nan, None, "", 0, summary=result["summary"])
    sample = generate(fam.load(out / "best"), seed=seed)
    return TrainResult(out, result["loss"], perplexity(result["loss"]), bits_per_char(result["nats"], result["chars"]),
                       sample, 0)


def _sample(model, tok, max_new_tokens: int, seed: int) -> str:
    """An unconditional sample: start from the document separator's last token (a newline for char,
    ``<|endoftext|>`` for GPT-2-style BPE), which every tokenizer can encode in one token; or from
    token 0 where the corpus has no such token."""
    from .generation.text import generate

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


def embed(path, texts: list[str], device: str = "cpu", batch_size: int = 32) -> torch.Tensor:
    """Sentence embeddings (N, d_model) from an encoder checkpoint: the last hidden states averaged
    over each text's real tokens, [CLS] and [SEP] included, then L2-normalised (Reimers & Gurevych
    2019, Sentence-BERT, section 3; what sentence-transformers' all-MiniLM-L6-v2 computes)."""
    import json

    from torch.nn import functional as F

    from .heads.pooler import mean_pool
    from .tokenizers.base import check_text

    directory = resolve_checkpoint(path)
    model = load(directory, device=check_device(device))
    if not hasattr(model, "config") and hasattr(model, "embed"):  # a classic model with text vectors of its own
        if not texts:
            raise UserError("no text to embed", "give at least one --text")
        return torch.from_numpy(model.embed([check_text(t) for t in texts]))
    family = get_family(model.config.family)
    if family.architecture != "encoder":
        raise UserError(f"{path} is a {family.name} checkpoint ({family.architecture})",
                        "embed with an encoder: bert, roberta or a sentence-transformers directory")
    hf = getattr(model.tokenizer, "hf", None)
    if hf is None:
        raise UserError(f"{path} has no Hugging Face tokenizer.json", "embed with a checkpoint that carries one")
    if not texts:
        raise UserError("no text to embed", "give at least one --text")
    # A copy, padded and truncated for this call; the tokenizer's post-processor adds [CLS] ... [SEP].
    hf = type(hf).from_str(hf.to_str())
    if hf.post_processor is None:  # ours without a template (unigram): the specials training added
        from tokenizers.processors import TemplateProcessing

        from .tasks.masked_lm import MaskedLMTask

        ids = MaskedLMTask.check_inputs(model.tokenizer)
        cls, sep = hf.id_to_token(ids["cls"]), hf.id_to_token(ids["sep"])
        hf.post_processor = TemplateProcessing(single=f"{cls} $A {sep}",
                                               special_tokens=[(cls, ids["cls"]), (sep, ids["sep"])])
    limit = model.max_positions
    sbert = directory / "sentence_bert_config.json"
    if sbert.exists():  # sentence-transformers truncates to its own max_seq_length
        limit = min(limit, int(json.loads(sbert.read_text()).get("max_seq_length") or limit))
    hf.enable_truncation(limit)
    pad_id = model.tokenizer.pad_id if model.tokenizer.pad_id is not None else 0
    hf.enable_padding(pad_id=pad_id, pad_token=hf.id_to_token(pad_id) or "[PAD]")
    vectors = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            chunk = [check_text(t) for t in texts[start : start + batch_size]]
            batch = hf.encode_batch(chunk, add_special_tokens=True)
            ids, mask, segments = (torch.tensor([getattr(e, f) for e in batch], device=device)
                                   for f in ("ids", "attention_mask", "type_ids"))
            hidden = model(ids, attention_mask=mask, token_type_ids=segments).last_hidden_state
            vectors.append(F.normalize(mean_pool(hidden.float(), mask), dim=-1).cpu())
    return torch.cat(vectors)


def evaluate(path, data: str | None = None, batch_size: int = 64, device: str = "cpu") -> dict:
    """Loss, perplexity and bits per character of a checkpoint on a corpus's validation split
    (the last 10%, as training splits it, in the windows the run trained with); a family
    pre-trained by an objective of its own (masked LM, span corruption, denoising, blank
    infilling) reports that objective's loss and metrics instead, as training evaluates them."""
    from .data.batches import packed_windows
    from .data.tokens import prepare_tokens
    from .tasks.causal_lm import CausalLMTask

    model = load(path, device=check_device(device))
    if hasattr(model, "evaluate_text"):  # a classic model reads words from the same held-out text
        from .data.corpora import load_corpus, split_text

        result = model.evaluate_text(split_text("\n".join(load_corpus(data)))[1])
        return {"loss": result["loss"], "perplexity": perplexity(result["loss"]), "tokens": result["tokens"],
                "bits_per_char": bits_per_char(result["nats"], result["chars"]), "chars": result["chars"]}
    if model.tokenizer is None:
        raise UserError(f"{path} has no tokenizer.json", "evaluate a checkpoint that carries its tokenizer")
    if getattr(model, "is_encoder_decoder", False) and _objective_task(model) is None:
        return _evaluate_pairs(model, data, batch_size, device)  # a translation model: (source, target) pairs
    with tempfile.TemporaryDirectory(prefix="lmlineage-") as scratch:
        _, val_tokens = prepare_tokens(data, model.tokenizer, Path(scratch), control_code=_control_code(model))
        context = _trained_context(path, model)
        if len(val_tokens) < 2:
            raise UserError("the validation split is too short to evaluate", "use a larger corpus")
        batches = ((x.to(device), y.to(device)) for x, y in packed_windows(val_tokens, context, batch_size))
        if get_family(model.config.family).architecture == "encoder":  # masked LM: no bits per char
            result = _masked_lm_task(model, path).evaluate(batches)
            return {k: v for k, v in result.items() if k != "nats"} | {"perplexity": perplexity(result["mlm_loss"])}
        own = _objective_task(model)
        if own is not None:  # span corruption, denoising, blank infilling: their own metrics, no bits per char
            result = own.evaluate(batches)
            return {k: v for k, v in result.items() if k != "nats"} | {"perplexity": perplexity(result["loss"])}
        result = CausalLMTask(model).evaluate(batches)
        chars = len(model.tokenizer.decode(val_tokens[1:].tolist()))
    return {"loss": result["loss"], "perplexity": perplexity(result["loss"]),
            "bits_per_char": bits_per_char(result["nats"], chars), "tokens": result["tokens"], "chars": chars}


def _evaluate_pairs(model, data, batch_size: int, device: str) -> dict:
    """Teacher-forced loss, perplexity and token accuracy of an encoder-decoder on the held-out
    split of a pair set (``--data reverse``, ``bible-en-zh``, a .tsv / .jsonl), as training scores it."""
    from .data import pairs as pair_data
    from .tasks import TASKS, make_task

    objective = get_family(model.config.family).objective
    if not getattr(TASKS.get(objective), "trains_on_pairs", False):
        raise UserError(f"{model.config.family} checkpoints are not evaluated on a corpus yet",
                        "evaluate a checkpoint of a family trained on pairs (transformer, seq2seq, bahdanau)")
    _, val_pairs = pair_data.load_pairs(data)
    task = make_task(objective, model, model.tokenizer)
    split = pair_data.PairSplit.encode(val_pairs, model.tokenizer, model.tokenizer.eos_id)
    result = task.evaluate((s.to(device), t.to(device)) for s, t in split.batches(batch_size))
    return {"loss": result["loss"], "perplexity": perplexity(result["loss"]), "accuracy": result["accuracy"],
            "tokens": result["tokens"], "pairs": len(split)}


def _trained_context(path, model) -> int:
    """The window length a run of ours trained and evaluated with (its trainer_state.json), else
    the model's full context: positions a run never trained are not scored."""
    from .interop.reference import read_json

    state = resolve_checkpoint(path) / "trainer_state.json" if Path(path).is_dir() else None
    if state is not None and state.exists():
        config = read_json(state).get("config")
        context = config.get("context") if isinstance(config, dict) else None
        if isinstance(context, int) and 2 <= context <= model.config.max_positions:
            return context
    return model.config.max_positions


def _objective_task(model):
    """The task of a family whose objective does not predict the text left to right (span
    corruption, denoising, blank infilling), or None."""
    from .tasks import TASKS, make_task

    objective = get_family(model.config.family).objective
    if objective not in TASKS or getattr(TASKS[objective], "generates", True):
        return None
    return make_task(objective, model, model.tokenizer)


def _control_code(model):
    """The text a family's objective puts before every document (CTRL's control codes), or None."""
    from .tasks import TASKS

    return getattr(TASKS.get(get_family(model.config.family).objective), "control_code", None)


def _masked_lm_task(model, path):
    """The masked-LM task for an encoder checkpoint, with NSP (SOP) where it has that head."""
    from .tasks import make_task

    if getattr(model, "mlm", None) is None:
        raise UserError(f"{path} has no masked-LM head to evaluate", "evaluate a checkpoint trained by `train` "
                        "(an ELECTRA run keeps its discriminator, which has none)")
    pairs = next((name for name in ("nsp", "sop") if getattr(model, name, None) is not None), None)
    return make_task(f"mlm+{pairs}" if pairs else "mlm", model, model.tokenizer)


def finetune(path, *, task: str, data, out, val_data=None, val_fraction: float = 0.1, epochs: int = 3,
             batch_size: int = 16, lr: float = 5e-5, max_length: int = 128, seed: int = 0, device: str = "cpu",
             progress: bool = True):
    """Fine-tune the encoder at ``path`` (our checkpoint, a run, or a reference directory such as
    all-MiniLM-L6-v2) on ``task`` (classify, pair, tag, qa, choice) with examples from ``data``
    (.jsonl or .csv; fields in ``lmlineage.tasks.finetune``), holding out ``val_data`` or a
    ``val_fraction`` of it; writes the fine-tuned checkpoint (with its label map) to ``out``."""
    from .tasks.finetune import FineTuneConfig, finetune_model, held_out, read_examples

    out = check_out_dir(out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"--out {out} is not empty", "choose a new directory for the fine-tuned checkpoint")
    check_device(device)
    if not (math.isfinite(lr) and 0 < lr <= 1):
        raise UserError(f"--lr {lr} is out of range (0, 1]", "BERT fine-tunes with 2e-5 to 5e-5")
    for name, value in (("epochs", epochs), ("batch-size", batch_size)):
        if value < 1:
            raise UserError(f"--{name} must be >= 1, got {value}")
    examples = read_examples(data, task)
    if val_data is not None:
        train_examples, val_examples = examples, read_examples(val_data, task)
    else:
        train_examples, val_examples = held_out(examples, val_fraction, seed)
    base = load(path, device=device)
    cfg = FineTuneConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device, progress=progress)
    return finetune_model(base, task=task, train=train_examples, val=val_examples, cfg=cfg, max_length=max_length,
                          out=out)


def align(path, text: str, out="alignment.png", max_new_tokens: int = 100, num_beams: int = 1,
          device: str = "cpu"):
    """Translate ``text`` with an attention checkpoint (``bahdanau``) and draw where each generated
    token looked in the source as a heatmap PNG at ``out``. Returns the
    ``evaluation.alignment.Alignment``: source and target tokens, weights (target x source), translation."""
    from .evaluation.alignment import align as read_alignment
    from .evaluation.alignment import draw

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out}: the heatmap is written as PNG", "give a path ending in .png")
    check_out_dir(out.parent)
    model = load(path, device=check_device(device))
    alignment = read_alignment(model, text, max_new_tokens=max_new_tokens, num_beams=num_beams)
    draw(alignment, out, title=f"{model.config.family} alignment")
    return alignment
