"""`lmlineage eval` on the families pre-trained by an objective of their own (span corruption:
t5, mt5, switch; denoising: bart; blank infilling: glm): the held-out loss, perplexity and token
accuracy of that objective on the validation split of the corpus, scored as training's own
evaluation scores it (the same windows, the same corruption seed), in one printed line or as JSON."""

import json
import math

import pytest

from lmlineage.train.trainer import read_metrics

SMOKE = ["--steps", "2", "--context", "32", "--batch-size", "2", "--warmup", "1", "--no-progress"]


@pytest.fixture
def corpus(tmp_path, tinyshakespeare):
    path = tmp_path / "slice.txt"
    path.write_text(tinyshakespeare[:8_000])
    return path


def train(family, corpus, tmp_path, cli_run, *extra):
    out_dir = tmp_path / family
    code, _, err = cli_run("train", family, "--data", corpus, "--out", out_dir, *SMOKE, *extra)
    assert code == 0, err
    final = read_metrics(out_dir)[-1]
    assert final["step"] == 2
    return out_dir, final


# The objective's metrics that training logs (as val_<name>) and eval reports under the same name,
# and the words of its one-line report. mt5 is evaluated by t5's very code (the same task).
OWN = {"t5": ("span_loss", "accuracy", "unigram_span_loss"), "switch": ("span_loss", "accuracy"),
       "bart": ("reconstruction_accuracy", "unigram_loss"), "glm": ("accuracy", "unigram_loss")}
WORDS = {"t5": ("token accuracy", "span tokens", "unigram"), "switch": ("token accuracy", "span tokens"),
         "bart": ("reconstruction accuracy", "target tokens", "unigram"), "glm": ("token accuracy", "predicted tokens", "unigram")}


@pytest.mark.parametrize("family", sorted(OWN))
def test_eval_reports_the_objective_training_evaluates(family, corpus, tmp_path, cli_run):
    out_dir, final = train(family, corpus, tmp_path, cli_run, "--vocab-size", "120")
    code, out, err = cli_run("eval", out_dir, "--data", corpus, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert "bits_per_char" not in result and result["tokens"] > 0
    # The whole validation split, in the training run's windows, with evaluation's fixed seed:
    # the numbers training logged for its best (here: last) checkpoint.
    assert result["loss"] == pytest.approx(final["val_loss"], rel=1e-5)
    assert result["perplexity"] == pytest.approx(math.exp(result["loss"]))
    for name in OWN[family]:
        assert result[name] == pytest.approx(final["val_" + name], rel=1e-5), name
    assert 0 <= result.get("accuracy", result.get("reconstruction_accuracy")) <= 1

    code, out, err = cli_run("eval", out_dir, "--data", corpus)
    assert code == 0, err
    scored, report = out.strip().splitlines()  # what was scored, then the numbers
    assert scored.startswith("scored the validation split (the last 10%) of ") and str(corpus) in scored, scored
    assert report.startswith(f"loss {result['loss']:.4f}") and "perplexity" in report, out
    assert all(w in report for w in WORDS[family]), report
    assert "bits per char" not in report and "MLM" not in report, report
