"""`lmlineage convert` turns plain pickled weights into safetensors, and refuses pickles that
would run code (the payload never runs)."""

import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lmlineage import cli
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


OLD_CHECKPOINTS = Path(__file__).resolve().parents[1] / "fixtures" / "old_checkpoints"


def test_the_refusals_advice_gives_a_checkpoint_that_generates(tmp_path, capsys):
    """One of our checkpoints with a stray pickle is refused with `lmlineage convert DIR OUT` as the
    fix; following it gives a directory `generate` reads, with the same weights, the pickle's
    tensors kept beside them as safetensors (issue 14, item 10: it was missing metrics.jsonl and
    model.safetensors held only the pickle's tensors)."""
    checkpoint = tmp_path / "gpt2"
    shutil.copytree(OLD_CHECKPOINTS / "gpt2", checkpoint)
    stray = {"x": torch.arange(3.0)}
    torch.save(stray, checkpoint / "stray.bin")
    assert cli.main(["generate", str(checkpoint), "--max-new-tokens", "3", "--seed", "0"]) == 2
    advice = capsys.readouterr().err
    assert "is a pickle file" in advice and f"lmlineage convert {checkpoint} OUT" in advice
    out = tmp_path / "safe"
    assert cli.main(["convert", str(checkpoint), str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["generate", str(out), "--max-new-tokens", "3", "--seed", "0"]) == 0
    assert capsys.readouterr().out.strip()
    for weights in checkpoint.glob("*.safetensors"):
        assert (out / weights.name).read_bytes() == weights.read_bytes()
    assert load_file(str(out / "stray.safetensors")).keys() == stray.keys()
    assert not list(out.glob("*.bin"))


def test_a_damaged_checkpoint_is_not_copied_under_a_fresh_manifest(tmp_path):
    checkpoint = tmp_path / "gpt2"
    shutil.copytree(OLD_CHECKPOINTS / "gpt2", checkpoint)
    torch.save({"x": torch.zeros(1)}, checkpoint / "stray.bin")
    (checkpoint / "metrics.jsonl").unlink()
    with pytest.raises(UserError, match="missing metrics.jsonl"):
        convert(checkpoint, tmp_path / "out")
    assert not (tmp_path / "out").exists()
