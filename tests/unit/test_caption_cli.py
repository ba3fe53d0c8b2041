"""`lmlineage caption RUN IMAGE` prints each image's caption (greedy, or beam search) from a
captioning checkpoint (blip, coca) with its tokenizer and image processor; bad input (an
unreadable or corrupt image, a missing one, a caption manifest naming a missing image, a model
that does not caption) is one line and exit code 2."""

import json

import numpy as np
import pytest
from PIL import Image

from lmlineage.checkpoint.directory import atomic_directory
from lmlineage.checkpoint.model import save_model_files
from lmlineage.core.registry import get_family
from lmlineage.models import build_model
from lmlineage.tasks.captioning import CaptioningTask
from lmlineage.tokenizers import build_tokenizer
from lmlineage.tokenizers.hf import with_specials
from lmlineage.vision.captions import ImageTextProcessor


@pytest.fixture(scope="module", params=["blip", "coca"])
def checkpoint(request, tmp_path_factory):
    tok = with_specials(build_tokenizer("wordpiece", ["a handwritten seven", "a handwritten one"], 1000),
                        CaptioningTask.special_tokens)
    ids = CaptioningTask.check_inputs(tok)
    model = build_model(get_family(request.param).config("tiny", vocab_size=tok.vocab_size, max_positions=16, **ids))
    out = tmp_path_factory.mktemp(request.param) / "ckpt"
    with atomic_directory(out) as tmp:
        save_model_files(tmp, model, ImageTextProcessor(CaptioningTask.image_processor(8), tok))
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) * 4).save(folder / "grey.png")
    Image.fromarray(np.zeros((20, 12, 3), dtype=np.uint8)).save(folder / "colour.png")  # resized to 8 x 8
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_caption_prints_one_caption_per_image(checkpoint, images, cli_run):
    code, out, err = cli_run("caption", checkpoint, images / "grey.png", images / "colour.png")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{images / 'grey.png'}\t")
    code, out, err = cli_run("caption", checkpoint, images / "grey.png", "--num-beams", "3", "--json",
                             "--max-new-tokens", "4")
    assert code == 0, err
    line = json.loads(out)
    assert line["image"] == str(images / "grey.png") and isinstance(line["caption"], str)


@pytest.mark.parametrize("name", ["corrupt.png", "notes.txt", "missing.png"])
def test_bad_images_are_one_line(checkpoint, images, cli_refused, name):
    cli_refused("caption", checkpoint, images / name, needle=name)


def test_a_model_that_does_not_caption_and_a_manifest_naming_a_missing_image(tmp_path, images, cli_refused):
    vit = tmp_path / "vit"
    with atomic_directory(vit) as tmp:
        save_model_files(tmp, build_model(get_family("vit").config("tiny")))
    cli_refused("caption", vit, images / "grey.png")
    manifest = tmp_path / "captions.jsonl"
    manifest.write_text(json.dumps({"image": "grey.png", "caption": "a grey square"}) + "\n")
    cli_refused("train", "blip", "--steps", "1", "--data", manifest, "--out", tmp_path / "run",
                needle="grey.png does not exist")
    assert not (tmp_path / "run" / "last").exists()


def test_a_captioning_model_has_no_one_image_vector(checkpoint, images, cli_refused):
    line = cli_refused("embed", checkpoint, "--image", images / "grey.png", needle="no one vector per image")
    assert "caption RUN IMAGE" in line  # what it is for instead
