"""The Transformer learns to reverse digit strings from the CLI: >= 99% of 500 held-out
sources (lengths 1-10, never seen in training) reversed exactly, greedy decoding."""

import pytest

from lmlineage.cli import main
from lmlineage.train.trainer import read_metrics


@pytest.mark.slow
def test_reverse_to_99_percent_exact_match(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "transformer", "--data", "reverse", "--steps", "1000", "--batch-size", "64",
                 "--warmup", "200", "--lr", "1e-3", "--no-progress", "--out", str(out)])
    assert code == 0
    record = read_metrics(out)[-1]
    assert record["val_exact_match"] >= 0.99, record
    assert "exact match" in capsys.readouterr().out
