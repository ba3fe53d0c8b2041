"""A model is a backbone plus named heads from one registry: a new head is one entry, picked by
name in ``cfg.heads``, with no change to the stacks or the model classes."""

import pytest
import torch
from torch import nn

from lmlineage.core.config import ModelConfig
from lmlineage.core.errors import UserError
from lmlineage.heads.registry import HEADS, HeadSpec
from lmlineage.models.encoder import EncoderModel

TINY = dict(family="bert", vocab_size=50, n_layer=2, attention=dict(n_head=4), d_model=32, max_positions=16)


class Value(nn.Module):
    """A scalar per sequence from [CLS] (a reward or value model's head)."""

    def __init__(self, dim):
        super().__init__()
        self.out = nn.Linear(dim, 1)

    def forward(self, summary):
        return self.out(summary).squeeze(-1)


def test_a_new_head_is_one_registry_entry(monkeypatch):
    monkeypatch.setitem(HEADS, "value", HeadSpec(lambda cfg: Value(cfg.d_model), reads="summary", writes="value"))
    model = EncoderModel(ModelConfig.from_dict(dict(TINY, heads=["pooler", "value"]))).eval()
    ids = torch.randint(0, 50, (3, 7))
    out = model(ids)
    assert out.outputs["value"].shape == (3,)
    torch.testing.assert_close(out.outputs["value"], model.value(out.pooled))  # it read the pooled [CLS]
    assert "value.out.weight" in model.state_dict()


def test_heads_are_built_in_registry_order_and_named_by_it():
    model = EncoderModel(ModelConfig.from_dict(dict(TINY, heads=["nsp", "mlm", "pooler"])))
    assert model.head_names == ("pooler", "mlm", "nsp")
    assert model.sop is None and model.rtd is None
    assert list(model.state_dict())[-1].startswith("nsp.")


def test_a_head_that_reads_the_pooler_needs_it():
    with pytest.raises(UserError, match="pooler"):
        EncoderModel(ModelConfig.from_dict(dict(TINY, heads=["sop"])))
