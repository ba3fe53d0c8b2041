"""BLIP's mechanisms as the paper states them (parity with `transformers` is tests/parity/test_blip.py):
the decoder shares all but its self-attention with the encoder (and keeps sharing through a
checkpoint); the unimodal encoder reads no image; hard negatives are drawn by contrastive
similarity and never share a caption; the contrastive loss is the in-batch softmax both ways;
digits are captioned from their labels, and a caption is right only when it names the right digit
and no other; a tiny model overfits one batch."""

import pytest
import torch
from torch.nn import functional as F

from lmlineage.checkpoint.directory import atomic_directory
from lmlineage.checkpoint.model import load_model, save_model_files
from lmlineage.core.errors import UserError
from lmlineage.core.registry import get_family
from lmlineage.models import build_model
from lmlineage.tasks.captioning import BlipTask, CaptioningTask, hard_negatives
from lmlineage.vision.captions import captions_of, names_right, phrases_of, prompts
from lmlineage.vision.images import ImageSet

PAD, UNK, CLS, SEP, DEC, ENC = 0, 1, 2, 3, 4, 5
VOCAB = 20


class Specials:
    special_ids = {"[PAD]": PAD, "[UNK]": UNK, "[CLS]": CLS, "[SEP]": SEP, "[DEC]": DEC, "[ENC]": ENC}


def model(**overrides):
    torch.manual_seed(0)
    cfg = get_family("blip").config("tiny", vocab_size=VOCAB, decoder=dict(start_id=DEC, eos_id=SEP, pad_id=PAD),
                                    **overrides)
    return build_model(cfg).eval()


def batch():
    g = torch.Generator().manual_seed(1)
    pixels = torch.randn(4, 3, 8, 8, generator=g)
    ids = torch.randint(6, VOCAB, (4, 5), generator=g)
    ids[:, 0], ids[:, -1] = CLS, SEP
    ids[3] = ids[0]  # two images with the same caption, as a batch of digits has
    return pixels, ids


def test_the_decoder_shares_all_but_self_attention_with_the_encoder(tmp_path):
    m = model()
    for mine, theirs in zip(m.text_decoder.layers, m.text_encoder.layers):
        for name in ("cross_attn", "cross_norm", "mlp", "mlp_norm"):
            assert getattr(mine, name) is getattr(theirs, name)
        assert mine.attn is not theirs.attn and mine.attn_norm is not theirs.attn_norm
    assert m.text_decoder.embed_tokens is m.text_encoder.embed_tokens
    assert m.lm.decoder.weight is m.text_encoder.embed_tokens.weight  # the LM head is tied to the embeddings
    with atomic_directory(tmp_path / "ckpt") as tmp:
        save_model_files(tmp, m)
    back = load_model(tmp_path / "ckpt", build_model).eval()
    assert back.text_decoder.layers[0].mlp is back.text_encoder.layers[0].mlp
    pixels, ids = batch()
    with torch.no_grad():
        torch.testing.assert_close(back(ids, pixel_values=pixels).logits, m(ids, pixel_values=pixels).logits)
    with pytest.raises(UserError, match="heads"):
        build_model(get_family("blip").config("tiny", heads=["itc", "nsp"]))


def test_the_unimodal_encoder_reads_no_image_and_the_grounded_one_does():
    m = model()
    pixels, ids = batch()
    with torch.no_grad():
        image, other = m.encode(pixels), m.encode(torch.randn_like(pixels))
        text = m.text_features(ids)
        assert not torch.allclose(m.match(ids, image), m.match(ids, other))
        torch.testing.assert_close(m.text_features(ids), text)
        assert not torch.allclose(m(ids, encoder_out=image).logits, m(ids, encoder_out=other).logits)


