"""ModelConfig.init is honoured by every Transformer stack, not only the encoder-decoder's."""

import pytest
import torch

from lmlineage.core.registry import get_family
from lmlineage.models import build_model


def linear_stds(model):
    return {name: (float(m.weight.std()), m.in_features) for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and m.weight.numel() >= 4096}


@pytest.mark.parametrize("family", ["gpt2", "bert", "bart"])
def test_fan_in_init_reaches_every_stack(family):
    torch.manual_seed(0)
    normal = build_model(get_family(family).config("tiny", init=dict(kind="normal")))
    fan_in = build_model(get_family(family).config("tiny", init=dict(kind="fan_in")))
    for name, (std, _) in linear_stds(normal).items():
        assert std < 0.025, (name, std)  # N(0, 0.02), or GPT-2's smaller residual projections
    queries = [n for n in linear_stds(fan_in) if n.endswith(("qkv", ".q"))]
    for name, (std, fan) in linear_stds(fan_in).items():
        if name not in queries:  # query rows carry the folded score scale
            assert std == pytest.approx(fan ** -0.5, rel=0.1), (name, std, fan)
