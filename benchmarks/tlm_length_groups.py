"""TLM's batches of pairs of similar length (XLM's ``group_by_size``) against uniform draws: time
per training step and held-out loss after the same steps.

Each arm is `lmlineage.train("xlm", objective="tlm", data="bible-en-zh")`, the CLI's path; the
uniform arm sets ``TranslationLMTask.length_groups = 1`` (the grouped arm keeps the task's 8). The
arms alternate, ``--repeats`` times each, and the medians and their ratio are reported. Seconds per
step come from the trainer's log (its nominal tokens per step over its tokens per second), so the
shared set-up (the BPE, the held-out evaluation) is not counted.

    python benchmarks/tlm_length_groups.py --json benchmarks/results/tlm_length_groups.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

import lmlineage
from lmlineage.tasks.tlm import TranslationLMTask


def one_run(groups: int, args, work: Path) -> dict:
    TranslationLMTask.length_groups = groups
    out = work / f"groups{groups}-{time.time_ns()}"
    r = lmlineage.train("xlm", objective="tlm", data="bible-en-zh", steps=args.steps, batch_size=args.batch_size,
                        lr=1e-3, warmup=args.steps // 10, out=out, progress=False, sample_tokens=0)
    state = json.loads((out / "last" / "trainer_state.json").read_text())["config"]
    nominal = state["batch_size"] * state["context"]
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [rec["tokens_per_s"] for rec in logged if "tokens_per_s" in rec][1:]  # the first holds warm-up
    shutil.rmtree(out, ignore_errors=True)
    return {"length_groups": groups, "seconds_per_step": nominal / statistics.median(rates), "val_loss": r.val_loss,
            **{k: r.metrics[k] for k in ("source_beside_loss", "source_alone_loss", "target_beside_loss",
                                         "target_alone_loss")}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="tlm-groups-"))
    runs = []
    try:
        for _ in range(args.repeats):
            for groups in (1, 8):
                runs.append(one_run(groups, args, work))
                print(json.dumps(runs[-1]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    median = {g: {k: statistics.median(r[k] for r in runs if r["length_groups"] == g)
                  for k in ("seconds_per_step", "val_loss")} for g in (1, 8)}
    result = {"device": f"2-core CPU, {args.threads} threads", "steps": args.steps, "batch_size": args.batch_size,
              "xlm": "tiny", "runs": runs, "median": median,
              "step_time_ratio_uniform_over_grouped": median[1]["seconds_per_step"] / median[8]["seconds_per_step"]}
    print(json.dumps({"median": median, "ratio": result["step_time_ratio_uniform_over_grouped"]}, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
