"""The Python API: ``lmlineage.load``, ``lmlineage.train``, ``lmlineage.families``.

    model = lmlineage.load("gpt2", preset="tiny")          # a fresh model
    model = lmlineage.load("runs/gpt2")                     # a trained checkpoint (best/)
    model = lmlineage.load("path/to/hf-gpt2")               # a reference directory
    print(lmlineage.generate(model, "ROMEO:", max_new_tokens=100))
    result = lmlineage.train("gpt2", steps=2000, out="runs/gpt2")
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import torch

from .core.config import ImageModelConfig
from .core.errors import UserError
from .core.registry import families as _families
from .core.registry import get_family
from .tasks.protocol import TrainResult, bits_per_char, perplexity
from .train.run import check_device, check_out_dir

__all__ = ["load", "train", "embed", "embed_images", "finetune", "predict", "classify_images", "classify_zero_shot",
           "segment", "align", "families", "resolve_checkpoint", "TrainResult"]


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
    from .checkpoint.files import read_json
    from .checkpoint.model import load_model
    from .interop.reference import from_hf
    from .models import build_model
    from .tokenizers import load_tokenizer

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
        from .interop.lora import is_adapter

        if is_adapter(candidate):  # a LoRA adapter: its base model, the adapter hooked on
            return _with_adapter(candidate, device, dtype)
        directory = resolve_checkpoint(candidate)
        config = read_json(directory / "config.json")
        own = config.get("family")
        if isinstance(own, str) and own in {f.name for f in families()} and get_family(own).load is not None:
            from .checkpoint.directory import verify

            verify(directory)
            if dtype is not None or device != "cpu":
                raise UserError(f"{own} checkpoints run on the CPU in float64", "leave out --device and --dtype")
            return get_family(own).load(directory)  # a classic model with its own format
        model = from_hf(directory) if "model_type" in config and "family" not in config else load_model(directory, build_model)
        has_tokenizer = any((directory / n).exists() for n in ("tokenizer.json",))
        model.tokenizer = load_tokenizer(directory) if has_tokenizer else None
        if model.reads in ("images", "image_questions", "captions"):  # the processor it was trained with
            from .vision.processor import ImageProcessor

            model.processor = ImageProcessor.read(directory)
        if model.tokenizer is not None and ("model_type" in config or (directory / "tokenizer_config.json").exists()):
            # chat template, end-of-turn token (a reference directory's, or one `finetune` wrote)
            from .tokenizers.chat import apply_tokenizer_config

            apply_tokenizer_config(model.tokenizer, directory)
    if dtype is not None:
        model = model.to(parse_dtype(dtype))
    return model.to(device).eval()


def _with_adapter(directory: Path, device: str, dtype: str | None):
    """The base model an adapter directory names (``base_model_name_or_path``), with the adapter on."""
    from .checkpoint.files import read_json
    from .interop.lora import read_adapter
    from .tokenizers.chat import apply_tokenizer_config

    base = read_json(directory / "adapter_config.json").get("base_model_name_or_path")
    if not base or not Path(base).exists():
        raise UserError(f"{directory} is a LoRA adapter whose base model ({base}) is not here",
                        "set base_model_name_or_path in its adapter_config.json to the base checkpoint")
    model = load(base, device=device, dtype=dtype)
    adapter = read_adapter(model, directory).to(device=device, dtype=next(model.parameters()).dtype)
    adapter.attach(model)
    model.adapter = adapter  # kept alive with the model
    if model.tokenizer is not None and (directory / "tokenizer_config.json").exists():
        apply_tokenizer_config(model.tokenizer, directory)
    return model


def parse_dtype(name: str) -> torch.dtype:
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if name not in names:
        raise UserError(f"unknown dtype {name!r}", "choose float32, bfloat16 or float16")
    return names[name]


def train(
    family: str = "gpt2",
    *,
    preset: str | None = None,
    data: str | None = None,
    out: str | Path = "runs/gpt2",
    seed: int = 1337,
    progress: bool = True,
    sample_tokens: int = 200,
    config: dict | None = None,
    options: dict | None = None,
    objective: str | None = None,
    **training,
) -> TrainResult:
    """Train ``family`` with its own task on a corpus; write checkpoints to ``out``.

    ``training``: the generic options (``steps``, ``batch_size``, ``context``, ``lr``, ``min_lr``,
    ``warmup``, ``tokenizer``, ``vocab_size``, ``eval_interval``, ``eval_batches``, ``device``,
    ``dtype``, ``compile``, ``resume``, ``keep_last``, ``deterministic``, ``parallel``,
    ``activation_checkpointing``, ``init`` (a checkpoint whose weights and tokenizer the run starts
    from); defaults in ``lmlineage.train.run.DEFAULTS``); one given that does not apply to the
    family's task is refused. ``options``: the family's own (``--arch``, ``--teacher``).
    ``objective``: for a family trained with several (xlm: clm, mlm, tlm), which one (None: its own).
    ``preset`` None: tiny, or with ``resume`` / ``init`` the shape of that checkpoint."""
    from .train.run import run

    return run(family, preset=preset, data=data, out=out, seed=seed, progress=progress, sample_tokens=sample_tokens,
               config=config, options=options, objective=objective, load_checkpoint=load, **training)


def embed(path, texts: list[str], device: str = "cpu", batch_size: int = 32) -> torch.Tensor:
    """Sentence embeddings (N, d_model) from an encoder checkpoint: see :func:`sentence_embeddings`."""
    from .tokenizers.base import check_text

    directory = resolve_checkpoint(path)
    model = load(directory, device=check_device(device))
    if model.joint_image_text_space:  # its text tower: vectors in the space its images share
        return text_embeddings(model, texts, where=path)
    if model.reads == "images":
        raise UserError(f"{path} is an image encoder: it embeds images", "give --image FILE")
    if model.word_vectors:  # a classic model: the mean of its own word vectors
        if not texts:
            raise UserError("no text to embed", "give at least one --text")
        return torch.from_numpy(model.embed([check_text(t) for t in texts]))
    return sentence_embeddings(model, texts, embedding_length(model, directory), batch_size, where=path)


def text_embeddings(model, texts: list[str], where="the model") -> torch.Tensor:
    """An image-text model's normalised joint-space vectors of ``texts`` (N, p), each read between
    its start and end-of-text tokens."""
    from .tokenizers.base import check_text
    from .vision.captions import encode_captions

    if not texts:
        raise UserError("no text to embed", "give at least one --text")
    cfg = model.config
    ids = encode_captions(_tokenizer_of(model, where), [check_text(t) for t in texts], cfg.bos_id, cfg.eos_id,
                          cfg.pad_id, cfg.max_positions)
    with torch.no_grad():
        return model.embed_texts(ids.to(next(model.parameters()).device)).float().cpu()


def embedding_length(model, directory: Path) -> int:
    """The most tokens an embedded text keeps: the model's context, or sentence-transformers' own
    ``max_seq_length`` where the directory carries one (it truncates there)."""
    import json

    limit = model.max_positions
    sbert = Path(directory) / "sentence_bert_config.json"
    if sbert.exists():
        limit = min(limit, int(json.loads(sbert.read_text()).get("max_seq_length") or limit))
    return limit


def sentence_embeddings(model, texts: list[str], max_length: int | None = None, batch_size: int = 32,
                        where="the model") -> torch.Tensor:
    """Sentence embeddings (N, d_model) from a loaded encoder: the last hidden states averaged
    over each text's real tokens, [CLS] and [SEP] included, then L2-normalised (Reimers & Gurevych
    2019, Sentence-BERT, section 3; what sentence-transformers' all-MiniLM-L6-v2 computes); for a
    model trained on its [CLS] summary (``pooling="cls"``: LaBSE), that summary, L2-normalised.
    Texts are cut at ``max_length`` tokens (default: the model's context)."""
    from torch.nn import functional as F

    from .heads.pooler import mean_pool
    from .tokenizers.base import check_text

    family = get_family(model.config.family)
    if family.architecture != "encoder" or not model.sentence_encoder:
        raise UserError(f"{where} is a {family.name} checkpoint ({family.architecture})",
                        "embed with an encoder: bert, roberta or a sentence-transformers directory")
    hf = getattr(model.tokenizer, "hf", None)
    if hf is None:
        raise UserError(f"{where} has no Hugging Face tokenizer.json", "embed with a checkpoint that carries one")
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
    hf.enable_truncation(max_length or model.max_positions)
    pad_id = model.tokenizer.pad_id if model.tokenizer.pad_id is not None else 0
    hf.enable_padding(pad_id=pad_id, pad_token=hf.id_to_token(pad_id) or "[PAD]")
    device = next(model.parameters()).device
    vectors = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            chunk = [check_text(t) for t in texts[start : start + batch_size]]
            batch = hf.encode_batch(chunk, add_special_tokens=True)
            ids, mask, segments = (torch.tensor([getattr(e, f) for e in batch], device=device)
                                   for f in ("ids", "attention_mask", "type_ids"))
            out = model(ids, attention_mask=mask, token_type_ids=segments)
            if model.config.pooling == "cls":  # trained on its [CLS] summary (LaBSE)
                summary = model.summary(out.last_hidden_state, out.pooled, mask)
            else:
                summary = mean_pool(out.last_hidden_state.float(), mask)
            vectors.append(F.normalize(summary.float(), dim=-1).cpu())
    return torch.cat(vectors)


def evaluate(path, data: str | None = None, batch_size: int = 64, device: str = "cpu",
             mem_len: int | None = None) -> dict:
    """Loss, perplexity and bits per character of a checkpoint on a corpus's validation split
    (the last 10%, as training splits it, in the windows the run trained with; without ``data``,
    the run's own: its ``data/val.bin``, or the corpus its ``run.json`` names); a family
    pre-trained by an objective of its own (masked LM, span corruption, denoising, blank
    infilling) reports that objective's loss and metrics instead, as training evaluates them.
    ``mem_len``: the memory a segment-recurrent model (transformer-xl, xlnet) evaluates with
    instead of the one it trained with."""
    return _evaluate(path, data, batch_size, device, mem_len)[1]


def evaluate_with_report(path, data: str | None = None, batch_size: int = 64,
                         device: str = "cpu", mem_len: int | None = None) -> tuple[dict, str, str]:
    """:func:`evaluate`'s metrics, the line its task reports them with, and the line saying what
    was scored (which corpus, which split, how many tokens or pairs): what `lmlineage eval` prints."""
    task_cls, metrics, scored = _evaluate(path, data, batch_size, device, mem_len)
    return metrics, task_cls.evaluation_report(metrics), scored


def _run_of(path) -> Path | None:
    """The run directory a checkpoint belongs to (the one holding ``run.json``): the path itself,
    or the run around a ``best/`` / ``last/`` / step checkpoint; None for a lone checkpoint."""
    from .train.run import RUN_FILE

    path = Path(path)
    return next((d for d in (path, path.parent) if (d / RUN_FILE).is_file()), None)


def _data_to_score(path, data, default: str) -> tuple[object, Path | None, str]:
    """(the corpus to score, the run's data/ directory to read when it is the run's own, its name);
    ``default``: the name of what None reads."""
    from .checkpoint.files import read_json
    from .train.run import RUN_FILE

    if data is not None:
        return data, None, str(data)
    run = _run_of(path) if Path(path).is_dir() else None
    if run is None:
        return None, None, f"{default} (the default corpus; give --data for another)"
    own = read_json(run / RUN_FILE).get("data")
    name = f"{own if own is not None else default}, the corpus {run} was trained on"
    return own, run / "data", name


def _evaluate(path, data, batch_size: int, device: str, mem_len: int | None = None):
    """(the task class whose report fits the metrics, the metrics, what was scored)."""
    from .data.batches import packed_windows
    from .data.tokens import open_token_file, prepare_tokens
    from .tasks import task_class

    model = load(path, device=check_device(device))
    family = _family_of(path, model)
    task_cls = task_class(_objective_of(path, model))
    if mem_len is not None:  # a memory length of the family's own, checked as training checks it
        if "mem_len" not in family.options:
            raise UserError(f"--mem-len does not apply to {family.name!r}", "only models with an XL memory take it")
        model.config = model.config.replace(**task_cls.config_from_options(model.config, {"mem_len": mem_len}))
    from .data.pairs import DEFAULT as DEFAULT_PAIRS

    if task_cls.reads == "images":
        return _evaluate_images(path, model, task_cls, data, batch_size, device)
    if task_cls.reads == "captions":
        return _evaluate_captions(path, model, task_cls, data, batch_size, device)
    if task_cls.reads == "image_questions":
        return _evaluate_image_questions(path, model, task_cls, data, batch_size, device)
    if task_cls.reads == "scenes":
        return _evaluate_scenes(path, model, task_cls, data, batch_size, device)
    data, run_data, corpus = _data_to_score(path, data, DEFAULT_PAIRS if task_cls.reads == "pairs" else "shakespeare")
    if task_cls.reads in ("words", "corpus"):  # a classic model reads words from the same held-out text
        from .data.corpora import load_corpus, split_text

        result = model.evaluate_text(split_text("\n".join(load_corpus(data)))[1])
        scored = f"scored the validation split (the last 10%) of {corpus}: {result['tokens']:,} words"
        return task_cls, {"loss": result["loss"], "perplexity": perplexity(result["loss"]), "tokens": result["tokens"],
                          "bits_per_char": bits_per_char(result["nats"], result["chars"]),
                          "chars": result["chars"]}, scored
    if model.tokenizer is None:
        raise UserError(f"{path} has no tokenizer.json", "evaluate a checkpoint that carries its tokenizer")
    if task_cls.reads == "pairs":  # a translation model: (source, target) pairs
        metrics = _evaluate_pairs(model, task_cls, data, batch_size, device)
        scored = (f"scored the held-out pairs of {corpus}: {metrics['pairs']:,} pairs, "
                  f"{metrics['tokens']:,} {'target' if task_cls.translates else 'scored'} tokens")
        return task_cls, metrics, scored
    with tempfile.TemporaryDirectory(prefix="lmlineage-") as scratch:
        if run_data is not None and (run_data / "val.bin").is_file():  # the run's own tokens, as it evaluated
            val_tokens = open_token_file(run_data / "val.bin")
        else:
            _, val_tokens = prepare_tokens(data, model.tokenizer, Path(scratch), control_code=task_cls.control_code)
        context = _trained_context(path, model)
        scored = (f"scored the validation split (the last 10%) of {corpus}: {len(val_tokens):,} tokens in "
                  f"{context}-token windows")
        if len(val_tokens) < 2:
            raise UserError("the validation split is too short to evaluate", "use a larger corpus")
        batches = ((x.to(device), y.to(device)) for x, y in packed_windows(val_tokens, context, batch_size))
        encoder = get_family(model.config.family).architecture == "encoder" and not task_cls.generates
        if task_cls.own_weights or encoder:  # no bits per char
            # ELECTRA's objective needs the generator it trained beside the model; an encoder's masked
            # LM is the heads the checkpoint has (a reference BERT may lack NSP)
            task = (task_cls.for_checkpoint(model, resolve_checkpoint(path) if Path(path).is_dir() else Path(path))
                    if task_cls.own_weights or task_cls.checkpoint_has_objective else _masked_lm_task(model, path))
            result = task.evaluate(batches)
            return type(task), ({k: v for k, v in result.items() if k != "nats"}
                                | {"perplexity": perplexity(result["mlm_loss"])}), scored
        if not task_cls.generates:  # span corruption, denoising, blank infilling: their own metrics
            result = task_cls.for_tokenizer(model, model.tokenizer).evaluate(batches)
            return task_cls, ({k: v for k, v in result.items() if k != "nats"}
                              | {"perplexity": perplexity(result["loss"])}), scored
        result = task_cls.for_tokenizer(model, model.tokenizer).evaluate(batches)  # causal LM, or with a memory
        chars = len(model.tokenizer.decode(val_tokens[1:].tolist()))
    return task_cls, {"loss": result["loss"], "perplexity": perplexity(result["loss"]),
                      "bits_per_char": bits_per_char(result["nats"], chars), "tokens": result["tokens"],
                      "chars": chars}, scored


def _evaluate_images(path, model, task_cls, data, batch_size: int, device: str):
    """Loss and accuracy on the held-out split of an image set (the run's own by default), cut
    as training cuts it, processed by the checkpoint's own image processor."""
    from .vision.batches import held_out_split
    from .vision.images import DEFAULT, load_images

    data, _, name = _data_to_score(path, data, task_cls.default_data or DEFAULT)
    data = task_cls.default_data if data is None else data  # None: the task's own set, else the digits
    processor = _processor_of(model, path)
    images = load_images(data)
    for key, value in task_cls.image_config(images).items():
        if getattr(model.config, key) != value:
            what = "the classes" if key == "labels" else key
            raise UserError(f"{images.source} has {what} {value[:10]}, the model {getattr(model.config, key)[:10]}",
                            "evaluate on a set like the one the model was trained on")
    val = task_cls.image_split(held_out_split(images)[1], processor)
    result = task_cls.for_tokenizer(model, None).evaluate((x.to(device), y.to(device))
                                                          for x, y in val.batches(batch_size))
    scored = f"scored the held-out split (20%) of {name}: {len(val):,} images"
    return task_cls, {k: v for k, v in result.items() if k not in ("nats", "tokens")}, scored


def _evaluate_captions(path, model, task_cls, data, batch_size: int, device: str):
    """The task's evaluation on the held-out split of a captioned (or labelled) image set (the run's
    own by default), cut as training cuts it, one caption per image (CLIP: retrieval recall@1 both
    ways; a captioner: its losses; a drawer: the denoising loss at fixed steps and noise), and what the task scores beyond it (``held_out_scores``: CLIP's
    zero-shot accuracy where the set has labels, the share of greedy captions naming the right thing)."""
    from .vision.batches import held_out_split
    from .vision.captions import CaptionSplit
    from .vision.images import DEFAULT, load_images

    data, _, name = _data_to_score(path, data, DEFAULT)
    processor, tokenizer = _processor_of(model, path), _tokenizer_of(model, path)
    images = load_images(data)
    val = CaptionSplit.process(held_out_split(images)[1], processor,
                               task_cls.caption_encoder(tokenizer, model.config.max_positions), every_caption=False,
                               templates=task_cls.label_templates)
    task = task_cls.for_tokenizer(model, tokenizer).eval()
    result = task.evaluate((x.to(device), y.to(device)) for x, y in val.batches(batch_size))
    result.update(task.held_out_scores(val, _label_names(images))[0])
    scored = f"scored the held-out split (20%) of {name}: {len(val):,} images, one caption each"
    return task_cls, {k: v for k, v in result.items() if k not in ("nats", "tokens")}, scored


def _label_names(images) -> list[str]:
    return list(images.label_names or ())


def _tokenizer_of(model, path):
    if model.tokenizer is None:
        raise UserError(f"{path} has no tokenizer.json", "give a checkpoint that carries its tokenizer")
    return model.tokenizer


def _evaluate_image_questions(path, model, task_cls, data, batch_size: int, device: str):
    """Answer accuracy on the questions about the held-out images of a set (the run's own by
    default), cut as training cuts it."""
    from .vision.batches import held_out_split
    from .vision.images import DEFAULT, load_images
    from .vision.questions import QuestionSplit

    data, _, name = _data_to_score(path, data, DEFAULT)
    processor = _processor_of(model, path)
    cfg = model.config
    val = QuestionSplit.build(held_out_split(load_images(data))[1], processor, model.tokenizer, cfg.image_token_id,
                              cfg.image_tokens, not cfg.text_only)
    result = task_cls.for_tokenizer(model, None).evaluate(
        (x.to(device), rows.to(device)) for x, rows in val.batches(batch_size))
    scored = f"scored the questions about the held-out split (20%) of {name}: {result['questions']:,} questions"
    return task_cls, {k: v for k, v in result.items() if k != "nats"}, scored


def answer_questions(path, image: str, prompts: list[str], device: str = "cpu", max_new_tokens: int = 16) -> list[str]:
    """An image-text model's greedy answers (``lmlineage train palm-e``) to each prompt, which holds
    ``<img>`` once where the image file ``image`` goes."""
    from .tasks.image_questions import answer

    model = load(resolve_checkpoint(path), device=check_device(device))
    if model.reads != "image_questions":
        raise UserError(f"{path} does not read images in its prompt", "give --image with a checkpoint of "
                        "`lmlineage train palm-e` (or gpt-4)")
    processor = _processor_of(model, path)
    pixels = processor(_read_images(model.vision, [image]) * len(prompts))
    return answer(model, prompts, pixels, max_new_tokens)


def _evaluate_scenes(path, model, task_cls, data, batch_size: int, device: str):
    """Set loss and mAP (pycocotools) on the held-out scenes of a set (the run's own by default),
    cut as training cuts them, the boxes scored in each scene's own pixels."""
    from .vision.batches import held_out_split
    from .vision.detection import SceneSplit
    from .vision.images import load_images

    data, _, name = _data_to_score(path, data, task_cls.default_data)
    val = SceneSplit.process(held_out_split(load_images(data))[1], _processor_of(model, path))
    result = task_cls.for_tokenizer(model, None).eval().evaluate(
        ((x.to(device), y.to(device)) for x, y in val.batches(batch_size)), sizes=val.sizes)
    scored = f"scored the held-out split (20%) of {name}: {result['images']:,} scenes"
    return task_cls, {k: v for k, v in result.items() if k not in ("nats", "tokens")}, scored


def detect(path, image: str, out=None, threshold: float = 0.5, device: str = "cpu") -> list[dict]:
    """The objects a detector (``lmlineage train detr``) finds in one image file: each with its
    label, score and box [x0, y0, x1, y1] in the image's pixels, likeliest first, those scoring at
    least ``threshold``; ``out``: a PNG to draw them on the image."""
    from .evaluation.detection import detections, draw

    if not 0 <= threshold <= 1:
        raise UserError(f"--threshold {threshold} is not a probability", "give a number in [0, 1]")
    if out is not None:
        out = Path(out)
        if out.suffix.lower() != ".png":
            raise UserError(f"--out {out}: the boxes are drawn as PNG", "give a path ending in .png")
        check_out_dir(out.parent, "--out")
    model, processor = _image_model(path, device, "detect objects")
    if not model.detects_objects:
        raise UserError(f"{path} is no detector", "detect with a checkpoint of `lmlineage train detr`")
    array = _read_images(model, [image])[0]
    with torch.no_grad():
        output = model(processor([array]).to(device))
    height, width = array.shape[:2]
    found = [d for d in detections(output.logits[0].cpu(), output.pred_boxes[0].cpu(), height, width)
             if d["score"] >= threshold]
    names = model.config.labels
    if out is not None:
        draw(array, found, names, out, title=f"{Path(image).name}: {len(found)} object(s) at score >= {threshold}")
    return [{"label": names[d["label"]], "score": d["score"], "box": d["box"]} for d in found]


def caption_images(path, images: list[str], device: str = "cpu", num_beams: int = 1,
                   max_new_tokens: int | None = None) -> list[dict]:
    """Each image file captioned by a captioning checkpoint (`lmlineage train blip`, coca): greedy,
    or beam search with ``num_beams``."""
    from .evaluation.captions import caption_pixels
    from .vision.images import read_image

    model, processor = _image_model(path, device, "caption images")
    if not model.captions_images:
        raise UserError(f"{path} does not caption images", "give a checkpoint of `lmlineage train blip` (or coca)")
    if model.tokenizer is None:
        raise UserError(f"{path} has no tokenizer.json", "caption with a checkpoint that carries its tokenizer")
    if not images:
        raise UserError("no image given", "give an image file")
    arrays = [read_image(image) for image in images]
    captions = caption_pixels(model, model.tokenizer, processor(arrays), num_beams, max_new_tokens)
    return [{"image": str(image), "caption": caption} for image, caption in zip(images, captions)]


def draw(path, prompts: list[str] | None = None, *, out=None, per_caption: int = 8, guidance: float = 3.0,
         steps: int = 50, sampler: str = "ddim", seed: int | None = 0, device: str = "cpu", rerank=None,
         candidates: int = 8) -> tuple[Path, list[str]]:
    """Draw ``per_caption`` images of each prompt (None: of every caption the model was trained on)
    with a text-to-image checkpoint into the PNG grid ``out`` (None: samples.png in its run
    directory); (the PNG, the captions drawn). ``rerank``: a CLIP checkpoint that keeps the best
    ``per_caption`` of ``per_caption * candidates`` drawings of each prompt (DALL-E's reranking)."""
    from .vision.text_to_image import draw_grid, save_grid

    model = load(resolve_checkpoint(path), device=check_device(device))
    if model.reads != "captions":
        raise UserError(f"{path} does not draw", "give a checkpoint of `lmlineage train glide`, latent-diffusion or dall-e")
    scorer = None if rerank is None else clip_scorer(rerank, device)
    if prompts is None:
        prompts = model.config.labels
        if not prompts:
            raise UserError(f"{path} keeps no captions to draw", "give --prompt TEXT")
    if out is None:
        run = _run_of(path)
        if run is None:
            raise UserError("no --out for the grid", "give --out grid.png")
        out = run / "samples.png"
    options = dict(guidance=guidance, steps=steps, sampler=sampler, seed=seed)
    if scorer is None:
        draw_grid(model, model.tokenizer, prompts, out, per_caption=per_caption, **options)
    else:
        from .vision.rerank import draw_reranked

        if Path(out).suffix.lower() != ".png":  # refused before the drawing, which takes a while
            raise UserError(f"--out {out}: the grid is written as PNG", "give a path ending in .png")
        kept, _ = draw_reranked(model, model.tokenizer, prompts, scorer, per_caption=per_caption,
                                candidates=candidates, **options)
        save_grid(kept.cpu(), len(prompts), out)
    return Path(out), prompts


def clip_scorer(path, device: str = "cpu"):
    """A CLIP checkpoint (`lmlineage train clip`) as a scorer of (image, caption) pairs: the cosine
    of their joint-space vectors. ``score(images (N, C, H, W) in [-1, 1], captions) -> (N,)``."""
    from .vision.text_to_image import to_uint8

    model = load(resolve_checkpoint(path), device=check_device(device))
    if not model.joint_image_text_space:
        raise UserError(f"--rerank {path} is no CLIP: it cannot score a caption against an image",
                        "rerank with a checkpoint of `lmlineage train clip`")
    processor = _processor_of(model, path)

    def score(images: torch.Tensor, captions: list[str]) -> torch.Tensor:
        arrays = _as_channels(model, list(to_uint8(images)))
        with torch.no_grad():
            pictures = model.embed_images(processor(arrays).to(next(model.parameters()).device)).float().cpu()
        return (pictures * text_embeddings(model, captions, where=path)).sum(-1)

    return score


def _processor_of(model, path):
    if model.processor is None:
        raise UserError(f"{path} has no preprocessor_config.json", "give a checkpoint that carries its image processor")
    return model.processor


def _image_model(path, device: str, what: str):
    """An image model checkpoint with its processor, or a UserError naming what was wanted."""
    model = load(resolve_checkpoint(path), device=check_device(device))
    if model.reads != "images":
        raise UserError(f"{path} is no image model", f"{what} with a checkpoint of `lmlineage train vit`")
    return model, _processor_of(model, path)


def _read_images(model, images: list[str]) -> list[np.ndarray]:
    """Image files as the model's channels: a grey model reads colour pictures as their grey levels
    (ITU-R 601 luma, as Pillow's "L"), a colour model grey ones repeated to RGB."""
    from .vision.images import read_image

    if not images:
        raise UserError("no image given", "give at least one --image FILE")
    return _as_channels(model, [read_image(image) for image in images])


def _as_channels(model, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """(H, W, C) uint8 pictures in the model's channels (see ``_read_images``)."""
    if model.image_spec.channels == 1:
        return [a if a.shape[2] == 1 else np.round(a @ [0.299, 0.587, 0.114]).astype(np.uint8)[..., None]
                for a in arrays]
    return [np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a for a in arrays]


def embed_images(path, images: list[str], device: str = "cpu") -> torch.Tensor:
    """Image embeddings (N, d) from an image model: an image encoder's final [class] vector (what
    its classifier reads), an image-text model's joint-space vector; L2-normalised."""
    model, processor = _image_model(path, device, "embed images")
    if not model.one_image_vector:  # a detector's outputs are per object query, a segmenter's embedding a grid
        raise UserError(f"{path} is {model.what}: it has no one vector per image", "use it with lmlineage " +
                        ", ".join(model.uses()))
    arrays = _read_images(model, images)
    with torch.no_grad():
        return model.embed_images(processor(arrays).to(next(model.parameters()).device)).float().cpu()


def classify_zero_shot(path, image, labels: list[str] | None = None, templates: list[str] | None = None,
                       device: str = "cpu") -> list[tuple[str, float]]:
    """Zero-shot classification of one image file by an image-text checkpoint (``lmlineage train
    clip``, or a reference CLIPModel directory with its tokenizer and preprocessor_config.json):
    each label's prompts (``templates`` with "{}" for the label; default: the training templates,
    ``vision.captions``) embedded and averaged, the image's vector compared with each; the labels
    ranked, with softmax probabilities. ``labels``: default, the classes the run trained on."""
    from .tasks.image_text import ImageTextContrastiveTask

    model, processor = _image_model(path, device, "classify an image zero-shot")
    if not model.classifies_zero_shot:
        raise UserError(f"{path} has no text tower to read labels with",
                        "classify zero-shot with a checkpoint of `lmlineage train clip`; `predict --image` "
                        "classifies with a trained class head")
    labels = model.config.labels if labels is None else [label.strip() for label in labels]
    if not labels:
        raise UserError("no labels to choose among", 'give --labels "cat,dog,..." (at least two)')
    if any(not label for label in labels):
        raise UserError(f"--labels holds an empty label: {','.join(labels)!r}", 'give them comma-separated: "0,1,2"')
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise UserError(f"--labels {','.join(labels)!r}: give at least two different labels", 'e.g. "cat,dog"')
    arrays = _read_images(model, [image])
    task = ImageTextContrastiveTask(model, _tokenizer_of(model, path)).eval()
    probabilities = task.zero_shot(processor(arrays).to(device), labels, templates)[0].cpu()
    order = probabilities.argsort(descending=True).tolist()
    return [(labels[i], float(probabilities[i])) for i in order]


def classify_images(path, images: list[str], device: str = "cpu", top: int = 3, attention=None) -> list[dict]:
    """Each image file classified by an image classifier checkpoint (``lmlineage train vit``, or a
    reference ViTForImageClassification directory with its preprocessor_config.json): the likeliest
    label, its probability, and the ``top`` likeliest labels with theirs. ``attention``: a PNG path
    to draw where the model looked in the (one) image: attention rollout over its patches."""
    if attention is not None:
        attention = Path(attention)
        if attention.suffix.lower() != ".png":
            raise UserError(f"--attention {attention}: the map is written as PNG", "give a path ending in .png")
        if len(images) != 1:
            raise UserError(f"--attention draws one image's map, got {len(images)} images", "give one --image")
        check_out_dir(attention.parent, "--attention")

    model, processor = _image_model(path, device, "classify images")
    if model.classifier is None:
        raise UserError(f"{path} has no class head", "classify with a checkpoint of `lmlineage train vit`, or "
                        "zero-shot with `lmlineage classify` and an image-text model (clip)")
    arrays = _read_images(model, images)
    with torch.no_grad():
        output = model(processor(arrays).to(device), output_attentions=attention is not None)
        probabilities = output.task_logits.float().softmax(-1).cpu()
    names = model.config.labels
    if attention is not None:
        from .evaluation.patch_attention import draw, rollout

        best = int(probabilities[0].argmax())
        draw(arrays[0], rollout(output.attentions)[0].float().cpu().numpy(), attention,
             title=f"{Path(images[0]).name}: {names[best]} ({float(probabilities[0, best]):.2f})")
    out = []
    for image, p in zip(images, probabilities):
        order = p.argsort(descending=True)[:top].tolist()
        out.append({"image": str(image), "label": names[order[0]], "probability": float(p[order[0]]),
                    "top": [[names[i], float(p[i])] for i in order]})
    return out


def segment(path, image: str, points: list[tuple[float, float]] | None = None, box=None, out=None,
            device: str = "cpu") -> dict:
    """The mask a promptable segmenter (``lmlineage train sam``) gives for ``points`` (x, y pixels on the object) and/or
    ``box`` (x0, y0, x1, y1) on the image file ``image``: from one point the likeliest of its masks
    by the predicted IoU, from more prompts its single mask; drawn over the image into ``out`` (a
    PNG) where given. Returns the mask (H, W) bool, its predicted IoU and its pixel count."""
    from torch.nn import functional as F

    points = list(points or [])
    if not points and box is None:
        raise UserError("no prompt given", "give --point X,Y (a pixel on the object) or --box X0,Y0,X1,Y1")
    if out is not None:
        out = Path(out)
        if out.suffix.lower() != ".png":
            raise UserError(f"--out {out}: the mask is drawn as PNG", "give a path ending in .png")
        check_out_dir(out.parent, "--out")
    model, processor = _image_model(path, device, "segment images")
    if not model.segments_images:
        raise UserError(f"{path} is no promptable segmenter", "segment with a checkpoint of `lmlineage train sam`")
    array = _read_images(model, [image])[0]
    height, width = array.shape[:2]
    for x, y in points:
        if not (0 <= x < width and 0 <= y < height):
            raise UserError(f"the point ({x:g}, {y:g}) lies outside {image} ({width} x {height} pixels)",
                            f"give X in [0, {width}) and Y in [0, {height})")
    if box is not None:
        x0, y0, x1, y1 = box
        if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
            raise UserError(f"the box {tuple(box)} does not lie inside {image} ({width} x {height} pixels) with "
                            "x0 < x1 and y0 < y1", "give X0,Y0,X1,Y1 corners inside the image")
    pixels = processor([array]).to(device)
    side_y, side_x = pixels.shape[2] / height, pixels.shape[3] / width

    def scaled(x, y):  # a pixel's centre, where the processed image has it (as an index)
        return [(x + 0.5) * side_x - 0.5, (y + 0.5) * side_y - 0.5]

    prompts = {}
    if points:
        prompts.update(points=torch.tensor([[[scaled(x, y) for x, y in points]]], device=device),
                       labels=torch.ones(1, 1, len(points), dtype=torch.long, device=device))
    if box is not None:
        corners = scaled(box[0], box[1]) + scaled(box[2] - 1, box[3] - 1)  # x1, y1 exclusive: the last pixel in
        prompts["boxes"] = torch.tensor([[corners]], device=device)
    multimask = len(points) == 1 and box is None  # one point is ambiguous (section 3): several masks
    with torch.no_grad():
        output = model(pixels, multimask=multimask, **prompts)
    logits, iou = output.pred_masks[0, 0].float(), output.iou_scores[0, 0].float()
    best = int(iou.argmax())
    mask = F.interpolate(logits[None, best:best + 1], size=(height, width), mode="bilinear",
                         align_corners=False)[0, 0].cpu().numpy() > 0
    if out is not None:
        from .vision.drawing import draw_mask

        draw_mask(array, mask, out, points, box)
    return {"image": str(image), "mask": mask, "predicted_iou": float(iou[best]), "pixels": int(mask.sum()),
            "out": None if out is None else str(out)}


def _reads_images(config: dict) -> bool:
    """Whether a checkpoint's config.json (ours, or a reference one) describes an image model."""
    for fam in families():
        named = config.get("family") == fam.name or \
            ("family" not in config and any(r.model_type == config.get("model_type") for r in fam.references))
        if named:
            return isinstance(fam.config_class, type) and issubclass(fam.config_class, ImageModelConfig)
    return False

def _objective_of(path, model) -> str:
    """The objective a checkpoint was trained with: its run's (``run.json``), else what its
    family's config implies (XLM: causal means CLM)."""
    from .checkpoint.files import read_json
    from .train.run import RUN_FILE

    run = _run_of(path) if Path(path).is_dir() else None
    family = _family_of(path, model)
    started = read_json(run / RUN_FILE).get("objective") if run is not None else None
    if started in (family.objective, *family.objectives):
        return started
    # a classic model has no config to tell by, and needs none: its family has one objective
    return family.objective_of(model.config) if family.objectives else family.objective


def _family_of(path, model):
    """The family a checkpoint declares (its config.json's ``family``; a classic model's own format
    has no model config), else the loaded model's."""
    from .checkpoint.files import read_json

    if Path(path).is_dir():
        own = read_json(resolve_checkpoint(path) / "config.json").get("family")
        if isinstance(own, str) and own in {f.name for f in families()}:
            return get_family(own)
    return get_family(model.config.family)


def _evaluate_pairs(model, task_cls, data, batch_size: int, device: str) -> dict:
    """Teacher-forced loss, perplexity and token accuracy of an encoder-decoder on the held-out
    split of a pair set (``--data reverse``, ``bible-en-zh``, a .tsv / .jsonl), as training scores it."""
    from .data import pairs as pair_data

    _, val_pairs = pair_data.load_pairs(data)
    task = task_cls.for_tokenizer(model, model.tokenizer)
    split = pair_data.PairSplit.encode(val_pairs, model.tokenizer, task_cls.check_inputs(model.tokenizer))
    result = task.evaluate((s.to(device), t.to(device)) for s, t in split.batches(batch_size))
    if not task_cls.translates:  # its own metrics (TLM's masked-token accuracy, LaBSE's retrieval)
        return {k: v for k, v in result.items() if k != "nats"} | {"perplexity": perplexity(result["loss"]),
                                                                   "pairs": len(split)}
    return {"loss": result["loss"], "perplexity": perplexity(result["loss"]), "accuracy": result["accuracy"],
            "tokens": result["tokens"], "pairs": len(split)} | task.zero_shot_scores(model.tokenizer, data)


def _trained_context(path, model) -> int:
    """The window length a run of ours trained and evaluated with (its trainer_state.json), else
    the model's full context: positions a run never trained are not scored."""
    from .checkpoint.files import read_json

    state = resolve_checkpoint(path) / "trainer_state.json" if Path(path).is_dir() else None
    if state is not None and state.exists():
        config = read_json(state).get("config")
        context = config.get("context") if isinstance(config, dict) else None
        if isinstance(context, int) and 2 <= context <= model.config.max_positions:
            return context
    return model.config.max_positions


def _masked_lm_task(model, path):
    """The masked-LM task for an encoder checkpoint, with NSP (SOP) where it has that head."""
    from .tasks import make_task

    if not model.predicts_masked_tokens:
        raise UserError(f"{path} has no masked-LM head to evaluate", "evaluate a checkpoint trained by `train`")
    pairs = next((name for name in ("nsp", "sop") if name in model.head_names), None)
    return make_task(f"mlm+{pairs}" if pairs else "mlm", model, model.tokenizer)


def finetune(path, *, task: str, data, out, val_data=None, val_fraction: float = 0.1, epochs: int = 3,
             batch_size: int = 16, lr: float = 5e-5, max_length: int = 128, pooling: str | None = None, seed: int = 0,
             device: str = "cpu", progress: bool = True):
    """Fine-tune the encoder at ``path`` (our checkpoint, a run, or a reference directory such as
    all-MiniLM-L6-v2) on ``task`` (classify, pair, tag, qa, choice) with examples from ``data``
    (.jsonl or .csv; fields in ``lmlineage.tasks.finetune``), holding out ``val_data`` or a
    ``val_fraction`` of it; writes the fine-tuned checkpoint (with its label map) to ``out``.
    ``pooling`` ("cls" | "mean"; None: as the checkpoint was trained): what sentence-level heads read."""
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
                          pooling=pooling, out=out)


def finetune_chat(path, *, data, out, val_data=None, val_fraction: float = 0.1, epochs: int = 3, batch_size: int = 8,
                  lr: float | None = None, max_length: int | None = None, seed: int = 0, device: str = "cpu",
                  progress: bool = True, lora: int | None = None, lora_alpha: float | None = None,
                  lora_targets: list[str] | None = None, merge: bool = False):
    """Supervised fine-tuning of the decoder at ``path`` (our checkpoint, a reference directory or a
    .gguf file) on the conversations in ``data`` (.jsonl, a ``messages`` list per line; loss on the
    assistant's tokens only), or a mixture ``A.jsonl:0.7,B.jsonl:0.3`` of sources whose names are
    marked in each prompt (Koala's recipe). ``lora``: train a rank-``lora`` adapter instead of every weight (saved
    apart in peft's format, or folded in with ``merge``). Writes ``out`` and ``sft.json``."""
    from .data.conversations import read_conversations, read_mixture
    from .tasks.finetune import held_out
    from .tasks.sft import SFTConfig, sft, write_chat_template

    out = check_out_dir(out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"--out {out} is not empty", "choose a new directory for the fine-tuned checkpoint")
    check_device(device)
    lr = lr if lr is not None else (1e-3 if lora else 1e-4)
    if not (math.isfinite(lr) and 0 < lr <= 1):
        raise UserError(f"--lr {lr} is out of range (0, 1]")
    if lora is not None and lora < 1:
        raise UserError(f"--lora {lora}: the adapter's rank must be >= 1")
    if merge and lora is None:
        raise UserError("--merge folds a LoRA adapter into the weights", "add --lora RANK")
    mixture = "," in str(data) or ".jsonl:" in str(data)  # koala: weighted sources, each marked in the prompt
    conversations = read_mixture(str(data), seed) if mixture else read_conversations(data)
    if val_data is not None:
        train_set, val_set = conversations, read_conversations(val_data)
    else:
        train_set, val_set = held_out(conversations, val_fraction, seed)
    model = load(path, device=device)
    if not model.causal_lm or get_family(model.config.family).architecture != "decoder":
        raise UserError(f"{path} is not a decoder language model", "chat fine-tuning trains a causal LM "
                        "(llama, gpt2, ... or a reference / GGUF LLaMA); encoders take --task classify, ...")
    adapter = None
    if lora is not None:
        from .interop.lora import Adapter, find_targets

        torch.manual_seed(seed)
        adapter = Adapter(find_targets(model, lora_targets), r=lora, alpha=lora_alpha or 2.0 * lora).to(device)
        model.requires_grad_(False)
        adapter.attach(model)
    cfg = SFTConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device, progress=progress,
                    max_length=max_length)
    result = sft(model, train_set, val_set, cfg, extra=adapter)
    from .checkpoint.directory import atomic_directory
    from .checkpoint.model import save_model_files

    with atomic_directory(out) as tmp:
        if adapter is not None and not merge:
            adapter.save(tmp)
            config = json.loads((tmp / "adapter_config.json").read_text())
            config["base_model_name_or_path"] = str(Path(path).resolve())
            (tmp / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
        else:
            if adapter is not None:
                adapter.merge(model)
            save_model_files(tmp, model.cpu(), model.tokenizer)
        write_chat_template(tmp, model.tokenizer)
        result.lora = None if adapter is None else {"r": lora, "alpha": adapter.alpha, "merged": merge,
                                                    "targets": sorted({t.theirs for t in adapter.targets})}
        summary = {"task": "chat", "val_loss_before": result.val_loss_before, "val_loss": result.val_loss,
                   "train_conversations": result.train_conversations, "val_conversations": result.val_conversations,
                   "epoch_losses": result.losses, "template": result.template, "lora": result.lora,
                   "settings": {**vars(cfg), "base": str(path)}}
        (tmp / "sft.json").write_text(json.dumps(summary, indent=2) + "\n")
    result.out = out
    return result


def rlhf(*, out, task: str = "sort", methods=("ppo", "dpo"), seed: int = 0, rankings=None, ppo_steps: int | None = None,
         log=None) -> dict:
    """InstructGPT's stages (SFT, reward model, PPO-ptx) and DPO on the checkable ``task`` (add, sort,
    copy) with a small policy of ours; ``rankings``: a .jsonl of {"prompt", "replies", "ranks"} (0 =
    best) to train the reward model and DPO on instead of the checker's rankings. Writes each stage's
    checkpoint, ``rlhf.json`` and ``curves.png`` to ``out``; returns the numbers."""
    from .checkpoint.directory import atomic_directory
    from .checkpoint.model import save_model_files
    from .rl import stages
    from .tasks.sft import write_chat_template

    out = check_out_dir(out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"--out {out} is not empty", "choose a new directory")
    unknown = set(methods) - {"ppo", "dpo"}
    if unknown or not methods:
        raise UserError(f"--method {','.join(methods)}: choose ppo, dpo or both")
    given = stages.read_rankings(rankings) if rankings is not None else None
    cfg = stages.RLConfig(task=task, seed=seed)
    if ppo_steps is not None:
        cfg.ppo_steps = ppo_steps
    result = stages.run(cfg, methods=tuple(methods), log=log, given_rankings=given)
    models = result.pop("models")
    with atomic_directory(out) as tmp:
        for name, model in models.items():
            (tmp / name).mkdir()
            save_model_files(tmp / name, model.cpu(), model.tokenizer)
            model.tokenizer.chat_template = stages.PLAIN_TEMPLATE
            write_chat_template(tmp / name, model.tokenizer)
        (tmp / "rlhf.json").write_text(json.dumps(result, indent=2) + "\n")
        stages.plot_curves(result, tmp / "curves.png")
    return result


def self_instruct(generator, *, out, n: int = 200, seeds=None, seed: int = 0, batch_size: int = 4,
                  max_new_tokens: int = 128, temperature: float = 0.7, top_p: float | None = 0.9,
                  device: str = "cpu", log=None) -> dict:
    """Alpaca's data (Taori et al. 2023; self-instruct, Wang et al. 2023): the decoder at ``generator``
    (our checkpoint, a reference directory or a GGUF file) proposes ``n`` new tasks from few-shot
    prompts of seed tasks (``seeds``: a .jsonl of {"instruction", "input", "output"}; default the
    built-in ones), filtered by heuristics and ROUGE-L novelty. Writes ``instructions.jsonl`` (for
    `lmlineage finetune --data`), ``seeds.jsonl``, ``dropped.jsonl``, ``self_instruct.json`` and
    ``rouge_l.png`` to ``out``; returns the summary."""
    import time

    from .checkpoint.directory import atomic_directory
    from .data import self_instruct as si
    from .generation.engine import generate_text
    from .generation.processors import check_sampling

    if n < 1:
        raise UserError(f"--n {n}: ask for at least 1 instruction")
    out = check_out_dir(out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"--out {out} is not empty", "choose a new directory")
    check_device(device)
    check_sampling(temperature, None, top_p, 1.0)
    tasks = si.read_seeds(seeds) if seeds is not None else list(si.SEED_TASKS)
    si.Novelty()  # rouge-score is there, before the generator is loaded
    model = load(generator, device=device)
    if model.is_encoder_decoder or get_family(model.config.family).architecture != "decoder":
        raise UserError(f"{generator} is not a decoder language model", "self-instruct samples from a causal LM "
                        "(llama, gpt2, ... or a reference / GGUF LLaMA)")
    tokens = [0]

    def propose(prompts, sampling_seed):
        texts = generate_text(model, prompts, max_new_tokens=max_new_tokens, stop=list(si.STOPS),
                              temperature=temperature, top_p=top_p, seed=sampling_seed)
        tokens[0] += sum(len(model.tokenizer.encode(t)) for t in texts)
        return texts

    start = time.perf_counter()
    result = si.self_instruct(propose, tasks, n, seed=seed, batch_size=batch_size, log=log)
    seconds = time.perf_counter() - start
    summary = {**result.counts(), "seconds": round(seconds, 1), "new_tokens": tokens[0],
               "tokens_per_second": round(tokens[0] / seconds, 2), "seeds": len(tasks),
               "settings": {"generator": str(generator), "n": n, "seed": seed, "batch_size": batch_size,
                            "max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p,
                            "rouge_threshold": si.ROUGE_THRESHOLD, "seeds": str(seeds) if seeds else "built-in"}}
    with atomic_directory(out) as tmp:
        si.write(tmp, result, tasks)
        si.plot_rouge(result, tmp / "rouge_l.png")
        (tmp / "self_instruct.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def predict(path, texts: list[str] | None = None, data=None, device: str = "cpu") -> tuple[str, list[dict]]:
    """(the task, one prediction per input) of a checkpoint written by :func:`finetune`: ``texts``
    (classify: texts; tag: space-separated words) or ``data``, a file in the fine-tuning formats
    whose answer fields may be left out. Each prediction carries its softmax probability
    (``lmlineage.tasks.finetune.predict_examples``)."""
    from .checkpoint.files import read_json
    from .tasks.finetune import from_texts, predict_examples, read_examples

    directory = resolve_checkpoint(path)
    if not (directory / "finetune.json").exists() and _reads_images(read_json(directory / "config.json")):
        raise UserError(f"{path} classifies images, not text: give --image FILE",
                        "text classifiers come from `lmlineage finetune`")
    if not (directory / "finetune.json").exists():
        raise UserError(f"{path} is not a fine-tuned checkpoint (no finetune.json)",
                        "predict with a checkpoint written by `lmlineage finetune`")
    if (texts is None) == (data is None):
        raise UserError("give the inputs either as --text (repeatable) or as --data FILE", "one of the two")
    summary = read_json(directory / "finetune.json")
    task = summary.get("task")
    examples = from_texts(task, texts) if data is None else read_examples(data, task, inputs_only=True)
    model = load(directory, device=check_device(device))
    return task, predict_examples(model, summary, examples, device=device)


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
