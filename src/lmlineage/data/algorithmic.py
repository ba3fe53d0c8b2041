"""Generated sequence-to-sequence tasks over digit strings: ``reverse`` and ``sort``.

Small enough that a tiny encoder-decoder learns them in minutes, hard enough that the decoder
must read the source through attention (reversal aligns target position i with source position
n-1-i; sorting needs the whole source): the quick checks of sequence-to-sequence machinery used
since Sutskever et al. 2014 (section 3.3 reverses the source) and Graves et al. 2014 (sorting).

Pairs are drawn from a seeded generator, so a name and its lengths always give the same data;
the validation split is drawn from another seed and never contains a training source.
"""

from __future__ import annotations

import random
import re

from ..core.errors import UserError

TASKS = {
    "reverse": lambda digits: digits[::-1],
    "sort": lambda digits: "".join(sorted(digits)),
}
DEFAULT_LENGTHS = (1, 10)
TRAIN_PAIRS, VAL_PAIRS = 20_000, 500
_NAME = re.compile(r"^(?P<task>[a-z]+)(?::(?P<low>\d+)-(?P<high>\d+))?$")


def digit_pairs(task: str, n: int, min_length: int = 1, max_length: int = 10, seed: int = 0,
                alphabet: str = "0123456789") -> list[tuple[str, str]]:
    """``n`` (source, target) pairs: random strings over ``alphabet`` of uniform length in
    [min_length, max_length], and their reversal or sorted order."""
    if task not in TASKS:
        raise UserError(f"unknown generated task {task!r}", f"choose one of: {', '.join(TASKS)}")
    if not 1 <= min_length <= max_length:
        raise UserError(f"lengths {min_length}-{max_length} are not 1 <= min <= max", "e.g. reverse:1-10")
    rng = random.Random(f"{task}-{seed}")  # str seeds hash deterministically (not PYTHONHASHSEED-dependent)
    pairs = []
    for _ in range(n):
        source = "".join(rng.choices(alphabet, k=rng.randint(min_length, max_length)))
        pairs.append((source, TASKS[task](source)))
    return pairs


def parse_name(name: str) -> tuple[str, int, int] | None:
    """``reverse`` / ``sort``, optionally with lengths: ``reverse:4-16``; None for other names."""
    match = _NAME.match(name)
    if match is None or match["task"] not in TASKS:
        return None
    low, high = (int(match["low"]), int(match["high"])) if match["low"] else DEFAULT_LENGTHS
    return match["task"], low, high


def task_pairs(name: str, n_train: int = TRAIN_PAIRS, n_val: int = VAL_PAIRS):
    """(train, validation) pairs for a task name; validation sources never occur in training
    (short lengths have few distinct strings, so training would otherwise see the answers)."""
    task, low, high = parse_name(name)
    train = digit_pairs(task, n_train, low, high, seed=0)
    seen = {source for source, _ in train}
    val = [p for p in digit_pairs(task, 4 * n_val, low, high, seed=1) if p[0] not in seen][:n_val]
    if not val:
        raise UserError(f"{name}: lengths {low}-{high} have too few distinct strings to hold any out",
                        "raise the maximum length")
    return train, val
