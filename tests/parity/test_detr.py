"""DETR against `transformers`' DetrForObjectDetection (a tiny random config with a tiny ResNet
backbone written in `transformers`, no timm; eager attention, fp32, CPU): saved with
save_pretrained, loaded by our production loader (declarative rules), every encoder and decoder
layer, the logits and the boxes within 1e-5; our export loads strictly in `transformers` with the
same outputs; and the set loss equals the reference's on the same predictions and targets."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage.interop.reference import from_hf, to_hf  # noqa: E402
from lmlineage.objectives.set_prediction import set_loss  # noqa: E402

LABELS = ["circle", "square", "triangle"]


def reference_config(layer_type="bottleneck", **kw):
    backbone = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1],
                                         layer_type=layer_type, out_features=["stage4"])
    return transformers.DetrConfig(
        use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=backbone, d_model=32,
        encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=37,
        decoder_ffn_dim=37, num_queries=5, id2label=dict(enumerate(LABELS)),
        label2id={n: i for i, n in enumerate(LABELS)}, attn_implementation="eager", **kw)


@pytest.fixture(params=["bottleneck", "basic"])
def pair(request, tmp_path):
    torch.manual_seed(0)
    ref = transformers.DetrForObjectDetection(reference_config(request.param)).eval()
    with torch.no_grad():  # perturb zero biases, unit norms and the batch statistics so a swap shows
        for name, t in ref.state_dict().items():
            if t.is_floating_point():
                t.add_(0.1 * torch.randn_like(t))
                if name.endswith("running_var"):
                    t.abs_().add_(0.5)
    ref.save_pretrained(tmp_path / "ref")
    return ref, from_hf(tmp_path / "ref").eval()


def pixels(seed, batch=2, side=64):
    return torch.randn(batch, 3, side, side, generator=torch.Generator().manual_seed(seed))


def test_every_layer_the_logits_and_the_boxes_match(pair):
    ref, ours = pair
    assert ours.config.labels == LABELS and ours.config.n_queries == 5
    x = pixels(1)
    with torch.no_grad():
        theirs = ref(pixel_values=x, output_hidden_states=True)
        mine = ours(x, output_hidden_states=True)
    # the reference reports the decoder's last layer after the final norm, where ours is last_hidden_state
    decoder = (*mine.decoder_hidden_states[:-1], mine.last_hidden_state)
    for name, a in (("encoder_hidden_states", mine.encoder_hidden_states), ("decoder_hidden_states", decoder)):
        b = getattr(theirs, name)
        assert len(a) == len(b) == 3, name
        for i, (u, v) in enumerate(zip(a, b)):
            torch.testing.assert_close(u, v, rtol=0, atol=1e-5, msg=f"{name}[{i}]")
    torch.testing.assert_close(mine.last_hidden_state, theirs.last_hidden_state, rtol=0, atol=1e-5)
    torch.testing.assert_close(mine.logits, theirs.logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(mine.pred_boxes, theirs.pred_boxes, rtol=0, atol=1e-5)


def test_export_loads_strictly_with_the_same_outputs(pair, tmp_path):
    ref, ours = pair
    to_hf(ours, tmp_path / "out")
    back, info = transformers.DetrForObjectDetection.from_pretrained(tmp_path / "out", output_loading_info=True,
                                                                     attn_implementation="eager")
    assert not any(info.values()), info  # no missing, unexpected or mismatched key
    assert back.config.id2label == dict(enumerate(LABELS))
    x = pixels(2)
    with torch.no_grad():
        a, b = back.eval()(pixel_values=x), ref(pixel_values=x)
    torch.testing.assert_close(a.logits, b.logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(a.pred_boxes, b.pred_boxes, rtol=0, atol=1e-5)


def test_the_set_loss_equals_the_references(pair):
    """The reference's loss (its Hungarian matcher and DETR loss) on the same outputs and targets."""
    ref, ours = pair
    x = pixels(3, batch=3)
    targets = [
        {"class_labels": torch.tensor([0, 2]), "boxes": torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.7, 0.6, 0.3, 0.4]])},
        {"class_labels": torch.tensor([1]), "boxes": torch.tensor([[0.5, 0.5, 0.5, 0.4]])},
        {"class_labels": torch.tensor([2, 1, 0]), "boxes": torch.tensor([[0.2, 0.8, 0.1, 0.2], [0.5, 0.2, 0.3, 0.2],
                                                                         [0.8, 0.8, 0.2, 0.3]])},
    ]
    with torch.no_grad():
        theirs = ref(pixel_values=x, labels=targets)
        mine = ours(x)
    total, terms = set_loss(mine.logits, mine.pred_boxes, [{"labels": t["class_labels"], "boxes": t["boxes"]}
                                                           for t in targets], ours.config.loss)
    assert terms["classes"] == pytest.approx(float(theirs.loss_dict["loss_ce"]), abs=1e-5)
    assert terms["l1"] == pytest.approx(float(theirs.loss_dict["loss_bbox"]), abs=1e-5)
    assert terms["giou"] == pytest.approx(float(theirs.loss_dict["loss_giou"]), abs=1e-5)
    assert float(total) == pytest.approx(float(theirs.loss), abs=1e-5)
