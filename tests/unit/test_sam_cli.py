"""SAM from the command line: `train sam` on the generated scenes, `eval` reports mean mask IoU from
one point per held-out object, `segment RUN IMAGE --point X,Y --out mask.png` draws the mask over
the image; bad input (a point outside the image, an unreadable image, no prompt, a classifier
checkpoint) is one line and exit 2."""

import json

import numpy as np
import pytest
from PIL import Image

from lmlineage.vision.shapes import scenes

TRAIN = ["--steps", "3", "--batch-size", "4", "--no-progress", "--data", "shapes:20"]


@pytest.fixture(scope="module")
def trained(cli_train):
    return cli_train("sam", *TRAIN)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    images, objects, _ = scenes(1, seed=7)
    path = tmp_path_factory.mktemp("scene") / "scene.png"
    Image.fromarray(images[0]).save(path)
    return path, objects[0]


def test_eval_reports_mean_mask_iou(trained, cli_run):
    code, out, err = cli_run("eval", trained, "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert "scored the held-out split" in err and metrics["objects"] >= 4  # 4 of the 20 scenes, 1 to 3 objects each
    assert 0 <= metrics["mean_iou"] <= metrics["oracle_iou"] <= 1


def test_segment_draws_the_mask(trained, scene, tmp_path, cli_run):
    path, objects = scene
    x0, y0, x1, y1 = objects.boxes[0].astype(int)
    code, out, err = cli_run("segment", trained, path, "--point", f"{(x0 + x1) // 2},{(y0 + y1) // 2}",
                             "--out", tmp_path / "mask.png", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["out"] == str(tmp_path / "mask.png") and 0 <= result["pixels"] <= 32 * 32
    drawn = np.asarray(Image.open(tmp_path / "mask.png"))
    assert drawn.shape == (256, 256, 3)  # the 32 x 32 scene enlarged 8 times
    code, out, err = cli_run("segment", trained, path, "--point", "3,4", "--point", "5,6",
                             "--box", f"{x0},{y0},{x1},{y1}", "--out", tmp_path / "two.png")
    assert code == 0 and "drawn in" in out, err


def test_bad_input_is_one_line(trained, scene, tmp_path, cli_refused):
    path, _ = scene
    cli_refused("segment", trained, path, "--point", "32,5", needle="lies outside")
    cli_refused("segment", trained, path, "--point=-1,5", needle="lies outside")
    cli_refused("segment", trained, path, "--point", "5", needle="is not a point")
    cli_refused("segment", trained, path, "--box", "2,2,8,40", needle="does not lie inside")
    cli_refused("segment", trained, path, needle="no prompt")
    cli_refused("segment", trained, path, "--point", "5,5", "--out", tmp_path / "m.jpg", needle="PNG")
    good = path.read_bytes()
    (tmp_path / "corrupt.png").write_bytes(good[: len(good) // 2])
    cli_refused("segment", trained, tmp_path / "corrupt.png", "--point", "5,5", needle="not a readable image")
    cli_refused("segment", trained, tmp_path / "gone.png", "--point", "5,5", needle="does not exist")
    (tmp_path / "notes.txt").write_text("not an image")
    cli_refused("segment", trained, tmp_path / "notes.txt", "--point", "5,5", needle="notes.txt is not a readable")
    cli_refused("predict", trained, "--image", path, needle="no class head")
    cli_refused("embed", trained, "--image", path, needle="segmenter")
    cli_refused("train", "sam", "--data", "digits", "--out", tmp_path / "r1", *TRAIN[:-2], needle="no object masks")
    assert not (tmp_path / "r1").exists()
