"""`lmlineage arena`: the language-modelling families trained on one corpus through the run driver
and scored on the same held-out text at equal tokens and at equal wall-clock; the seeds' order
checked as measured."""

import json
import math

import pytest

from lmlineage import cli
from lmlineage.core.errors import UserError
from lmlineage.core.registry import get_family
from lmlineage.lineage.arena import (BUDGETS, TABLES, arena_families, order_check, parse_budget, render_order,
                                     stage_of)

ROW_FIELDS = {"family", "year", "stage", "unit", "parameters", "tokens_seen", "chars_seen", "steps", "train_s",
              "wall_s", "score_s", "compute_6nd", "bits_per_char", "loss", "scored_chars", "unknown_share"}


def row(family, stage, bpc, unit="char"):
    return {"family": family, "stage": stage, "bits_per_char": bpc, "unit": unit}


def test_order_agrees_when_each_stage_beats_the_one_before():
    rows = [row("ngram", "n-gram", 2.4, "word"), row("nnlm", "NNLM", 2.2, "word"), row("elmo", "RNN LM", 2.1, "word"),
            row("gpt", "Transformer", 2.5), row("llama", "Transformer", 2.0)]
    pairs = order_check(rows)
    assert [(p["earlier"], p["later"]) for p in pairs] == [("n-gram", "NNLM"), ("NNLM", "RNN LM"),
                                                          ("RNN LM", "Transformer")]
    assert all(p["agrees"] for p in pairs)
    assert pairs[2]["later_family"] == "llama" and pairs[2]["later_bpc"] == 2.0  # a stage's best family speaks
    assert "caveat" not in pairs[0] and "caveat" in pairs[2]  # word against char: the caveat travels with it


def test_order_reports_a_disagreement_as_measured():
    rows = [row("ngram", "n-gram", 1.9, "word"), row("nnlm", "NNLM", 2.3, "word"), row("gpt", "Transformer", 2.0)]
    pairs = order_check(rows)
    assert [(p["earlier"], p["later"], p["agrees"]) for p in pairs] == [("n-gram", "NNLM", False),
                                                                       ("NNLM", "Transformer", True)]
    assert pairs[0]["earlier_bpc"] == 1.9 and pairs[0]["later_bpc"] == 2.3  # the numbers, never forced
    assert "does not beat" in pairs[0]["says"] and "DISAGREES" in render_order(pairs)
    assert "caveat" not in pairs[0]  # the same unit, no <unk> shares to tell apart
    unknown = order_check([{**rows[0], "unknown_share": 0.2}, {**rows[1], "unknown_share": 0.05}])[0]
    assert "20.0%" in unknown["caveat"] and "5.0%" in unknown["caveat"]
    # a tie is no improvement; a missing or unscored stage is skipped, not invented
    assert not order_check([row("a", "n-gram", 2.0), row("b", "NNLM", 2.0)])[0]["agrees"]
    assert order_check([row("a", "n-gram", 2.0), row("b", "NNLM", math.nan)]) == []
    assert order_check([row("a", "Transformer", 2.0)]) == [] and "fewer than two" in render_order([])


def test_every_language_model_family_races_and_only_those():
    names = {f.name for f in arena_families()}
    assert {"ngram", "nnlm", "elmo", "gpt", "gpt2", "llama"} <= names
    assert not {"bert", "word2vec", "transformer", "seq2seq", "t5", "glm"} & names  # no left-to-right LM to score
    assert [stage_of(get_family(n)) for n in ("ngram", "nnlm", "elmo", "gpt", "llama")] == [
        "n-gram", "NNLM", "RNN LM", "Transformer", "Transformer"]


def test_budget_scales_by_factor_or_name():
    assert parse_budget("default").factor == 1 and parse_budget("tiny").factor == BUDGETS["tiny"]
    half = parse_budget("0.5")
    assert half.train_chars == parse_budget(1).train_chars // 2 and half.train_seconds == parse_budget(1).train_seconds / 2
    for bad in ("0", "-1", "nan", "inf", "huge", "1e9"):
        with pytest.raises(UserError):
            parse_budget(bad)


@pytest.fixture
def corpus(tmp_path, tinyshakespeare):
    path = tmp_path / "corpus.txt"
    path.write_text(tinyshakespeare[:40_000])
    return path


