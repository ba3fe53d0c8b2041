"""The one stack: every position scheme of the registry works in both directions, chosen once
from ``cfg.position``; layer sharing works in a causal stack too."""

import pytest
import torch

from lmlineage.models.decoder import DecoderLM
from lmlineage.models.encoder import EncoderModel
from lmlineage.core.config import CHOICES, ModelConfig
from lmlineage.generation import generate
from lmlineage.layers.alibi import ALiBi
from lmlineage.layers.positions import POSITIONS

TINY = dict(vocab_size=50, n_layer=2, attention=dict(n_head=4), d_model=32, max_positions=32, dropout=0.0)


def test_every_configurable_scheme_is_in_the_registry():
    assert set(CHOICES["position.kind"]) == set(POSITIONS)


@pytest.mark.parametrize("scheme", sorted(POSITIONS))
def test_a_causal_stack_decodes_with_its_cache_as_without(scheme):
    torch.manual_seed(0)
    model = DecoderLM(ModelConfig.from_dict(dict(TINY, family="gpt2", position=dict(kind=scheme)))).eval()
    ids = torch.randint(0, 50, (2, 9))
    with torch.no_grad():
        full = model(ids).logits
        cache = model.new_cache(batch_size=2)
        steps = [model(ids[:, :5], cache=cache).logits]
        steps += [model(ids[:, i : i + 1], cache=cache).logits for i in range(5, 9)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 50
    with torch.no_grad():
        torch.testing.assert_close(model(changed).logits[:, :-1], full[:, :-1])  # no query sees a later key


@pytest.mark.parametrize("scheme", sorted(POSITIONS))
def test_a_bidirectional_stack_reads_both_ways(scheme):
    torch.manual_seed(0)
    model = EncoderModel(ModelConfig.from_dict(dict(TINY, family="bert", position=dict(kind=scheme),
                                                    heads=["mlm"]))).eval()
    ids = torch.randint(0, 50, (2, 9))
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 50
    with torch.no_grad():
        first, after = model(ids).last_hidden_state[:, 0], model(changed).last_hidden_state[:, 0]
    assert not torch.allclose(first, after)  # the first token sees the last
    if scheme != "none":  # a position scheme makes the order matter: swap the first two tokens
        order = torch.tensor([1, 0, *range(2, 9)])
        with torch.no_grad():
            swapped = model(ids[:, order]).last_hidden_state[:, order]
            assert not torch.allclose(swapped, model(ids).last_hidden_state, atol=1e-4)


def test_bidirectional_alibi_is_minus_slope_times_distance():
    alibi = ALiBi(2, bidirectional=True)
    q = torch.tensor([[0, 1, 2]])
    bias = alibi(q, q)  # (1, H, 3, 3)
    distance = torch.tensor([[0, 1, 2], [1, 0, 1], [2, 1, 0]]).float()
    for h in range(2):
        torch.testing.assert_close(bias[0, h], -alibi.slopes[h] * distance)


def test_a_causal_stack_shares_its_layers_and_decodes_without_a_cache():
    torch.manual_seed(0)
    shared = DecoderLM(ModelConfig.from_dict(dict(TINY, family="gpt2", layer_groups=1, n_layer=3))).eval()
    assert len(shared.backbone.layers) == 1 and shared.new_cache() is None
    ids = torch.randint(0, 50, (1, 4))
    new = generate(shared, ids, max_new_tokens=5, temperature=0)
    with torch.no_grad():  # greedy by hand, the whole prefix every step
        seq = ids
        for _ in range(5):
            seq = torch.cat([seq, shared(seq).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert new.tolist() == seq[:, 4:].tolist()
