"""From an image to the pixel values a model reads, as the reference image processors do
(``transformers``' ViTImageProcessor and CLIPImageProcessor, PIL backend), in their order:

1. ``do_convert_rgb``: grey images repeated to three channels (CLIP);
2. ``do_resize``: to ``size`` = {"height", "width"} (ViT), or the shorter side to
   {"shortest_edge"} keeping the aspect ratio (CLIP), with Pillow's ``resample`` filter
   (2: bilinear, 3: bicubic);
3. ``do_center_crop``: the middle ``crop_size`` = {"height", "width"} (CLIP);
4. ``do_rescale``: times ``rescale_factor`` (1/255: 0..255 to 0..1), in float64 then float32;
5. ``do_normalize``: minus ``image_mean``, over ``image_std``, per channel.

Read from and written to a checkpoint's ``preprocessor_config.json`` (the reference's keys), so a
directory exported for ``transformers`` carries the processor its model was trained with.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from ..core.errors import UserError

FILE = "preprocessor_config.json"
IMAGENET_STANDARD = [0.5, 0.5, 0.5]  # ViT's mean and std
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]  # OpenAI CLIP's (its released preprocessing)
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}  # Pillow's numbers


@dataclass
class ImageProcessor:
    image_processor_type: str = "ViTImageProcessor"
    do_convert_rgb: bool = False
    do_resize: bool = True
    size: dict = field(default_factory=lambda: {"height": 224, "width": 224})
    resample: int = 2
    do_center_crop: bool = False
    crop_size: dict | None = None
    do_rescale: bool = True
    rescale_factor: float = 1 / 255
    do_normalize: bool = True
    image_mean: list[float] = field(default_factory=lambda: list(IMAGENET_STANDARD))
    image_std: list[float] = field(default_factory=lambda: list(IMAGENET_STANDARD))

    @classmethod
    def vit(cls, height: int, width: int, channels: int = 3) -> "ImageProcessor":
        """ViT's: resize to (height, width), bilinear; mean and std 0.5 per channel."""
        return cls(size={"height": height, "width": width}, image_mean=[0.5] * channels, image_std=[0.5] * channels)

    @classmethod
    def clip(cls, side: int) -> "ImageProcessor":
        """CLIP's: the shorter side to ``side`` (bicubic), the middle side x side, OpenAI's mean and std."""
        return cls(image_processor_type="CLIPImageProcessor", do_convert_rgb=True, size={"shortest_edge": side},
                   resample=3, do_center_crop=True, crop_size={"height": side, "width": side},
                   image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD))

    @classmethod
    def blip(cls, side: int) -> "ImageProcessor":
        """BLIP's at the model's side: grey repeated to RGB, resized to side x side, mean and std 0.5."""
        return cls(do_convert_rgb=True, size={"height": side, "width": side}, image_mean=[0.5] * 3,
                   image_std=[0.5] * 3)

    @classmethod
    def drawing(cls, side: int, channels: int) -> "ImageProcessor":
        """A diffusion model's: resized to side x side (bicubic), to [-1, 1] (mean and std 0.5), as it draws."""
        return cls(size={"height": side, "width": side}, resample=3, image_mean=[0.5] * channels,
                   image_std=[0.5] * channels)

    # ---- reading and writing ------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, where: str = FILE) -> "ImageProcessor":
        """The reference's keys that matter here; the others (its processor class's bookkeeping) are left."""
        if not isinstance(data, dict):
            raise UserError(f"{where} must hold a JSON object")
        known = {f.name for f in fields(cls)}
        processor = cls(**{k: v for k, v in data.items() if k in known and v is not None})
        processor.check(where)
        return processor

    @classmethod
    def read(cls, directory) -> "ImageProcessor | None":
        """The directory's ``preprocessor_config.json``, or None where it has none."""
        path = Path(directory) / FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"{path} is not valid JSON ({e.__class__.__name__}: {e})") from None
        return cls.from_dict(data, str(path))

    def save(self, directory) -> Path:
        path = Path(directory) / FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    def check(self, where: str = FILE) -> None:
        def side_dict(value, keys, name):
            if not (isinstance(value, dict) and any(set(k) <= set(value) for k in keys)
                    and all(isinstance(v, int) and v > 0 for v in value.values())):
                raise UserError(f"{where}: {name}={value!r}", f"give {' or '.join(str(list(k)) for k in keys)} "
                                "as positive integers")

        if self.do_resize:
            side_dict(self.size, (("height", "width"), ("shortest_edge",)), "size")
        if self.do_center_crop:
            side_dict(self.crop_size, (("height", "width"),), "crop_size")
        if self.resample not in RESAMPLE:
            raise UserError(f"{where}: resample={self.resample!r}", f"Pillow's filters: {RESAMPLE}")
        for name in ("image_mean", "image_std"):
            value = getattr(self, name)
            if isinstance(value, (int, float)):
                value = [float(value)]
                setattr(self, name, value)
            if not (isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value)):
                raise UserError(f"{where}: {name} must be a list of numbers, got {value!r}")
        if any(s == 0 for s in self.image_std):
            raise UserError(f"{where}: image_std holds a zero")

    # ---- processing ---------------------------------------------------------------------------
    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of what an image of that size becomes."""
        if self.do_resize:
            height, width = self._resized(height, width)
        if self.do_center_crop:
            height, width = self.crop_size["height"], self.crop_size["width"]
        return height, width

    def _resized(self, height: int, width: int) -> tuple[int, int]:
        if "shortest_edge" in self.size:
            short, long = sorted((height, width))
            new_short, new_long = self.size["shortest_edge"], int(self.size["shortest_edge"] * long / short)
            return (new_short, new_long) if height <= width else (new_long, new_short)
        return self.size["height"], self.size["width"]

    def one(self, image: np.ndarray) -> np.ndarray:
        """(H, W, C) uint8 -> (C, H', W') float32."""
        from PIL import Image

        if image.ndim == 2:
            image = image[:, :, None]
        if image.dtype != np.uint8:
            raise UserError(f"images are processed from uint8 0..255, got {image.dtype}")
        if self.do_convert_rgb and image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        if self.do_resize:
            height, width = self._resized(*image.shape[:2])
            if (height, width) != image.shape[:2]:
                grey = image.shape[2] == 1
                resized = Image.fromarray(image[:, :, 0] if grey else image).resize((width, height),
                                                                                    resample=self.resample)
                image = np.asarray(resized)
                image = image[:, :, None] if grey else image
        if self.do_center_crop:
            h, w = self.crop_size["height"], self.crop_size["width"]
            top, left = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
            if top < 0 or left < 0:  # smaller than the crop: padded with zeros around, as the reference does
                padded = np.zeros((max(h, image.shape[0]), max(w, image.shape[1]), image.shape[2]), dtype=image.dtype)
                y, x = (padded.shape[0] - image.shape[0]) // 2, (padded.shape[1] - image.shape[1]) // 2
                padded[y:y + image.shape[0], x:x + image.shape[1]] = image
                image = padded
                top, left = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
            image = image[top:top + h, left:left + w]
        pixels = image.transpose(2, 0, 1)
        pixels = (pixels.astype(np.float64) * self.rescale_factor).astype(np.float32) if self.do_rescale \
            else pixels.astype(np.float32)
        if self.do_normalize:
            channels = pixels.shape[0]
            mean, std = self.image_mean, self.image_std
            if len(mean) == 1:
                mean, std = mean * channels, std * channels
            if len(mean) != channels or len(std) != channels:
                raise UserError(f"the image has {channels} channel(s), the processor normalizes {len(mean)}",
                                "give images with as many channels as the model was trained on")
            pixels = (pixels - np.array(mean, dtype=np.float32)[:, None, None]) / np.array(std, dtype=np.float32)[:, None, None]
        return pixels

    def __call__(self, images) -> torch.Tensor:
        """A list of (H, W, C) uint8 images -> pixel values (B, C, H', W') float32."""
        processed = [self.one(np.asarray(image)) for image in images]
        if len({p.shape for p in processed}) > 1:
            raise UserError("the processed images differ in size", "resize them to one size (do_resize with height "
                            "and width)")
        return torch.from_numpy(np.stack(processed))
