"""A generic `train` option either applies to the family's task or is refused: one line naming it,
exit 2, nothing written. Each task declares the options it takes (``Task.options``)."""

import pytest

import lmlineage
from lmlineage.cli import main
from lmlineage.core.errors import UserError
from lmlineage.tasks import TASKS
from lmlineage.tasks.protocol import GENERIC_OPTIONS, READS, Task


@pytest.mark.parametrize("family, flags, named", [
    ("ngram", ["--context", "64"], "--context"),  # counting has no window
    ("ngram", ["--steps", "5"], "--steps"),
    ("ngram", ["--device", "cpu"], "--device"),  # counting runs where numpy runs
    ("ngram", ["--resume"], "--resume"),  # fitted in one pass: nothing to resume
    ("word2vec", ["--lr", "0.1"], "--lr"),  # its kernels keep their own learning rate
    ("word2vec", ["--batch-size", "4"], "--batch-size"),
    ("transformer", ["--data", "reverse:1-12", "--context", "16"], "--context"),  # a pair is as long as it is
    ("bahdanau", ["--data", "reverse:1-12", "--context", "16"], "--context"),
    ("seq2seq", ["--data", "reverse:1-12", "--context", "16"], "--context"),
    ("nnlm", ["--tokenizer", "bpe"], "--tokenizer"),  # its words come from its own word tokenizer
    ("elmo", ["--vocab-size", "100"], "--vocab-size"),
    ("nnlm", ["--parallel", "fsdp"], "--parallel"),
])
def test_an_option_that_does_not_apply_is_refused(family, flags, named, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", family, "--out", str(out), "--no-progress", *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {named} does not apply to {family!r}") and err.count("\n") == 1
    assert not out.exists()


def test_the_api_refuses_it_too(tmp_path):
    with pytest.raises(UserError, match="--context does not apply to 'ngram', which is fitted in one pass"):
        lmlineage.train("ngram", context=64, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_every_task_declares_what_it_reads_and_which_options_apply():
    for objective, task_cls in TASKS.items():
        assert issubclass(task_cls, Task), objective
        assert task_cls.reads in READS, objective
        assert task_cls.options <= GENERIC_OPTIONS, objective
    assert "context" in TASKS["clm"].options and "context" not in TASKS["seq2seq"].options
    assert TASKS["counts"].options == frozenset()


def test_api_and_cli_call_the_protocol_and_probe_no_task():
    import ast
    from pathlib import Path

    import lmlineage.api
    import lmlineage.cli

    for module in (lmlineage.api, lmlineage.cli):
        source = Path(module.__file__).read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
                probed = ast.unparse(node.args[0])
                assert "task" not in probed.lower(), f"{module.__name__} probes {probed}"
        # what is printed comes from the task's report, not from looking for metric keys
        for key in ('"bleu"', '"span_loss"', '"reconstruction_accuracy"', '"infilling_loss"', '"pairs" in'):
            assert key not in source, f"{module.__name__} looks for {key}"
