"""A decoder is a backbone plus the heads its config names: a head beyond the LM head (here a
value head, as RL fine-tuning needs) is built by name from the registry, with no change to the
decoder class, and leaves the LM head's numbers as they were."""

import pytest
import torch

import lmlineage
from lmlineage.checkpoint.directory import atomic_directory
from lmlineage.checkpoint.model import load_model, save_model_files
from lmlineage.core.errors import UserError
from lmlineage.models import build_model

TINY = dict(n_layer=2, attention=dict(n_head=2), d_model=16, max_positions=32, vocab_size=50)


def _model(family="gpt2", **changes):
    torch.manual_seed(0)
    return build_model(lmlineage.core.registry.get_family(family).config("tiny", **TINY, **changes))


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_a_value_head_rides_along_without_moving_the_lm(family):
    plain, with_value = _model(family), _model(family, heads=["value"])
    ids = torch.randint(0, 50, (3, 7), generator=torch.Generator().manual_seed(1))
    a, b = plain(ids), with_value(ids)
    assert torch.equal(a.logits, b.logits)  # the extra head is drawn after every LM weight
    assert plain(ids).outputs == {} and with_value.head_names == ("lm_head", "value")
    assert b.outputs["values"].shape == (3, 7)
    b.outputs["values"].sum().backward()  # the critic trains the backbone too
    assert with_value.backbone.layers[0].attn.out.weight.grad.abs().sum() > 0


def test_a_decoder_with_a_value_head_saves_and_loads(tmp_path):
    model = _model(heads=["value"])
    with atomic_directory(tmp_path / "ckpt") as tmp:
        save_model_files(tmp, model)
    loaded = load_model(tmp_path / "ckpt", build_model)
    ids = torch.arange(10).view(2, 5)
    assert torch.equal(loaded(ids).outputs["values"], model(ids).outputs["values"])


@pytest.mark.parametrize("heads, named", [(["mlm"], "cannot carry mlm"), (["classifier"], "cannot carry classifier"),
                                          (["reward_model"], "unknown head(s) reward_model")])
def test_a_head_a_decoder_cannot_feed_is_refused(heads, named):
    with pytest.raises(UserError, match=named.replace("(", r"\(").replace(")", r"\)")):
        _model(heads=heads)
