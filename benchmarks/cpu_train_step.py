"""CPU training step: lmlineage GPT-2 `tiny` vs `transformers` GPT2LMHeadModel (sdpa), same
shape (4 layers, 4 heads, width 128, context 64, batch 12, vocab 65), fp32, the same AdamW
hyperparameters and gradient clipping. Ours steps exactly as our trainer does (fused AdamW); the
peer runs with torch's default AdamW (multi-tensor, what `transformers`' Trainer uses by
default) and, as a second row, with the fused kernel too, so the ratio to either is visible.
Interleaved rounds; medians and ratios ours/peer (goal <= 0.8)."""

import argparse

import torch
import transformers

from common import footer, interleave, table, timed
from lmlineage.core.registry import get_family
from lmlineage.models import build_model
from lmlineage.objectives.clm import CausalLM
from lmlineage.train.trainer import parameter_groups


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    vocab, batch, context = 65, 12, 64
    ours = build_model(get_family("gpt2").config("tiny", vocab_size=vocab))
    peer = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=vocab, n_embd=128, n_layer=4, n_head=4, n_positions=64, resid_pdrop=0.0, embd_pdrop=0.0,
        attn_pdrop=0.0, attn_implementation="sdpa"))
    x = torch.randint(0, vocab, (batch, context))
    y = torch.randint(0, vocab, (batch, context))
    objective = CausalLM()

    def make_step(model, loss_fn, fused):
        opt = torch.optim.AdamW(parameter_groups(model, 0.1), lr=1e-3, betas=(0.9, 0.99), fused=fused)

        def step():
            loss = loss_fn(model)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step

    peer_fused = transformers.GPT2LMHeadModel(peer.config)
    peer_fused.load_state_dict(peer.state_dict())
    steps = {
        "lmlineage": make_step(ours, lambda m: objective.loss(m(x).logits, y), fused=True),
        "transformers": make_step(peer, lambda m: objective.loss(m(x).logits, y), fused=False),
        "transformers+fused AdamW": make_step(peer_fused, lambda m: objective.loss(m(x).logits, y), fused=True),
    }
    for fn in steps.values():
        timed(fn, 5)  # warm-up
    results = interleave(steps, args.runs, lambda fn: timed(fn, args.steps))
    print(table("CPU training step, GPT-2 tiny (B=12, T=64)", results, "ms/step", "lmlineage", "transformers", 1e3))
    print(table("same, peer with fused AdamW", {k: results[k] for k in ("lmlineage", "transformers+fused AdamW")},
                "ms/step", "lmlineage", "transformers+fused AdamW", 1e3).split("\n")[-1])
    print(footer(transformers))


if __name__ == "__main__":
    main()
