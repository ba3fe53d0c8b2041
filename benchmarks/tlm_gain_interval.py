"""How sure is TLM's gain from the translation? A bootstrap over the held-out verse pairs.

Reads a TLM run (``xlm_tlm.py --keep DIR`` keeps one: DIR/tlm) and scores its held-out pairs the
way its evaluation does (``TranslationLMTask.evaluate``: batches of 64 in order of length, masks
drawn from the evaluation seed in the same order), keeping each pair's nats and masked tokens, so
the totals reproduce the run's reported losses. Then it resamples the pairs with replacement
(``--resamples`` times) and reports each side's gain (loss alone - loss beside) with its 95%
percentile interval.

    python benchmarks/tlm_gain_interval.py runs/tlm-wide/tlm --checkpoint last --json benchmarks/results/...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import lmlineage
from lmlineage.data.pairs import PairSplit
from lmlineage.objectives.mlm import MaskedLM
from lmlineage.tasks.held_out import EVAL_SEED
from lmlineage.tasks.tlm import TranslationLMTask

KEYS = ("source_beside", "source_alone", "target_beside", "target_alone")


def per_pair(task: TranslationLMTask, batch: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's summed nats and count of masked tokens."""
    predicted = batch["labels"] != MaskedLM.ignore_index
    logits, targets = task._logits(batch)
    nats = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="none")
    rows = predicted.nonzero()[:, 0]
    return (torch.zeros(n, dtype=torch.float64).index_add_(0, rows, nats.double()).numpy(),
            torch.bincount(rows, minlength=n).numpy())


@torch.no_grad()
def score(run: Path, checkpoint: str, batch_size: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    model = lmlineage.load(str(run / checkpoint)).eval()
    task = TranslationLMTask.for_tokenizer(model, model.tokenizer).eval()
    val = PairSplit.load(run / "data", "val")
    out = {key: ([], []) for key in KEYS}
    generator = torch.Generator().manual_seed(EVAL_SEED)
    for source, target in val.batches(batch_size):
        n = source.shape[0]
        task.objective.prepare(source, target, generator, sides=torch.zeros(n, dtype=torch.long))  # the joint masks
        for language, side in enumerate(("source", "target")):
            beside, alone = task.objective.mask_one_language(source, target, language, generator)
            for where, batch in (("beside", beside), ("alone", alone)):
                nats, tokens = per_pair(task, batch, n)
                out[f"{side}_{where}"][0].append(nats)
                out[f"{side}_{where}"][1].append(tokens)
    return {key: (np.concatenate(nats), np.concatenate(tokens)) for key, (nats, tokens) in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="a TLM run directory (its checkpoint and data/)")
    p.add_argument("--checkpoint", default="last", help="which of the run's checkpoints (default: last)")
    p.add_argument("--batch-size", type=int, default=64, help="the evaluation's batch size (the trainer's: 64)")
    p.add_argument("--resamples", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    run = Path(args.run)
    sums = score(run, args.checkpoint, args.batch_size)
    pairs = len(sums["source_beside"][0])
    rng = np.random.default_rng(args.seed)
    draws = rng.integers(pairs, size=(args.resamples, pairs))
    result = {"run": str(run), "checkpoint": args.checkpoint, "held_out_pairs": pairs, "resamples": args.resamples}
    for side in ("source", "target"):
        (beside, tokens), (alone, same_tokens) = sums[f"{side}_beside"], sums[f"{side}_alone"]
        assert np.array_equal(tokens, same_tokens), "beside and alone predict the same tokens"
        gain = lambda idx: (alone[idx].sum() - beside[idx].sum()) / tokens[idx].sum()  # noqa: E731
        boot = np.array([gain(idx) for idx in draws])
        low, high = np.percentile(boot, [2.5, 97.5])
        result[side] = {"loss_beside": beside.sum() / tokens.sum(), "loss_alone": alone.sum() / tokens.sum(),
                        "masked_tokens": int(tokens.sum()), "gain": float(gain(np.arange(pairs))),
                        "gain_95_interval": [float(low), float(high)]}
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
