"""SAM against `transformers`' SamModel (tiny random config, eager attention, fp32, CPU): saved
with save_pretrained, loaded by our production loader (declarative rules), every image-encoder
layer, the image embeddings, pred_masks and iou_scores within 1e-5 for point, box, point + box and
mask prompts, multimask or not; our export loads strictly in `transformers` with the same outputs."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage.interop.reference import from_hf, to_hf  # noqa: E402

TINY = dict(
    vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, mlp_dim=37, image_size=32,
                       patch_size=8, output_channels=16, window_size=2, global_attn_indexes=[1], num_pos_feats=8),
    prompt_encoder_config=dict(hidden_size=16, image_size=32, patch_size=8, mask_input_channels=4),
    mask_decoder_config=dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, mlp_dim=32,
                             iou_head_hidden_dim=16))


def reference(window: int = 2, **changes):
    torch.manual_seed(0)
    kwargs = {k: dict(v) for k, v in TINY.items()}
    kwargs["vision_config"]["window_size"] = window
    for k, v in changes.items():
        kwargs[k].update(v)
    ref = transformers.SamModel(transformers.SamConfig(**kwargs, attn_implementation="eager")).eval()
    with torch.no_grad():  # perturb zero biases, unit norms and zero tables so a swap shows
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return ref


@pytest.fixture(scope="module", params=[2, 3], ids=["windows", "padded-windows"])
def pair(request, tmp_path_factory):
    """Windows of 2 tile the 4 x 4 grid; windows of 3 pad it to 6 x 6."""
    ref = reference(request.param)
    path = tmp_path_factory.mktemp("sam") / "ref"
    ref.save_pretrained(path)
    return ref, from_hf(path).eval()


def inputs(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randn(2, 3, 32, 32, generator=g)
    points = torch.randint(0, 32, (2, 3, 2, 2), generator=g).float()  # 3 prompts of 2 points per image
    labels = torch.tensor([[[1, 0], [1, -10], [0, 1]], [[1, 1], [-1, 1], [1, 0]]])
    boxes = torch.sort(torch.randint(0, 32, (2, 3, 2, 2), generator=g).float(), dim=2).values.reshape(2, 3, 4)
    masks = torch.randn(2, 1, 16, 16, generator=g)
    return pixels, points, labels, boxes, masks


PROMPTS = {"points": ("points", "labels"), "boxes": ("boxes",), "points+boxes": ("points", "labels", "boxes"),
           "points+mask": ("points", "labels", "masks"), "none": ()}


@pytest.mark.parametrize("multimask", [True, False], ids=["multimask", "single"])
@pytest.mark.parametrize("prompt", list(PROMPTS))
def test_every_layer_and_the_masks_match(pair, prompt, multimask):
    ref, ours = pair
    pixels, points, labels, boxes, masks = inputs()
    given = {k: v for k, v in dict(points=points, labels=labels, boxes=boxes, masks=masks).items() if k in PROMPTS[prompt]}
    theirs_names = {"points": "input_points", "labels": "input_labels", "boxes": "input_boxes", "masks": "input_masks"}
    with torch.no_grad():
        theirs = ref(pixel_values=pixels, multimask_output=multimask, output_hidden_states=True,
                     **{theirs_names[k]: v for k, v in given.items()})
        mine = ours(pixels, multimask=multimask, output_hidden_states=True, **given)
    assert len(mine.hidden_states) == len(theirs.vision_hidden_states) == 3
    for a, b in zip(mine.hidden_states, theirs.vision_hidden_states):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    torch.testing.assert_close(mine.image_embeddings, ref.get_image_embeddings(pixels), rtol=0, atol=1e-5)
    assert mine.pred_masks.shape == theirs.pred_masks.shape == (2, 1 if prompt == "none" else 3,
                                                               3 if multimask else 1, 16, 16)
    torch.testing.assert_close(mine.pred_masks, theirs.pred_masks, rtol=0, atol=1e-5)
    torch.testing.assert_close(mine.iou_scores, theirs.iou_scores, rtol=0, atol=1e-5)


def test_config_is_read_from_the_reference(pair):
    _, ours = pair
    cfg = ours.config
    assert (cfg.d_model, cfg.n_layer, cfg.attention.n_head, cfg.mlp.d_ff, cfg.global_layers) == (32, 2, 4, 37, [1])
    assert (cfg.image.size, cfg.image.patch, cfg.prompt.dim, cfg.prompt.n_head, cfg.prompt.d_ff) == (32, 8, 16, 2, 32)


def test_deeper_iou_head_and_more_decoder_layers_load():
    """The counts the rules repeat over come from the config: 3 decoder blocks, an IoU head 4 deep, 2 masks."""
    import tempfile

    ref = reference(mask_decoder_config=dict(num_hidden_layers=3, iou_head_depth=4, num_multimask_outputs=2))
    with tempfile.TemporaryDirectory() as tmp:
        ref.save_pretrained(tmp)
        ours = from_hf(tmp).eval()
    pixels, points, labels, *_ = inputs(3)
    with torch.no_grad():
        theirs = ref(pixel_values=pixels, input_points=points, input_labels=labels)
        mine = ours(pixels, points=points, labels=labels)
    torch.testing.assert_close(mine.pred_masks, theirs.pred_masks, rtol=0, atol=1e-5)
    torch.testing.assert_close(mine.iou_scores, theirs.iou_scores, rtol=0, atol=1e-5)


def test_export_loads_strictly_with_the_same_outputs(pair, tmp_path):
    ref, ours = pair
    to_hf(ours, tmp_path / "out")
    back, info = transformers.SamModel.from_pretrained(tmp_path / "out", output_loading_info=True,
                                                       attn_implementation="eager")
    assert not any(info.values()), info  # no missing, unexpected or mismatched key
    pixels, points, labels, boxes, _ = inputs(2)
    with torch.no_grad():
        a = back.eval()(pixel_values=pixels, input_points=points, input_labels=labels, input_boxes=boxes)
        b = ref(pixel_values=pixels, input_points=points, input_labels=labels, input_boxes=boxes)
    torch.testing.assert_close(a.pred_masks, b.pred_masks, rtol=0, atol=1e-5)
    torch.testing.assert_close(a.iou_scores, b.iou_scores, rtol=0, atol=1e-5)
