"""`eval RUN` of an ELECTRA run scores ELECTRA's own objective, replaced-token detection against
the generator saved beside the discriminator (once refused: the discriminator has no masked-LM
head); a checkpoint without the generator still embeds, and `eval` on it says why in one line."""

import json
import re
import shutil
from pathlib import Path

import pytest

from lmlineage.checkpoint.directory import write_manifest
from lmlineage.tasks.protocol import TASK_WEIGHTS

CORPUS = str(Path(__file__).resolve().parents[1] / "fixtures" / "golden_corpus.txt")
# The whole validation split is scored in training too, so `eval` can be held to the run's own number.
SMALL = ["--data", CORPUS, "--steps", "2", "--batch-size", "2", "--context", "32", "--no-progress"]


@pytest.fixture(scope="module")
def electra_run(cli_train):
    return cli_train("electra", *SMALL)


def test_eval_of_an_electra_run_scores_its_discriminator_against_its_generator(electra_run, cli_run):
    code, out, err = cli_run("eval", electra_run)
    assert code == 0, err
    scored, report = out.strip().splitlines()
    assert "scored the validation split" in scored
    assert "RTD accuracy" in report and "MLM accuracy" in report
    # The generator and discriminator as trained: the run's own validation loss, to the printed digit.
    records = [json.loads(line) for line in (electra_run / "metrics.jsonl").read_text().splitlines()]
    val_loss = next(r["val_loss"] for r in records if "val_loss" in r)
    assert float(re.match(r"loss ([0-9.]+) ", report).group(1)) == pytest.approx(val_loss, abs=5e-5)


def test_a_checkpoint_without_its_generator_embeds_and_eval_says_why(electra_run, tmp_path, cli_run):
    old = tmp_path / "old"  # as written before the generator was kept: the discriminator alone
    shutil.copytree(electra_run / "best", old)
    (old / TASK_WEIGHTS).unlink()
    (old / "manifest.json").unlink()
    write_manifest(old)
    code, out, err = cli_run("embed", old, "--text", "to be or not to be")
    assert code == 0, err
    code, out, err = cli_run("eval", old, "--data", CORPUS)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and TASK_WEIGHTS in lines[0] and "generator" in lines[0], err