def test_arena_writes_both_tables_the_plot_and_the_order_check(tmp_path, corpus, capsys):
    out = tmp_path / "arena"
    code = cli.main(["arena", "ngram", "nnlm", "gpt", "--budget", "tiny", "--data", str(corpus), "--out", str(out),
                     "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    result = json.loads((out / "arena.json").read_text())
    assert result["families"] == ["ngram", "nnlm", "gpt"] and result["budget"]["factor"] == BUDGETS["tiny"]
    assert result["complete"] and not (out / "arena.partial.json").exists() and result["cpu_s"] > 0
    for table in TABLES:
        rows = result["tables"][table]
        assert [r["family"] for r in rows] == ["ngram", "nnlm", "gpt"]
        for r in rows:
            assert ROW_FIELDS <= set(r), ROW_FIELDS - set(r)
            assert r["scored_chars"] > 1000 and 0 < r["bits_per_char"] < 20 and r["tokens_seen"] > 0
        assert rows[0]["parameters"] is None and rows[0]["compute_6nd"] is None  # the n-gram counts
        assert rows[2]["compute_6nd"] == 6 * rows[2]["parameters"] * rows[2]["tokens_seen"]
        assert rows[2]["tokens_seen"] == rows[2]["steps"] * rows[2]["batch_size"] * rows[2]["context"]
        assert [(p["earlier"], p["later"]) for p in result["order_check"][table]] == [("n-gram", "NNLM"),
                                                                                      ("NNLM", "Transformer")]
    # every family scored the same held-out characters (the char model's first is not predicted)
    scored = {r["family"]: r["scored_chars"] for r in result["tables"]["equal_tokens"]}
    assert scored["ngram"] == scored["nnlm"] == result["corpus"]["held_out_chars"] and scored["gpt"] >= scored["ngram"] - 1
    # equal tokens: the same training text, within one step's worth of it
    tokens = {r["family"]: r for r in result["tables"]["equal_tokens"]}
    assert tokens["ngram"]["chars_seen"] <= result["budget"]["train_chars"]
    # the n-gram counted only those words (--max-words): a smaller vocabulary than its whole-split fit's
    whole = result["tables"]["equal_time"][0]
    assert whole["tokens_seen"] > tokens["ngram"]["tokens_seen"] and whole["unknown_share"] < tokens["ngram"]["unknown_share"]
    assert (out / "arena.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for heading in ("## equal tokens", "## equal wall-clock", "order the seeds tell", "| ngram |", "| gpt |"):
        assert heading in printed


@pytest.mark.parametrize("argv, needle", [
    (["arena", "nosuch"], "unknown family 'nosuch'"),
    (["arena", "electra"], "electra (mlm+rtd objective) is not scored by the arena"),
    (["arena", "word2vec"], "is not scored by the arena"),
    (["arena", "gpt", "--budget", "0"], "--budget 0 must be a finite factor > 0"),
    (["arena", "gpt", "--budget", "-2"], "must be a finite factor > 0"),
    (["arena", "gpt", "--budget", "lots"], "--budget 'lots' is neither a number nor a size"),
    (["arena", "gpt", "--preset", "nosuch"], "has no preset 'nosuch'"),
    (["arena", "gpt", "--threads", "0"], "--threads"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, needle):
    code = cli.main([*argv, "--out", str(tmp_path / "a")])
    out, err = capsys.readouterr()
    assert code == 2 and not out
    assert err.count("\n") == 1 and err.startswith("error: ") and needle in err, err
    assert not (tmp_path / "a").exists()  # nothing written


def test_an_out_that_is_a_file_or_holds_an_arena_is_refused(capsys, tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    (tmp_path / "old" / "runs").mkdir(parents=True)
    for out, needle in ((a_file, "is a file"), (tmp_path / "old", "already holds an arena")):
        assert cli.main(["arena", "gpt", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err


def test_ngram_max_words_counts_whole_sentences_up_to_the_budget():
    from lmlineage.classic.ngram import first_tokens

    sentences = [["a", "b"], ["c"], ["d", "e", "f"]]  # 3, 2 and 4 tokens with their </s>
    assert first_tokens(sentences, None) == sentences
    assert first_tokens(sentences, 5) == [["a", "b"], ["c"]] and first_tokens(sentences, 8) == [["a", "b"], ["c"]]
    assert first_tokens(sentences, 9) == sentences and first_tokens(sentences, 2) == []
    with pytest.raises(UserError, match="--max-words 0"):
        first_tokens(sentences, 0)


def test_masked_lms_race_when_named_scored_by_pseudo_log_likelihood():
    import torch

    import lmlineage
    from lmlineage.lineage.arena import check_families, is_masked_lm, pseudo_log_likelihood
    from lmlineage.tokenizers import build_tokenizer

    assert [f.name for f in check_families(["gpt", "bert", "roberta"])] == ["gpt", "bert", "roberta"]
    assert not {"bert", "roberta"} & {f.name for f in arena_families()}  # not in the default race
    assert not is_masked_lm(get_family("electra")) and not is_masked_lm(get_family("distilbert"))
    assert stage_of(get_family("bert")) == "masked LM (pseudo-perplexity)"
    assert order_check([row("bert", stage_of(get_family("bert")), 1.0), row("gpt", "Transformer", 2.0)]) == []

    text = "to be or not to be that is the question whether tis nobler in the mind to suffer " * 3
    tok = build_tokenizer("wordpiece", [text], 120)
    torch.manual_seed(0)
    model = lmlineage.load("bert", preset="tiny", vocab_size=tok.vocab_size, max_positions=16)
    model.tokenizer = tok
    nats, tokens = pseudo_log_likelihood(model, text, batch_size=64)
    assert tokens == len(tok.encode(text)) > 14  # more than one window of 14
    assert math.isclose(pseudo_log_likelihood(model, text, batch_size=3)[0], nats, rel_tol=1e-5)
    # by hand: every token hidden behind [MASK] in its own window of 14, one forward each
    ids, special = tok.encode(text), {n: tok.special_ids[n] for n in ("[CLS]", "[SEP]", "[MASK]")}
    by_hand = 0.0
    with torch.no_grad():
        for start in range(0, len(ids), 14):
            window = ids[start : start + 14]
            for i, target in enumerate(window):
                hidden = window[:i] + [special["[MASK]"]] + window[i + 1 :]
                logits = model(torch.tensor([[special["[CLS]"], *hidden, special["[SEP]"]]])).logits
                by_hand -= float(logits[0, i + 1].log_softmax(-1)[target])
    assert math.isclose(by_hand, nats, rel_tol=1e-5)
