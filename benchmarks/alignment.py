"""PPO (InstructGPT) and DPO against the SFT policy on a checkable task, over 3 seeds.

Each seed: SFT of a small LLaMA-shaped policy of ours on demonstrations of the task, a reward model
on K-way rankings of its samples (held-out pairwise accuracy), then PPO-ptx against the reward
model and DPO on the same rankings. Scored greedily by exact match on 200 held-out prompts no stage
saw; the KL to the SFT policy per reply on the policy's own samples of them. The settings are
RLConfig's defaults, chosen on 200 validation prompts (disjoint from both), which also pick the
PPO and DPO step kept (early stopping); the held-out prompts are scored once, at the end.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/alignment.py [--task sort] [--seeds 0 1 2]

Writes benchmarks/results/alignment.json and alignment_seed{N}.png (reward, KL, losses per step).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from lmlineage.rl.stages import RLConfig, mean_sd, plot_curves, run  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="sort")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--ppo-steps", type=int, default=None)
    parser.add_argument("--ptx-control", action="store_true",
                        help="run PPO with its policy loss off (the ptx term's updates alone) instead; "
                             "writes alignment_ptx_control.json")
    args = parser.parse_args()
    if args.ptx_control:
        return ptx_control(args)
    torch.set_num_threads(1)
    RESULTS.mkdir(exist_ok=True)
    runs, start, load = [], time.time(), [os.getloadavg()[0]]
    for seed in args.seeds:
        cfg = RLConfig(task=args.task, seed=seed)
        if args.ppo_steps:
            cfg.ppo_steps = args.ppo_steps
        t = time.time()
        result = run(cfg, log=lambda line, s=seed: print(f"seed {s}: {line}", flush=True))
        result.pop("models")
        plot_curves(result, RESULTS / f"alignment_seed{seed}.png")
        result["wall_s"] = time.time() - t
        runs.append(result)
        load.append(os.getloadavg()[0])
    summary = {}
    for method in ("sft", "ppo", "dpo"):
        em = [r[method]["exact_match"] for r in runs]
        summary[method] = {"exact_match_mean": mean_sd(em)[0], "exact_match_sd": mean_sd(em)[1], "per_seed": em,
                           "val_exact_match": [r[method].get("val_exact_match") for r in runs]}
        if method != "sft":
            gains = [r[method]["exact_match"] - r["sft"]["exact_match"] for r in runs]
            kl = [r[method]["kl_to_sft"] for r in runs]
            summary[method].update({"gain_over_sft_mean": mean_sd(gains)[0], "gain_min": min(gains),
                                    "gains": gains, "kl_to_sft_mean": mean_sd(kl)[0], "kl_to_sft_max": max(kl),
                                    "kl_to_sft": kl, "chosen_step": [r[method]["chosen_step"] for r in runs]})
    rm = [r["reward_model"]["pairwise_accuracy"] for r in runs]
    summary["reward_model_pairwise_accuracy_mean"] = mean_sd(rm)[0]
    summary["reward_model_pairwise_accuracy"] = rm
    out = {"command": " ".join(["python", *sys.argv]),
           "device": f"2-core CPU, shared with other work, 1 thread, load average {min(load):.1f}-{max(load):.1f}",
           "task": args.task, "seeds": args.seeds, "config": asdict(RLConfig(task=args.task)), "summary": summary,
           "wall_s": time.time() - start,
           "runs": [{k: v for k, v in r.items() if k != "config"} for r in runs]}
    (RESULTS / "alignment.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


def ptx_control(args) -> None:
    """The control for PPO-ptx: the same run, the clipped objective's weight 0, so whatever it gains
    over SFT is the pretraining-mix term's supervised steps (and the value function's), not RL's."""
    torch.set_num_threads(1)
    runs, start, load = [], time.time(), [os.getloadavg()[0]]
    for seed in args.seeds:
        cfg = RLConfig(task=args.task, seed=seed, ppo_policy_coef=0.0)
        result = run(cfg, methods=("ppo",), log=lambda line, s=seed: print(f"seed {s}: {line}", flush=True))
        result.pop("models")
        runs.append({"seed": seed, "sft": result["sft"]["exact_match"],
                     **{k: v for k, v in result["ppo"].items() if k != "curve"}})
        load.append(os.getloadavg()[0])
    out = {"command": " ".join(["python", *sys.argv]),
           "device": f"2-core CPU, shared with other work, 1 thread, load average {min(load):.1f}-{max(load):.1f}",
           "config": asdict(RLConfig(task=args.task, ppo_policy_coef=0.0)), "wall_s": time.time() - start,
           "gain_over_sft_mean": mean_sd([r["exact_match"] - r["sft"] for r in runs])[0], "runs": runs}
    (RESULTS / "alignment_ptx_control.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
