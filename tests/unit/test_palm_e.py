"""palm-e (and gpt-4, the same design on a LLaMA-style decoder): the image's projected vectors land
where the prompt says <img> and nowhere else; --freeze-lm leaves the language model's weights as
they started; eval's answer accuracy is what greedy generation answers; questions about scenes are
unambiguous; `generate --image` answers, and bad input (no <img>, an unreadable image, a model that
reads no images) is one line and exit 2."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import lmlineage
from lmlineage.models import build_model
from lmlineage.tasks.image_questions import ImageQuestionTask, answer
from lmlineage.vision.batches import held_out_split
from lmlineage.vision.images import load_images
from lmlineage.vision.questions import IMAGE, QuestionSplit, prompt_ids, questions_about

TRAIN = ["--steps", "3", "--batch-size", "8", "--no-progress"]


@pytest.fixture(scope="module")
def trained(cli_train):
    return cli_train("palm-e", *TRAIN)


@pytest.fixture(scope="module")
def digit_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("png") / "digit.png"
    Image.fromarray(load_images("digits").images[0][:, :, 0]).save(path)
    return path


@pytest.mark.parametrize("family", ["palm-e", "gpt-4"])
def test_the_image_vectors_land_where_the_prompt_says_img(family):
    torch.manual_seed(0)
    model = lmlineage.load(family)
    cfg = model.config

    class Tok:  # one id per character: a..z and friends; the placeholder is the model's last id
        def encode(self, text):
            return [ord(c) % 40 for c in text]

    ids = torch.tensor([prompt_ids(Tok(), f"what is {IMAGE}?", cfg.image_token_id, cfg.image_tokens)])
    slots = ids[0] == cfg.image_token_id
    first = int(slots.nonzero()[0])
    assert int(slots.sum()) == cfg.image_tokens and bool(slots[first:first + cfg.image_tokens].all())
    seen = {}
    model.lm.backbone.register_forward_pre_hook(lambda m, a, kw: seen.update(kw), with_kwargs=True)
    pixels = torch.randn(1, 1, 8, 8)
    logits = model(ids, pixels).logits
    words = model.lm.backbone.embed(ids.masked_fill(slots[None], 0), None)
    torch.testing.assert_close(seen["inputs_embeds"][0, slots], model.image_embeddings(pixels)[0])
    torch.testing.assert_close(seen["inputs_embeds"][0, ~slots], words[0, ~slots])
    # Another image changes what the model says from the image on, and nothing before it (causal).
    other = model(ids, torch.randn(1, 1, 8, 8)).logits
    torch.testing.assert_close(other[0, :first], logits[0, :first])
    assert not torch.allclose(other[0, first:], logits[0, first:])


def test_a_row_without_its_image_placeholders_is_refused():
    model = lmlineage.load("palm-e")
    ids = torch.full((1, 10), 5)
    ids[0, :3] = model.config.image_token_id  # 3 of the 17 an image fills
    with pytest.raises(lmlineage.core.errors.UserError, match="17 image placeholders"):
        model(ids, torch.randn(1, 1, 8, 8))


def test_freeze_lm_leaves_the_language_model_as_it_started(tmp_path):
    out = tmp_path / "frozen"
    lmlineage.train("palm-e", steps=3, batch_size=8, out=out, progress=False, options={"freeze_lm": True}, seed=7)
    trained = load_file(str(out / "last" / "model.safetensors"))
    model = lmlineage.load(out / "last")
    assert model.config.freeze_lm
    torch.manual_seed(7)  # the run's own start: the driver seeds, then builds
    start = build_model(model.config).state_dict()
    lm = [k for k in trained if k.startswith("lm.")]
    assert lm and all(torch.equal(trained[k], start[k]) for k in lm)
    learned = [k for k in trained if k.startswith(("vision.", "project."))]
    assert any(not torch.equal(trained[k], start[k]) for k in learned)


def test_eval_accuracy_is_what_greedy_generation_answers(trained):
    model = lmlineage.load(trained)
    held_out = held_out_split(load_images("digits"))[1].subset(range(40))
    val = QuestionSplit.build(held_out, model.processor, model.tokenizer, model.config.image_token_id,
                              model.config.image_tokens)
    scored = ImageQuestionTask(model).evaluate(val.batches(16))
    pixels, _ = val.collate(range(len(val)))
    said = answer(model, [q.text for q in val.questions], pixels)
    greedy = np.mean([s == q.answer for s, q in zip(said, val.questions)])
    assert scored["questions"] == 40 and scored["accuracy"] == pytest.approx(greedy)


def test_scene_questions_have_one_right_answer():
    scenes = load_images("shapes:40")
    questions = questions_about(scenes)
    counts = [q for q in questions if q.text.startswith("how many")]
    assert len(counts) == 40
    for q in questions:
        objects = scenes.objects[q.image]
        if q.text.startswith("how many"):
            assert q.answer == ("zero", "one", "two", "three")[len(objects)]
        else:
            names = objects.names()
            kind = q.text.split("the ")[1].split(" in")[0]
            assert [n for n in names if n.endswith(kind)] == [f"{q.answer} {kind}"]


def test_generate_answers_about_an_image(trained, digit_png, cli_run):
    code, out, err = cli_run("generate", trained, "--image", digit_png, "--prompt", "what digit is <img>?")
    assert code == 0, err
    assert out.endswith("\n") and out.count("\n") == 1  # one answer, cut at its line break (3 steps: any text)
    code, out, err = cli_run("eval", trained)
    assert code == 0 and "answer accuracy" in out and "359 questions" in out, err


def test_bad_input_is_one_line(trained, digit_png, tmp_path, cli_refused):
    cli_refused("generate", trained, "--image", digit_png, "--prompt", "what digit is this?", needle="<img>")
    cli_refused("generate", trained, "--image", digit_png, "--prompt", "<img> or <img>?", needle="2 <img>")
    cli_refused("generate", trained, needle="--image")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    cli_refused("generate", trained, "--image", broken, "--prompt", "what digit is <img>?", needle="broken.png")
    cli_refused("generate", trained, "--image", tmp_path / "missing.png", "--prompt", "what digit is <img>?",
                needle="missing.png")
    lm = tmp_path / "lm"
    text = tmp_path / "text.txt"
    text.write_text("what digit is it?\n" * 200)
    lmlineage.train("gpt2", steps=1, batch_size=2, data=text, out=lm, progress=False, sample_tokens=0)
    cli_refused("generate", lm, "--image", digit_png, "--prompt", "what digit is <img>?", needle="palm-e")


def test_shape_questions_name_each_objects_shape_and_are_training_only(tmp_path, cli_refused):
    scenes = load_images("shapes:40")
    plain, more = questions_about(scenes), questions_about(scenes, shape_questions=True)
    shape = [q for q in more if q.text.startswith("what shape")]
    assert [q for q in more if not q.text.startswith("what shape")] == plain
    assert len(shape) == sum(len(o) for o in scenes.objects)
    for q in shape:
        colour = q.text.split("the ")[1].split(" one")[0]
        assert f"{colour} {q.answer}" in scenes.objects[q.image].names()
    out = tmp_path / "shapes"
    lmlineage.train("palm-e", data="shapes:40", steps=1, batch_size=4, out=out, progress=False,
                    options={"shape_questions": True}, config={"vision": {"image": {"patch": 4}}})
    counts = json.loads((out / "data" / "source.json").read_text())
    train, val = held_out_split(scenes)
    assert counts == {"data": "shapes:40", "train": len(questions_about(train, True)), "val": len(questions_about(val))}
    assert lmlineage.load(out / "last").config.shape_questions
    cli_refused("train", "palm-e", "--shape-questions", "--steps", "1", "--out", tmp_path / "digits",
                needle="no shapes")
    assert not (tmp_path / "digits").exists()


def test_moved_scenes_keep_every_object_whole_and_resume(tmp_path, cli_refused):
    from lmlineage.tokenizers import build_tokenizer
    from lmlineage.vision.processor import ImageProcessor
    from lmlineage.vision.questions import moved

    scenes = load_images("shapes:30")
    tok = build_tokenizer("char", [q.text + " " + q.answer + "\n" for q in questions_about(scenes)])
    split = QuestionSplit.build(scenes, ImageProcessor.vit(32, 32, 3), tok, tok.vocab_size, 65, move_scenes=True)
    pixels = split.pixels
    background = pixels[0, :, 0, 0]
    after = moved(pixels, split.extents, torch.Generator().manual_seed(0))
    assert not torch.equal(after, pixels)
    for a, b in zip(pixels, after):  # the same pixels, rearranged; no object cut by an edge (same drawn area)
        assert torch.equal(a.flatten(1).sort(1).values, b.flatten(1).sort(1).values)
        drawn = lambda x: int((x != background[:, None, None]).any(0).sum())  # noqa: E731
        assert drawn(a) == drawn(b)
    first, second = split.sampler(4, seed=5), split.sampler(4, seed=5)
    next(first)
    second.load_state_dict(first.state_dict())  # a resumed run draws and moves as the run it continues
    (x1, r1), (x2, r2) = next(first), next(second)
    assert torch.equal(x1, x2) and torch.equal(r1.ids, r2.ids)
    cli_refused("train", "palm-e", "--move-scenes", "--steps", "1", "--out", tmp_path / "digits", needle="no objects")
    assert not (tmp_path / "digits").exists()
