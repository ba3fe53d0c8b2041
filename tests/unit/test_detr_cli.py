"""DETR from the command line: `train detr` on generated scenes (the processor saved beside the
weights), `eval` scores the held-out scenes with mAP (pycocotools), `detect` lists the objects
above a threshold and draws them on the image, the checkpoint exports to a directory
`transformers` loads; bad input is one line and exit 2."""

import json

import numpy as np
import pytest
from PIL import Image

from lmlineage.vision.shapes import scenes

pytest.importorskip("pycocotools")
TRAIN = ["--steps", "2", "--batch-size", "4", "--no-progress", "--data", "shapes:20"]


@pytest.fixture(scope="module")
def trained(cli_train):
    return cli_train("detr", *TRAIN)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    images, _, _ = scenes(1, seed=7)
    path = tmp_path_factory.mktemp("scene") / "scene.png"
    Image.fromarray(images[0]).save(path)
    return path


def test_train_writes_the_processor_and_eval_reports_map(trained, cli_run):
    assert json.loads((trained / "best" / "preprocessor_config.json").read_text())["size"] == {"height": 32,
                                                                                              "width": 32}
    code, out, err = cli_run("eval", trained)
    assert code == 0, err
    assert "mAP@0.5" in out and "4 images" in out and "scored the held-out split" in out


def test_detect_lists_the_objects_and_draws_them(trained, scene, tmp_path, cli_run):
    picture = tmp_path / "boxes.png"
    code, out, err = cli_run("detect", trained, scene, "--threshold", "0", "--out", picture, "--json")
    assert code == 0, err
    found = json.loads(out)
    assert len(found) == 10  # every query at threshold 0, likeliest first
    assert [d["score"] for d in found] == sorted((d["score"] for d in found), reverse=True)
    assert {d["label"] for d in found} <= {"circle", "square", "triangle"} and all(len(d["box"]) == 4 for d in found)
    with Image.open(picture) as drawn:
        assert drawn.size[0] >= 300  # a 32x32 scene is drawn large enough to read
    code, out, err = cli_run("detect", trained, scene, "--threshold", "1")
    assert code == 0 and out == "" and "0 object(s)" in err


def test_the_checkpoint_exports_to_transformers(trained, tmp_path):
    transformers = pytest.importorskip("transformers")
    import torch

    from lmlineage import load
    from lmlineage.interop.reference import to_hf

    ours = load(trained)
    to_hf(ours, tmp_path / "hf")
    back = transformers.DetrForObjectDetection.from_pretrained(tmp_path / "hf").eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(back(pixel_values=x).pred_boxes, ours(x).pred_boxes, rtol=0, atol=1e-5)


def test_bad_input_is_one_line(trained, scene, tmp_path, cli_refused):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    cli_refused("detect", trained, corrupt, needle="not a readable image")
    cli_refused("detect", trained, tmp_path / "missing.png", needle="does not exist")
    cli_refused("detect", trained, scene, "--out", tmp_path / "boxes.jpg", needle="PNG")
    cli_refused("detect", trained, scene, "--threshold", "2", needle="probability")
    cli_refused("detect", tmp_path, scene, needle="no checkpoint")
    cli_refused("train", "detr", "--steps", "1", "--data", "digits", "--out", tmp_path / "r",
                needle="no boxed objects")
    cli_refused("generate", trained, needle="detector")
    cli_refused("embed", trained, "--image", scene, needle="detector")
    np.testing.assert_equal(list(tmp_path.glob("r")), [])  # nothing written for a refused run
