"""DeBERTa-v2/v3 against `transformers`' DebertaV2ForMaskedLM, through our production loader:
every layer's hidden states and the MLM logits within 1e-5 (fp32, CPU) on padded batches at three
lengths, for the tiny config of REFERENCES.md (own position projections), a v3-style one (shared
projections, LayerNorm-ed table, segment ids) and one with absolute positions too; and our export
loading strictly in `transformers` with the same outputs.

Only real (unpadded) positions are compared: the reference zeroes the embeddings of padding and
lets a padded query attend uniformly to every key, outputs nothing reads; our padded rows differ
there, and `test_padding_is_masked` shows the comparison is not vacuous."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage.interop.reference import from_hf, to_hf  # noqa: E402
from lmlineage.layers.disentangled import log_buckets  # noqa: E402

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            relative_attention=True, pos_att_type=["c2p", "p2c"], position_buckets=8, max_relative_positions=16,
            position_biased_input=False)
VARIANTS = {
    "tiny": {},
    # DeBERTa-v3's released configs: the table read by the layers' own q/k projections, and normalised.
    "v3": dict(share_att_key=True, norm_rel_ebd="layer_norm", pos_att_type="p2c|c2p", type_vocab_size=2),
    "absolute+c2p": dict(position_biased_input=True, pos_att_type=["c2p"], position_buckets=-1,
                         max_relative_positions=6, type_vocab_size=2),
}


def reference(tmp_path, architecture="DebertaV2ForMaskedLM", **changes):
    torch.manual_seed(0)
    cfg = transformers.DebertaV2Config(**{**TINY, **changes}, attn_implementation="eager")
    ref = getattr(transformers, architecture)(cfg).eval()
    with torch.no_grad():  # biases start at zero and LayerNorms at one: perturb them so a swap shows
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ref.save_pretrained(tmp_path)
    return ref, from_hf(tmp_path).eval()


def batch(length, segments=False):
    """Rows right-padded by none, 2 tokens, half the row; segment ids 0 / 1 where the config has them."""
    g = torch.Generator().manual_seed(length)
    ids = torch.randint(5, 99, (3, length), generator=g)
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    for row, n_pad in enumerate((0, 2, length // 2)):
        real = length - n_pad
        mask[row, real:] = 0
        ids[row, real:] = 0
        types[row, real // 2: real] = 1
    return ids, mask, types if segments else None


def outputs(model, ids, mask, types):
    with torch.no_grad():
        return model(ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("length", [5, 17, 40])
def test_hidden_states_and_logits(variant, length, tmp_path):
    ref, ours = reference(tmp_path, **VARIANTS[variant])
    assert ours.config.family == "deberta" and ours.config.heads == ["mlm"]
    ids, mask, types = batch(length, segments=ours.config.embedding.type_vocab_size > 0)
    theirs, mine = outputs(ref, ids, mask, types), outputs(ours, ids, mask, types)
    real = mask.bool()
    assert len(mine.hidden_states) == len(theirs.hidden_states) == 3
    for a, b in zip(mine.hidden_states, theirs.hidden_states):
        torch.testing.assert_close(a[real], b[real], atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.logits[real], theirs.logits[real], atol=1e-5, rtol=0)


def test_bare_model(tmp_path):
    ref, ours = reference(tmp_path, "DebertaV2Model", **VARIANTS["v3"])
    assert ours.config.heads == [] and ours.mlm is None
    ids, mask, types = batch(12, segments=True)
    real = mask.bool()
    torch.testing.assert_close(outputs(ours, ids, mask, types).last_hidden_state[real],
                               outputs(ref, ids, mask, types).last_hidden_state[real], atol=1e-5, rtol=0)


def test_padding_is_masked_and_positions_matter(tmp_path):
    """Without the mask the real positions of padded rows change; without the relative scores
    (a permuted sequence gives permuted outputs) the model would be a bag of words."""
    _, ours = reference(tmp_path)
    ids, mask, _ = batch(17)
    base = outputs(ours, ids, mask, None).last_hidden_state
    unmasked = outputs(ours, ids, None, None).last_hidden_state
    assert not torch.allclose(base[2, :9], unmasked[2, :9], atol=1e-4)
    flipped = outputs(ours, ids[:1].flip(1), None, None).last_hidden_state
    assert not torch.allclose(flipped.flip(1), base[:1], atol=1e-4)


@pytest.mark.parametrize("variant", VARIANTS)
def test_export_loads_strictly_in_transformers(variant, tmp_path):
    ref, ours = reference(tmp_path / "ref", **VARIANTS[variant])
    to_hf(ours, tmp_path / "out")
    back, info = transformers.DebertaV2ForMaskedLM.from_pretrained(
        tmp_path / "out", output_loading_info=True, attn_implementation="eager")
    assert not any(info.values()), info
    ids, mask, types = batch(11, segments=ours.config.embedding.type_vocab_size > 0)
    real = mask.bool()
    torch.testing.assert_close(outputs(back.eval(), ids, mask, types).logits[real],
                               outputs(ours, ids, mask, types).logits[real], atol=1e-5, rtol=0)


def test_log_buckets_by_hand():
    """8 buckets up to distance 16: exact within +-4, then ceil(log(|r| / 4) / log(15 / 4) * 3) + 4,
    odd in the sign (beyond 16 it keeps growing; the table lookup clamps it)."""
    distances = torch.tensor([0, 1, 3, 4, 5, 6, 8, 11, 15, 40, -5, -40])
    assert log_buckets(distances, 8, 16).tolist() == [0, 1, 3, 4, 5, 5, 6, 7, 7, 10, -5, -10]
