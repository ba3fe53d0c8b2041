"""BERT (and RoBERTa, its retrained twin) against the `transformers` reference, loaded through
our production loader: every layer's hidden states, the MLM and NSP logits and the pooled
vector within 1e-5 (fp32, CPU) on padded batches with segment ids at three lengths, for each
reference architecture the families read; and our export loading strictly in `transformers`
with the same outputs."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage.interop.reference import from_hf, to_hf  # noqa: E402

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
ARCHITECTURES = {  # reference class -> (its config class, the heads our model carries, the padding id)
    "BertForPreTraining": ("BertConfig", ["pooler", "mlm", "nsp"], 0),
    "BertForMaskedLM": ("BertConfig", ["mlm"], 0),
    "BertModel": ("BertConfig", ["pooler"], 0),
    # RoBERTa numbers positions from 2 past padding, which must be its <pad> = 1.
    "RobertaForMaskedLM": ("RobertaConfig", ["mlm"], 1),
    "RobertaModel": ("RobertaConfig", ["pooler"], 1),
}


def reference(architecture, tmp_path, **changes):
    torch.manual_seed(0)
    config_cls = getattr(transformers, ARCHITECTURES[architecture][0])
    cfg = config_cls(**{**TINY, **changes}, attn_implementation="eager")
    ref = getattr(transformers, architecture)(cfg).eval()
    with torch.no_grad():  # biases start at zero and LayerNorms at one: perturb them so a swap shows
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ref.save_pretrained(tmp_path)
    return ref, from_hf(tmp_path).eval()


def batch(length, architecture="BertForPreTraining", vocab=99):
    """[CLS] A [SEP] B [SEP] rows with right padding: none, 2 tokens, half the row."""
    pad_id = ARCHITECTURES[architecture][2]
    g = torch.Generator().manual_seed(length)
    ids = torch.randint(5, vocab, (3, length), generator=g)
    mask = torch.ones_like(ids)
    segments = torch.zeros_like(ids)
    for row, n_pad in enumerate((0, 2, length // 2)):
        real = length - n_pad
        mask[row, real:] = 0
        ids[row, real:] = pad_id
        segments[row, real // 2: real] = 1
    ids[:, 0] = 2
    return ids, mask, segments


def outputs(model, ids, mask, segments):
    with torch.no_grad():
        return model(ids, attention_mask=mask, token_type_ids=segments, output_hidden_states=True)


def reference_heads(architecture, out):
    """(MLM logits, NSP logits, pooled) as the reference class names them."""
    return {
        "BertForPreTraining": lambda: (out.prediction_logits, out.seq_relationship_logits, None),
        "BertForMaskedLM": lambda: (out.logits, None, None),
        "BertModel": lambda: (None, None, out.pooler_output),
        "RobertaForMaskedLM": lambda: (out.logits, None, None),
        "RobertaModel": lambda: (None, None, out.pooler_output),
    }[architecture]()


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("length", [5, 17, 48])
def test_hidden_states_and_logits(architecture, length, tmp_path):
    ref, ours = reference(architecture, tmp_path)
    assert sorted(ours.config.heads) == sorted(ARCHITECTURES[architecture][1])
    ids, mask, segments = batch(length, architecture)
    theirs, mine = outputs(ref, ids, mask, segments), outputs(ours, ids, mask, segments)
    assert len(mine.hidden_states) == len(theirs.hidden_states) == 3
    for a, b in zip(mine.hidden_states, theirs.hidden_states):  # padded positions too
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    mlm, nsp, pooled = reference_heads(architecture, theirs)
    for a, b in ((mine.logits, mlm), (mine.pair_logits, nsp), (mine.pooled, pooled)):
        if b is not None:
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_segments_and_padding_matter(tmp_path):
    """The checks above would pass vacuously if segment ids or the padding mask were ignored."""
    _, ours = reference("BertForPreTraining", tmp_path)
    ids, mask, segments = batch(17)
    base = outputs(ours, ids, mask, segments).last_hidden_state
    assert not torch.allclose(base, outputs(ours, ids, mask, torch.zeros_like(segments)).last_hidden_state)
    assert not torch.allclose(base[1:], outputs(ours, ids, None, segments).last_hidden_state[1:])


def test_untied_relu_variant_round_trips(tmp_path):
    """An untied MLM decoder is loaded and exported as its own tensor, not re-tied."""
    ref, ours = reference("BertForMaskedLM", tmp_path / "ref", hidden_act="relu", layer_norm_eps=1e-7,
                          type_vocab_size=3, tie_word_embeddings=False)
    assert ours.mlm.decoder.weight is not ours.backbone.embed_tokens.weight
    ids, mask, segments = batch(9)
    segments[0, 3:] = 2
    torch.testing.assert_close(outputs(ours, ids, mask, segments).logits,
                               outputs(ref, ids, mask, segments).logits, atol=1e-5, rtol=0)
    to_hf(ours, tmp_path / "out")
    back, info = transformers.BertForMaskedLM.from_pretrained(tmp_path / "out", output_loading_info=True)
    assert not any(info.values()), info
    torch.testing.assert_close(outputs(back.eval(), ids, mask, segments).logits,
                               outputs(ours, ids, mask, segments).logits, atol=1e-5, rtol=0)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_export_loads_strictly_in_transformers(architecture, tmp_path):
    ref, ours = reference(architecture, tmp_path / "ref")
    to_hf(ours, tmp_path / "out")
    back, info = getattr(transformers, architecture).from_pretrained(
        tmp_path / "out", output_loading_info=True, attn_implementation="eager")
    assert not any(info.values()), info
    ids, mask, segments = batch(11, architecture)
    theirs, mine = outputs(back.eval(), ids, mask, segments), outputs(ours, ids, mask, segments)
    torch.testing.assert_close(theirs.hidden_states[-1], mine.last_hidden_state, atol=1e-5, rtol=0)
    mlm, nsp, pooled = reference_heads(architecture, theirs)
    for a, b in ((mine.logits, mlm), (mine.pair_logits, nsp), (mine.pooled, pooled)):
        if b is not None:
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
