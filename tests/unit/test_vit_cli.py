"""ViT from the command line: `train vit` on a manifest of images (the label names and the image
size come from the set; the processor is saved beside the weights as preprocessor_config.json),
`eval` scores the same held-out split with accuracy, `predict --image` classifies image files,
the checkpoint exports to a directory `transformers` loads; bad input is one line and exit 2."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import lmlineage
from lmlineage import cli
from lmlineage.vision.batches import ImageSplit, held_out_split
from lmlineage.vision.images import load_images
from lmlineage.vision.processor import ImageProcessor

TRAIN = ["--steps", "3", "--batch-size", "8", "--no-progress"]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """24 RGB 12x12 images in three classes (a bright square in a different corner each), listed in labels.csv."""
    root = tmp_path_factory.mktemp("images")
    rows = ["image,label"]
    rng = np.random.default_rng(0)
    for i in range(24):
        label = ("left", "middle", "right")[i % 3]
        image = rng.integers(0, 60, (12, 12, 3), dtype=np.uint8)
        x = {"left": 0, "middle": 4, "right": 8}[label]
        image[4:8, x:x + 4] = 250
        Image.fromarray(image).save(root / f"{i}.png")
        rows.append(f"{i}.png,{label}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(manifest, cli_train):
    return cli_train("vit", "--data", manifest / "labels.csv", *TRAIN)


def test_train_reads_the_set_and_saves_its_processor(trained):
    model = lmlineage.load(trained)
    assert model.config.labels == ["left", "middle", "right"]
    assert (model.config.image.size, model.config.image.channels) == (12, 3)  # the set's own size: no resizing
    assert model.processor == ImageProcessor.vit(12, 12, 3)
    assert (trained / "best" / "preprocessor_config.json").is_file()


def test_eval_scores_the_held_out_split_with_accuracy(trained, manifest, cli_run):
    code, out, err = cli_run("eval", trained, "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert "scored the held-out split" in err and metrics["images"] == 5  # 20% of 24
    model = lmlineage.load(trained)
    val = ImageSplit.process(held_out_split(load_images(manifest / "labels.csv"))[1], model.processor)
    with torch.no_grad():
        predicted = model(val.pixels).task_logits.argmax(-1)
    assert metrics["accuracy"] == pytest.approx(float((predicted == val.labels).float().mean()))


def test_predict_classifies_image_files(trained, manifest, cli_run):
    code, out, err = cli_run("predict", trained, "--image", manifest / "0.png", "--image", manifest / "1.png",
                             "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["image"] for r in rows] == [str(manifest / "0.png"), str(manifest / "1.png")]
    for row in rows:
        assert row["label"] in ("left", "middle", "right") and row["label"] == row["top"][0][0]
        assert sum(p for _, p in row["top"]) == pytest.approx(1, abs=1e-5)  # three classes: all of them


def test_export_loads_in_transformers(trained, tmp_path):
    transformers = pytest.importorskip("transformers")
    from lmlineage.interop.reference import to_hf

    model = lmlineage.load(trained)
    to_hf(model, tmp_path / "hf", tokenizer=model.processor)
    ref = transformers.ViTForImageClassification.from_pretrained(tmp_path / "hf").eval()
    pixels = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(ref(pixel_values=pixels).logits, model(pixels).task_logits, rtol=0, atol=1e-5)
    assert ref.config.id2label == {0: "left", 1: "middle", 2: "right"}
    assert ImageProcessor.read(tmp_path / "hf") == model.processor


def test_bad_input_is_one_line(trained, manifest, tmp_path, cli_refused):
    good = (manifest / "0.png").read_bytes()
    (tmp_path / "corrupt.png").write_bytes(good[: len(good) // 2])
    cli_refused("predict", trained, "--image", tmp_path / "corrupt.png", needle="corrupt.png is not a readable image")
    cli_refused("predict", trained, "--text", "a fine film", needle="give --image FILE")
    (tmp_path / "broken.jsonl").write_text(json.dumps({"image": str(manifest / "0.png"), "label": "a"}) + '\n{"image": \n')
    cli_refused("train", "vit", "--data", tmp_path / "broken.jsonl", "--out", tmp_path / "r1", *TRAIN,
                needle="broken.jsonl line 2 is not valid JSON")
    (tmp_path / "missing.csv").write_text(f"image,caption\n{manifest / '0.png'},a square\ngone.png,nothing\n")
    cli_refused("train", "vit", "--data", tmp_path / "missing.csv", "--out", tmp_path / "r2", *TRAIN,
                needle="the image gone.png does not exist")
    (tmp_path / "captions.csv").write_text(f"image,caption\n{manifest / '0.png'},a square\n{manifest / '1.png'},b\n")
    cli_refused("train", "vit", "--data", tmp_path / "captions.csv", "--out", tmp_path / "r3", *TRAIN,
                needle="has no labels")
    cli_refused("train", "vit", "--context", "8", "--out", tmp_path / "r4", *TRAIN, needle="--context")
    cli_refused("eval", trained, "--data", "shapes:20", needle="has the classes")
    assert not any((tmp_path / f"r{i}").exists() for i in range(1, 5))  # nothing half-written


def test_attention_rollout_golden_cases():
    from lmlineage.evaluation.patch_attention import rollout

    tokens = 5  # [class] + a 2x2 grid
    uniform = torch.full((1, 2, tokens, tokens), 1 / tokens)
    torch.testing.assert_close(rollout([uniform]), torch.full((1, 2, 2), 0.5 / tokens))
    own = torch.eye(tokens)[None, None].repeat(1, 3, 1, 1)  # every token attends to itself: nothing mixes
    assert rollout([own, own]).abs().max() == 0
    to_first_patch = torch.zeros(1, 1, tokens, tokens)
    to_first_patch[..., 1] = 1  # everything attends to patch (0, 0)
    two = rollout([to_first_patch, to_first_patch])[0]
    assert two[0, 0] == pytest.approx(0.75) and two.sum() == pytest.approx(0.75)  # 0.5 + 0.5 * 0.5


def test_predict_draws_the_attention_map(trained, manifest, tmp_path, cli_run, cli_refused):
    code, out, err = cli_run("predict", trained, "--image", manifest / "2.png", "--attention", tmp_path / "a.png")
    assert code == 0, err
    assert Image.open(tmp_path / "a.png").size[0] > 100
    cli_refused("predict", trained, "--image", manifest / "2.png", "--image", manifest / "3.png",
                "--attention", tmp_path / "b.png", needle="give one --image")


def test_resume_continues_the_same_run(manifest, tmp_path):
    from safetensors.torch import load_file

    data = ["--data", str(manifest / "labels.csv"), "--batch-size", "8", "--no-progress", "--eval-interval", "2"]
    assert cli.main(["train", "vit", "--steps", "4", "--out", str(tmp_path / "straight"), *data]) == 0
    assert cli.main(["train", "vit", "--steps", "2", "--out", str(tmp_path / "resumed"), *data]) == 0
    assert cli.main(["train", "vit", "--steps", "4", "--out", str(tmp_path / "resumed"), "--resume", *data]) == 0
    a = load_file(str(tmp_path / "straight" / "last" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "last" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_embed_gives_the_normalised_class_vector(trained, manifest, cli_run, cli_refused):
    code, out, err = cli_run("embed", trained, "--image", manifest / "0.png", "--image", manifest / "5.png",
                             "--json")
    assert code == 0, err
    vectors = torch.tensor(json.loads(out))
    model = lmlineage.load(trained)
    arrays = [np.asarray(Image.open(manifest / f"{i}.png")) for i in (0, 5)]
    with torch.no_grad():
        hidden = model(model.processor(arrays)).last_hidden_state[:, 0]
    torch.testing.assert_close(vectors, torch.nn.functional.normalize(hidden, dim=-1), rtol=0, atol=1e-6)
    cli_refused("embed", trained, "--text", "a square", needle="give --image FILE")
    cli_refused("embed", trained, needle="--text (repeatable) or as --image")
