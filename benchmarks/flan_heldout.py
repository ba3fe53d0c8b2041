"""Flan-T5's claim at toy scale: instruction tuning on a mixture of tasks helps on a cluster of
tasks held out of it, zero-shot (Wei et al. 2022, section 4; Chung et al. 2022).

Two T5s of the same shape, seed, steps and learning rate are trained on the same mixture
(``data.instructions``) with one cluster held out: one on the instruction templates
(``flan:without=CLUSTER``), one on the inputs alone (``flan:without=CLUSTER:plain``, FLAN's "no
template" ablation). Both are then asked the held-out tasks zero-shot, with templates they never
saw, and greedy answers are scored: exact match and per-position character accuracy. A held-out
task with options (the picking tasks' three listed words) is also scored as FLAN scores such
tasks, by rank classification: the option the model finds most likely is its answer. The
in-mixture tasks are scored too (fresh inputs), so a model that learnt nothing is visible.

The defaults are the claim's run: the cluster ``pick_day`` ("Which word is a day: May, dog,
Monday?") held out, a BPE of 1,000 (a subword vocabulary, as T5's: each word one token), 3,000
steps. A picking cluster asks for a known operation on a known kind of word: the mixture picks
months, colours and animals from such lists, names each word's kind ("What kind of word is
dog?") and writes every word out (``copy_word``). Earlier designs, in BENCHMARKS.md:
``reorder_letters`` (reverse and sort letter strings), then ``pick_colour`` (validation) and
``pick_animal`` in bytes, then ``pick_month`` with the BPE scored by exact match alone.

    python benchmarks/flan_heldout.py --seed 1337 --threads 1 --json benchmarks/results/flan_heldout_pick_day_seed1337_bpe.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import footer  # noqa: E402

import lmlineage  # noqa: E402
from lmlineage.data import instructions  # noqa: E402
from lmlineage.generation import generate_text  # noqa: E402
from lmlineage.tasks.instruction_tuning import InstructionTuningTask  # noqa: E402


def char_accuracy(answer: str, reference: str) -> float:
    """Characters right at their position, over the longer of the two strings."""
    same = sum(a == b for a, b in zip(answer, reference))
    return same / max(len(answer), len(reference), 1)


def score(model, pairs: list[tuple[str, str]], batch: int = 50) -> dict:
    model.eval()
    answers = []
    for start in range(0, len(pairs), batch):
        sources = [s for s, _ in pairs[start : start + batch]]
        answers += generate_text(model, sources, max_new_tokens=24, temperature=0.0)
    refs = [t for _, t in pairs]
    return {"exact_match": sum(a.strip() == r for a, r in zip(answers, refs)) / len(refs),
            "char_accuracy": sum(char_accuracy(a.strip(), r) for a, r in zip(answers, refs)) / len(refs),
            "examples": [{"source": s, "answer": a, "reference": r} for (s, r), a in list(zip(pairs, answers))[:3]]}


def rank_classification(model, pairs: list[tuple[str, str]], options: list[tuple[str, ...]]) -> dict:
    """FLAN's scoring of a task with options, as `train` and `eval` report it for a held-out cluster."""
    task = InstructionTuningTask.for_tokenizer(model, model.tokenizer).eval()
    return task.rank_classification(model.tokenizer, pairs, options)


ARMS = {"instructions": "flan:without={}", "no_templates": "flan:without={}:plain"}


def train_arm(arm: str, args, held: dict, options: dict, in_mixture: list) -> dict:
    data = ARMS[arm].format(args.cluster)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run = lmlineage.train("flan-t5", preset=args.preset, data=data, steps=args.steps,
                              batch_size=args.batch_size, lr=args.lr, seed=args.seed, out=Path(tmp) / arm,
                              progress=False, eval_interval=max(args.steps // 4, 1), vocab_size=args.vocab_size or None)
        model = lmlineage.load(str(Path(tmp) / arm / "best"))
        result = {"data": data, "train_s": round(time.perf_counter() - start, 1), "val_loss": run.val_loss,
                  "held_out": {task: score(model, pairs) for task, pairs in held.items()},
                  "held_out_options": {task: rank_classification(model, held[task], opts)
                                       for task, opts in options.items()},
                  "in_mixture_zero_shot": score(model, in_mixture)}
    for task, s in result["held_out"].items():
        print(f"{arm:13s} held-out {task:16s} exact {s['exact_match']:.3f} chars {s['char_accuracy']:.3f}", flush=True)
    for task, s in result["held_out_options"].items():
        print(f"{arm:13s} held-out {task:16s} rank classification {s['accuracy']:.3f} (chance {s['chance']:.3f})",
              flush=True)
    print(f"{arm:13s} in-mixture zero-shot exact {result['in_mixture_zero_shot']['exact_match']:.3f}", flush=True)
    return result


def summary(results: dict) -> dict:
    """Each arm's exact match and character accuracy, averaged over the held-out cluster's tasks,
    and its rank-classification accuracy over those with options (runs before it had none)."""
    out = {}
    for arm, r in results.items():
        out[arm] = {k: sum(s[k] for s in r["held_out"].values()) / len(r["held_out"])
                    for k in ("exact_match", "char_accuracy")}
        if ranked := r.get("held_out_options"):
            out[arm]["rank_classification"] = sum(s["accuracy"] for s in ranked.values()) / len(ranked)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cluster", default="pick_day", choices=instructions.CLUSTERS)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--vocab-size", type=int, default=1000,
                   help="a BPE of this size trained on the arm's data; 0: single bytes, the mixture's default")
    p.add_argument("--n-eval", type=int, default=100, help="held-out questions per task")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--arm", choices=["both", *ARMS], default="both",
                   help="train one arm only (two processes side by side; --merge joins their JSON)")
    p.add_argument("--merge", nargs=2, metavar="ARM_JSON", help="join two one-arm JSON files into one result")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    if args.merge:
        parts = [json.loads(Path(f).read_text()) for f in args.merge]
        if {part["args"]["arm"] for part in parts} != set(ARMS) or \
                len({json.dumps({k: v for k, v in part["args"].items() if k not in ("arm", "json")}) for part in parts}) != 1:
            sys.exit("--merge takes one JSON of each arm, run with the same arguments")
        out = {**parts[0], "args": {**parts[0]["args"], "arm": "both"},
               "results": {arm: r for part in parts for arm, r in part["results"].items()}}
    else:
        held = instructions.held_out(args.cluster, args.n_eval)
        options = instructions.held_out_options(args.cluster, args.n_eval)
        # The mixture's own tasks asked zero-shot too (fresh inputs): what each arm learnt at all.
        in_mixture = [pair for task in instructions.TASKS if task.cluster != args.cluster
                      for pair in instructions.examples(task, 10, "in-mixture", formats={"zero-shot": 1.0})]
        arms = list(ARMS) if args.arm == "both" else [args.arm]
        out = {"claim": "instruction-tuned T5 scores above the same T5 tuned without templates on a held-out "
                        "cluster, zero-shot", "cluster": args.cluster, "tasks": list(held), "args": vars(args),
               "results": {arm: train_arm(arm, args, held, options, in_mixture) for arm in arms}, "footer": footer()}
    out["summary"] = summary(out["results"])
    print(json.dumps(out["summary"], indent=1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
