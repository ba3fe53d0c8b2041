"""CPU decoding: batch-1 greedy tokens/s of lmlineage vs `transformers` generate on the same
tiny GPT-2 (4 layers, 4 heads, width 128, context 256, vocab 65), same weights (ours loaded
from the reference directory). Interleaved rounds; medians and ratio ours/peer (goal >= 2)."""

import argparse
import tempfile
import time

import torch
import transformers

from common import footer, interleave, table
from lmlineage.generation import generate
from lmlineage.interop.reference import from_hf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--new-tokens", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    peer = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=65, n_embd=128, n_layer=4, n_head=4, n_positions=256, bos_token_id=0, eos_token_id=0,
        attn_implementation="sdpa")).eval()
    with tempfile.TemporaryDirectory() as d:
        peer.save_pretrained(d)
        ours = from_hf(d).eval()
    prompt = torch.randint(0, 65, (1, 16))

    def run_ours():
        return generate(ours, prompt, max_new_tokens=args.new_tokens)

    def run_peer():
        with torch.inference_mode():
            out = peer.generate(prompt, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                                do_sample=False, pad_token_id=0)
        return out[:, prompt.shape[1]:]

    assert torch.equal(run_ours(), run_peer()), "the two decoders disagree"

    def tokens_per_s(fn):
        start = time.perf_counter()
        fn()
        return args.new_tokens / (time.perf_counter() - start)

    results = interleave({"lmlineage": run_ours, "transformers": run_peer}, args.runs, tokens_per_s)
    print(table(f"CPU greedy decoding, GPT-2 tiny, batch 1, {args.new_tokens} new tokens", results, "tokens/s",
                "lmlineage", "transformers", higher_is_better=True))
    print(footer(transformers))


if __name__ == "__main__":
    main()
