"""Bahdanau attention learns to reverse short digit strings from the CLI: >= 98% of 500 held-out
sources (lengths 1-8, never seen in training) reversed exactly by greedy decoding after 300
steps (measured: 100%, validation loss 0.0028, 105 s on a loaded 2-core host)."""

import pytest

from lmlineage.cli import main
from lmlineage.train.trainer import read_metrics


@pytest.mark.slow
def test_reverse_short_strings_to_98_percent_exact_match(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "bahdanau", "--data", "reverse:1-8", "--steps", "300", "--batch-size", "64",
                 "--lr", "3e-3", "--warmup", "30", "--no-progress", "--out", str(out)])
    assert code == 0
    record = read_metrics(out)[-1]
    assert record["val_pairs"] == 500 and record["val_exact_match"] >= 0.98, record
    assert "exact match" in capsys.readouterr().out
