"""The Transformer (Vaswani et al. 2017) against `transformers`' MarianMTModel, the same
architecture (post-LN, sinusoidal positions, shared embeddings), and BART against
BartForConditionalGeneration, each loaded through our production loader: every encoder and decoder layer's hidden states and the logits within 1e-5 (fp32, CPU)
with left- and right-padded sources at three lengths; 20 greedy tokens and 4-beam search equal
to the reference `generate`; our export loading strictly in `transformers` with the same
logits. Plus golden cases for the sinusoids and the masks the paper describes."""

import math

import pytest
import torch

transformers = pytest.importorskip("transformers")

import lmlineage  # noqa: E402
from lmlineage.generation import generate  # noqa: E402
from lmlineage.interop.reference import from_hf, to_hf  # noqa: E402

PAD, EOS = 1, 2
TINY = dict(vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
            pad_token_id=PAD, decoder_start_token_id=PAD, eos_token_id=EOS, forced_eos_token_id=None)
MARIAN = ("MarianConfig", "MarianMTModel", "transformer")
CASES = {
    "vaswani": (*MARIAN, dict(TINY, activation_function="relu", scale_embedding=True)),  # sqrt(d) embeddings (3.4)
    "marian-defaults": (*MARIAN, dict(TINY, activation_function="gelu", scale_embedding=False)),
    # BART's own token ids: <s> 0, <pad> 1, </s> 2, which also starts the decoder.
    "bart": ("BartConfig", "BartForConditionalGeneration", "bart",
             dict(TINY, bos_token_id=0, decoder_start_token_id=2, init_std=0.2)),  # 0.02 makes beams repeat one token
}


def reference(name, tmp_path):
    config_cls, model_cls, _, kwargs = CASES[name]
    torch.manual_seed(0)
    cfg = getattr(transformers, config_cls)(**kwargs, attn_implementation="eager")
    ref = getattr(transformers, model_cls)(cfg).eval()
    with torch.no_grad():  # a trained model's output bias is not zero: make sure it is carried over
        ref.final_logits_bias.normal_(0.0, 0.5)
    ref.save_pretrained(tmp_path)
    ref = getattr(transformers, model_cls).from_pretrained(tmp_path, attn_implementation="eager").eval()
    return ref, from_hf(tmp_path).eval()


