"""Images as data (lmlineage.vision): the built-in sets, manifests, class folders and arrays load as
(H, W, C) uint8 images with their labels or captions; the generated scenes' boxes and masks agree
with what is drawn; bad input is one UserError naming the file."""

import json

import numpy as np
import pytest
from PIL import Image

from lmlineage.core.errors import UserError
from lmlineage.vision.images import load_images, read_image
from lmlineage.vision.shapes import COLOURS, SHAPES, scenes


def write_png(path, array):
    Image.fromarray(array).save(path)
    return path


def test_digits_are_sklearns_1797_images_scaled_to_bytes():
    sklearn = pytest.importorskip("sklearn.datasets")
    images = load_images("digits")
    digits = sklearn.load_digits()
    assert len(images) == 1797 and images.channels == 1 and images.images[0].shape == (8, 8, 1)
    assert images.label_names == [str(d) for d in range(10)]
    np.testing.assert_array_equal(images.labels, digits.target)
    assert images.images[5].max() <= 255 and images.images[5].dtype == np.uint8
    np.testing.assert_array_equal(images.images[5][..., 0], np.round(digits.images[5] * 255 / 16))


def test_missing_scikit_learn_names_the_pip_command(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    import importlib

    monkeypatch.setattr(importlib, "import_module", lambda name: no_sklearn(name))
    with pytest.raises(UserError, match="pip install scikit-learn"):
        load_images("digits")


def test_scikit_image_sets_load_or_are_refused_with_the_pip_command():
    try:
        import skimage  # noqa: F401
    except ImportError:
        for name in ("skimage", "faces"):
            with pytest.raises(UserError, match="pip install scikit-image"):
                load_images(name)
        return
    faces = load_images("faces")
    assert len(faces) == 200 and faces.label_names == ["not a face", "face"] and faces.labels.sum() == 100
    samples = load_images("skimage")
    assert len(samples) == len(samples.label_names) and samples.channels == 3


def test_scenes_are_seeded_and_their_boxes_and_masks_match_the_pixels():
    a, objects, captions = scenes(30, size=32, seed=3)
    b, _, _ = scenes(30, size=32, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    colours = list(COLOURS.values())
    for image, objs, caption in zip(a, objects, captions):
        assert 1 <= len(objs) <= 3
        assert not (objs.masks.sum(0) > 1).any()  # objects never overlap
        for box, mask, shape, colour in zip(objs.boxes, objs.masks, objs.shapes, objs.colours):
            ys, xs = np.nonzero(mask)
            assert list(box) == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
            assert (image[mask] == colours[colour]).all()
            assert f"{list(COLOURS)[colour]} {SHAPES[shape]}" in caption
        assert (image[~objs.masks.any(0)] == 30).all()  # the rest is background
    shapes = load_images("shapes:40")
    assert len(shapes) == 40 and shapes.label_names == ["1", "2", "3"] and len(shapes.captions) == 40
    assert [str(len(o)) for o in shapes.objects] == [shapes.label_names[i] for i in shapes.labels]


def test_manifest_jsonl_and_csv_with_labels_and_captions(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(4):
        write_png(tmp_path / f"{i}.png", rng.integers(0, 256, (6, 5, 3), dtype=np.uint8))
    write_png(tmp_path / "grey.png", rng.integers(0, 256, (6, 5), dtype=np.uint8))
    rows = [{"image": f"{i}.png", "label": "cat" if i % 2 else "dog", "caption": f"picture {i}"} for i in range(4)]
    rows.append({"image": "grey.png", "label": "cat", "caption": "grey"})
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    images = load_images(tmp_path / "labels.jsonl")
    assert images.label_names == ["cat", "dog"] and list(images.labels) == [1, 0, 1, 0, 0]
    assert images.captions[4] == "grey" and images.channels == 3  # the grey one repeated to RGB
    np.testing.assert_array_equal(images.images[4][..., 0], images.images[4][..., 2])
    assert len(load_images(tmp_path)) == 5  # a folder with one manifest reads it
    csv = tmp_path / "sub"
    csv.mkdir()
    write_png(csv / "a.png", rng.integers(0, 256, (4, 4), dtype=np.uint8))
    (csv / "captions.csv").write_text("image,caption\na.png,a grey square\n")
    only = load_images(csv / "captions.csv")
    assert only.labels is None and only.captions == ["a grey square"] and only.channels == 1


def test_class_folders_and_arrays(tmp_path):
    rng = np.random.default_rng(1)
    for name in ("b", "a"):
        (tmp_path / name).mkdir()
        for i in range(2):
            write_png(tmp_path / name / f"{i}.png", rng.integers(0, 256, (4, 4), dtype=np.uint8))
    folders = load_images(tmp_path)
    assert folders.label_names == ["a", "b"] and list(folders.labels) == [0, 0, 1, 1]
    chw = rng.random((5, 3, 6, 7))
    np.savez(tmp_path / "set.npz", images=chw, labels=np.array([0, 1, 2, 1, 0]))
    arrays = load_images(tmp_path / "set.npz")
    assert arrays.images[0].shape == (6, 7, 3) and arrays.label_names == ["0", "1", "2"]
    np.testing.assert_array_equal(arrays.images[2], np.round(chw[2].transpose(1, 2, 0) * 255).astype(np.uint8))
    np.save(tmp_path / "plain.npy", rng.integers(0, 256, (3, 4, 4), dtype=np.uint8))
    plain = load_images(tmp_path / "plain.npy")
    assert plain.labels is None and plain.images[0].shape == (4, 4, 1)


def test_split_is_seeded_and_disjoint():
    images = load_images("shapes:50")
    train, val = images.split(0.2, seed=7)
    again, _ = images.split(0.2, seed=7)
    assert len(val) == 10 and len(train) == 40
    assert all(np.array_equal(x, y) for x, y in zip(train.images, again.images))


@pytest.mark.parametrize("case", ["corrupt png", "broken line", "no image column", "missing image", "no label",
                                  "pickled npy", "no images array", "unknown name", "bad shapes"])
def test_bad_input_is_one_error_naming_the_file(tmp_path, case):
    write_png(tmp_path / "ok.png", np.zeros((4, 4), dtype=np.uint8))
    manifest = tmp_path / "m.jsonl"
    if case == "corrupt png":
        good = (tmp_path / "ok.png").read_bytes()
        (tmp_path / "bad.png").write_bytes(good[: len(good) // 2])
        target, expect = tmp_path / "bad.png", "bad.png is not a readable image"
        with pytest.raises(UserError, match=expect):
            read_image(target)
        manifest.write_text(json.dumps({"image": "bad.png", "label": "x"}) + "\n")
    elif case == "broken line":
        manifest.write_text(json.dumps({"image": "ok.png", "label": "x"}) + "\n{\"image\": \n")
        expect = "m.jsonl line 2 is not valid JSON"
    elif case == "no image column":
        manifest = tmp_path / "m.csv"
        manifest.write_text("file,label\nok.png,x\n")
        expect = "m.csv line 2: no image column"
    elif case == "missing image":
        manifest.write_text(json.dumps({"image": "gone.png", "caption": "x"}) + "\n")
        expect = "m.jsonl line 1: the image gone.png does not exist"
    elif case == "no label":
        manifest.write_text(json.dumps({"image": "ok.png"}) + "\n")
        expect = "m.jsonl line 1: neither a label nor a caption"
    elif case == "pickled npy":
        manifest = tmp_path / "objects.npy"
        np.save(manifest, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        expect = "objects.npy is not a readable NumPy file"
    elif case == "no images array":
        manifest = tmp_path / "x.npz"
        np.savez(manifest, pictures=np.zeros((2, 4, 4)))
        expect = "x.npz has no 'images' array"
    elif case == "unknown name":
        manifest, expect = tmp_path / "nothing-here", "nothing-here does not exist"
    else:
        manifest, expect = "shapes:x", "number of scenes"
    with pytest.raises(UserError, match=expect):
        load_images(manifest)
