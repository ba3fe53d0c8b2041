"""Records from a .jsonl file (one JSON object per line) or a .csv file (a header row naming the
columns): what fine-tuning examples and image manifests are read from. Each record comes with
where it was (``"line N"``), so a bad one is named by its line."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterator

from ..core.errors import UserError


def records(path: Path, text: str) -> Iterator[tuple[str, dict]]:
    """(``"line N"``, record) for each record of ``text``, read as ``path``'s suffix says."""
    return _jsonl_rows(path, text) if Path(path).suffix == ".jsonl" else _csv_rows(path, text)


def _jsonl_rows(path, text):
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path} line {n} is not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{path} line {n} is not a JSON object")
        yield f"line {n}", row


def _csv_rows(path, text):
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise UserError(f"{path} has no header row", "the first line names the columns")
    for n, row in enumerate(reader, 2):
        yield f"line {n}", {k: v for k, v in row.items() if k is not None}
