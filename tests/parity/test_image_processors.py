"""Our image processor against the reference's ViTImageProcessor and CLIPImageProcessor (PIL
backend): resize, center crop, rescale and normalize give the same pixel values, and a
preprocessor_config.json the reference writes reads back as the same processor."""

import numpy as np
import pytest
import torch
from PIL import Image

from lmlineage.vision.processor import ImageProcessor

pil_vit = pytest.importorskip("transformers.models.vit.image_processing_pil_vit")
pil_clip = pytest.importorskip("transformers.models.clip.image_processing_pil_clip")


def images(channels: int):
    rng = np.random.default_rng(channels)
    return [rng.integers(0, 256, (h, w, channels), dtype=np.uint8) for h, w in ((37, 53), (64, 20), (8, 8))]


def as_pil(image):
    return Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)


@pytest.mark.parametrize("channels", [1, 3])
def test_vit_processor_matches(channels, tmp_path):
    reference = pil_vit.ViTImageProcessorPil(size={"height": 16, "width": 24}, image_mean=[0.5] * channels,
                                             image_std=[0.25] * channels, do_convert_rgb=False)
    reference.save_pretrained(tmp_path)
    ours = ImageProcessor.read(tmp_path)
    for image in images(channels):
        expected = reference(images=[as_pil(image)], return_tensors="pt")["pixel_values"]
        torch.testing.assert_close(ours([image]), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_clip_processor_matches(channels, tmp_path):
    reference = pil_clip.CLIPImageProcessorPil(size={"shortest_edge": 20}, crop_size={"height": 20, "width": 18})
    reference.save_pretrained(tmp_path)
    ours = ImageProcessor.read(tmp_path)
    assert ours.do_center_crop and ours.resample == 3 and ours.do_convert_rgb
    for image in images(channels):
        expected = reference(images=[as_pil(image)], return_tensors="pt")["pixel_values"]
        torch.testing.assert_close(ours([image]), expected, rtol=0, atol=1e-6)


def test_our_config_loads_in_the_reference(tmp_path):
    ImageProcessor.vit(12, 12, 1).save(tmp_path)
    reference = pil_vit.ViTImageProcessorPil.from_pretrained(tmp_path)
    image = images(1)[0]
    expected = reference(images=[as_pil(image)], return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(ImageProcessor.read(tmp_path)([image]), expected, rtol=0, atol=1e-6)
