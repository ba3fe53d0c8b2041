"""Image sets: every image as an (H, W, C) uint8 array (C = 1 or 3), with class labels, captions,
or the objects of a scene.

Where they come from (``load_images(DATA)``):

- ``digits`` (the default): scikit-learn's 1,797 handwritten digits, 8x8 grey levels 0..16
  (``sklearn.datasets.load_digits``; E. Alpaydin and C. Kaynak's UCI set), scaled to 0..255;
- ``faces``: scikit-image's ``lfw_subset``, 100 faces then 100 non-faces, 25x25 grey;
- ``skimage``: scikit-image's sample pictures (astronaut, camera, coffee, ...), labelled by name;
- ``shapes`` (``shapes:N`` for N scenes): generated scenes of coloured shapes (``shapes.py``),
  with boxes, masks and captions, labelled by how many shapes they hold;
- a ``.jsonl`` or ``.csv`` manifest: one image per record, ``image`` (a path relative to the
  manifest) with a ``label`` and/or a ``caption``;
- a folder: the one ``.jsonl``/``.csv`` manifest in it, else one sub-folder per class (its name
  is the label) holding the images;
- ``.npz`` (``images``, optional ``labels`` and ``label_names``) or ``.npy`` (images alone):
  arrays of (N, H, W), (N, H, W, C) or (N, C, H, W), uint8, or floats in [0, 1]; read with
  ``allow_pickle=False``.

Bad input (an unreadable or corrupt image, a manifest line that is no record or lacks a column, an
image the manifest names that is not there) is one ``UserError`` naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import UserError
from ..data.records import records
from .shapes import Objects, scenes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
BUILT_IN = ("digits", "faces", "skimage", "shapes")
DEFAULT = "digits"
SHAPE_SCENES = 1000  # scenes in the built-in ``shapes`` set (``shapes:N`` for another number)
# scikit-image's sample pictures that ship inside its wheel (the others download on first use).
SKIMAGE_SAMPLES = ("astronaut", "brick", "camera", "cat", "checkerboard", "clock", "coffee", "coins", "colorwheel",
                   "grass", "gravel", "horse", "logo", "microaneurysms", "moon", "page", "retina", "rocket", "text")


@dataclass
class ImageSet:
    """``images``: (H, W, C) uint8 arrays, all with the same C; ``labels``: (N,) class ids into
    ``label_names``, or None; ``captions``: one text per image, or None; ``objects``: a scene's
    boxes and masks per image (generated shapes), or None; ``source``: where the set came from."""

    images: list[np.ndarray]
    labels: np.ndarray | None = None
    label_names: list[str] | None = None
    captions: list[str] | None = None
    objects: list[Objects] | None = None
    source: str = ""
    paths: list[str] | None = field(default=None, repr=False)  # each image's file, where it has one

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        return self.images[0].shape[2]

    def subset(self, indices) -> "ImageSet":
        indices = [int(i) for i in indices]
        pick = lambda xs: None if xs is None else [xs[i] for i in indices]  # noqa: E731
        return ImageSet([self.images[i] for i in indices], None if self.labels is None else self.labels[indices],
                        self.label_names, pick(self.captions), pick(self.objects), self.source, pick(self.paths))

    def split(self, val_fraction: float = 0.2, seed: int = 0) -> tuple["ImageSet", "ImageSet"]:
        """A seeded shuffle cut into (train, held-out); the same seed gives the same split."""
        if not 0 < val_fraction < 1:
            raise UserError(f"the held-out fraction must lie in (0, 1), got {val_fraction}")
        if len(self) < 2:
            raise UserError(f"{self.source} holds {len(self)} image(s)", "give at least 2: one to train on, one to check")
        order = np.random.default_rng(seed).permutation(len(self))
        n_val = min(max(1, round(val_fraction * len(self))), len(self) - 1)
        return self.subset(order[n_val:]), self.subset(order[:n_val])

    def require_labels(self, what: str = "training a classifier") -> None:
        if self.labels is None:
            raise UserError(f"{self.source} has no labels, which {what} needs",
                            "give a manifest with a label column, a folder of class folders, or an .npz with labels")


def load_images(data: str | os.PathLike | None = None) -> ImageSet:
    """The image set ``data`` names (module docstring); None: the digits."""
    name = DEFAULT if data is None else str(data)
    kind, _, arg = name.partition(":")
    if kind in BUILT_IN and not Path(name).exists():
        if arg and kind != "shapes":
            raise UserError(f"--data {name}: only shapes takes a number (shapes:N)", f"give --data {kind}")
        return {"digits": _digits, "faces": _faces, "skimage": _skimage, "shapes": _shapes}[kind](arg)
    path = Path(name)
    if not path.exists():
        raise UserError(f"{path} does not exist", f"give an image folder, a .jsonl/.csv manifest, an .npz/.npy "
                        f"file, or a built-in set: {', '.join(BUILT_IN)}")
    if path.is_dir():
        manifests = sorted(p for p in path.iterdir() if p.suffix in (".jsonl", ".csv") and p.is_file())
        if len(manifests) > 1:
            raise UserError(f"{path} holds {len(manifests)} manifests ({', '.join(p.name for p in manifests)})",
                            "give the one to read as --data")
        return _manifest(manifests[0]) if manifests else _class_folders(path)
    if path.suffix in (".jsonl", ".csv"):
        return _manifest(path)
    if path.suffix in (".npz", ".npy"):
        return _arrays(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSet(same_channels([read_image(path)]), source=str(path), paths=[str(path)])
    raise UserError(f"{path}: unsupported file type {path.suffix or '(none)'}",
                    "give an image folder, a .jsonl/.csv manifest or an .npz/.npy file")


# ---- single images --------------------------------------------------------------------------
def read_image(path: str | os.PathLike) -> np.ndarray:
    """One image file as (H, W, 1) grey or (H, W, 3) RGB uint8; a UserError naming an unreadable one."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist or is not a file", "give the path of an image file")
    try:
        with Image.open(path) as image:
            image.load()  # decodes now: a truncated or corrupt file fails here, not later
            grey = image.mode in ("1", "L", "LA", "I", "I;16", "F")
            array = np.asarray(image.convert("L" if grey else "RGB"))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise UserError(f"{path} is not a readable image ({e.__class__.__name__}: {e})",
                        "give a PNG, JPEG or other image Pillow reads") from None
    return array[:, :, None] if array.ndim == 2 else array


