"""PaLM-E on questions about held-out images, against the same LM given the question alone.

For each image set, two runs of `lmlineage train palm-e` with the same settings and seed: the
model (image vectors at <img>, trained end to end), and the ablation `--text-only` (the same
model reading the question without its image: what the LM can say from the words alone). Both are
scored on the questions about the held-out 20% of the images, by greedy generation (the answer
must be written exactly and end at its line break), per kind of question; the commonest answer of
the training questions is the floor.

``--validation`` is for choosing settings without looking at the held-out images: the held-out 20%
is left out altogether, the last 20% of the training part (already a seeded shuffle) becomes the
validation set, and the model trains on the rest and is scored on that cut (the with-image run
alone; the ablation is no candidate). ``--config`` lays model config changes over the preset
(e.g. '{"vision": {"n_layer": 4}}'); each set's entry in the JSON records the config it ran with
(entries without one ran on the preset, the scenes on 4x4 patches).

    python benchmarks/palm_e_vqa.py --threads 1 --json benchmarks/results/palm_e_vqa.json
    python benchmarks/palm_e_vqa.py --threads 1 --data shapes:1000 --validation --json /tmp/val.json
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import device_name, parse_training, training_parser, versions  # noqa: E402

import lmlineage  # noqa: E402
from lmlineage.core.config import merge  # noqa: E402
from lmlineage.tasks.image_questions import answer  # noqa: E402
from lmlineage.vision import batches  # noqa: E402
from lmlineage.vision.images import load_images  # noqa: E402
from lmlineage.vision.questions import IMAGE, QuestionSplit, questions_about  # noqa: E402


VALIDATION = 0.2  # the share of the training part cut off for validation
held_out_split = batches.held_out_split  # the library's split, whatever `validating` puts in its place


def validation_split(images):
    """(train, validation): the held-out split's training part, its last ``VALIDATION`` share cut
    off; the held-out images are in neither."""
    train = held_out_split(images)[0]
    n_val = max(1, round(VALIDATION * len(train)))
    return train.subset(range(len(train) - n_val)), train.subset(range(len(train) - n_val, len(train)))


@contextmanager
def validating(on: bool):
    """While on, every split the library cuts (training, eval, and this script's scoring) is the
    validation split: `train` and `eval` import ``held_out_split`` from ``vision.batches`` when
    called, so swapping the module's name reaches them all."""
    if not on:
        yield
        return
    batches.held_out_split = validation_split
    try:
        yield
    finally:
        batches.held_out_split = held_out_split


def split(images):
    """The split in force: the held-out one, or the validation one while `validating`."""
    return batches.held_out_split(images)


def kind(question: str) -> str:
    return question.split(IMAGE)[0].split(" the ")[0].strip()  # "what digit is", "how many shapes are in", ...


def scored_by_generation(run: Path, data: str) -> dict:
    """Greedy answers to every question about the held-out images, right or not, by kind."""
    model = lmlineage.load(run / "last")  # the end of training (best/ is chosen on the split scored)
    cfg = model.config
    val = QuestionSplit.build(split(load_images(data))[1], model.processor, model.tokenizer,
                              cfg.image_token_id, cfg.image_tokens, not cfg.text_only)
    right, total = defaultdict(int), Counter()
    examples = []
    for start in range(0, len(val), 64):
        chunk = range(start, min(start + 64, len(val)))
        pixels, _ = val.collate(chunk)
        said = answer(model, [val.questions[i].text for i in chunk], pixels)
        for i, s in zip(chunk, said):
            q = val.questions[i]
            total[kind(q.text)] += 1
            right[kind(q.text)] += s == q.answer
            if len(examples) < 4:
                examples.append({"question": q.text, "answer": s, "right": q.answer})
    return {"accuracy": sum(right.values()) / len(val), "questions": len(val),
            "by_kind": {k: {"accuracy": right[k] / total[k], "questions": total[k]} for k in total},
            "examples": examples}


def floor(data: str) -> dict:
    """The commonest training answer of each kind of question, scored on the held-out questions."""
    train, val = (questions_about(part) for part in split(load_images(data)))
    commonest = {}
    for k in {kind(q.text) for q in train}:
        commonest[k] = Counter(q.answer for q in train if kind(q.text) == k).most_common(1)[0][0]
    return {"accuracy": sum(q.answer == commonest.get(kind(q.text)) for q in val) / len(val),
            "commonest": commonest}


def main() -> None:
    p = training_parser(__doc__, steps=800, batch_size=64, lr=2e-3, warmup=50)
    p.add_argument("--data", action="append", default=None, help="image sets (default: digits and shapes:1000)")
    p.add_argument("--family", default="palm-e", help="palm-e or gpt-4")
    p.add_argument("--shapes-patch", type=int, default=4, help="the encoder's patch on the 32x32 scenes")
    p.add_argument("--freeze-lm", action="store_true", help="also a run with the LM frozen")
    p.add_argument("--validation", action="store_true", help="train on 80%% of the training images and score on "
                   "the other 20%% (the held-out images unused), with the image only: for choosing settings")
    p.add_argument("--eval-interval", type=int, default=None, help="also score every N steps, teacher-forced "
                   "(the curve lands in the JSON); with --validation only, so the held-out split picks nothing")
    p.add_argument("--config", type=json.loads, default={}, help="model config changes, as JSON")
    args = parse_training(p)
    if args.eval_interval and not args.validation:
        raise SystemExit("--eval-interval scores the held-out split while training: give it with --validation")
    settings = {"family": args.family, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
                "warmup": args.warmup, "seed": args.seed, "validation": args.validation,
                "eval_interval": args.eval_interval}
    # Sets run one call at a time accumulate in one file (the same training settings); the model
    # config laid over the preset is each set's own (its "config"), as a set may need its own.
    result = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).exists() else {}
    written_before = {"validation": False, "eval_interval": None}  # files without them
    if result and {k: result.get(k, written_before.get(k)) for k in settings} != settings:
        raise SystemExit(f"{args.json} holds runs with other settings: write another file")
    for per_set in ("config", "shapes_patch"):  # once file-wide, now in each set's entry
        if result.pop(per_set, None) not in (None, {}, 4):
            raise SystemExit(f"{args.json} holds runs with a file-wide config: write another file")
    result.update(settings, device=device_name(), versions=versions())
    result.setdefault("sets", {})
    runs = [("with_image", {})] if args.validation else [("with_image", {}), ("question_alone", {"text_only": True})]
    if args.freeze_lm:
        runs.append(("frozen_lm", {"freeze_lm": True}))
    with tempfile.TemporaryDirectory() as tmp, validating(args.validation):
        for data in args.data or ["digits", "shapes:1000"]:
            config = {"vision": {"image": {"patch": args.shapes_patch}}} if data.startswith("shapes") else {}
            config = merge(config, args.config)
            entry = {"config": config, "commonest_answer": floor(data)}
            for name, options in runs:
                out = Path(tmp) / f"{data.replace(':', '_')}_{name}"
                start, cpu_start = time.perf_counter(), time.process_time()
                run = lmlineage.train(args.family, data=data, steps=args.steps, batch_size=args.batch_size,
                                      lr=args.lr, warmup=args.warmup, seed=args.seed, out=out, progress=False,
                                      options=options, config=config, eval_interval=args.eval_interval)
                seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
                entry[name] = {"eval_accuracy": run.metrics["accuracy"], "val_loss": run.val_loss,
                               "train_seconds": seconds, "train_cpu_seconds": cpu, **scored_by_generation(out, data)}
                if args.eval_interval:
                    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
                    entry[name]["curve"] = [{k: r[k] for k in ("step", "val_loss", "val_accuracy")}
                                            for r in records if "val_accuracy" in r]
                if name == "with_image":
                    model = lmlineage.load(out)
                    entry["parameters"] = sum(p.numel() for p in model.parameters())
                    entry["image_tokens"] = model.config.image_tokens
                print(json.dumps({data: {name: entry[name]}}), flush=True)
            result["sets"][data] = entry
            if args.json:
                Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
