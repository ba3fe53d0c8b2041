"""Transformer-XL's evaluation claim (Dai et al. 2019, section 3.2 and table 9): the memory lets a
model score a long text with a long attention span without recomputing it, where a vanilla
Transformer slides a window one token at a time and recomputes every position in it.

Trains transformer-xl (the tiny preset: 4 layers, width 128, segments of 32, memory 32, windows
of 4 segments) on char-level tinyshakespeare (nanoGPT's split), then scores the first
``--eval-tokens`` tokens of the validation split with the same weights:

- xl-memory: one stream, segment by segment, memory M = --mem-len (a token sees M + its place in
  the segment, at most M + S tokens, per layer);
- xl-no-memory: the same segments, memory 0 (each segment alone);
- vanilla-window: every token predicted from a fresh pass over the L = M + S tokens ending at it
  (equal attention span), nothing reused;
- unigram: the best context-free model of the scored characters (their entropy).

Writes the losses (nats per char), the wall times and the speed ratio as JSON.

    python benchmarks/xl_memory.py --steps 600 --json benchmarks/results/xl_memory.json
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import footer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"


@torch.no_grad()
def xl_stream(model, tokens, segment, mem_len):
    """Nats over the stream, read segment by segment with a memory of ``mem_len``, and seconds."""
    model.config = model.config.replace(segment=segment, mem_len=mem_len)
    x, y = tokens[None, :-1], tokens[None, 1:]
    start = time.perf_counter()
    logits = model(x).logits
    seconds = time.perf_counter() - start
    return float(torch.nn.functional.cross_entropy(logits[0], y[0], reduction="sum")), seconds


@torch.no_grad()
def vanilla_window(model, tokens, span, batch=64):
    """Nats with every token predicted from the ``span`` tokens ending at it, each window computed
    afresh (one pass, no memory, no segments); the first ``span - 1`` from one causal pass."""
    from lmlineage.core.cache import XLMemory

    x, y = tokens[:-1], tokens[1:]
    start = time.perf_counter()
    head = model(x[None, :span], cache=XLMemory(0)).logits[0]
    nats = float(torch.nn.functional.cross_entropy(head[:-1], y[: span - 1], reduction="sum"))
    windows = x.unfold(0, span, 1)  # window w ends at token w + span - 1 and predicts y[w + span - 1]
    for i in range(0, len(windows), batch):
        last = model(windows[i:i + batch], cache=XLMemory(0)).logits[:, -1]
        nats += float(torch.nn.functional.cross_entropy(last, y[span - 1 + i: span - 1 + i + len(last)],
                                                        reduction="sum"))
    return nats, time.perf_counter() - start


def unigram(tokens) -> float:
    counts = torch.bincount(tokens[1:]).double()
    share = counts[counts > 0] / counts.sum()
    return float(-(share * share.log()).sum())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--segment", type=int, default=32)
    p.add_argument("--mem-len", type=int, default=32)
    p.add_argument("--eval-tokens", type=int, default=4096)
    p.add_argument("--run", default=None, help="a trained transformer-xl run to score instead of training one")
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)  # a shared, loaded host: one thread each
    import lmlineage
    from lmlineage.data.tokens import open_token_file

    run = Path(args.run) if args.run else Path(tempfile.mkdtemp(prefix="xl-memory-")) / "run"
    train = {}
    if not args.run:
        t0 = time.perf_counter()
        result = lmlineage.train("transformer-xl", preset=args.preset, data=str(DATA), tokenizer="char",
                                 steps=args.steps, batch_size=args.batch_size, lr=1e-3, warmup=args.warmup, seed=1337,
                                 out=run, progress=False, sample_tokens=0, options={"mem_len": args.mem_len})
        train = {"steps": args.steps, "batch_size": args.batch_size, "warmup": args.warmup,
                 "seconds": time.perf_counter() - t0, "val_loss_whole_split": result.val_loss}
    model = lmlineage.load(run / "best").eval()
    val = open_token_file(run / "data" / "val.bin")  # the held-out 10%, as the run tokenized it
    tokens = torch.from_numpy(np.asarray(val[: args.eval_tokens + 1], dtype=np.int64))
    n = len(tokens) - 1
    span = args.mem_len + args.segment
    rows = {}
    for name, fn in (("xl-memory", lambda: xl_stream(model, tokens, args.segment, args.mem_len)),
                     ("xl-no-memory", lambda: xl_stream(model, tokens, args.segment, 0)),
                     (f"xl-memory-{4 * args.mem_len}",
                      lambda: xl_stream(model, tokens, args.segment, 4 * args.mem_len)),
                     ("vanilla-window", lambda: vanilla_window(model, tokens, span))):
        nats, seconds = fn()
        rows[name] = {"loss": nats / n, "seconds": seconds, "tokens_per_second": n / seconds}
        print(f"{name:>16}: loss {nats / n:.4f} nats/char | {seconds:.2f} s | {n / seconds:,.0f} tokens/s", flush=True)
    rows["unigram"] = {"loss": unigram(tokens)}
    whole = torch.from_numpy(np.asarray(val[:], dtype=np.int64))
    train["unigram_loss_whole_split"] = unigram(whole)
    print(f"{'unigram':>16}: loss {rows['unigram']['loss']:.4f}")
    speedup = rows["vanilla-window"]["seconds"] / rows["xl-memory"]["seconds"]
    print(f"attention span {span} (memory {args.mem_len} + segment {args.segment}); "
          f"xl-memory is {speedup:.1f}x faster than the vanilla sliding window")
    print(footer())
    if args.json:
        Path(args.json).write_text(json.dumps({
            "train": train, "eval_tokens": n, "segment": args.segment, "mem_len": args.mem_len, "span": span,
            "results": rows, "speedup_vanilla_over_xl": speedup, "footer": footer(),
            "unit": "nats per character (char tokenizer)"}, indent=2) + "\n")


if __name__ == "__main__":
    main()
