"""Sequence-to-sequence data: (source, target) text pairs, tokenized, and their batches.

Where pairs come from (``load_pairs``):

* ``reverse`` / ``sort`` (optionally ``reverse:4-16``): generated digit tasks (``algorithmic``);
* ``flan`` (``flan:without=CLUSTER``, ``flan:plain``): the instruction mixture of checkable tasks
  (``instructions``);
* ``bible-en-zh``: English -> Chinese verse pairs, KJV joined with the Chinese Union Version
  (``translation``, optional packages);
* a ``.tsv`` file (source TAB target per line) or a ``.jsonl`` file with ``source`` and
  ``target`` fields; its last 5% of lines are held out.

Without one, ``reverse`` (``DEFAULT``): it needs no optional package and a tiny model learns it in
minutes, so every pair family trains with no flag at all.

Tokenized pairs (``PairSplit``) are stored as flat int32 arrays with offsets (``.npy``, read
with ``allow_pickle=False``). A batch is ``(source, target)``: two (B, L) int64 tensors padded
with ``PAD = -100`` (the loss's ignore index), so a task tells real tokens from padding
without knowing the tokenizer. Samplers own their generator, as ``RandomWindows`` does, so a
checkpoint captures the data position.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from ..core.errors import UserError
from . import algorithmic, instructions

PAD = -100
VAL_FRACTION = 0.05
DEFAULT = "reverse"  # the pair set read when none is given

BUILTIN = {
    "reverse": "generated digit strings -> their reversal (lengths 1-10; reverse:MIN-MAX to change)",
    "sort": "generated digit strings -> their digits sorted (lengths 1-10; sort:MIN-MAX to change)",
    "flan": "instruction templates over checkable tasks in clusters (flan:without=CLUSTER holds one out, "
            "flan:plain drops the templates)",
    "bible-en-zh": "King James Bible -> Chinese Union Version, ~31,000 verse pairs (optional packages)",
}
# The tokenizer a built-in set trains when none is given: single bytes for the digit tasks
# (a BPE of 256 bytes + <|endoftext|> learns no merges), a shared BPE for the verses.
DEFAULT_TOKENIZERS = {"reverse": ("bpe", 257), "sort": ("bpe", 257), "flan": ("bpe", 257), "bible-en-zh": ("bpe", 8000)}
TARGET_LANGUAGE = {"bible-en-zh": "zh", "reverse": "char", "sort": "char", "flan": "char"}  # decides BLEU's tokenizer


def _builtin_name(data) -> str:
    """The built-in set a name reads, without its options (``reverse:4-16`` -> ``reverse``)."""
    parsed = algorithmic.parse_name(data) if isinstance(data, str) else None
    if parsed:
        return parsed[0]
    return "flan" if instructions.parse_name(data) is not None else str(data)


def target_language(data) -> str | None:
    """BLEU's tokenization for a pair set: ``zh`` (one token per Chinese character), ``char``
    (digit strings: every character a token), None (13a, space-separated words)."""
    data = DEFAULT if data is None else data
    return TARGET_LANGUAGE.get(_builtin_name(data))


def is_builtin(data) -> bool:
    return isinstance(data, str) and _builtin_name(data) in BUILTIN


def default_tokenizer(data) -> tuple[str, int | None]:
    data = DEFAULT if data is None else data
    return DEFAULT_TOKENIZERS[_builtin_name(data)] if is_builtin(data) else ("bpe", None)


def load_pairs(data: str | os.PathLike | None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, validation) pairs of a built-in set or a file (None: ``DEFAULT``)."""
    data = DEFAULT if data is None else data
    if isinstance(data, str) and algorithmic.parse_name(data) is not None:
        return algorithmic.task_pairs(data)
    if instructions.parse_name(data) is not None:
        return instructions.load(data)
    if data == "bible-en-zh":
        from .translation import en_zh_pairs

        return en_zh_pairs(VAL_FRACTION)
    path = Path(data)
    if not path.exists():
        raise UserError(f"{data} is neither a built-in pair set nor a file",
                        f"use one of {', '.join(BUILTIN)}, or a .tsv / .jsonl file of pairs")
    if path.suffix not in (".tsv", ".jsonl"):
        raise UserError(f"{path}: pairs are read from .tsv or .jsonl files", "give a .tsv or .jsonl file")
    pairs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            pairs.append(_parse_line(path, number, line))
    n_val = max(1, round(len(pairs) * VAL_FRACTION))
    if len(pairs) < 2:
        raise UserError(f"{path} holds {len(pairs)} pair(s), too few to hold any out", "give at least 2 pairs")
    return pairs[:-n_val], pairs[-n_val:]


def _parse_line(path: Path, number: int, line: str) -> tuple[str, str]:
    if path.suffix == ".tsv":
        fields = line.rstrip("\n").split("\t")
        if len(fields) != 2:
            raise UserError(f"{path}:{number}: expected source TAB target, found {len(fields)} field(s)")
        return _both_sides(path, number, fields[0], fields[1])
    try:
        row = json.loads(line)
        source, target = str(row["source"]), str(row["target"])
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UserError(f"{path}:{number}: expected a JSON object with source and target fields") from None
    return _both_sides(path, number, source, target)


