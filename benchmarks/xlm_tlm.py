"""XLM's three objectives learn, and TLM reads the other language (Lample & Conneau 2019, section 3).

Trains `xlm` (tiny) three times from the library's `train`, the same path as the CLI:
- CLM and MLM on the built-in Shakespeare text (language 0), scored on its held-out 10% against
  the unigram baseline: the entropy of the held-out tokens themselves (no predictor that ignores
  context does better on them; MLM predicts a uniform 15% sample of the same tokens);
- TLM on the English -> Chinese verse pairs (`bible-en-zh`, one BPE for both languages), scored on
  all held-out pairs: the joint masked loss against the unigram entropy of the masked tokens, then
  each language's masked tokens predicted beside the translation and alone, the same tokens masked
  the same way (tasks/tlm.py). The claim: beside < alone for both languages, by `--margin` nats.

    python benchmarks/xlm_tlm.py --json benchmarks/results/xlm_tlm.json
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import lmlineage


def token_entropy(tokens) -> float:
    counts = np.bincount(np.asarray(tokens, dtype=np.int64))
    share = counts[counts > 0] / counts.sum()
    return float(-(share * np.log(share)).sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tlm-steps", type=int, default=1500)
    p.add_argument("--lm-steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--tlm-data", default="bible-en-zh", help="the pairs TLM reads (reverse:4-10: a digit string "
                   "and its reversal, where every masked digit can be read off the other side)")
    p.add_argument("--margin", type=float, default=0.1, help="nats by which beside must beat alone")
    p.add_argument("--eval-interval", type=int, default=None, help="TLM: also evaluate every N steps (the curve)")
    p.add_argument("--config", default=None, help="JSON config overrides of the tiny preset, e.g. a wider model: "
                   "'{\"d_model\": 256, \"attention\": {\"n_head\": 4}}'")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", choices=("clm", "mlm", "tlm"), action="append", default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--keep", default=None, help="copy the runs here before the work directory goes (DIR/tlm: "
                   "for tlm_gain_interval.py)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="xlm-bench-"))
    results = {"device": "2-core CPU, shared with other work", "threads": args.threads, "preset": "tiny",
               "batch_size": args.batch_size, "lr": args.lr, "warmup": args.warmup, "margin": args.margin,
               "tlm_data": args.tlm_data, "config": args.config, "runs": {}}
    try:
        for objective in args.only or ("clm", "mlm", "tlm"):
            tlm = objective == "tlm"
            steps = args.tlm_steps if tlm else args.lm_steps
            start = time.time()
            r = lmlineage.train("xlm", objective=objective, data=args.tlm_data if tlm else None, steps=steps,
                                batch_size=args.batch_size, lr=args.lr, warmup=args.warmup, out=work / objective, progress=False,
                                sample_tokens=0, eval_interval=args.eval_interval if tlm else None,
                                config=json.loads(args.config) if args.config else None)
            run = {"steps": steps, "seconds": round(time.time() - start, 1), "val_loss": r.val_loss,
                   "metrics": r.metrics}
            if tlm:
                m = r.metrics
                run["unigram_loss"] = m["unigram_loss"]
                run["gain_source"] = m["source_alone_loss"] - m["source_beside_loss"]
                run["gain_target"] = m["target_alone_loss"] - m["target_beside_loss"]
                run["reads_the_other_language"] = min(run["gain_source"], run["gain_target"]) > args.margin
                records = (work / objective / "metrics.jsonl").read_text().splitlines()
                run["curve"] = [json.loads(line) for line in records if "val_loss" in line]
            else:
                from lmlineage.data.tokens import open_token_file

                val = open_token_file(work / objective / "data" / "val.bin")
                run["unigram_loss"] = token_entropy(np.asarray(val))
            run["under_unigram"] = r.val_loss < run["unigram_loss"]
            results["runs"][objective] = run
            print(json.dumps({objective: run}, indent=1), flush=True)
    finally:
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    ok = all(r["under_unigram"] for r in results["runs"].values()) and \
        results["runs"].get("tlm", {}).get("reads_the_other_language", True)
    print("claims hold" if ok else "CLAIMS FAIL")
    if not math.isfinite(sum(r["val_loss"] for r in results["runs"].values())):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
