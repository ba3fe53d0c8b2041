"""CLIP's parts that parity does not reach: the symmetric loss and its learned temperature, the
captions made from labels, retrieval recall, the rules that expand a tower over its own depth,
and the zero-shot `classify` verb with its one-line refusals."""

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from lmlineage import cli
from lmlineage.core.registry import get_family
from lmlineage.interop.rules import Fuse, Rename, Reshape, Within, expand
from lmlineage.models import build_model
from lmlineage.models.image_text import end_of_text
from lmlineage.objectives.contrastive import InBatchContrastive
from lmlineage.tasks.image_text import MAX_SCALE, ImageTextContrastiveTask, recall_at_1
from lmlineage.vision.captions import captions_of, encode_captions, prompts
from lmlineage.vision.images import ImageSet


def unit(n: int, d: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_the_loss_is_symmetric_and_is_clips_mean_of_both_directions():
    images, texts = unit(6, 8, 0), unit(6, 8, 1)
    clip = InBatchContrastive(margin=0.0, directions="mean")
    scale = torch.tensor(3.0)
    logits = scale * images @ texts.T
    truth = torch.arange(6)
    by_hand = (F.cross_entropy(logits, truth) + F.cross_entropy(logits.T, truth)) / 2
    torch.testing.assert_close(clip.loss(images, texts, scale=scale), by_hand)
    torch.testing.assert_close(clip.loss(texts, images, scale=scale), by_hand)  # swapping the towers changes nothing
    labse = InBatchContrastive(margin=0.0, scale=3.0)  # LaBSE sums the directions
    torch.testing.assert_close(labse.loss(images, texts), 2 * by_hand)
    aligned = clip.loss(images, images, scale=scale)
    assert aligned < clip.loss(images, texts, scale=scale)


def test_the_temperature_is_learned_and_clipped_at_100():
    model = build_model(get_family("clip").config("tiny", vocab_size=32, eos_id=1, bos_id=0, pad_id=1))
    torch.testing.assert_close(model.logit_scale.exp(), torch.tensor(1 / 0.07), rtol=1e-4, atol=0)
    task = ImageTextContrastiveTask(model)
    pixels = torch.randn(4, 3, 8, 8)
    texts = torch.tensor([[0, 5, 6, 1], [0, 7, 1, 1], [0, 8, 9, 1], [0, 10, 1, 1]])
    task((pixels, texts)).backward()
    assert model.logit_scale.grad is not None and model.logit_scale.grad != 0
    with torch.no_grad():
        model.logit_scale.fill_(10.0)  # e^10 >> 100
    assert float(task.scale().detach()) == MAX_SCALE
    model.zero_grad()
    task((pixels, texts)).backward()
    assert float(model.logit_scale.grad) == 0.0  # clipped: no gradient pushes it further


def test_end_of_text_pooling_reads_the_first_eos():
    ids = torch.tensor([[0, 4, 1, 1, 1], [0, 4, 5, 6, 1]])
    assert end_of_text(ids, 1).tolist() == [2, 4]
    assert end_of_text(torch.tensor([[3, 9, 5]]), 2).tolist() == [1]  # legacy configs: the largest id


def test_captions_come_from_labels_in_several_phrasings_or_from_the_set():
    assert prompts("7")[0] == "a photo of the digit seven."
    assert len(set(prompts("7"))) == 5 and all("seven" in p for p in prompts("7"))
    assert prompts("cat") == ["a photo of a cat.", "a picture of a cat.", "an image of a cat.", "a photo of the cat."]
    assert prompts("cat", ["a {} here"]) == ["a cat here"]
    image = np.zeros((8, 8, 1), dtype=np.uint8)
    labelled = ImageSet([image, image], np.array([1, 0]), ["0", "1"], source="t")
    assert captions_of(labelled)[0] == prompts("1")
    captioned = ImageSet([image], captions=["a red circle"], source="t")
    assert captions_of(captioned) == [["a red circle"]]
    from lmlineage.core.errors import UserError

    with pytest.raises(UserError, match="neither captions nor labels"):
        captions_of(ImageSet([image], source="t"))
    with pytest.raises(UserError, match="no \\{\\}"):
        prompts("cat", ["a photo"])


def test_long_captions_are_cut_keeping_their_end_of_text_token():
    class Words:
        def encode_batch(self, texts):
            return [[10 + len(w) for w in t.split()] for t in texts]

    ids = encode_captions(Words(), ["a bb ccc dddd", "a"], bos=0, eos=1, pad=1, length=4)
    assert ids.tolist() == [[0, 11, 12, 1], [0, 11, 1, 1]]


def test_recall_counts_any_item_with_the_querys_caption():
    images = torch.eye(3)
    texts = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 0, 1.0]])  # image 1 is nearest caption 0, image 2 caption 2
    same = recall_at_1(images, texts, ["seven", "seven", "two"])
    assert same["image_to_text_recall@1"] == 1.0 and same["distinct_captions"] == 2
    differ = recall_at_1(images, texts, ["seven", "one", "two"])
    assert differ["image_to_text_recall@1"] == pytest.approx(2 / 3)


def test_a_part_with_its_own_depth_expands_its_rules_over_that_depth():
    cfg = get_family("clip").config("tiny", n_layer=2, vocab_size=8, eos_id=1, bos_id=0, pad_id=1,
                                    vision=dict(n_layer=3))
    rules = (Rename("text.layers.{i}.w", "t.{i}.w"),
             Within("vision", (Fuse("backbone.layers.{i}.attn.qkv.weight", ("v.{i}.q", "v.{i}.k", "v.{i}.v")),)))
    expanded = expand(rules, cfg.n_layer, 0, cfg)
    assert [r.their_keys() for r in expanded][:2] == [("t.0.w",), ("t.1.w",)]
    assert [r.our_keys() for r in expanded[2:]] == [(f"vision.backbone.layers.{i}.attn.qkv.weight",) for i in range(3)]


