"""Every registered family trains with its own defaults (preset, context, tokenizer) for a few
steps through the API: only the amount of work (steps, batch, evaluation) is reduced, never a preset; pair
families read a built-in pair set (they have no default corpus); distilbert its trained teacher."""

from pathlib import Path

import pytest

import lmlineage
from lmlineage.tasks import TASKS

CORPUS = str(Path(__file__).resolve().parents[1] / "fixtures" / "golden_corpus.txt")
LIGHT = dict(steps=2, batch_size=2, eval_batches=1, progress=False, sample_tokens=4)


def _light(family: str) -> dict:
    """The smallest amount of work the family's task takes (a one-pass fit takes no step options)."""
    options = TASKS[lmlineage.core.registry.get_family(family).objective].options
    return {k: v for k, v in LIGHT.items() if k in options or k in ("progress", "sample_tokens")}


def _data(family: str) -> str:
    reads = TASKS[lmlineage.core.registry.get_family(family).objective].reads
    return "reverse:1-12" if reads == "pairs" else CORPUS


@pytest.fixture(scope="module")
def bert_teacher(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("teacher") / "bert"
    lmlineage.train("bert", data=CORPUS, out=out, **_light("bert"))
    return out


# One family per kind of input and the ones whose defaults once broke (bart: window + </s> was
# longer than its positions). Every family, each with nothing but its defaults, runs from the command
# line in tests/unit/test_every_family_cli.py (-m slow); here the API path, with little work.
FAST = ["gpt2", "bart", "t5", "glm", "distilbert", "nnlm", "ngram", "transformer"]


@pytest.mark.parametrize("family", FAST)
def test_every_family_trains_with_its_defaults(family, tmp_path, bert_teacher):
    options = {"teacher": str(bert_teacher)} if family == "distilbert" else None
    result = lmlineage.train(family, data=_data(family), out=tmp_path / family, options=options, **_light(family))
    assert (tmp_path / family / "best").is_dir()
    assert result.report  # the task reported its result
