import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TINYSHAKESPEARE = SHARED / "data" / "tinyshakespeare.txt"

# Two threads at most; under pytest-xdist (`.ci/run`'s slow tests) the workers share the cores instead
# of each taking them all (oversubscribed, torch's thread pools spin against each other).
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1) // WORKERS))


@pytest.fixture
def tinyshakespeare() -> str:
    if not TINYSHAKESPEARE.exists():
        pytest.skip("../shared/data/tinyshakespeare.txt is not present")
    return TINYSHAKESPEARE.read_text()
