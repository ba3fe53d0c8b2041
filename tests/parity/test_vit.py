"""ViT against `transformers`' ViTForImageClassification (tiny random config, eager attention,
fp32, CPU): saved with save_pretrained, loaded by our production loader (declarative rules), every
layer's hidden states and the logits within 1e-5; our export loads strictly in `transformers` with
the same logits; the label names come from id2label."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage.interop.reference import from_hf, to_hf  # noqa: E402

LABELS = ["cat", "dog", "bird"]


@pytest.fixture(params=[(1, "gelu"), (3, "quick_gelu")], ids=["grey-gelu", "rgb-quick_gelu"])
def pair(request, tmp_path):
    torch.manual_seed(0)
    channels, activation = request.param
    cfg = transformers.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                                 image_size=8, patch_size=2, num_channels=channels, hidden_act=activation,
                                 id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)},
                                 attn_implementation="eager")
    ref = transformers.ViTForImageClassification(cfg).eval()
    with torch.no_grad():  # perturb zero biases and unit norms so a swap shows
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ref.save_pretrained(tmp_path / "ref")
    return ref, from_hf(tmp_path / "ref").eval(), channels


def test_every_layer_and_the_logits_match(pair):
    ref, ours, channels = pair
    assert ours.config.labels == LABELS and ours.config.image.channels == channels
    pixels = torch.randn(3, channels, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs = ref(pixel_values=pixels, output_hidden_states=True)
        mine = ours(pixels, output_hidden_states=True)
    assert len(mine.hidden_states) == len(theirs.hidden_states) == 3
    for a, b in zip(mine.hidden_states, theirs.hidden_states):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    torch.testing.assert_close(mine.task_logits, theirs.logits, rtol=0, atol=1e-5)


def test_export_loads_strictly_with_the_same_logits(pair, tmp_path):
    ref, ours, channels = pair
    to_hf(ours, tmp_path / "out")
    back, info = transformers.ViTForImageClassification.from_pretrained(tmp_path / "out", output_loading_info=True,
                                                                        attn_implementation="eager")
    assert not any(info.values()), info  # no missing, unexpected or mismatched key
    assert back.config.id2label == dict(enumerate(LABELS))
    pixels = torch.randn(2, channels, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(back.eval()(pixel_values=pixels).logits, ref(pixel_values=pixels).logits,
                                   rtol=0, atol=1e-5)


def test_mean_pooling_reads_the_patches_and_is_refused_on_export(tmp_path):
    from lmlineage import load
    from lmlineage.core.errors import UserError

    model = load("vit", pooling="mean").eval()
    pixels = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = model(pixels)
        patches = out.last_hidden_state[:, 1:].mean(dim=1)  # [class] left out
        torch.testing.assert_close(out.task_logits, model.classifier(patches), rtol=0, atol=0)
        assert not torch.allclose(out.task_logits, model.classifier(out.last_hidden_state[:, 0]), atol=1e-3)
        torch.testing.assert_close(model.embed_images(pixels), torch.nn.functional.normalize(patches, dim=-1))
    with pytest.raises(UserError, match="reads the \\[CLS\\] vector"):  # ViTForImageClassification has no such head
        to_hf(model, tmp_path / "mean")
    assert not (tmp_path / "mean").exists()
    to_hf(load("vit", pooling="cls"), tmp_path / "cls")  # "cls" is the reference's own
    assert (tmp_path / "cls" / "config.json").exists()
