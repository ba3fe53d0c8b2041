"""SAM's parts by what they must do: the windows tile and untile the grid, relative positions are
the offsets' table rows, the prompt encoder tells point kinds apart, the losses and IoU agree with
hand-computed values, the data's prompts lie on their objects and evaluation prompts at the centre,
and the task's loss falls when it trains on one batch."""

import numpy as np
import pytest
import torch

import lmlineage
from lmlineage.blocks.windowed import partition, unpartition
from lmlineage.layers.decomposed_position import DecomposedRelativePosition
from lmlineage.tasks.segmentation import SegmentationTask, dice_loss, focal_loss, mask_iou
from lmlineage.vision.images import load_images
from lmlineage.vision.processor import ImageProcessor
from lmlineage.vision.prompts import PROMPT, PointPrompts, centre_point, split_target, target


@pytest.mark.parametrize("side,window", [(4, 2), (5, 2), (4, 3)])
def test_windows_tile_the_grid_and_untile_it(side, window):
    x = torch.randn(2, side, side, 3)
    windows, padded = partition(x, window)
    n = -(-side // window)
    assert windows.shape == (2 * n * n, window * window, 3) and padded == (n * window, n * window)
    torch.testing.assert_close(windows[0].view(window, window, 3)[: min(window, side), : min(window, side)],
                               x[0, :window, :window])  # the first window is the top-left square
    torch.testing.assert_close(unpartition(windows, window, padded, (side, side)), x)


def test_relative_positions_read_the_table_by_offset():
    rel = DecomposedRelativePosition(side=2, head_dim=1)
    with torch.no_grad():
        rel.height.copy_(torch.tensor([[1.0], [10.0], [100.0]]))  # offsets -1, 0, +1
        rel.width.zero_()
    q = torch.ones(1, 1, 4, 1)  # a 2 x 2 grid, every query 1
    _, bias = rel(q, q, None, None, None)
    # query (y=0) sees keys of row 0 at offset 0 (10) and of row 1 at offset -1 (1); query (y=1): +1 and 0
    expected = torch.tensor([[10.0, 10, 1, 1], [10, 10, 1, 1], [100, 100, 10, 10], [100, 100, 10, 10]])
    torch.testing.assert_close(bias[0, 0], expected)


def test_prompt_encoder_tells_the_point_kinds_apart():
    model = lmlineage.load("sam")
    points = torch.tensor([[[[5.0, 5.0], [5.0, 5.0], [5.0, 5.0], [5.0, 5.0]]]])
    labels = torch.tensor([[[1, 0, -1, -10]]])
    tokens = model.prompts.points(points, labels, model.fourier, pad=False)[0, 0]
    place = model.fourier((points[0, 0, 0] + 0.5) / 32)
    torch.testing.assert_close(tokens[0], place + model.prompts.kinds[1])
    torch.testing.assert_close(tokens[1], place + model.prompts.kinds[0])
    torch.testing.assert_close(tokens[2], model.prompts.not_a_point[0])
    assert tokens[3].abs().max() == 0
    padded = model.prompts.points(points[..., :1, :], labels[..., :1], model.fourier, pad=True)
    assert padded.shape[2] == 2  # a "not a point" after a point with no box
    torch.testing.assert_close(padded[0, 0, 1], model.prompts.not_a_point[0])


def test_losses_and_iou_golden_cases():
    targets = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    confident = torch.tensor([[20.0, -20.0], [-20.0, -20.0]])
    assert focal_loss(confident, targets) < 1e-6 and dice_loss(confident, targets) < 1e-6
    zero = torch.zeros(2, 2)
    # p = 0.5 everywhere: each pixel's focal term is alpha * ln 2 * 0.25; dice = 1 - (2*0.5 + 1) / (2 + 1 + 1)
    expected_focal = (0.25 * 1 + 0.75 * 3) * np.log(2) * 0.25 / 4
    assert float(focal_loss(zero, targets)) == pytest.approx(expected_focal, rel=1e-6)
    assert float(dice_loss(zero, targets)) == pytest.approx(0.5, rel=1e-6)
    a = torch.tensor([[True, True], [False, False]])
    b = torch.tensor([[True, False], [True, False]])
    assert float(mask_iou(a, b)) == pytest.approx(1 / 3)
    assert float(mask_iou(~(a | True), ~(b | True))) == 1.0  # both empty


def test_centre_point_is_farthest_from_the_outside():
    mask = np.zeros((9, 12), dtype=bool)
    mask[1:8, 2:9] = True  # a 7 x 7 square: its middle is (5, 4)
    assert centre_point(mask) == (5, 4)
    mask[4, 5] = False  # a hole at the middle: the centre moves off it, still inside
    x, y = centre_point(mask)
    assert mask[y, x] and (x, y) != (5, 4)
    t = target(mask, (x, y))
    masks, points = split_target(torch.from_numpy(t)[None])
    assert points.tolist() == [[float(x), float(y)]] and torch.equal(masks[0].bool(), torch.from_numpy(mask))


def test_training_prompts_lie_on_their_objects_and_evaluation_reads_every_object():
    images = load_images("shapes:12")
    split = PointPrompts.process(images, ImageProcessor.vit(32, 32, 3))
    pixels, targets = next(split.sampler(16, seed=3))
    assert pixels.shape == (16, 3, 32, 32) and targets.shape == (16, 32, 32)
    for t in targets:
        point = (t == PROMPT).nonzero()
        assert len(point) == 1  # one prompt, on the object
        assert any(m[tuple(point[0].tolist())] and np.array_equal(m | (t.numpy() == PROMPT), t.numpy() > 0)
                   for masks in split.masks for m in masks)
    seen = sum(len(x) for x, _ in split.batches(5))
    assert seen == sum(len(o) for o in images.objects)


def test_the_loss_falls_on_one_batch():
    torch.manual_seed(0)
    model = lmlineage.load("sam").train()
    task = SegmentationTask(model)
    split = PointPrompts.process(load_images("shapes:8"), ImageProcessor.vit(32, 32, 3))
    batch = next(split.sampler(8, seed=0))
    optimizer = torch.optim.AdamW(task.parameters(), lr=3e-3)
    first = task(batch).item()
    for _ in range(10):
        loss = task(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert task(batch).item() < 0.5 * first