def source(length, pad_side, vocab=99, rows=3):
    g = torch.Generator().manual_seed(length)
    ids = torch.randint(3, vocab, (rows, length), generator=g)
    mask = torch.ones_like(ids)
    for row, n_pad in enumerate((0, 2, length // 2)[:rows]):
        if n_pad:
            cut = slice(0, n_pad) if pad_side == "left" else slice(length - n_pad, length)
            mask[row, cut] = 0
            ids[row, cut] = PAD
    return ids, mask


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("pad_side", ["left", "right"])
@pytest.mark.parametrize("length", [5, 17, 40])
def test_hidden_states_and_logits(name, pad_side, length, tmp_path):
    ref, ours = reference(name, tmp_path)
    assert ours.config.family == CASES[name][2]
    ids, mask = source(length, pad_side)
    decoder_ids = torch.randint(3, 99, (3, max(length // 2, 3)), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs = ref(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids, output_hidden_states=True)
        mine = ours(decoder_ids, input_ids=ids, encoder_mask=mask, output_hidden_states=True)
    keep = mask.bool()
    assert len(mine.encoder_hidden_states) == len(theirs.encoder_hidden_states) == 3
    for a, b in zip(mine.encoder_hidden_states, theirs.encoder_hidden_states):
        torch.testing.assert_close(a[keep], b[keep], atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.encoder_last_hidden_state[keep], theirs.encoder_last_hidden_state[keep],
                               atol=1e-5, rtol=0)
    assert len(mine.hidden_states) == len(theirs.decoder_hidden_states) == 3
    for a, b in zip(mine.hidden_states, theirs.decoder_hidden_states):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.logits, theirs.logits, atol=1e-5, rtol=0)


def reference_generate(ref, ids, mask, eos_id, **options):
    with torch.no_grad():
        out = ref.generate(ids, attention_mask=mask, max_new_tokens=20, do_sample=False, eos_token_id=eos_id,
                           pad_token_id=PAD, **options)
    return out[:, 1:]  # drop the decoder start token


def after_eos_as_pad(ids, eos_id):
    ids = ids.clone()
    seen = (ids == eos_id).long().cumsum(1)
    ids[(seen > 1) | ((seen == 1) & (ids != eos_id))] = PAD
    return ids


def frequent_token(ids):
    middle = ids[:, 3:12].flatten()
    return int(torch.mode(middle[middle > PAD]).values)


@pytest.mark.parametrize("name", CASES)
def test_greedy_matches_reference_generate(name, tmp_path):
    ref, ours = reference(name, tmp_path)
    ids, mask = source(9, "right")
    theirs = reference_generate(ref, ids, mask, None)
    assert torch.equal(generate(ours, ids, mask, max_new_tokens=20, pad_id=PAD), theirs)
    eos = frequent_token(theirs)  # an end-of-sequence token the model emits: rows end early
    theirs = reference_generate(ref, ids, mask, eos)
    mine = generate(ours, ids, mask, max_new_tokens=20, eos_id=eos, pad_id=PAD)
    assert (mine == eos).any()
    assert torch.equal(after_eos_as_pad(mine, eos), after_eos_as_pad(theirs, eos))


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("options", [dict(), dict(length_penalty=0.6, num_return_sequences=2)])
def test_beam_search_matches_reference_generate(name, options, tmp_path):
    ref, ours = reference(name, tmp_path)
    ids, mask = source(9, "right")
    theirs = reference_generate(ref, ids, mask, None, num_beams=4, **options)
    assert torch.equal(generate(ours, ids, mask, max_new_tokens=20, num_beams=4, pad_id=PAD, **options), theirs)
    eos = frequent_token(theirs)
    theirs = reference_generate(ref, ids, mask, eos, num_beams=4, **options)
    mine = generate(ours, ids, mask, max_new_tokens=20, num_beams=4, eos_id=eos, pad_id=PAD, **options)
    assert (mine == eos).any() and mine.shape == theirs.shape
    assert torch.equal(after_eos_as_pad(mine, eos), after_eos_as_pad(theirs, eos))


@pytest.mark.parametrize("name", CASES)
def test_export_loads_strictly_in_transformers(name, tmp_path):
    ref, ours = reference(name, tmp_path / "ref")
    to_hf(ours, tmp_path / "out")
    back, info = getattr(transformers, CASES[name][1]).from_pretrained(tmp_path / "out", output_loading_info=True)
    assert not any(info.values()), info
    torch.testing.assert_close(back.final_logits_bias, ref.final_logits_bias, atol=0, rtol=0)
    ids, mask = source(11, "right")
    decoder_ids = torch.randint(3, 99, (3, 6))
    with torch.no_grad():
        theirs = back.eval()(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits
        torch.testing.assert_close(theirs, ours(decoder_ids, input_ids=ids, encoder_mask=mask).logits,
                                   atol=1e-5, rtol=0)


def test_sinusoids_golden():
    """Section 3.5 at hand-computed points, in the released layout (sines, then cosines)."""
    model = lmlineage.load("transformer", preset="tiny")
    table = model.encoder.embed_positions.table  # (max_positions, 128)
    d = 128
    for pos, i in ((0, 0), (1, 0), (7, 3), (50, 63)):
        angle = pos / 10000 ** (2 * i / d)
        assert table[pos, i].item() == pytest.approx(math.sin(angle), abs=1e-6)
        assert table[pos, d // 2 + i].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert model.decoder.embed_positions is not None


def test_masks_golden():
    """A padded source token changes nothing it must not (padding mask), and no decoder position
    sees a later one (causal mask): perturb and compare."""
    torch.manual_seed(0)
    model = lmlineage.load("transformer", preset="tiny", dropout=0.0)
    src = torch.tensor([[5, 6, 7, 8], [5, 6, 7, PAD]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    tgt = torch.tensor([[3, 9, 10, 11, 12]] * 2)
    with torch.no_grad():
        base = model(tgt, input_ids=src, encoder_mask=mask).logits
        changed_pad = model(tgt, input_ids=src.masked_fill(mask == 0, 42), encoder_mask=mask).logits
        changed_future = model(torch.tensor([[3, 9, 10, 50, 60]] * 2), input_ids=src, encoder_mask=mask).logits
        changed_real = model(tgt, input_ids=torch.tensor([[5, 6, 7, 42]] * 2), encoder_mask=mask).logits
    torch.testing.assert_close(changed_pad, base, atol=1e-6, rtol=0)  # row 1's padding is never read
    torch.testing.assert_close(changed_future[:, :3], base[:, :3], atol=1e-6, rtol=0)
    assert not torch.allclose(changed_future[:, 3:], base[:, 3:])
    assert not torch.allclose(changed_real[0], base[0]) and torch.allclose(changed_real[1], base[1], atol=1e-6)
