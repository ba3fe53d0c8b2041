"""The RNN encoder-decoder (seq2seq) and Bahdanau attention (bahdanau): shapes, source padding,
alignment weights, decoding through the one generation engine (greedy and beam), checkpoints,
and training from the CLI."""

import json

import pytest
import torch

import lmlineage
from lmlineage.classic.rnn_seq2seq import RecurrentState
from lmlineage.cli import main
from lmlineage.core.errors import UserError
from lmlineage.generation import generate
from lmlineage.checkpoint.directory import atomic_directory
from lmlineage.checkpoint.model import save_model_files
from lmlineage.train.trainer import read_metrics

V, START = 40, 1
FAMILIES = ("seq2seq", "bahdanau")


def fresh(family, seed=0):
    torch.manual_seed(seed)
    model = lmlineage.load(family, preset="tiny", vocab_size=V, decoder=dict(start_id=START))
    for p in model.parameters():  # larger weights than the init: decisive argmaxes, varied alignments
        p.data.add_(torch.randn_like(p) * 0.3)
    return model.eval()


def batch(seed=1):
    """Three right-padded sources of lengths 7, 5 and 2."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, V, (3, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    mask[2, 2:] = 0
    return ids.masked_fill(mask == 0, 0), mask


@pytest.mark.parametrize("family", FAMILIES)
def test_shapes(family):
    model = fresh(family)
    ids, mask = batch()
    annotations, memory, s0 = model.encode(ids, mask)
    directions = 2 if family == "bahdanau" else 1
    assert annotations.shape == (3, 7, 64 * directions) and s0.shape == (3, 64)
    assert torch.all(annotations[1, 5:] == 0) and torch.all(annotations[2, 2:] == 0)
    out = model(torch.randint(0, V, (3, 4)), input_ids=ids, encoder_mask=mask)
    assert out.logits.shape == (3, 4, V) and out.last_hidden_state.shape == (3, 4, 64)
    if family == "bahdanau":
        assert out.attentions.shape == (3, 4, 7) and model.has_attention
    else:
        assert out.attentions is None and not model.has_attention
    last = model(torch.randint(0, V, (3, 4)), encoder_out=(annotations, memory, s0), encoder_mask=mask,
                 logits_slice=-1)
    assert last.logits.shape == (3, 1, V)


def test_attention_weights_sum_to_one_over_real_source_tokens():
    model = fresh("bahdanau")
    ids, mask = batch()
    alpha = model(torch.randint(0, V, (3, 5)), input_ids=ids, encoder_mask=mask).attentions
    torch.testing.assert_close(alpha.sum(-1), torch.ones(3, 5))
    assert torch.all(alpha[1, :, 5:] == 0) and torch.all(alpha[2, :, 2:] == 0)
    assert torch.all(alpha[mask[:, None, :].expand_as(alpha) == 1] > 0)
    assert not torch.allclose(alpha[0, 0], alpha[0, 1])  # each step has its own alignment


@pytest.mark.parametrize("family", FAMILIES)
def test_source_padding_changes_no_output(family):
    model = fresh(family).double()  # float64: batched and single rows agree to rounding, not to float32's 1e-5
    ids, mask = batch()
    target = torch.randint(0, V, (3, 6))
    padded = model(target, input_ids=ids, encoder_mask=mask)
    for row, length in ((1, 5), (2, 2)):
        alone = model(target[row : row + 1], input_ids=ids[row : row + 1, :length])
        torch.testing.assert_close(padded.logits[row : row + 1], alone.logits, rtol=0, atol=1e-10)
        if family == "bahdanau":
            torch.testing.assert_close(padded.attentions[row, :, :length], alone.attentions[0], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="right-padded"):
        model.encode(ids, mask.flip(1))


@pytest.mark.parametrize("family", FAMILIES)
def test_cached_steps_equal_one_teacher_forced_pass(family):
    model = fresh(family)
    ids, mask = batch()
    target = torch.randint(0, V, (3, 6))
    whole = model(target, input_ids=ids, encoder_mask=mask).logits
    encoded, cache = model.encode(ids, mask), model.new_cache(batch_size=3)
    steps = [model(target[:, i : i + 1], encoder_out=encoded, encoder_mask=mask, cache=cache).logits
             for i in range(6)]
    torch.testing.assert_close(torch.cat(steps, 1), whole, rtol=1e-5, atol=1e-5)
    assert isinstance(cache, RecurrentState) and cache.state.shape == (3, 64)


@torch.no_grad()
def hand_rolled_greedy(model, ids, mask, n, eos):
    """Argmax of an uncached pass over the whole prefix, one token at a time; after eos, eos."""
    prefix = torch.full((ids.shape[0], 1), model.decoder_start_id)
    done = torch.zeros(ids.shape[0], dtype=torch.bool)
    for _ in range(n):
        nxt = model(prefix, input_ids=ids, encoder_mask=mask).logits[:, -1].argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, eos), nxt)
        done |= nxt == eos
        prefix = torch.cat([prefix, nxt[:, None]], 1)
    return prefix[:, 1:]


@pytest.mark.parametrize("family", FAMILIES)
def test_engine_greedy_equals_a_hand_rolled_loop(family):
    model = fresh(family)
    ids, mask = batch()
    eos = 3
    ours = generate(model, ids, mask, max_new_tokens=8, eos_id=eos, pad_id=eos)
    expected = hand_rolled_greedy(model, ids, mask, 8, eos)
    assert torch.equal(ours, expected[:, : ours.shape[1]])
    assert torch.all(expected[:, ours.shape[1]:] == eos)


@torch.no_grad()
def hand_rolled_beam(model, ids, mask, k, n):
    """Plain beam search without end tokens: every step keeps the k best prefixes by summed
    log-probability, each scored by an uncached pass over the whole prefix."""
    beams = [([], 0.0)]
    for _ in range(n):
        prefixes = torch.tensor([[model.decoder_start_id, *tokens] for tokens, _ in beams])
        rows = len(beams)
        logp = model(prefixes, input_ids=ids.expand(rows, -1), encoder_mask=mask.expand(rows, -1)).logits[:, -1]
        logp = logp.log_softmax(-1)
        candidates = [(tokens + [t], score + float(logp[b, t])) for b, (tokens, score) in enumerate(beams)
                      for t in range(V)]
        beams = sorted(candidates, key=lambda c: -c[1])[:k]
    return beams


@pytest.mark.parametrize("family", FAMILIES)
def test_beam_search_through_the_engine_returns_the_n_best(family):
    model = fresh(family)
    ids, mask = batch()
    n = 5
    ours = generate(model, ids, mask, max_new_tokens=n, num_beams=4, num_return_sequences=4)
    assert ours.shape == (3 * 4, n)
    for row in range(3):
        length = int(mask[row].sum())
        expected = hand_rolled_beam(model, ids[row : row + 1, :length], mask[row : row + 1, :length], 4, n)
        assert ours[4 * row : 4 * row + 4].tolist() == [tokens for tokens, _ in expected]
    # with an end token: n-best lists of distinct hypotheses, each ending in it or at the limit
    ended = generate(model, ids, mask, max_new_tokens=n, num_beams=4, num_return_sequences=4, eos_id=3, pad_id=0)
    assert ended.shape[0] == 12 and len({tuple(r) for r in ended[:4].tolist()}) == 4


@pytest.mark.parametrize("family", FAMILIES)
def test_checkpoint_round_trip(tmp_path, family):
    model = fresh(family)
    with atomic_directory(tmp_path / "ckpt") as directory:
        save_model_files(directory, model)
    loaded = lmlineage.load(tmp_path / "ckpt")
    assert type(loaded.context) is type(model.context) and loaded.config == model.config
    ids, mask = batch()
    target = torch.randint(0, V, (3, 4))
    a, b = model(target, input_ids=ids, encoder_mask=mask), loaded(target, input_ids=ids, encoder_mask=mask)
    assert torch.equal(a.logits, b.logits)
    assert (a.attentions is None) == (b.attentions is None)
    assert torch.equal(generate(model, ids, mask, max_new_tokens=4), generate(loaded, ids, mask, max_new_tokens=4))


def test_train_from_the_cli_and_draw_an_alignment(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "bahdanau", "--data", "reverse:2-4", "--steps", "30", "--batch-size", "16",
                 "--warmup", "5", "--lr", "3e-3", "--no-progress", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "BLEU" in printed and "exact match" in printed
    records = read_metrics(out)
    losses = [r["loss"] for r in records if "loss" in r]
    assert losses[-1] < losses[0]
    final = records[-1]
    assert final["val_smoothed_loss"] == pytest.approx(records[-2]["val_loss"])  # maximum likelihood: no smoothing
    model = lmlineage.load(out)
    assert model.config.family == "bahdanau" and model.decoder_start_id == model.tokenizer.eos_id
    assert isinstance(lmlineage.generate(model, "1234", max_new_tokens=6, temperature=0), str)
    assert isinstance(lmlineage.generate(model, "1234", max_new_tokens=6, num_beams=4), str)
    # `generate` prints the translation alone: the source is not echoed before it
    assert main(["generate", str(out), "--prompt", "1234", "--temperature", "0", "--max-new-tokens", "6"]) == 0
    assert capsys.readouterr().out == lmlineage.generate(model, "1234", max_new_tokens=6, temperature=0) + "\n"

    # `eval` scores the pair set's held-out split teacher forced, as training did with the best weights
    assert main(["eval", str(out), "--data", "reverse:2-4", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    best = min(r["val_loss"] for r in records if "val_loss" in r)
    assert scored["loss"] == pytest.approx(best, rel=1e-4) and scored["pairs"] == final["val_pairs"]

    png = tmp_path / "align.png"
    assert main(["align", str(out), "1234", "--out", str(png), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    weights = torch.tensor(shown["weights"])
    assert weights.shape == (len(shown["target"]), len(shown["source"])) == (len(shown["target"]), 4)
    torch.testing.assert_close(weights.sum(-1), torch.ones(len(shown["target"])))
    assert shown["translation"] == lmlineage.generate(model, "1234", max_new_tokens=100, temperature=0)


def test_align_refuses_the_fixed_vector_model(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "seq2seq", "--data", "sort:3-4", "--steps", "3", "--batch-size", "8", "--warmup", "1",
                 "--no-progress", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["align", str(out), "321", "--out", str(tmp_path / "a.png")]) == 2
    assert "no alignment weights" in capsys.readouterr().err
    assert not (tmp_path / "a.png").exists()
    with pytest.raises(UserError, match="PNG"):
        lmlineage.api.align(out, "12", out=tmp_path / "a.jpg")
