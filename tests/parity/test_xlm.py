"""XLM against `transformers`' XLMWithLMHeadModel, loaded by our production loader: every layer's
hidden states and the logits within 1e-5 (fp32, CPU) at every real token, with two languages'
ids, right and left padding; the causal (CLM) configuration too; and our export loading strictly
in `transformers` with the same outputs.

XLM multiplies padded positions by zero after every layer; ours leave them as computed, which no
real token reads, so padded positions are not compared. Its causal mask ignores padding, so a
causal model's real tokens would read left padding there: causal batches are right-padded."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage.interop.reference import from_hf, to_hf  # noqa: E402
from lmlineage.models.decoder import DecoderLM  # noqa: E402
from lmlineage.models.encoder import EncoderModel  # noqa: E402

TINY = dict(vocab_size=99, emb_dim=32, n_layers=2, n_heads=4, n_langs=2)


def reference(tmp_path, **changes):
    torch.manual_seed(0)
    cfg = transformers.XLMConfig(**{**TINY, **changes}, attn_implementation="eager")
    ref = transformers.XLMWithLMHeadModel(cfg).eval()
    with torch.no_grad():  # biases start at zero and LayerNorms at one: perturb them so a swap shows
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ref.save_pretrained(tmp_path)
    return ref, from_hf(tmp_path).eval()


def batch(length, padding):
    """Three rows, English then Chinese language ids, padded by none, 2 tokens and half the row on
    the ``padding`` side ("right" or "left")."""
    g = torch.Generator().manual_seed(length)
    ids = torch.randint(5, 99, (3, length), generator=g)
    mask = torch.ones_like(ids)
    langs = torch.zeros_like(ids)
    for row, n_pad in enumerate((0, 2, length // 2)):
        real = length - n_pad
        pads = slice(real, None) if padding == "right" else slice(0, n_pad)
        mask[row, pads] = 0
        ids[row, pads] = 2  # XLM's <pad>
        first = 0 if padding == "right" else n_pad
        langs[row, first + real // 2: first + real] = 1
    return ids, mask, langs


def run(model, ids, mask, langs, ours):
    with torch.no_grad():
        if not ours:
            return model(ids, attention_mask=mask, langs=langs, output_hidden_states=True)
        if isinstance(model, DecoderLM):  # a causal model reads one language: its ids all 0
            return model(ids, attention_mask=mask, output_hidden_states=True)
        return model(ids, attention_mask=mask, token_type_ids=langs, output_hidden_states=True)


def assert_same(mine, theirs, mask):
    real = mask.bool()
    assert len(mine.hidden_states) == len(theirs.hidden_states) == 3
    for a, b in zip(mine.hidden_states, theirs.hidden_states):
        torch.testing.assert_close(a[real], b[real], atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.logits[real], theirs.logits[real], atol=1e-5, rtol=0)


@pytest.mark.parametrize("padding", ["right", "left"])
@pytest.mark.parametrize("length", [5, 17, 48])
def test_hidden_states_and_logits(padding, length, tmp_path):
    ref, ours = reference(tmp_path)
    assert isinstance(ours, EncoderModel) and ours.config.heads == ["masked_lm_head"]
    assert ours.config.embedding.type_vocab_size == 2
    ids, mask, langs = batch(length, padding)
    assert_same(run(ours, ids, mask, langs, True), run(ref, ids, mask, langs, False), mask)


@pytest.mark.parametrize("length", [5, 17])
def test_causal_configuration(length, tmp_path):
    ref, ours = reference(tmp_path, causal=True)
    assert isinstance(ours, DecoderLM) and ours.config.causal
    ids, mask, langs = batch(length, "right")
    langs.zero_()
    assert_same(run(ours, ids, mask, langs, True), run(ref, ids, mask, langs, False), mask)


def test_languages_and_padding_matter(tmp_path):
    """The checks above would pass vacuously if language ids or the padding mask were ignored."""
    _, ours = reference(tmp_path)
    ids, mask, langs = batch(17, "right")
    base = run(ours, ids, mask, langs, True).last_hidden_state
    assert not torch.allclose(base, run(ours, ids, mask, torch.zeros_like(langs), True).last_hidden_state)
    assert not torch.allclose(base[1:, :5], run(ours, ids, None, langs, True).last_hidden_state[1:, :5])


def test_one_language_has_no_table(tmp_path):
    ref, ours = reference(tmp_path, n_langs=1)
    assert ours.backbone.embed_segments is None
    ids, mask, _ = batch(9, "right")
    assert_same(run(ours, ids, mask, None, True), run(ref, ids, mask, None, False), mask)


@pytest.mark.parametrize("causal", [False, True])
def test_export_loads_strictly_in_transformers(causal, tmp_path):
    _, ours = reference(tmp_path / "ref", causal=causal)
    to_hf(ours, tmp_path / "out")
    back, info = transformers.XLMWithLMHeadModel.from_pretrained(
        tmp_path / "out", output_loading_info=True, attn_implementation="eager")
    assert not any(info.values()), info
    assert back.config.causal is causal
    ids, mask, langs = batch(11, "right")
    if causal:
        langs.zero_()
    assert_same(run(ours, ids, mask, langs, True), run(back.eval(), ids, mask, langs, False), mask)


def test_a_feed_forward_width_xlm_cannot_hold_is_refused_before_writing(tmp_path):
    from lmlineage import load
    from lmlineage.core.errors import UserError

    model = load("xlm", mlp=dict(d_ff=96))  # tiny's width 128: XLM's FFN would be 512
    with pytest.raises(UserError, match="4 x emb_dim"):
        to_hf(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()
