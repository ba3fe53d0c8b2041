"""Tasks whose answers a program checks, so rewards and preferences need no people: ``add`` (two
numbers of two digits), ``sort`` (the digits of a string, ascending), ``copy`` (a string of
letters). A prompt is the user's message, the answer the assistant's exact reply."""

from __future__ import annotations

import random

from ..core.errors import UserError

TASKS = ("add", "sort", "copy")
ALPHABET = sorted(set("0123456789+ abcdefghijklmnopqrstuvwxyz:\n"))  # every character a prompt or reply uses


def example(task: str, rng: random.Random) -> tuple[str, str]:
    """(prompt, answer)."""
    if task == "add":
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        return f"add {a}+{b}", str(a + b)
    if task == "sort":
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 6)))
        return f"sort {digits}", "".join(sorted(digits))
    if task == "copy":
        word = "".join(rng.choice("abcdefghij") for _ in range(rng.randint(3, 6)))
        return f"copy {word}", word
    raise UserError(f"unknown checkable task {task!r}", f"choose one of: {', '.join(TASKS)}")


def split(task: str, n_train: int, n_test: int, seed: int, n_val: int = 0) -> tuple[list, list, list]:
    """(train, held-out, validation) prompts, all disjoint: the held-out set is unseen in every stage
    and in the choice of settings, which reads the validation set. The validation prompts are drawn
    after the others, so train and held-out are the same whatever ``n_val`` is."""
    rng = random.Random(seed)
    seen: dict[str, str] = {}
    while len(seen) < n_train + n_test + n_val:
        prompt, answer = example(task, rng)
        seen.setdefault(prompt, answer)
    items = list(seen.items())
    return items[:n_train], items[n_train:n_train + n_test], items[n_train + n_test:]


def exact(reply: str, answer: str) -> float:
    """The checkable reward: 1 for the exact answer, else 0."""
    return float(reply.strip() == answer)

