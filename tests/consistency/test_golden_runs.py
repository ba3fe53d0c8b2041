"""The golden runs recorded before the house refactor (issue 13) give the same numbers after it,
bit for bit on the CPU: seven families' fixed-seed 50-step losses and the n-gram's perplexity.
The script runs in its own process because it pins PyTorch's CPU kernels, which torch reads at import."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_golden_runs_are_unchanged():
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "golden_runs.py"), "--check"],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0 and done.stdout.strip().endswith("identical"), done.stdout[-4000:] + done.stderr[-2000:]
