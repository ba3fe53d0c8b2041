"""Attention probabilities (`output_attentions=True`) against `transformers`' eager attention:
every layer's (B, H, T, S) weights within 1e-5 at every real query, with padding, for decoders
(learned positions, rotary with grouped queries, ALiBi) and encoders (BERT, DeBERTa's
disentangled scores); asking for them leaves the outputs as they are (the default SDPA path and
the eager one agree)."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage.interop.reference import from_hf  # noqa: E402

CASES = {
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64)),
    "llama-gqa": ("LlamaConfig", "LlamaForCausalLM",
                  dict(vocab_size=99, hidden_size=48, num_hidden_layers=2, num_attention_heads=6,
                       num_key_value_heads=2, intermediate_size=37, max_position_embeddings=64)),
    "bloom-alibi": ("BloomConfig", "BloomForCausalLM", dict(vocab_size=99, hidden_size=40, n_layer=2, n_head=5)),
    "bert": ("BertConfig", "BertModel", dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                             intermediate_size=37)),
    "deberta-v2": ("DebertaV2Config", "DebertaV2Model",
                   dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                        relative_attention=True, pos_att_type=["c2p", "p2c"], position_buckets=8,
                        max_relative_positions=16, position_biased_input=False)),
}
ENCODERS = ("bert", "deberta-v2")


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("pad_side", ["none", "left", "right"])
def test_attention_weights_match_reference(name, pad_side, tmp_path):
    config_cls, model_cls, kwargs = CASES[name]
    torch.manual_seed(0)
    cfg = getattr(transformers, config_cls)(**kwargs, bos_token_id=1, eos_token_id=2, attn_implementation="eager")
    ref = getattr(transformers, model_cls)(cfg).eval()
    with torch.no_grad():  # biases start at zero and LayerNorms at one: perturb them so a swap shows
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ref.save_pretrained(tmp_path)
    ours = from_hf(tmp_path).eval()

    ids = torch.randint(3, kwargs["vocab_size"], (2, 13), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    if pad_side == "left":
        mask[1, :4] = 0
    elif pad_side == "right":
        mask[1, -4:] = 0
    # decoders number the real tokens from 0; encoders take their own positions (RoBERTa-style offsets, none)
    pos = None if name in ENCODERS else (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        theirs = ref(ids, attention_mask=mask, position_ids=pos, output_attentions=True)
        mine = ours(ids, attention_mask=mask, position_ids=pos, output_attentions=True)
        plain = ours(ids, attention_mask=mask, position_ids=pos)
    n_layer = len(theirs.attentions)
    assert len(mine.attentions) == n_layer
    real = mask.bool()
    for a, b in zip(mine.attentions, theirs.attentions):
        assert a.shape == b.shape == (2, b.shape[1], 13, 13)
        # (B, T, H, S) at real queries: a padded query's row is arbitrary on both sides
        torch.testing.assert_close(a.transpose(1, 2)[real], b.transpose(1, 2)[real], atol=1e-5, rtol=0)
        sums = a.transpose(1, 2)[real].sum(-1)
        torch.testing.assert_close(sums, torch.ones_like(sums))
    output = "last_hidden_state" if name in ENCODERS else "logits"
    torch.testing.assert_close(getattr(mine, output)[real], getattr(plain, output)[real], atol=1e-5, rtol=0)
    assert plain.attentions is None
