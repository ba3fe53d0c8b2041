"""The logit lens and ``read`` (evaluation/lens.py): the lens after block k is what the same model
cut after k blocks predicts; its last row is the model's own prediction; the attention maps are
causal probability rows; the next-token table is the top of the last position's softmax."""

import pytest
import torch

from lmlineage.core.registry import get_family
from lmlineage.evaluation.lens import logit_lens, read
from lmlineage.models import build_model


def model_of(family, **overrides):
    torch.manual_seed(0)
    return build_model(get_family(family).config("tiny", vocab_size=50, **overrides)).eval()


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_lens_after_block_k_is_the_model_cut_after_k_blocks(family):
    full = model_of(family)
    ids = torch.randint(0, 50, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = full(ids, output_hidden_states=True)
        probs, top = logit_lens(full, out.hidden_states, top=3)
    n = full.config.n_layer
    assert probs.shape == top.shape == (n + 1, 2, 9, 3)
    for k in range(1, n + 1):
        cut = model_of(family, n_layer=k)
        cut.load_state_dict({name: t for name, t in full.state_dict().items()
                             if not name.startswith("backbone.layers.") or int(name.split(".")[2]) < k})
        with torch.no_grad():
            expected = cut(ids).logits.softmax(-1).topk(3, dim=-1)
        torch.testing.assert_close(probs[k], expected.values, atol=1e-5, rtol=0)
        assert torch.equal(top[k], expected.indices)
    assert torch.equal(top[n, ..., 0], out.logits.argmax(-1))


def test_read_gives_causal_attention_rows_and_the_top_next_tokens():
    model = model_of("gpt2")
    ids = [5, 7, 11, 2, 40, 3]
    reading = read(model, ids, top=5)
    cfg = model.config
    assert reading.attentions.shape == (cfg.n_layer, cfg.attention.n_head, 6, 6)
    torch.testing.assert_close(reading.attentions.sum(-1), torch.ones(cfg.n_layer, cfg.attention.n_head, 6))
    assert not reading.attentions.triu(1).any()  # no query sees a later key
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1]
    expected = logits.softmax(-1).topk(5)
    torch.testing.assert_close(reading.next_probs, expected.values)
    assert torch.equal(reading.next_ids, expected.indices)
    assert reading.lens_ids.shape == (cfg.n_layer + 1, 6, 1)
    assert torch.equal(reading.lens_ids[-1, -1], expected.indices[:1])


def test_an_encoder_reading_has_its_attentions_alone():
    model = model_of("bert")
    reading = read(model, [2, 9, 14, 3])
    cfg = model.config
    assert reading.attentions.shape == (cfg.n_layer, cfg.attention.n_head, 4, 4)
    torch.testing.assert_close(reading.attentions.sum(-1), torch.ones(cfg.n_layer, cfg.attention.n_head, 4))
    assert reading.attentions.triu(1).any()  # every token sees the later ones too
    assert reading.next_ids is None and reading.lens_ids is None
