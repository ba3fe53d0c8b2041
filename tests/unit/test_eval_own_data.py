"""`lmlineage eval RUN` without --data scores the run's own validation data (its data/val.bin, or
the corpus its run.json names), not the default corpus, and says in one line what it scored."""

import json
import random

import pytest

from lmlineage.data.tokens import open_token_file
from lmlineage.train.trainer import read_metrics

SMOKE = ["--steps", "2", "--batch-size", "2", "--warmup", "1", "--no-progress"]


@pytest.fixture
def corpus(tmp_path):
    """A corpus unlike the default (shakespeare): numbered words."""
    rng = random.Random(0)
    path = tmp_path / "numbers.txt"
    path.write_text("\n".join(" ".join(rng.choice(["one", "two", "three", "four"]) for _ in range(12))
                              for _ in range(300)) + "\n")
    return path


def test_eval_a_run_scores_its_own_validation_split_and_says_so(corpus, tmp_path, cli_run):
    out_dir = tmp_path / "gpt2"
    code, _, err = cli_run("train", "gpt2", "--data", corpus, "--context", "32", "--out", out_dir, *SMOKE)
    assert code == 0, err
    final = read_metrics(out_dir)[-1]
    for checkpoint in (out_dir, out_dir / "best"):
        code, out, err = cli_run("eval", checkpoint)
        assert code == 0, err
        scored, report = out.splitlines()
        assert scored.startswith("scored the validation split (the last 10%) of ") and str(corpus) in scored, scored
        assert scored.endswith(f": {len(open_token_file(out_dir / 'data' / 'val.bin')):,} tokens in 32-token windows")
        code, out, err = cli_run("eval", checkpoint, "--json")
        assert code == 0 and str(corpus) in err, err
        # the numbers training logged at its end, on the same tokens
        assert json.loads(out)["loss"] == pytest.approx(final["val_loss"], rel=1e-5)
    # --data still picks another corpus, and the line names it
    other = tmp_path / "other.txt"
    other.write_text(corpus.read_text().replace("one", "two"))
    code, out, err = cli_run("eval", out_dir, "--data", other)
    assert code == 0 and str(other) in out.splitlines()[0], err


def test_eval_a_translation_run_without_data(tmp_path, cli_run):
    """`lmlineage eval runs/bahdanau` failed: "sequence-to-sequence training needs pairs"."""
    out_dir = tmp_path / "bahdanau"
    code, _, err = cli_run("train", "bahdanau", "--data", "reverse:2-4", "--out", out_dir, *SMOKE)
    assert code == 0, err
    final = read_metrics(out_dir)[-1]
    code, out, err = cli_run("eval", out_dir)
    assert code == 0, err
    scored = out.splitlines()[0]
    assert "held-out pairs of reverse:2-4" in scored and f"{final['val_pairs']:,} pairs" in scored, scored
