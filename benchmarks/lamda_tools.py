"""LaMDA's toolset claim at toy scale (Thoppilan et al. 2022, section 6.2): a dialogue model that
calls a calculator answers multi-digit arithmetic it cannot do by itself.

One lamda model is trained (`lmlineage train lamda`, the generated ``tool-dialogues`` corpus) and
asked held-out arithmetic questions (2- to 4-digit sums, differences and products, drawn from
another seed than the training dialogues) greedily, twice: with the toolset (its ``Call:`` lines
run the calculator, whose ``Result:`` goes back into the context) and without (the same model
writes its own ``Result:`` line). A reply is right when it states the exact value.

    python benchmarks/lamda_tools.py --threads 1 --json benchmarks/results/lamda_tools.json
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
from common import footer  # noqa: E402

import lmlineage  # noqa: E402
from lmlineage.data.tool_dialogues import arithmetic_question, dialogues  # noqa: E402
from lmlineage.rl.tools import ToolCallError, Toolset, respond  # noqa: E402


def right(reply: str, value: int) -> bool:
    return str(value) in re.findall(r"-?\d+", reply)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--questions", type=int, default=100)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    seen = {d.splitlines()[0] for d in dialogues()}
    rng = random.Random("lamda-held-out")
    questions = []
    while len(questions) < args.questions:
        question, expression, value = arithmetic_question(rng)
        if f"User: {question}" not in seen:
            questions.append((question, expression, value))
    toolset = Toolset.default()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run = lmlineage.train("lamda", data="tool-dialogues", steps=args.steps, batch_size=args.batch_size,
                              context=args.context, lr=args.lr, seed=args.seed, out=Path(tmp) / "lamda",
                              progress=False, eval_interval=max(args.steps // 4, 1))
        train_s = time.perf_counter() - start
        model = lmlineage.load(str(Path(tmp) / "lamda" / "best"))
        model.eval()
        arms = {}
        for arm, tools in (("with_calculator", toolset), ("without_tools", None)):
            rows = []
            for question, expression, value in questions:
                try:
                    turn = respond(model, question, tools, max_line_tokens=48)
                    rows.append({"question": question, "value": value, "transcript": turn.transcript,
                                 "right": right(turn.reply, value), "calls": len(turn.calls)})
                except ToolCallError as e:
                    rows.append({"question": question, "value": value, "error": str(e), "right": False, "calls": 0})
            accuracy = sum(r["right"] for r in rows) / len(rows)
            by_op = {op: sum(r["right"] for r, q in zip(rows, questions) if f" {op} " in q[1]) /
                     max(1, sum(f" {op} " in q[1] for q in questions)) for op in "+-*"}
            arms[arm] = {"accuracy": accuracy, "by_operator": by_op,
                         "calls_made": sum(r["calls"] > 0 for r in rows) / len(rows),
                         "call_errors": sum("error" in r for r in rows), "examples": rows[:4]}
            print(f"{arm:16s} right {accuracy:.3f}  by operator {by_op}  call errors {arms[arm]['call_errors']}",
                  flush=True)
    out = {"claim": "with the calculator, multi-digit arithmetic is answered right at a stated rate where the same "
                    "model without tools fails", "args": vars(args), "val_loss": run.val_loss,
           "train_s": round(train_s, 1), "arms": arms, "footer": footer()}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
