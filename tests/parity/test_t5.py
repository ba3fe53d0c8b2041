"""T5 and mT5 against their `transformers` reference, loaded through our production loader:
every encoder and decoder layer's hidden states and the logits within 1e-5 (fp32, CPU) with
left- and right-padded sources at three lengths; 20 greedy tokens and 4-beam search (also with
an end-of-sequence token that ends hypotheses early, and n-best lists) equal to the reference
`generate`; our export loading strictly in `transformers` with the same logits; cached
decoding equal to uncached."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage.generation import generate  # noqa: E402
from lmlineage.interop.reference import from_hf, to_hf  # noqa: E402

TINY = dict(vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, decoder_start_token_id=0,
            pad_token_id=0, eos_token_id=1)
CASES = {
    "t5": ("T5Config", "T5ForConditionalGeneration", TINY),
    # Relative offsets past max_distance share buckets: lengths 17 and 40 reach the log-spaced ones.
    "t5-few-buckets": ("T5Config", "T5ForConditionalGeneration",
                       {**TINY, "relative_attention_num_buckets": 8, "relative_attention_max_distance": 12}),
    "mt5": ("MT5Config", "MT5ForConditionalGeneration", TINY),
    # T5 v1.1 ("T5.1.1"): model type t5 with mT5's GeGLU and untied, unscaled output layer.
    "t5-v1_1": ("T5Config", "T5ForConditionalGeneration", {**TINY, "feed_forward_proj": "gated-gelu",
                                                          "tie_word_embeddings": False}),
}
UNTIED = ("mt5", "t5-v1_1")


def reference(name, tmp_path):
    config_cls, model_cls, kwargs = CASES[name]
    torch.manual_seed(0)
    cfg = getattr(transformers, config_cls)(**kwargs, attn_implementation="eager")
    ref = getattr(transformers, model_cls)(cfg).eval()
    with torch.no_grad():  # unit-variance embeddings make a tied random T5 repeat one token; shrink them
        ref.shared.weight.mul_(0.05)
    if name in UNTIED:  # mT5's and T5 v1.1's output layer is its own matrix (transformers builds it tied)
        ref.lm_head.weight = torch.nn.Parameter(torch.randn(cfg.vocab_size, cfg.d_model) * cfg.d_model ** -0.5)
    ref.save_pretrained(tmp_path)
    ref = getattr(transformers, model_cls).from_pretrained(tmp_path, attn_implementation="eager").eval()
    return ref, from_hf(tmp_path).eval()


def source(length, pad_side, vocab=99, rows=3):
    g = torch.Generator().manual_seed(length)
    ids = torch.randint(2, vocab, (rows, length), generator=g)
    mask = torch.ones_like(ids)
    for row, n_pad in enumerate((0, 2, length // 2)[:rows]):
        if n_pad:
            cut = slice(0, n_pad) if pad_side == "left" else slice(length - n_pad, length)
            mask[row, cut] = 0
            ids[row, cut] = 0
    return ids, mask


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("pad_side", ["left", "right"])
@pytest.mark.parametrize("length", [5, 17, 40])
def test_hidden_states_and_logits(name, pad_side, length, tmp_path):
    ref, ours = reference(name, tmp_path)
    ids, mask = source(length, pad_side)
    decoder_ids = torch.randint(2, 99, (3, max(length // 2, 3)), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs = ref(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids, output_hidden_states=True)
        mine = ours(decoder_ids, input_ids=ids, encoder_mask=mask, output_hidden_states=True)
    keep = mask.bool()
    # The reference's last hidden state is each stack's output after its final norm.
    assert len(mine.encoder_hidden_states) == len(theirs.encoder_hidden_states) == 3
    for a, b in zip(mine.encoder_hidden_states[:-1], theirs.encoder_hidden_states[:-1]):
        torch.testing.assert_close(a[keep], b[keep], atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.encoder_last_hidden_state[keep], theirs.encoder_hidden_states[-1][keep],
                               atol=1e-5, rtol=0)
    assert len(mine.hidden_states) == len(theirs.decoder_hidden_states) == 3
    for a, b in zip(mine.hidden_states[:-1], theirs.decoder_hidden_states[:-1]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.last_hidden_state, theirs.decoder_hidden_states[-1], atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.logits, theirs.logits, atol=1e-5, rtol=0)


def after_eos_as_pad(ids, eos_id, pad_id=0):
    """Each row cut at its first end-of-sequence token; the rest pad (the reference pads with eos)."""
    ids = ids.clone()
    seen = (ids == eos_id).long().cumsum(1)
    ids[(seen > 1) | ((seen == 1) & (ids != eos_id))] = pad_id
    return ids


def reference_generate(ref, ids, mask, eos_id, **options):
    with torch.no_grad():
        out = ref.generate(ids, attention_mask=mask, max_new_tokens=20, do_sample=False, eos_token_id=eos_id,
                           pad_token_id=0, **options)
    return out[:, 1:]  # drop the decoder start token


def frequent_token(ids):
    """A token the reference emits mid-sequence: as the end-of-sequence id it ends some hypotheses."""
    middle = ids[:, 3:12].flatten()
    return int(torch.mode(middle[middle > 1]).values)


@pytest.mark.parametrize("name", CASES)
def test_greedy_matches_reference_generate(name, tmp_path):
    ref, ours = reference(name, tmp_path)
    ids, mask = source(9, "right")
    theirs = reference_generate(ref, ids, mask, None)
    assert torch.equal(generate(ours, ids, mask, max_new_tokens=20), theirs)
    eos = frequent_token(theirs)
    theirs = reference_generate(ref, ids, mask, eos)
    mine = generate(ours, ids, mask, max_new_tokens=20, eos_id=eos)
    assert (mine == eos).any()
    assert torch.equal(after_eos_as_pad(mine, eos), after_eos_as_pad(theirs, eos))


BEAM_CASES = [(name, {}) for name in CASES] + [
    ("mt5", dict(length_penalty=2.0, num_return_sequences=3)),
    ("mt5", dict(early_stopping=True, length_penalty=0.5)),
    ("t5-few-buckets", dict(early_stopping="never", num_return_sequences=2)),
]


@pytest.mark.parametrize(("name", "options"), BEAM_CASES)
def test_beam_search_matches_reference_generate(name, options, tmp_path):
    ref, ours = reference(name, tmp_path)
    ids, mask = source(9, "right")
    theirs = reference_generate(ref, ids, mask, None, num_beams=4, **options)
    assert torch.equal(generate(ours, ids, mask, max_new_tokens=20, num_beams=4, **options), theirs)
    eos = int(theirs[0, 2])  # now hypotheses end at different lengths and compete by normalised score
    without = theirs
    theirs = reference_generate(ref, ids, mask, eos, num_beams=4, **options)
    mine = generate(ours, ids, mask, max_new_tokens=20, num_beams=4, eos_id=eos, **options)
    assert not torch.equal(after_eos_as_pad(mine, eos), without)  # the end token changed the search
    assert mine.shape == theirs.shape
    assert torch.equal(after_eos_as_pad(mine, eos), after_eos_as_pad(theirs, eos))


@pytest.mark.parametrize("name", CASES)
def test_export_loads_strictly_in_transformers(name, tmp_path):
    ref, ours = reference(name, tmp_path / "ref")
    to_hf(ours, tmp_path / "out")
    assert from_hf(tmp_path / "out").config == ours.config  # T5 v1.1 is written back as T5 v1.1
    model_cls = getattr(transformers, CASES[name][1])
    back, info = model_cls.from_pretrained(tmp_path / "out", output_loading_info=True)
    assert not any(info.values()), info
    ids, mask = source(11, "right")
    decoder_ids = torch.randint(2, 99, (3, 6))
    with torch.no_grad():
        theirs = back.eval()(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits
        torch.testing.assert_close(theirs, ours(decoder_ids, input_ids=ids, encoder_mask=mask).logits,
                                   atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("static", [False, True])
def test_cached_decoding_equals_uncached(name, static, tmp_path):
    _, ours = reference(name, tmp_path)
    ids, mask = source(13, "left")
    decoder_ids = torch.randint(2, 99, (3, 10))
    with torch.no_grad():
        full = ours(decoder_ids, input_ids=ids, encoder_mask=mask).logits
        encoded = ours.encode(ids, mask)
        cache = ours.new_cache(batch_size=3, max_length=10, static=static)
        steps = [ours(decoder_ids[:, t : t + 1], encoder_out=encoded, encoder_mask=mask, cache=cache).logits
                 for t in range(10)]
    assert len(cache.cross.keys) == 2  # projected once, at the first step
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)