def same_channels(images: list[np.ndarray]) -> list[np.ndarray]:
    """Grey images as RGB where the set mixes them: one channel count per set."""
    if len({im.shape[2] for im in images}) > 1:
        return [np.repeat(im, 3, axis=2) if im.shape[2] == 1 else im for im in images]
    return images


def as_uint8(array: np.ndarray, where: str) -> np.ndarray:
    """uint8 as it is, floats in [0, 1] scaled to 0..255; anything else refused."""
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        if array.size and not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1):
            raise UserError(f"{where}: float images must lie in [0, 1]", "scale them, or store uint8 0..255")
        return np.round(array * 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer) and array.size and array.min() >= 0 and array.max() <= 255:
        return array.astype(np.uint8)
    raise UserError(f"{where}: images of dtype {array.dtype} are not supported", "store uint8 0..255 or floats in [0, 1]")


def _labelled(images, names: list[str], where: str, **extra) -> ImageSet:
    """An ImageSet whose labels are given by name: the classes in sorted order (numbers by value)."""
    classes = sorted(set(names), key=lambda n: (0, int(n), "") if n.lstrip("-").isdigit() else (1, 0, n))
    ids = {n: i for i, n in enumerate(classes)}
    return ImageSet(images, np.array([ids[n] for n in names], dtype=np.int64), classes, source=where, **extra)


# ---- built-in sets --------------------------------------------------------------------------
def _need(package: str, module: str, what: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"{what} ships with {package}, which is not installed",
                        f"pip install {package}  (or: pip install -e '.[vision]')") from None


def _digits(_arg: str = "") -> ImageSet:
    datasets = _need("scikit-learn", "sklearn.datasets", "the digits set")
    digits = datasets.load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)[..., None]  # grey levels 0..16 -> 0..255
    return ImageSet(list(images), digits.target.astype(np.int64), [str(i) for i in range(10)], source="digits")


def _faces(_arg: str = "") -> ImageSet:
    data = _need("scikit-image", "skimage.data", "the faces set (lfw_subset)")
    faces = as_uint8(np.asarray(data.lfw_subset(), dtype=np.float64).clip(0, 1), "lfw_subset")[..., None]
    half = len(faces) // 2  # the first 100 are faces, the last 100 not (its documentation)
    return ImageSet(list(faces), np.array([1] * half + [0] * (len(faces) - half), dtype=np.int64),
                    ["not a face", "face"], source="faces")


