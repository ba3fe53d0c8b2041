"""The encoder stack and its heads: padding is invisible to real tokens, both attention backends
agree, bad head lists and unexportable head sets are refused with the fix named."""

import pytest
import torch

from lmlineage.core.errors import UserError
from lmlineage.core.registry import get_family
from lmlineage.interop.reference import from_hf, to_hf
from lmlineage.layers.attention import set_attention_backend
from lmlineage.models import build_model


def tiny(family="bert", **changes):
    torch.manual_seed(0)
    cfg = get_family(family).config("tiny", vocab_size=50, d_model=32, attention=dict(n_head=4), max_positions=32,
                     dropout=0.0, **changes)
    return build_model(cfg).eval()


def test_padding_is_invisible_to_real_tokens():
    model = tiny()
    ids = torch.randint(5, 50, (1, 9))
    segments = torch.tensor([[0] * 5 + [1] * 4])
    padded = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], dim=1)
    mask = torch.tensor([[1] * 9 + [0] * 4])
    with torch.no_grad():
        alone = model(ids, token_type_ids=segments)
        batched = model(padded, attention_mask=mask, token_type_ids=torch.cat([segments, segments[:, :4] * 0], 1))
    torch.testing.assert_close(batched.last_hidden_state[:, :9], alone.last_hidden_state, atol=1e-5, rtol=0)
    torch.testing.assert_close(batched.pair_logits, alone.pair_logits, atol=1e-5, rtol=0)


def test_sdpa_and_eager_agree_with_padding():
    model = tiny()
    ids = torch.randint(5, 50, (2, 11))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.no_grad():
        sdpa = model(ids, attention_mask=mask).logits
        set_attention_backend(model, "eager")
        eager = model(ids, attention_mask=mask).logits
    torch.testing.assert_close(sdpa, eager, atol=1e-5, rtol=0)


def test_mlm_head_is_tied_to_the_word_embeddings():
    model = tiny()
    assert model.mlm.decoder.weight is model.backbone.embed_tokens.weight


@pytest.mark.parametrize("heads, fix", [(["pooler", "no_such_head"], "choose from"), (["nsp"], "add 'pooler'")])
def test_bad_heads_are_refused(heads, fix):
    with pytest.raises(UserError, match=fix):
        tiny(heads=heads)


def test_head_set_without_a_reference_architecture_is_refused_on_export(tmp_path):
    with pytest.raises(UserError, match="BertForPreTraining"):
        to_hf(tiny(heads=["pooler", "nsp"]), tmp_path / "out")


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_export_then_import_restores_every_tensor(family, tmp_path):
    model = tiny(family)
    back = from_hf(to_hf(model, tmp_path / "hf"))
    assert back.config.heads == model.config.heads
    for (name, a), b in zip(model.state_dict().items(), back.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
