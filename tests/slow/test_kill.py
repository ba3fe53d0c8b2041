"""The crash-proof checkpoint proof: SIGKILL a training run at random moments, resume each time;
no checkpoint is ever unreadable and the end state is bit-identical to an uninterrupted run.
The work is benchmarks/kill_test.py's (run it by hand for the printed report)."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "kill_test.py"

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL (POSIX)")


@pytest.fixture(scope="module")
def kill_test():
    spec = importlib.util.spec_from_file_location("kill_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["kill_test"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("kill_test", None)


def check(report):
    print(report.text())
    assert report.unreadable == 0, report.failures
    assert report.failures == []
    assert report.rounds >= 1 and report.identical_rounds == report.rounds
    assert report.targeted_recovered == report.targeted


def test_a_few_kills(kill_test, tmp_path):
    """The default suite's version: 5 random kills and 1 between the swap's two renames (< 30 s)."""
    report = kill_test.run_kill_test(5, tmp_path, steps=8, max_delay=1.0, targeted=1, seed=1)
    check(report)
    assert report.kills == 5 and report.targeted == 1


@pytest.mark.slow
def test_a_hundred_kills(kill_test, tmp_path):
    report = kill_test.run_kill_test(100, tmp_path, targeted=5, seed=0)
    check(report)
    assert report.kills == 100
    assert report.during_write > 0  # the kills did land inside checkpoint writes


@pytest.mark.slow
def test_kills_through_the_cli(kill_test, tmp_path):
    """The real command line, a fresh interpreter every life: `lmlineage train ... --resume`."""
    report = kill_test.run_kill_test(3, tmp_path, mode="cli", seed=0)
    check(report)
    assert report.kills == 3
