"""Checkpoints written before the house refactor (issue 13) still load and give what they gave
then: gpt2, bert, t5, bahdanau, word2vec and n-gram directories written by the commit named in
tests/fixtures/old_checkpoints/expected.json."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "old_checkpoints"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())["checkpoints"]


def _make_module():
    spec = importlib.util.spec_from_file_location("make_old_checkpoints", FIXTURES / "make.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_an_old_checkpoint_loads_and_gives_what_it_gave(name):
    got = _make_module().outputs(name, FIXTURES / name)
    expected = EXPECTED[name]
    assert set(got) == set(expected)
    for key, value in expected.items():
        if isinstance(value, list) and value and isinstance(value[0], float):
            assert all(math.isclose(a, b, rel_tol=0, abs_tol=1e-6) for a, b in zip(got[key], value)), key
        elif isinstance(value, float):
            assert math.isclose(got[key], value, rel_tol=1e-9), key
        else:
            assert got[key] == value, key
