"""palm-e's per-patch shape loss (``--patch-shapes W``): each patch of a generated scene is labelled
with the shape covering most of it (at least a third) or background, from the scene's masks; the
training loss is the answers' cross-entropy plus W times the patches'; the head is saved and loaded
with the model; a set without objects, moved scenes and a negative weight are refused in one line."""

import numpy as np
import torch
from torch.nn import functional as F

import lmlineage
from lmlineage.tasks.image_questions import ImageQuestionTask
from lmlineage.vision.batches import held_out_split
from lmlineage.vision.images import load_images
from lmlineage.vision.questions import QuestionSplit
from lmlineage.vision.shapes import SHAPES, Objects, patch_shapes


def objects(*placed):
    """Objects from (shape name, y0, x0, mask rows as strings) on an 8x8 canvas."""
    masks = []
    for _, y0, x0, rows in placed:
        mask = np.zeros((8, 8), dtype=bool)
        for dy, row in enumerate(rows):
            for dx, ch in enumerate(row):
                mask[y0 + dy, x0 + dx] = ch == "#"
        masks.append(mask)
    return Objects(np.zeros((len(placed), 4), np.float32), np.stack(masks),
                   np.array([SHAPES.index(s) for s, *_ in placed]), np.arange(len(placed)))


def test_each_patch_is_the_shape_covering_most_of_it_or_background():
    square, triangle = SHAPES.index("square") + 1, SHAPES.index("triangle") + 1
    scene = objects(("square", 0, 0, ["####", "####", "####", "####"]),  # fills the top-left patch
                    ("triangle", 4, 5, ["..#", ".##", "###"]))  # 6 of the bottom-right patch's 16 pixels
    assert patch_shapes(scene, 8, 4).tolist() == [square, 0, 0, triangle]
    small = objects(("circle", 4, 6, ["##", "##"]))  # 4 of 16 pixels: under a third
    assert patch_shapes(small, 8, 4).tolist() == [0, 0, 0, 0]
    assert patch_shapes(scene, 8, 2).reshape(4, 4)[0].tolist() == [square, square, 0, 0]


def test_the_loss_adds_the_weighted_patch_cross_entropy_and_the_head_round_trips(tmp_path):
    out = tmp_path / "run"
    lmlineage.train("palm-e", data="shapes:40", steps=2, batch_size=4, out=out, progress=False,
                    options={"patch_shapes": 0.5}, config={"vision": {"image": {"patch": 4}}})
    model = lmlineage.load(out / "last")
    assert model.config.patch_shapes == 0.5 and model.patch_shapes is not None
    train = held_out_split(load_images("shapes:40"))[0]
    cfg = model.config
    split = QuestionSplit.build(train, model.processor, model.tokenizer, cfg.image_token_id, cfg.image_tokens, patch=4)
    pixels, rows = split.collate(range(6))
    assert rows.patch_shapes.shape == (6, 64) and int(rows.patch_shapes.max()) > 0
    model.eval()
    out_ = model(rows.ids, pixels)
    answers = F.cross_entropy(out_.logits.flatten(0, 1), rows.targets.flatten(), ignore_index=-100)
    patches = F.cross_entropy(out_.outputs["patch_shapes"].flatten(0, 1), rows.patch_shapes.flatten())
    torch.testing.assert_close(ImageQuestionTask(model).forward((pixels, rows)), answers + 0.5 * patches)


def test_patch_shapes_refusals_are_one_line(tmp_path, cli_refused):
    cli_refused("train", "palm-e", "--patch-shapes", "1", "--steps", "1", "--out", tmp_path / "digits",
                needle="no objects")
    cli_refused("train", "palm-e", "--data", "shapes:40", "--patch-shapes", "1", "--move-scenes", "--steps", "1",
                "--out", tmp_path / "moved", needle="--move-scenes")
    cli_refused("train", "palm-e", "--data", "shapes:40", "--patch-shapes", "-1", "--steps", "1",
                "--out", tmp_path / "negative", needle="below zero")
    assert not any((tmp_path / name).exists() for name in ("digits", "moved", "negative"))
