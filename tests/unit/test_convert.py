"""`lmlineage convert` turns plain pickled weights into safetensors, and refuses pickles that
would run code (the payload never runs)."""

import os

import pytest
import torch
from safetensors.torch import load_file

from lmlineage.core.errors import UserError
from lmlineage.interop.convert import convert


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_converts_a_state_dict(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    state = {"a.weight": torch.randn(3, 4), "b": torch.arange(5)}
    torch.save({"state_dict": state}, src / "pytorch_model.bin")
    (src / "config.json").write_text("{}")
    out = convert(src, tmp_path / "out")
    loaded = load_file(str(out / "model.safetensors"))
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)
    assert (out / "config.json").exists()


def test_refuses_code_and_never_runs_it(tmp_path):
    marker = tmp_path / "PWNED"
    torch.save({"weight": torch.zeros(2), "evil": Payload(marker)}, tmp_path / "model.pt")
    with pytest.raises(UserError, match="cannot be loaded safely"):
        convert(tmp_path / "model.pt", tmp_path / "out")
    assert not marker.exists()
    assert not (tmp_path / "out").exists()
