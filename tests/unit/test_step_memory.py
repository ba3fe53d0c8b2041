"""A step that cannot fit in memory is refused from the shapes before anything is allocated (a
--batch-size of 10^8 once grew until the machine swapped), and --steps / --warmup out of range are
refused: one line naming the range, exit 2, nothing written."""

import pytest

from lmlineage.cli import main
from lmlineage.train import memory


@pytest.mark.parametrize("family, flags, named", [
    ("gpt2", ["--batch-size", "100000000"], "--batch-size 100000000"),
    ("gpt2", ["--context", "10000000"], "context 10000000"),
    ("gpt3", ["--preset", "6.7b", "--batch-size", "4096"], "parameters"),
])
def test_a_step_that_cannot_fit_is_refused_before_allocating(family, flags, named, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", family, "--out", str(out), "--no-progress", "--steps", "2", "--tokenizer", "char", *flags])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: one training step needs about") and named in err and err.count("\n") == 1
    assert not (out / "data").exists()


def test_the_estimate_follows_the_shapes():
    from lmlineage.core.registry import get_family

    config = get_family("gpt2").config("tiny", vocab_size=100)
    small, double_batch = memory.step_bytes(config, 2, 64), memory.step_bytes(config, 4, 64)
    params = memory.parameter_count(config)
    assert small > 16 * params  # weights, gradients and two moments
    assert double_batch - small == pytest.approx(small - memory.step_bytes(config, 0, 64))  # linear in the batch


@pytest.mark.parametrize("flags, message", [
    (["--steps", str(10**12)], "--steps 1000000000000 is out of range [1, 100000000]"),
    (["--warmup", "-10"], "--warmup -10 is out of range [0, 100000000]"),
])
def test_steps_and_warmup_out_of_range_are_refused(flags, message, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "gpt2", "--out", str(out), "--no-progress", *flags])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {message}") and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("option", ["--context", "--batch-size"])
def test_a_size_past_any_tensor_is_refused_in_one_line(option, tmp_path, capsys):
    """Found by test_properties: --context 2**63 overflowed the meta-device count (a TypeError)."""
    from lmlineage import cli

    corpus = tmp_path / "c.txt"
    corpus.write_text("to be or not to be, that is the question.\n" * 40)
    assert cli.main(["train", "gpt2", "--data", str(corpus), "--out", str(tmp_path / "r"), option,
                     str(2**63)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0] and "cannot fit" in err[0]
    assert not (tmp_path / "r").exists()
