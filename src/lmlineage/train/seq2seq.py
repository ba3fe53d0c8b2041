"""Training an encoder-decoder family on (source, target) pairs: what ``lmlineage train
transformer --data reverse`` runs after ``api.train`` has checked its arguments.

The pairs (``data.pairs``: ``reverse``, ``sort``, ``bible-en-zh`` or a .tsv / .jsonl file)
train a tokenizer shared by both sides (Vaswani et al. 2017 section 5.1: "a shared source-target
vocabulary"), are tokenized into ``OUT/data`` and go through the one ``Trainer`` with the
task's schedule (inverse square root warmup). At the end the held-out sources are translated
(greedy, with the best checkpoint's weights) and scored: BLEU (sacrebleu; ``zh`` tokenization for Chinese targets), exact match,
and teacher-forced token accuracy.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import torch

from ..core.errors import UserError
from ..data import pairs as pair_data


def train_on_pairs(fam, *, preset, data, tokenizer, vocab_size, steps, batch_size, lr, warmup, seed, out: Path,
                   resume: bool, config: dict | None, schedule: str | None = None, num_beams: int = 1,
                   **trainer_options):
    """Returns ``api.TrainResult`` with ``metrics`` = {bleu, exact_match, accuracy, ...}."""
    from ..api import TrainResult, perplexity
    from ..checkpoint.model import check_same_model
    from ..evaluation.translation import bleu, exact_match
    from ..models import build_model
    from ..tasks import TASKS, make_task
    from ..tokenizers import build_tokenizer, load_tokenizer
    from .trainer import TrainConfig, Trainer

    train_pairs, val_pairs = pair_data.load_pairs(data)
    if resume:
        tok = load_tokenizer(out / "last")
    else:
        kind, default_size = pair_data.default_tokenizer(data)
        texts = (text for pair in train_pairs for text in pair)
        tok = build_tokenizer(tokenizer or kind, texts, vocab_size or (default_size if tokenizer is None else None))
    eos = TASKS[fam.objective].check_inputs(tok, batch_size)
    train_split = pair_data.PairSplit.encode(train_pairs, tok, eos)
    val_split = pair_data.PairSplit.encode(val_pairs, tok, eos)
    longest = max(*train_split.max_lengths(), *val_split.max_lengths())
    preset_positions = fam.config(preset).max_positions
    overrides = {"vocab_size": tok.vocab_size, "max_positions": max(longest, preset_positions),
                 "decoder_start_id": eos, "extra": {"pad_id": eos, "eos_id": eos}, **(config or {})}
    cfg = fam.config(preset, **overrides)
    if resume:
        check_same_model(out, cfg, "resume with the --preset and --data the run was started with")
    task_schedule = schedule or getattr(TASKS[fam.objective], "schedule", "cosine")
    train_cfg = TrainConfig(steps=steps, batch_size=batch_size, context=longest, lr=lr, min_lr=lr / 10,
                            warmup=warmup, seed=seed, schedule=task_schedule, **trainer_options)
    train_cfg.validate()

    scratch = Path(tempfile.mkdtemp(prefix="lmlineage-"))
    try:  # written aside, then moved: bad input leaves no half-written run
        train_split.save(scratch, "train")
        val_split.save(scratch, "val")
        (scratch / "source.json").write_text(json.dumps({"data": str(data), "train": len(train_split),
                                                         "val": len(val_split)}) + "\n")
        out.mkdir(parents=True, exist_ok=True)
        if (out / "data").exists():
            shutil.rmtree(out / "data")
        shutil.move(str(scratch), out / "data")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    torch.manual_seed(seed)
    model = build_model(cfg)
    task = make_task(fam.objective, model, tok)
    trainer = Trainer(task, train_split, val_split, train_cfg, out, tokenizer=tok)
    if resume:
        trainer.resume(out / "last")
    result = trainer.fit() if trainer.step < steps else trainer.evaluate()
    if not math.isfinite(result["loss"]):
        raise UserError(f"training diverged: the validation loss is {result['loss']} at step {trainer.step}",
                        f"lower --lr (it was {lr}) or raise --warmup")
    if (out / "best" / "model.safetensors").exists():  # translate with the weights `lmlineage.load(out)` gives
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(out / "best" / "model.safetensors")), strict=False)
    model.tokenizer = tok
    sources = [val_split.pair(i)[0].tolist() for i in range(len(val_split))]
    max_new = min(cfg.max_positions, 2 * max(val_split.max_lengths()) + 8)
    hyps = [tok.decode(ids) for ids in task.translate(sources, max_new_tokens=max_new, num_beams=num_beams,
                                                      progress=train_cfg.progress)]
    refs = [target for _, target in val_pairs]
    metrics = {k: v for k, v in result.items() if k not in ("loss", "nats", "tokens")}
    metrics.update(bleu=bleu(hyps, refs, pair_data.target_language(data)),
                   exact_match=exact_match(hyps, refs), pairs=len(refs))
    trainer._log({"step": trainer.step, **{f"val_{k}": v for k, v in metrics.items()}})
    sample = f"{val_pairs[0][0]} -> {hyps[0]} (reference: {refs[0]})"
    return TrainResult(out, result["loss"], perplexity(result["loss"]), None, sample, trainer.step, trainer.rank,
                       metrics)
