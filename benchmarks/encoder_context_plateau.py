"""When does a small encoder start reading context? Held-out masked-LM accuracy at the positions
that show [MASK] (where only context can beat the most frequent token), over training steps, for
our BERT, `transformers`' BertForMaskedLM with the same shape and the same masked batches, and our
DeBERTa (relative positions) of the same width.

    python benchmarks/encoder_context_plateau.py --steps 1000            # the setting in BENCHMARKS.md

Same data for all: the first 300 KB of tinyshakespeare (a path given by --data), a 300-piece
WordPiece, windows of 64 tokens, batches of 16, AdamW (lr 2e-3, betas 0.9/0.98, weight decay 0.01,
20 warmup steps, gradient clipping at 1), no dropout difference (each model's default 0.1). The
masks come from our MaskedLM (15%, 80/10/10) and are the same for every contender: the training
batches from one seeded generator per contender, the validation masks from a fixed seed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from common import footer
from lmlineage.core.registry import get_family
from lmlineage.models import build_model
from lmlineage.objectives.mlm import MaskedLM
from lmlineage.tasks.masked_lm import MaskedLMTask
from lmlineage.tokenizers import build_tokenizer

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"


def at_mask_accuracy(logits_fn, encoded, mask_id) -> tuple[float, float]:
    """(accuracy at the positions showing [MASK], that of always the most frequent token there)."""
    labels, ids = encoded["labels"], encoded["input_ids"]
    at_mask = (labels != MaskedLM.ignore_index) & (ids == mask_id)
    with torch.no_grad():
        predicted = logits_fn(ids).argmax(-1)
    targets = labels[at_mask]
    return float((predicted[at_mask] == targets).float().mean()), float(torch.bincount(targets).max() / len(targets))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--chars", type=int, default=300_000)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--every", type=int, default=200)
    p.add_argument("--lr", type=float, default=2e-3)
    args = p.parse_args()
    from transformers import BertConfig, BertForMaskedLM
    import transformers

    text = Path(args.data).read_text()[: args.chars]
    tok = build_tokenizer("wordpiece", [text], 300)
    ids = torch.tensor(tok.encode(text))
    split = int(len(ids) * 0.9)
    train, val = ids[:split], ids[split:]
    length, batch = 64, 16

    torch.manual_seed(0)
    ours_cfg = dict(vocab_size=tok.vocab_size, max_positions=length + 2)
    bert = build_model(get_family("bert").config("tiny", **ours_cfg, heads=["mlm"]))
    deberta = build_model(get_family("deberta").config("tiny", **ours_cfg, heads=["mlm"]))
    reference = BertForMaskedLM(BertConfig(vocab_size=tok.vocab_size, hidden_size=128, num_hidden_layers=2,
                                           num_attention_heads=2, intermediate_size=512,
                                           max_position_embeddings=length + 2, attn_implementation="eager"))
    masking = MaskedLMTask.for_tokenizer(bert, tok)  # the masks, for every contender
    contenders = {
        "ours bert": (bert, lambda x: bert(x).logits),
        "transformers BertForMaskedLM": (reference, lambda x: reference(input_ids=x).logits),
        "ours deberta": (deberta, lambda x: deberta(x).logits),
    }
    windows = torch.stack([val[i:i + length] for i in range(0, len(val) - length, length)][:64])
    held_out = masking.encode(windows, torch.Generator().manual_seed(0))
    curves = {}
    for name, (model, logits_fn) in contenders.items():
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
        warm = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20))
        sampler = torch.Generator().manual_seed(1)
        curves[name], start = [], time.perf_counter()
        for step in range(args.steps + 1):
            if step % args.every == 0:
                model.eval()
                curves[name].append((step, *at_mask_accuracy(logits_fn, held_out, masking.objective.mask_id)))
                model.train()
            if step == args.steps:
                break
            starts = torch.randint(0, len(train) - length, (batch,), generator=sampler)
            encoded = masking.encode(torch.stack([train[i:i + length] for i in starts]), sampler)
            chosen = encoded["labels"] != MaskedLM.ignore_index
            logits = logits_fn(encoded["input_ids"])
            loss = masking.objective.loss(logits[chosen], encoded["labels"][chosen])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            warm.step()
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)

    print(f"## Held-out MLM accuracy at [MASK] positions (most frequent token: {curves['ours bert'][0][2]:.3f})")
    names = list(curves)
    print("| step | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for row in range(len(curves[names[0]])):
        print(f"| {curves[names[0]][row][0]} | " + " | ".join(f"{curves[n][row][1]:.3f}" for n in names) + " |")
    print(footer(transformers))


if __name__ == "__main__":
    main()
