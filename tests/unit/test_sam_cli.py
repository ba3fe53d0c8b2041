"""SAM from the command line: `train sam` on the generated scenes, `eval` reports mean mask IoU from
one point per held-out object, `segment RUN IMAGE --point X,Y --out mask.png` draws the mask over
the image; bad input (a point outside the image, an unreadable image, no prompt, a classifier
checkpoint) is one line and exit 2."""

import json

import numpy as np
import pytest
from PIL import Image

from lmlineage import cli
from lmlineage.vision.shapes import scenes

TRAIN = ["--steps", "3", "--batch-size", "4", "--no-progress", "--data", "shapes:20"]


def run(capsys, *argv):
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv, needle=""):
    code, out, err = run(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: "), (out, err)
    assert needle in err, err
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "sam"
    assert cli.main(["train", "sam", "--out", str(out), *TRAIN]) == 0
    return out


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    images, objects, _ = scenes(1, seed=7)
    path = tmp_path_factory.mktemp("scene") / "scene.png"
    Image.fromarray(images[0]).save(path)
    return path, objects[0]


def test_eval_reports_mean_mask_iou(trained, capsys):
    code, out, err = run(capsys, "eval", trained, "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert "scored the held-out split" in err and metrics["objects"] >= 4  # 4 of the 20 scenes, 1 to 3 objects each
    assert 0 <= metrics["mean_iou"] <= metrics["oracle_iou"] <= 1


def test_segment_draws_the_mask(trained, scene, tmp_path, capsys):
    path, objects = scene
    x0, y0, x1, y1 = objects.boxes[0].astype(int)
    code, out, err = run(capsys, "segment", trained, path, "--point", f"{(x0 + x1) // 2},{(y0 + y1) // 2}",
                         "--out", tmp_path / "mask.png", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["out"] == str(tmp_path / "mask.png") and 0 <= result["pixels"] <= 32 * 32
    drawn = np.asarray(Image.open(tmp_path / "mask.png"))
    assert drawn.shape == (256, 256, 3)  # the 32 x 32 scene enlarged 8 times
    code, out, err = run(capsys, "segment", trained, path, "--point", "3,4", "--point", "5,6",
                         "--box", f"{x0},{y0},{x1},{y1}", "--out", tmp_path / "two.png")
    assert code == 0 and "drawn in" in out, err


def test_bad_input_is_one_line(trained, scene, tmp_path, capsys):
    path, _ = scene
    refused(capsys, "segment", trained, path, "--point", "32,5", needle="lies outside")
    refused(capsys, "segment", trained, path, "--point=-1,5", needle="lies outside")
    refused(capsys, "segment", trained, path, "--point", "5", needle="is not a point")
    refused(capsys, "segment", trained, path, "--box", "2,2,8,40", needle="does not lie inside")
    refused(capsys, "segment", trained, path, needle="no prompt")
    refused(capsys, "segment", trained, path, "--point", "5,5", "--out", tmp_path / "m.jpg", needle="PNG")
    good = path.read_bytes()
    (tmp_path / "corrupt.png").write_bytes(good[: len(good) // 2])
    refused(capsys, "segment", trained, tmp_path / "corrupt.png", "--point", "5,5", needle="not a readable image")
    refused(capsys, "segment", trained, tmp_path / "gone.png", "--point", "5,5", needle="does not exist")
    (tmp_path / "notes.txt").write_text("not an image")
    refused(capsys, "segment", trained, tmp_path / "notes.txt", "--point", "5,5", needle="notes.txt is not a readable")
    refused(capsys, "predict", trained, "--image", path, needle="no class head")
    refused(capsys, "embed", trained, "--image", path, needle="segmenter")
    refused(capsys, "train", "sam", "--data", "digits", "--out", tmp_path / "r1", *TRAIN[:-2], needle="no object masks")
    assert not (tmp_path / "r1").exists()
