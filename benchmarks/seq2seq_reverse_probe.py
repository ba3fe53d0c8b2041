"""How fast an encoder-decoder learns to reverse digit strings (``reverse:4-10``), by family: a
probe of position handling. T5 has no position embeddings (relative buckets in self-attention,
nothing in cross-attention), so it must find each output's source position from relative offsets
alone; the Transformer adds absolute sinusoids. Same data, steps, batch, rate and seed; scored
greedy on 100 fresh strings (exact match and per-position characters).

    python benchmarks/seq2seq_reverse_probe.py --family flan-t5 --family transformer --steps 600 \
        --json benchmarks/results/seq2seq_reverse_probe.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import footer  # noqa: E402
from flan_heldout import score  # noqa: E402

import lmlineage  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--family", action="append", required=True)
    p.add_argument("--steps", type=int, nargs="+", default=[600])
    p.add_argument("--config", default=None, help="JSON overrides of the tiny preset, for every family")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rng = random.Random(5)
    strings = ["".join(rng.choices("0123456789", k=rng.randint(4, 10))) for _ in range(100)]
    pairs = [(x, x[::-1]) for x in strings]
    runs = []
    for family in args.family:
        for steps in args.steps:
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                run = lmlineage.train(family, preset="tiny", data="reverse:4-10", steps=steps, batch_size=args.batch_size,
                                      lr=args.lr, seed=1, out=Path(tmp) / "run", progress=False, eval_interval=steps,
                                      config=json.loads(args.config) if args.config else None)
                s = score(lmlineage.load(str(Path(tmp) / "run" / "best")), pairs)
            runs.append({"family": family, "steps": steps, "val_loss": run.val_loss, "exact_match": s["exact_match"],
                         "char_accuracy": s["char_accuracy"], "examples": s["examples"],
                         "seconds": round(time.perf_counter() - start, 1)})
            print(f"{family:12s} {steps:5d} steps: exact {s['exact_match']:.2f} chars {s['char_accuracy']:.3f}",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": runs, "footer": footer()}, indent=1) + "\n")


if __name__ == "__main__":
    main()