def _both_sides(path: Path, number: int, source: str, target: str) -> tuple[str, str]:
    """A pair missing a side teaches nothing (and a ranking or translation LM cannot read it)."""
    for side, text in (("source", source), ("target", target)):
        if not text.strip():
            raise UserError(f"{path}:{number}: the {side} is empty", "give both sides of every pair")
    return source, target


class PairSplit:
    """Tokenized pairs: ``source[i]`` and ``target[i]`` as int arrays (flat + offsets).
    ``length_groups``: how its training batches are drawn (``RandomPairs``)."""

    def __init__(self, source: np.ndarray, source_offsets: np.ndarray, target: np.ndarray,
                 target_offsets: np.ndarray, length_groups: int = 1):
        self.source, self.source_offsets = source, source_offsets
        self.target, self.target_offsets = target, target_offsets
        self.length_groups = length_groups

    @classmethod
    def encode(cls, pairs, tokenizer, eos_id: int | None = None, length_groups: int = 1) -> PairSplit:
        """Sources and targets through ``tokenizer``; ``eos_id`` is appended to every target, so
        the decoder learns to stop. Sources stay as the tokenizer gives them: a prompt typed at
        ``lmlineage generate`` is encoded the same way."""
        end = [] if eos_id is None else [eos_id]
        sources = tokenizer.encode_batch([s for s, _ in pairs])
        targets = [ids + end for ids in tokenizer.encode_batch([t for _, t in pairs])]
        return cls(*_flatten(sources), *_flatten(targets), length_groups)

    def __len__(self) -> int:
        return len(self.source_offsets) - 1

    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        s, t = self.source_offsets, self.target_offsets
        return self.source[s[i]:s[i + 1]], self.target[t[i]:t[i + 1]]

    def lengths(self) -> np.ndarray:
        """Each pair's tokens, both sides."""
        return np.diff(self.source_offsets) + np.diff(self.target_offsets)

    def max_lengths(self) -> tuple[int, int]:
        return int(np.diff(self.source_offsets).max()), int(np.diff(self.target_offsets).max())

    def collate(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [self.pair(int(i)) for i in indices]
        return _pad([s for s, _ in rows]), _pad([t for _, t in rows])

    def sampler(self, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1) -> RandomPairs:
        return RandomPairs(self, batch_size, seed, rank, world, self.length_groups)

    def batches(self, batch_size: int, max_batches: int | None = None):
        """Every pair once, in order of length (little padding)."""
        order = np.argsort(self.lengths(), kind="stable")
        if max_batches is not None:
            order = order[: max_batches * batch_size]
        for start in range(0, len(order), batch_size):
            yield self.collate(order[start : start + batch_size])

    def save(self, directory: Path, name: str) -> None:
        for field in ("source", "source_offsets", "target", "target_offsets"):
            np.save(directory / f"{name}.{field}.npy", getattr(self, field), allow_pickle=False)

    @classmethod
    def load(cls, directory: Path, name: str) -> PairSplit:
        return cls(*(np.load(directory / f"{name}.{field}.npy", allow_pickle=False)
                     for field in ("source", "source_offsets", "target", "target_offsets")))


class RandomPairs:
    """``batch_size`` pairs drawn uniformly with replacement per step (each rank keeps its rows).

    ``groups`` > 1 batches pairs of similar length, as XLM's loader does (``group_by_size``), so
    less of each step is padding: it draws ``groups`` batches' worth, sorts them by length and keeps
    one batch of neighbours, chosen at random, so every pair is still drawn equally often."""

    def __init__(self, split: PairSplit, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1,
                 groups: int = 1):
        if len(split) == 0:
            raise UserError("no training pairs", "give a data set with pairs in it")
        self.split, self.batch_size, self.groups = split, batch_size, groups
        self.rows = slice(rank * batch_size // world, (rank + 1) * batch_size // world)
        self.generator = torch.Generator().manual_seed(seed)
        self.lengths = torch.from_numpy(split.lengths()) if groups > 1 else None

    def __iter__(self):
        return self

    def __next__(self):
        return self.split.collate(self.draw())

    def draw(self) -> list[int]:
        """The next step's indices (this rank's rows)."""
        drawn = torch.randint(len(self.split), (self.batch_size * self.groups,), generator=self.generator)
        if self.groups > 1:
            group = int(torch.randint(self.groups, (), generator=self.generator))
            by_length = drawn[torch.argsort(self.lengths[drawn], stable=True)]
            drawn = by_length[group * self.batch_size:(group + 1) * self.batch_size]
        return drawn[self.rows].tolist()

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def _flatten(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    flat = np.fromiter((t for r in rows for t in r), dtype=np.int32, count=int(offsets[-1]))
    return flat, offsets


def _pad(rows) -> torch.Tensor:
    out = torch.full((len(rows), max(len(r) for r in rows)), PAD, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.from_numpy(np.asarray(r, dtype=np.int64))
    return out
