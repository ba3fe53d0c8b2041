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


# ---- the command line, run in-process --------------------------------------------------------


@pytest.fixture
def cli_run(capsys):
    """``cli_run("eval", RUN, "--json") -> (exit code, stdout, stderr)`` of that command alone;
    arguments may be paths or numbers."""
    from lmlineage import cli

    def run(*argv) -> tuple[int, str, str]:
        capsys.readouterr()  # what earlier commands printed is not this one's
        code = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def cli_refused(cli_run):
    """``cli_refused(*argv, needle="...")``: the command exits 2 with one line `error: ...` on stderr
    that holds ``needle``; returns that line."""

    def refused(*argv, needle: str = "") -> str:
        code, out, err = cli_run(*argv)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, out, err)
        assert needle in lines[0], lines[0]
        return lines[0]

    return refused


@pytest.fixture(scope="session")
def cli_train(tmp_path_factory):
    """``cli_train("vit", "--steps", 3, ...) -> RUN``: `lmlineage train` into a new directory named
    after the family; for module-scoped fixtures that train once and share the run."""
    from lmlineage import cli

    def train(family: str, *argv) -> Path:
        out = tmp_path_factory.mktemp("run") / family
        assert cli.main(["train", family, "--out", str(out), *(str(a) for a in argv)]) == 0
        return out

    return train
