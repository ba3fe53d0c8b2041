"""The shared ViT input's optional convolutional stem (``image.stem``): 3x3 convolutions before the
patches are cut keep the side, so the patch grid and the token count stay as without them; an
empty stem is ViT's linear patch embedding with no extra weights; a bad stem is refused."""

import pytest
import torch

import lmlineage
from lmlineage.core.errors import UserError
from lmlineage.models import build_model


def test_a_stem_feeds_the_patches_and_keeps_their_grid():
    plain = lmlineage.load("vit").config
    assert plain.image.stem == [] and not any("stem" in k for k in build_model(plain).state_dict())
    cfg = plain.replace(image={"stem": [6, 5]})
    torch.manual_seed(0)
    model = build_model(cfg)
    stem = [k for k in model.state_dict() if ".stem." in k]
    assert stem == ["patches.stem.0.weight", "patches.stem.0.bias", "patches.stem.2.weight", "patches.stem.2.bias"]
    assert model.patches.proj.in_channels == 5
    pixels = torch.randn(2, cfg.image.channels, cfg.image.size, cfg.image.size)
    hidden = model(pixels).last_hidden_state
    assert hidden.shape == (2, cfg.image.n_patches + 1, cfg.d_model)
    hidden.sum().backward()  # the stem learns from what the encoder says
    assert model.patches.stem[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("stem", [[0], [4, -1]])
def test_a_stem_without_channels_is_refused(stem):
    with pytest.raises(UserError, match="stem"):
        lmlineage.load("vit").config.replace(image={"stem": stem}).validate()
