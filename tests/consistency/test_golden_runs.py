"""The golden runs recorded before the house refactor (issue 13) give the same numbers after it,
bit for bit on the CPU: seven families' fixed-seed 50-step losses and the n-gram's perplexity."""

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_golden_runs_are_unchanged(tmp_path):
    spec = importlib.util.spec_from_file_location("golden_runs", REPO / "benchmarks" / "golden_runs.py")
    golden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(golden)
    expected = json.loads(golden.GOLDEN.read_text())["runs"]
    got = golden.golden_runs(tmp_path)
    assert set(got) == set(expected)
    for family in expected:
        assert got[family] == expected[family], family
