import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TINYSHAKESPEARE = SHARED / "data" / "tinyshakespeare.txt"

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def tinyshakespeare() -> str:
    if not TINYSHAKESPEARE.exists():
        pytest.skip("../shared/data/tinyshakespeare.txt is not present")
    return TINYSHAKESPEARE.read_text()