def _skimage(_arg: str = "") -> ImageSet:
    data = _need("scikit-image", "skimage.data", "the skimage sample pictures")
    images, names = [], []
    for name in SKIMAGE_SAMPLES:
        array = np.asarray(getattr(data, name)())
        if array.dtype == bool:
            array = array.astype(np.uint8) * 255
        array = as_uint8(array, f"skimage.data.{name}")
        array = array[:, :, None] if array.ndim == 2 else array[:, :, :3]  # RGBA: the colours
        images.append(array)
        names.append(name)
    return _labelled(same_channels(images), names, "skimage")


def _shapes(arg: str = "") -> ImageSet:
    n = SHAPE_SCENES
    if arg:
        if not arg.isdigit() or int(arg) < 2:
            raise UserError(f"--data shapes:{arg}: the number of scenes must be an integer >= 2")
        n = int(arg)
    images, objects, captions = scenes(n, seed=0)
    counts = [str(len(o)) for o in objects]
    return _labelled(images, counts, f"shapes:{n}", captions=captions, objects=objects)


# ---- files ----------------------------------------------------------------------------------
def _manifest(path: Path) -> ImageSet:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None
    images, labels, captions, paths = [], [], [], []
    for where, row in records(path, text):
        if not isinstance(row.get("image"), str) or not row["image"].strip():
            raise UserError(f"{path} {where}: no image column", "each record names its image file in 'image'")
        if row.get("label") in (None, "") and row.get("caption") in (None, ""):
            raise UserError(f"{path} {where}: neither a label nor a caption", "give a 'label' or 'caption' column")
        file = path.parent / row["image"]
        if not file.is_file():
            raise UserError(f"{path} {where}: the image {row['image']} does not exist (looked for {file})")
        images.append(read_image(file))
        paths.append(str(file))
        labels.append(None if row.get("label") in (None, "") else str(row["label"]))
        captions.append(None if row.get("caption") in (None, "") else str(row["caption"]))
    if not images:
        raise UserError(f"{path} lists no image", "one record per image: image, label and/or caption")
    for name, values in (("label", labels), ("caption", captions)):
        if any(v is None for v in values) and any(v is not None for v in values):
            line = next(i for i, v in enumerate(values) if v is None)
            raise UserError(f"{path}: image {paths[line]} has no {name} while others do", f"give every image a {name}")
    images = same_channels(images)
    caption_list = captions if captions[0] is not None else None
    if labels[0] is None:
        return ImageSet(images, captions=caption_list, source=str(path), paths=paths)
    return _labelled(images, labels, str(path), captions=caption_list, paths=paths)


def _class_folders(path: Path) -> ImageSet:
    folders = sorted(p for p in path.iterdir() if p.is_dir())
    images, names, paths = [], [], []
    for folder in folders:
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                images.append(read_image(file))
                names.append(folder.name)
                paths.append(str(file))
    if not images:
        raise UserError(f"{path} holds no manifest and no class folders of images",
                        "give a labels.jsonl/.csv manifest in it, or one sub-folder of images per class")
    return _labelled(same_channels(images), names, str(path), paths=paths)


def _arrays(path: Path) -> ImageSet:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise UserError(f"{path} is not a readable NumPy file ({e.__class__.__name__}: {e})",
                        "write it with numpy.save / numpy.savez (no pickled objects)") from None
    labels = names = None
    if path.suffix == ".npz":
        with loaded:
            if "images" not in loaded.files:
                raise UserError(f"{path} has no 'images' array (it has: {', '.join(loaded.files) or 'none'})",
                                "save it with numpy.savez(path, images=..., labels=...)")
            images = loaded["images"]
            labels = loaded["labels"] if "labels" in loaded.files else None
            names = [str(n) for n in loaded["label_names"]] if "label_names" in loaded.files else None
    else:
        images = loaded
    images = as_uint8(np.asarray(images), str(path))
    if images.ndim == 3:
        images = images[..., None]
    elif images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[3] not in (1, 3):  # (N, C, H, W)
        images = images.transpose(0, 2, 3, 1)
    if images.ndim != 4 or images.shape[3] not in (1, 3) or not len(images):
        raise UserError(f"{path}: images of shape {images.shape}", "give (N, H, W), (N, H, W, C) or (N, C, H, W), C = 1 or 3")
    if labels is None:
        return ImageSet(list(images), source=str(path))
    labels = np.asarray(labels)
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise UserError(f"{path}: labels must be {len(images)} class ids >= 0, got shape {labels.shape} "
                        f"of {labels.dtype}")
    n_classes = int(labels.max()) + 1
    if names is not None and len(names) < n_classes:
        raise UserError(f"{path}: {len(names)} label_names for class ids up to {n_classes - 1}")
    return ImageSet(list(images), labels.astype(np.int64), names or [str(i) for i in range(n_classes)], source=str(path))