def test_reshape_moves_leading_axes_both_ways():
    rule = Reshape("cls", "class_embedding", their_lead=0, our_lead=2)
    out, used = {}, set()
    rule.load({"class_embedding": torch.arange(4.0)}, out, used)
    assert out["cls"].shape == (1, 1, 4) and used == {"class_embedding"}
    back = {}
    rule.export(out, back)
    assert torch.equal(back["class_embedding"], torch.arange(4.0))


# ---- the CLI --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(cli_train):
    return cli_train("clip", "--steps", "2", "--batch-size", "16", "--no-progress")


@pytest.fixture(scope="module")
def seven(tmp_path_factory):
    from PIL import Image
    from sklearn.datasets import load_digits

    path = tmp_path_factory.mktemp("images") / "seven.png"
    Image.fromarray(np.round(load_digits().images[7] * 255 / 16).astype(np.uint8)).save(path)
    return path


def test_classify_ranks_the_labels_with_probabilities(run, seven, cli_run):
    code, out, err = cli_run("classify", run, seven, "--labels", "0,1,2,3,4,5,6,7,8,9")
    assert code == 0, err
    rows = [line.split("\t") for line in out.strip().splitlines()]
    assert sorted(label for label, _ in rows) == [str(i) for i in range(10)]
    probabilities = [float(p) for _, p in rows]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) == pytest.approx(1, abs=1e-3)
    code, out, err = cli_run("classify", run, seven, "--labels", "cat, dog", "--template", "a {} photo",
                             "--json")
    ranked = json.loads(out)
    assert code == 0 and {label for label, _ in ranked} == {"cat", "dog"}
    code, out, _ = cli_run("classify", run, seven, "--top", "3")  # default: the classes it trained on
    assert code == 0 and len(out.strip().splitlines()) == 3


@pytest.mark.parametrize("argv, says", [
    (["--labels", ""], "--labels is empty"),
    (["--labels", "0,,1"], "empty label"),
    (["--labels", "7"], "at least two"),
    (["--labels", "0,1", "--template", "no slot"], "no {}"),
])
def test_bad_labels_get_one_line(run, seven, cli_run, argv, says):
    code, _, err = cli_run("classify", run, seven, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and says in err


def test_an_unreadable_image_gets_one_line(run, tmp_path, cli_run):
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    for argv in (["classify", run, bad, "--labels", "0,1"], ["embed", run, "--image", bad]):
        code, _, err = cli_run(*argv)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "not a readable image" in err


def test_embed_gives_joint_space_vectors_for_images_and_texts(run, seven, cli_run):
    code, out, err = cli_run("embed", run, "--image", seven, "--json")
    assert code == 0, err
    (image,) = json.loads(out)
    code, out, _ = cli_run("embed", run, "--text", "a photo of the digit seven.", "--text", "two", "--json")
    texts = json.loads(out)
    assert len(image) == len(texts[0]) == 64 and abs(float(np.linalg.norm(image)) - 1) < 1e-5


def test_eval_reports_recall_both_ways_and_zero_shot_accuracy(run, cli_run):
    code, out, err = cli_run("eval", run, "--json")
    metrics = json.loads(out)
    assert code == 0, err
    assert {"image_to_text_recall@1", "text_to_image_recall@1", "zero_shot_accuracy"} <= set(metrics)
    assert metrics["candidates"] == 359 and metrics["classes"] == 10


@pytest.mark.slow  # trains a second family
def test_a_classifier_without_a_text_tower_is_refused(tmp_path, seven, cli_run):
    vit = tmp_path / "vit"
    assert cli.main(["train", "vit", "--steps", "1", "--out", str(vit), "--no-progress"]) == 0
    code, _, err = cli_run("classify", vit, seven, "--labels", "0,1")
    assert code == 2 and "no text tower" in err


@pytest.mark.slow  # a second run
def test_a_manifest_of_captions_alone_trains_and_evaluates_without_zero_shot(tmp_path, cli_run):
    from PIL import Image

    rows = []
    for i, (colour, name) in enumerate([((220, 40, 40), "red"), ((40, 200, 60), "green"), ((50, 90, 230), "blue")] * 3):
        Image.fromarray(np.full((8, 8, 3), colour, dtype=np.uint8)).save(tmp_path / f"{i}.png")
        rows.append(json.dumps({"image": f"{i}.png", "caption": f"a {name} square number {i}"}))
    (tmp_path / "captions.jsonl").write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    code, out, err = cli_run("train", "clip", "--data", tmp_path / "captions.jsonl", "--steps", "1",
                             "--batch-size", "4", "--out", run, "--no-progress")
    assert code == 0, err
    assert "recall@1 among 2 held-out pairs" in out and "zero-shot" not in out
    code, out, err = cli_run("eval", run, "--json")
    assert code == 0 and "zero_shot_accuracy" not in json.loads(out)
    (tmp_path / "captions.jsonl").write_text(json.dumps({"image": "missing.png", "caption": "a cat"}) + "\n")
    code, _, err = cli_run("train", "clip", "--data", tmp_path / "captions.jsonl", "--steps", "1",
                           "--out", tmp_path / "other")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "missing.png" in err
