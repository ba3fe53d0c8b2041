"""Learning, not just running, for the encoders with objectives of their own (ALBERT, ELECTRA,
DistilBERT): a few hundred `lmlineage train` steps on the first 300 KB of tinyshakespeare (a
300-token wordpiece, 16 windows of 64 tokens) beat each held-out metric's trivial baseline.

As for BERT (tests/unit/test_train_encoders.py), the MLM lead this early is the unigram
distribution plus the identity for the chosen tokens the input keeps: at the positions showing
[MASK] every absolute-position encoder here stays at the most frequent token. The metrics that
need context -- ELECTRA's replaced-token detection and ALBERT's sentence order -- stay at their
baselines in every setting tried (below); those two tests are skipped with the numbers measured.
`transformers`' BertForMaskedLM of the same shape, on the same masks, sits on the same plateau step
for step, while DeBERTa's relative positions leave it by step 400
(benchmarks/encoder_context_plateau.py, BENCHMARKS.md)."""

import pytest

from lmlineage import cli
from lmlineage.train.trainer import read_metrics

SETTING = ["--context", "64", "--batch-size", "16", "--warmup", "20", "--no-progress"]
WORDPIECE = ["--vocab-size", "300"]


@pytest.fixture
def corpus(tmp_path, tinyshakespeare):
    path = tmp_path / "slice.txt"
    path.write_text(tinyshakespeare[:300_000])
    return path


def train(family, corpus, out_dir, steps, lr, capsys, extra=WORDPIECE) -> dict:
    """Run `lmlineage train` and return its final evaluation record."""
    argv = ["train", family, "--data", corpus, "--out", out_dir, "--steps", steps, "--lr", lr, *SETTING, *extra]
    code = cli.main([str(a) for a in argv])
    _, err = capsys.readouterr()
    assert code == 0, err
    final = read_metrics(out_dir)[-1]
    assert final["step"] == steps
    return final


# ALBERT, 600 steps at lr 2e-3 with 100 warmup steps (the paper warms up too, for 3125): held-out
# MLM accuracy 0.082 against 0.038 for the most frequent token, and 0.084 against 0.041 in a later
# run (0.057 at lr 1e-3). With 20 warmup steps one run reached 0.086 and another collapsed to the
# unigram (0.041 against 0.041), so the test warms up for 100. Slower than BERT's:
# ALBERT's E = 32 embedding is projected up and back down through random maps, so even the
# identity for kept tokens must be learnt; at 300 steps the lead is 0.051 against 0.038, and lr
# 1e-3 (0.041 against 0.041) or 5e-3 (every position's last hidden state collapses to one vector:
# the unigram) do worse.
ALBERT_MLM_MARGIN = 0.03


@pytest.mark.slow
def test_albert_masked_lm_beats_the_most_frequent_token(corpus, tmp_path, capsys):
    final = train("albert", corpus, tmp_path / "albert", 600, 2e-3, capsys, extra=[*WORDPIECE, "--warmup", "100"])
    assert final["val_accuracy"] > final["val_unigram_accuracy"] + ALBERT_MLM_MARGIN, final


# Sentence order needs the seams: only the token pair across one [SEP] is adjacent text (the cut is
# uniform, so segment lengths and their first tokens carry no cue), which needs attention by
# position. Measured: 0.534 = always one label (its share of the 204 held-out pairs) after 300
# and 600 steps at lr 1e-3, 2e-3, 5e-3, and 0.507 (chance) with 8-token windows in batches of 128.
SOP_MARGIN = 0.05


@pytest.mark.slow
@pytest.mark.skip(reason="not shown yet: SOP accuracy stays at the majority label (0.534) after 600 steps "
                         "at lr 1e-3 to 5e-3 (margin 0 < 0.05); the encoder learns no attention by position this early")
def test_albert_sentence_order_beats_chance(corpus, tmp_path, capsys):
    final = train("albert", corpus, tmp_path / "albert", 600, 2e-3, capsys)
    assert final["val_sop_accuracy"] > 0.5 + SOP_MARGIN, final


# ELECTRA, 300 steps at lr 2e-3 (measured once, 2 min): the generator's held-out MLM accuracy
# 0.154 against 0.032 for the most frequent token (0.178 after 1000 steps).
ELECTRA_MLM_MARGIN = 0.06


@pytest.mark.slow
def test_electra_generator_masked_lm_beats_the_most_frequent_token(corpus, tmp_path, capsys):
    final = train("electra", corpus, tmp_path / "electra", 300, 2e-3, capsys)
    assert final["val_accuracy"] > final["val_unigram_accuracy"] + ELECTRA_MLM_MARGIN, final


# The discriminator: once the generator has the unigram distribution, its samples are as frequent
# as the tokens they replace, so only context tells them apart. Measured: RTD accuracy equal to
# all-original within 1e-4 (rtd loss = the entropy of the replaced share) after 300 and 1000
# steps at lr 2e-3, 600 at lr 1e-2, and with 16- and 8-token windows (batches of 64 and 128).
RTD_MARGIN = 0.01


@pytest.mark.slow
@pytest.mark.skip(reason="not shown yet: RTD accuracy equals the all-original baseline (0.869) after 1000 steps "
                         "(lr 2e-3 to 1e-2, windows of 8 to 64 tokens); the discriminator uses no context this early")
def test_electra_discriminator_beats_calling_every_token_original(corpus, tmp_path, capsys):
    final = train("electra", corpus, tmp_path / "electra", 300, 2e-3, capsys)
    assert final["val_rtd_accuracy"] > final["val_rtd_all_original_accuracy"] + RTD_MARGIN, final


# DistilBERT from the slow BERT test's teacher (300 steps at lr 2e-3: 0.123 against 0.036), then
# 300 distillation steps at lr 2e-3 (measured once, 3.5 min together): the one-layer student's
# held-out MLM accuracy 0.128 against 0.045 (its own inputs carry no segment pair, so its masks and
# baseline differ from the teacher's). At [MASK] both stay at the most frequent token, as the teacher
# does this early.
DISTILBERT_MLM_MARGIN = 0.05


@pytest.mark.slow
def test_distilbert_student_beats_the_most_frequent_token(corpus, tmp_path, capsys):
    train("bert", corpus, tmp_path / "bert", 300, 2e-3, capsys)
    final = train("distilbert", corpus, tmp_path / "distilbert", 300, 2e-3, capsys,
                  extra=["--teacher", tmp_path / "bert"])  # the teacher's vocabulary
    assert final["val_accuracy"] > final["val_unigram_accuracy"] + DISTILBERT_MLM_MARGIN, final
