"""Every registered family trains from the command line with `lmlineage train FAMILY --steps N
--eval-batches 1 --out RUN` and nothing else (the one-pass fits, ngram and word2vec, take no steps;
distilbert needs its --teacher), then `eval RUN` and `generate RUN` work with their own defaults or say in one
line what the model does instead; `predict RUN` says in one line that it wants a fine-tuned
checkpoint. Pair families (transformer, seq2seq, bahdanau) read the built-in `reverse` task by
default.

`eval` evaluates on the whole validation split by default, so even 2 steps take 10 s to minutes per
family on 2 CPU cores; a few kinds run by default, the rest with -m slow."""

import pytest

from lmlineage.core.registry import families, get_family
from lmlineage.tasks import TASKS

STEPS = 2
FAST = {"bahdanau", "ngram"}  # a pair family (it had no default corpus), a one-pass fit


def train(cli_run, family: str, out, *extra) -> str:
    task = TASKS[get_family(family).objective]
    steps = () if task.reads == "corpus" else ("--steps", STEPS)
    # The run's own closing evaluation on one batch: `eval RUN` right after scores the whole split
    # with its defaults, and twice over the whole split was most of this test's time.
    quick = ("--eval-batches", 1) if "eval_batches" in task.options else ()
    code, report, err = cli_run("train", family, *steps, *quick, "--out", out, *extra)
    assert code == 0, err
    assert f" in {out}" in report  # where its checkpoints are
    if task.reads == "corpus":  # counted or fitted by word2vec's kernels: no steps to report
        assert "| 0 steps |" not in report
    else:
        assert f"| {STEPS} steps |" in report
    return report


@pytest.fixture(scope="module")
def teacher(cli_train):
    """distilbert's --teacher, trained as any bert run is."""
    return cli_train("bert", "--steps", STEPS)


def _marks(name: str) -> list:
    return [] if name in FAST else [pytest.mark.slow]


@pytest.mark.parametrize("family", [pytest.param(f.name, marks=_marks(f.name)) for f in families()])
def test_every_family_trains_evaluates_and_generates_with_the_defaults(family, tmp_path, cli_run, cli_refused,
                                                                          request):
    run = tmp_path / family
    extra = ("--teacher", request.getfixturevalue("teacher")) if family == "distilbert" else ()
    train(cli_run, family, run, *extra)
    task = TASKS[get_family(family).objective]

    if family == "word2vec":  # word vectors have no likelihood to score
        cli_refused("eval", run, needle="no perplexity")
        code, out, err = cli_run("similar", run, "king")
        assert code == 0 and len(out.splitlines()) == 10, err
    else:
        code, out, err = cli_run("eval", run)
        assert code == 0, err
        assert "scored" in out and ("loss" in out or "accuracy" in out)

    code, out, err = cli_run("generate", run)
    if task.generates and task.reads != "pairs":  # a language model: a new document from nothing
        assert code == 0, err
        assert out.strip()
    else:  # an encoder, a denoiser or a translation model: what it needs or does instead, in one line
        lines = err.strip().splitlines()
        assert code == 0 and out.strip() or code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err

    cli_refused("predict", run, "--text", "a fine film", needle="finetune")
