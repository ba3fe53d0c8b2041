"""Shared helpers for benchmark scripts: interleaved timing, medians, one printed table."""

from __future__ import annotations

import os
import platform
import shlex
import statistics
import sys
import time

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
