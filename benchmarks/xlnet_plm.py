"""XLNet's permutation LM learns: held-out loss at the predicted positions (the last 1/6 of each
random factorization order, two-stream attention, the memory of the previous segment) against
the best context-free model of the very same tokens (their unigram entropy) and the accuracy of
always guessing the most frequent one.

Trains xlnet (tiny preset: 4 layers, width 128, windows of 64 = 2 segments of 32 with a memory
of 32) on char-level tinyshakespeare (nanoGPT's split) and evaluates on the whole validation
split, the same orders every evaluation.

    python benchmarks/xlnet_plm.py --steps 600 --json benchmarks/results/xlnet_plm.json
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from common import footer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)  # a shared, loaded host: one thread each
    import lmlineage

    out = Path(tempfile.mkdtemp(prefix="xlnet-plm-")) / "run"
    t0 = time.perf_counter()
    result = lmlineage.train("xlnet", preset=args.preset, data=str(DATA), tokenizer="char", steps=args.steps,
                             batch_size=args.batch_size, lr=args.lr, warmup=args.warmup, seed=1337, out=out,
                             progress=False, sample_tokens=0)
    seconds = time.perf_counter() - t0
    m = result.metrics
    print(result.report)
    margin = m["unigram_loss"] - result.val_loss
    print(f"held-out loss at the predicted positions {result.val_loss:.4f} vs unigram {m['unigram_loss']:.4f} "
          f"(margin {margin:.4f} nats); accuracy {m['accuracy']:.3f} vs most frequent {m['unigram_accuracy']:.3f}; "
          f"{seconds:.0f} s")
    print(footer())
    if args.json:
        Path(args.json).write_text(json.dumps({
            "steps": args.steps, "batch_size": args.batch_size, "preset": args.preset, "lr": args.lr,
            "warmup": args.warmup, "seconds": seconds,
            "val_loss": result.val_loss, "metrics": m, "margin_under_unigram": margin, "footer": footer(),
            "unit": "nats per predicted character"}, indent=2) + "\n")


if __name__ == "__main__":
    main()
