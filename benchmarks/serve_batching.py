"""`lmlineage serve` throughput: the same concurrent streaming requests (official `openai` client,
loopback HTTP) served with continuous batching (every request joins the running batch) and one at
a time (``--max-batch 1``: the others wait their turn). Greedy, so both modes must return the same
texts (checked). Reports wall time, generated tokens/s, time to first token (p50, p99) and the
throughput ratio; writes the raw numbers as JSON.

    python benchmarks/serve_batching.py --preset tiny --requests 64 --out benchmarks/results/serve_batching.json
"""

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import openai
import torch

from common import device_name, versions
from lmlineage.core.registry import get_family
from lmlineage.models import build_model
from lmlineage.serve import serving
from lmlineage.serve.app import Served
from lmlineage.tokenizers.hf import train as train_tokenizer

TEXT = ("The quick brown fox jumps over the lazy dog. What is the capital of France? Paris is the capital. "
        "To be, or not to be, that is the question. ") * 20


def model_for(family: str, preset: str):
    tok = train_tokenizer("bpe", [TEXT], vocab_size=300)
    torch.manual_seed(0)
    model = build_model(get_family(family).config(preset, vocab_size=tok.vocab_size)).eval()
    model.tokenizer = tok
    return model


async def one(client, name, prompt, n):
    start = time.perf_counter()
    first, pieces, tokens = None, [], 0
    stream = await client.completions.create(model=name, prompt=prompt, max_tokens=n, temperature=0, stream=True,
                                             stream_options={"include_usage": True})
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].text:
            first = first or time.perf_counter() - start
            pieces.append(chunk.choices[0].text)
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return "".join(pieces), first, tokens


def run(model, max_batch, prompts, lengths):
    served = Served(model, "bench", max_batch=max_batch)
    try:
        with serving(served) as url:
            async def everyone():
                client = openai.AsyncOpenAI(base_url=url, api_key="unused", timeout=3600, max_retries=0)
                await one(client, "bench", prompts[0], 2)  # warm-up
                start = time.perf_counter()
                results = await asyncio.gather(*(one(client, "bench", p, n) for p, n in zip(prompts, lengths)))
                return results, time.perf_counter() - start

            results, wall = asyncio.run(everyone())
    finally:
        served.close()
    ttft = sorted(r[1] for r in results)
    tokens = sum(r[2] for r in results)
    return {"max_batch": max_batch, "wall_s": wall, "tokens": tokens, "tokens_per_s": tokens / wall,
            "ttft_p50_s": statistics.median(ttft), "ttft_p99_s": ttft[round(0.99 * (len(ttft) - 1))],
            "busiest_step_rows": served.batcher.busiest, "decode_steps": served.batcher.steps,
            "texts": [r[0] for r in results]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", default="llama")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=32, help="the longest request's; others ask for 16 to this")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="write the raw numbers here (JSON)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = model_for(args.family, args.preset)
    words = TEXT.split()
    prompts = [" ".join(words[i % 30 : i % 30 + 1 + i % 7]) for i in range(args.requests)]
    lengths = [16 + i % (args.max_tokens - 15) for i in range(args.requests)]
    batched = run(model, args.requests, prompts, lengths)
    serial = run(model, 1, prompts, lengths)
    assert batched["texts"] == serial["texts"], "continuous batching changed a greedy answer"
    ratio = batched["tokens_per_s"] / serial["tokens_per_s"]
    for name, r in (("continuous batching", batched), ("one at a time", serial)):
        print(f"{name:>20}: {r['tokens']} tokens in {r['wall_s']:.2f} s = {r['tokens_per_s']:.1f} tokens/s, "
              f"time to first token p50 {r['ttft_p50_s'] * 1000:.0f} ms, p99 {r['ttft_p99_s'] * 1000:.0f} ms, "
              f"{r['decode_steps']} decoding steps (at most {r['busiest_step_rows']} rows)")
    print(f"throughput ratio (continuous / one at a time): {ratio:.2f}")
    print(f"device: {device_name()}; {versions(openai)}")
    if args.out:
        for r in (batched, serial):
            del r["texts"]
        record = {"family": args.family, "preset": args.preset, "requests": args.requests, "prompts": prompts,
                  "max_tokens": lengths, "threads": args.threads, "device": device_name(), "versions": versions(openai),
                  "continuous": batched, "one_at_a_time": serial, "ratio": ratio}
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
