"""NNLM (Bengio et al. 2003) against the interpolated modified-Kneser-Ney n-gram LM, on one word split.

    python benchmarks/nnlm_vs_ngram.py                       # the built-in Shakespeare corpus
    python benchmarks/nnlm_vs_ngram.py --chars 600000 --steps 300   # a smaller setting
    python benchmarks/nnlm_vs_ngram.py --corpus imdb --chars 6000000 --min-count 5   # modern film reviews

Data: the built-in corpus (optionally its first ``--chars`` characters), split as every classic
family splits it (``split_text``: the last 10% of the text, from a line break), words as the n-gram
LM reads them, words seen fewer than ``--min-count`` times in the training part -> ``<unk>``, for
both models. Both predict the same held-out tokens: every word and one ``</s>`` per sentence, each
from its own sentence only.

Reported: the perplexity of the n-gram (modified Kneser-Ney, orders 2..5: the best is the one to
beat), of the NNLM alone, and of the NNLM interpolated with the best n-gram as the paper does
(Sec. 4): the mixture weight is fitted by EM on one half of the held-out tokens and scores the
other half, and vice versa (cross-fitting, so no weight sees the tokens it scores).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lmlineage.classic.ngram import NGramLM
from lmlineage.tokenizers.word import sentences_from_text
import lmlineage
from lmlineage.classic.word_lm import cross_fitted_mixture, split_corpus
from lmlineage.core.registry import get_family
from lmlineage.data.corpora import load_corpus, split_text


CORPORA = ("shakespeare", "imdb")


def corpus_text(corpus: str = "shakespeare") -> str:
    """The benchmark's text: a built-in corpus's documents, one line break between them (for the
    word-level models a line is a sentence; an ``imdb`` review is a few paragraphs)."""
    if corpus not in CORPORA:
        raise SystemExit(f"--corpus {corpus!r}: not one of {', '.join(CORPORA)}")
    return "\n".join(load_corpus(corpus))


def ngram_scores(train_text: str, val_text: str, orders, min_count: int) -> dict[int, np.ndarray]:
    train, val = sentences_from_text(train_text), sentences_from_text(val_text)
    return {n: NGramLM.fit(train, order=n, method="mkn", min_count=min_count).token_logprobs(val) for n in orders}


def run(chars: int | None = None, steps: int = 600, batch_size: int = 64, context: int = 64, lr: float = 3e-3,
        warmup: int = 50, preset: str = "small", order: int | None = None, hidden: int | None = None,
        dim: int | None = None, direct: bool = False, min_count: int = 2, seed: int = 1337,
        progress: bool = True, out: str | None = None, corpus: str = "shakespeare") -> dict:
    text = corpus_text(corpus)
    if chars:
        text = text[:chars]
    train_text, val_text = split_text(text)
    tok, train_ids, _, val_ids = split_corpus([text], min_count)

    t0 = time.perf_counter()
    ngrams = ngram_scores(train_text, val_text, range(2, 6), min_count)
    ngram_seconds = time.perf_counter() - t0
    for lp in ngrams.values():
        assert len(lp) == len(val_ids), "the n-gram LM and the word tokenizer must predict the same tokens"

    family = get_family("nnlm")
    preset_config = family.config(preset)
    overrides = {"direct": direct or preset_config.direct, **({"order": order} if order else {}),
                 **({"hidden": hidden} if hidden else {}), **({"embed_dim": dim} if dim else {})}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nnlm-bench-") as tmp:
        run_dir = Path(out or tmp) / "run"
        corpus_file = Path(tmp) / "corpus.txt"
        corpus_file.write_text(text)
        lmlineage.train("nnlm", data=str(corpus_file), out=run_dir, preset=preset, seed=seed, progress=progress,
                        options={"min_count": min_count}, config=overrides, steps=steps, batch_size=batch_size,
                        context=context, lr=lr, warmup=warmup, eval_batches=20)
        model = family.load(run_dir / "best")
        nnlm = model.token_logprobs(torch.as_tensor(val_ids, dtype=torch.long)).double().numpy()
        cfg = model.config
    nnlm_seconds = time.perf_counter() - t0

    best_order = max(ngrams, key=lambda n: ngrams[n].sum())
    mixed_nats, lams = cross_fitted_mixture(nnlm, ngrams[best_order])
    return {
        "corpus": corpus, "corpus_chars": len(text), "train_words": int(len(train_ids)), "heldout_tokens": int(len(val_ids)),
        "vocab": tok.vocab_size, "min_count": min_count,
        "oov_rate": float((val_ids == tok.unk_id).mean()),
        "ngram_perplexity": {n: math.exp(-lp.mean()) for n, lp in ngrams.items()},
        "best_ngram_order": best_order,
        "nnlm_perplexity": math.exp(-nnlm.mean()),
        "interpolated_perplexity": math.exp(mixed_nats),
        "mixture_weights_nnlm": lams,
        "nnlm": {"order": cfg.order, "m": cfg.embed_dim, "h": cfg.hidden, "direct": cfg.direct,
                 "steps": steps, "batch_size": batch_size, "context": context, "lr": lr,
                 "train_tokens_seen": steps * batch_size * context,
                 "parameters": sum(p.numel() for p in model.parameters())},
        "seconds": {"ngram_fit_and_score_4_orders": ngram_seconds, "nnlm_train_and_score": nnlm_seconds},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", choices=CORPORA, default="shakespeare")
    p.add_argument("--chars", type=int, default=None, help="use the corpus's first N characters")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--context", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--preset", default="small")
    p.add_argument("--order", type=int, default=None)
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--dim", type=int, default=None)
    p.add_argument("--direct", action="store_true")
    p.add_argument("--min-count", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    r = run(args.chars, args.steps, args.batch_size, args.context, args.lr, preset=args.preset, order=args.order,
            hidden=args.hidden, dim=args.dim, direct=args.direct, min_count=args.min_count,
            corpus=args.corpus)
    print(f"## NNLM vs modified-KN n-gram ({r['train_words']:,} training words, {r['heldout_tokens']:,} held-out "
          f"tokens, vocabulary {r['vocab']:,}, held-out <unk> rate {r['oov_rate']:.3f})")
    print("| model | held-out perplexity |\n|---|---|")
    for n, ppl in r["ngram_perplexity"].items():
        print(f"| {n}-gram, interpolated modified Kneser-Ney | {ppl:.2f} |")
    nn = r["nnlm"]
    print(f"| NNLM (n={nn['order']}, m={nn['m']}, h={nn['h']}, direct={nn['direct']}; {nn['steps']} steps x "
          f"{nn['batch_size']}x{nn['context']} words) | {r['nnlm_perplexity']:.2f} |")
    print(f"| NNLM + {r['best_ngram_order']}-gram, mixture weight fitted on the other half (NNLM weight "
          f"{r['mixture_weights_nnlm'][0]:.3f} / {r['mixture_weights_nnlm'][1]:.3f}) | "
          f"{r['interpolated_perplexity']:.2f} |")
    print(f"seconds: {r['seconds']}; threads: {torch.get_num_threads()}; torch {torch.__version__}")
    print("command:", " ".join([os.path.basename(sys.executable)] + sys.argv))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n")


if __name__ == "__main__":
    main()