def test_hard_negatives_follow_the_similarity_and_never_share_a_caption():
    ids = torch.tensor([[1, 7], [1, 8], [1, 9], [1, 7]])  # rows 0 and 3 share a caption
    similarity = torch.tensor([[5.0, 1.0, 3.0, 9.0],
                               [0.0, 5.0, 2.0, 0.0],
                               [1.0, 4.0, 5.0, 1.0],
                               [9.0, 0.0, 1.0, 5.0]])
    rows, texts, images = hard_negatives(similarity, ids, sample=False)
    assert rows.tolist() == [0, 1, 2, 3]
    assert texts.tolist() == [2, 2, 1, 2]  # the likeliest other caption (row 0 never picks 3, whose caption is its own)
    assert images.tolist() == [2, 2, 0, 2]  # for each text, the likeliest image of another caption
    torch.manual_seed(0)
    draws = torch.stack([hard_negatives(similarity, ids)[1] for _ in range(3000)])
    assert not (draws[:, 0] == 0).any() and not (draws[:, 0] == 3).any() and not (draws[:, 3] == 0).any()
    share = (draws[:, 0] == 2).float().mean()  # softmax over {1: 1.0, 2: 3.0}
    assert float(share) == pytest.approx(torch.softmax(torch.tensor([1.0, 3.0]), 0)[1].item(), abs=0.03)
    same = torch.tensor([[1, 7], [1, 7]])
    assert len(hard_negatives(torch.zeros(2, 2), same)[0]) == 0  # nothing differs: no negatives


def test_the_losses_as_the_paper_states_them():
    m = model()
    task = BlipTask(m, Specials).eval()
    pixels, ids = batch()
    with torch.no_grad():
        terms = task.losses(pixels, ids)
        image = m.encode(pixels)
        scores = m.image_features(image) @ m.text_features(ids).T / m.config.temperature
        truth = torch.arange(4)
        contrast = (F.cross_entropy(scores, truth) + F.cross_entropy(scores.T, truth)) / 2
        decoder_ids = torch.cat([torch.full_like(ids[:, :1], DEC), ids[:, 1:]], 1)
        logits = m(decoder_ids, encoder_out=image).logits
        caption = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), decoder_ids[:, 1:].reshape(-1))
    assert set(terms) == {"contrast", "matching", "caption"}
    torch.testing.assert_close(terms["contrast"], contrast, rtol=0, atol=1e-5)
    torch.testing.assert_close(terms["caption"], caption, rtol=0, atol=1e-5)  # no smoothing when scoring
    assert float(task((pixels, ids)).detach()) == pytest.approx(sum(float(v) for v in terms.values()), abs=1e-5)
    captioner = model(heads=["lm"])
    assert captioner.text_encoder is None and set(BlipTask(captioner, Specials).losses(pixels, ids)) == {"caption"}


def test_captions_from_labels_and_what_counts_as_naming_the_digit():
    templates = CaptioningTask.label_templates
    assert prompts("7", defaults=templates) == ["a handwritten seven"]
    digits = ImageSet([None] * 3, torch.tensor([7, 0, 3]).numpy(), [str(i) for i in range(10)], source="digits")
    assert captions_of(digits, templates) == [["a handwritten seven"], ["a handwritten zero"], ["a handwritten three"]]
    assert phrases_of(digits) == [["seven"], ["zero"], ["three"]]
    every = {"seven", "zero", "three"}
    assert names_right("a handwritten seven", ["seven"], every)
    assert not names_right("a handwritten sevens", ["seven"], every)  # whole words
    assert not names_right("a handwritten seven zero", ["seven"], every)  # naming others too is no answer
    assert names_right("a red circle and a blue square", ["red circle", "blue square"], {"red circle", "blue square"})
    assert not names_right("a red circle", ["red circle", "blue square"], {"red circle", "blue square"})


def test_overfits_one_batch():
    m = model()
    task = BlipTask(m, Specials).train()
    pixels, ids = batch()
    optimizer = torch.optim.AdamW(task.parameters(), lr=3e-3)
    with torch.no_grad():
        first = task.eval().losses(pixels, ids)["caption"]
    task.train()
    for _ in range(60):
        loss = task((pixels, ids))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        assert float(task.eval().losses(pixels, ids)["caption"]) < float(first) / 4
