"""CoCa's golden cases (open_clip, its reference, does not import here: it needs torchvision).

What each test proves: the shapes of every output; the unimodal layers are causal and never see
the image; attentional pooling equals softmax attention of its queries over the tokens, computed
by hand; the loss is lambda_Con * contrast + lambda_Cap * caption, each term computed by hand;
cached decoding gives the uncached logits; a tiny model overfits one batch of captions."""

import math

import pytest
import torch
from torch.nn import functional as F

from lmlineage.core.errors import UserError
from lmlineage.core.registry import get_family
from lmlineage.generation.engine import generate
from lmlineage.models import build_model
from lmlineage.tasks.captioning import CocaTask

PAD, UNK, CLS, SEP, DEC = 0, 1, 2, 3, 4
VOCAB = 20


class Specials:
    special_ids = {"[PAD]": PAD, "[UNK]": UNK, "[CLS]": CLS, "[SEP]": SEP, "[DEC]": DEC, "[ENC]": 5}


def model(**overrides):
    torch.manual_seed(0)
    cfg = get_family("coca").config("tiny", vocab_size=VOCAB, n_layer=3, n_unimodal=2, n_queries=5,
                                    decoder=dict(start_id=DEC, eos_id=SEP, pad_id=PAD), **overrides)
    return build_model(cfg).eval()


def batch():
    g = torch.Generator().manual_seed(1)
    pixels = torch.randn(3, 3, 8, 8, generator=g)
    ids = torch.randint(6, VOCAB, (3, 6), generator=g)
    ids[:, 0], ids[:, -1] = CLS, SEP
    ids[1, 4:] = torch.tensor([SEP, PAD])  # a shorter caption, padded
    return pixels, ids


def test_shapes():
    m = model()
    pixels, ids = batch()
    image = m.encode(pixels)
    assert image.shape == (3, 5, 64)  # the captioning queries' summaries
    assert m(ids, encoder_out=image).logits.shape == (3, 6, VOCAB)
    tokens = m.vision(pixels).last_hidden_state
    assert tokens.shape == (3, 17, 64)  # [CLS] and the 4 x 4 patches
    for features in (m.image_features(tokens), m.text_features(ids, (ids != PAD).long(), CLS)):
        assert features.shape == (3, 64)
        torch.testing.assert_close(features.norm(dim=-1), torch.ones(3))
    assert len(m.unimodal.layers) == 2 and len(m.multimodal.layers) == 1
    assert all(layer.cross_attn is None for layer in m.unimodal.layers)
    assert all(layer.cross_attn is not None for layer in m.multimodal.layers)
    with pytest.raises(UserError, match="n_unimodal"):
        get_family("coca").config("tiny", n_layer=2, n_unimodal=2)


def test_unimodal_layers_are_causal_and_never_see_the_image():
    m = model()
    pixels, ids = batch()
    changed = ids.clone()
    changed[:, 3] = 7 if int(ids[0, 3]) != 7 else 8
    with torch.no_grad():
        before, _ = m.unimodal(ids)
        after, _ = m.unimodal(changed)
        torch.testing.assert_close(before[:, :3], after[:, :3], rtol=0, atol=1e-6)  # earlier places: untouched
        assert not torch.allclose(before[:, 3:], after[:, 3:])
        logits = m(ids, pixel_values=pixels).logits
        torch.testing.assert_close(logits[:, :3], m(changed, pixel_values=pixels).logits[:, :3], rtol=0, atol=1e-6)
        # the captions read the image (the unimodal half has no cross layer: test_shapes)
        other = m(ids, pixel_values=torch.randn_like(pixels)).logits
        assert not torch.allclose(logits, other)


def test_attentional_pooling_is_softmax_attention_of_the_queries_over_the_tokens():
    m = model()
    pool = m.caption_pool
    tokens = torch.randn(2, 9, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        q = F.layer_norm(pool.queries, (64,), pool.query_norm.weight, pool.query_norm.bias, pool.query_norm.eps)
        kv = F.layer_norm(tokens, (64,), pool.token_norm.weight, pool.token_norm.bias, pool.token_norm.eps)
        heads, width = 4, 16
        query = (q @ pool.attn.q.weight.T + pool.attn.q.bias).view(5, heads, width).transpose(0, 1)  # (H, 5, w)
        key, value = (kv @ pool.attn.kv.weight.T + pool.attn.kv.bias).view(2, 9, 2, heads, width).unbind(2)
        key, value = key.transpose(1, 2), value.transpose(1, 2)  # (B, H, 9, w)
        weights = torch.softmax(query @ key.transpose(-1, -2) / math.sqrt(width), dim=-1)  # (B, H, 5, 9)
        assert torch.allclose(weights.sum(-1), torch.ones(2, heads, 5))
        mixed = (weights @ value).transpose(1, 2).reshape(2, 5, 64)
        expected = mixed @ pool.attn.out.weight.T + pool.attn.out.bias
        torch.testing.assert_close(pool(tokens), expected, rtol=0, atol=1e-5)
    assert m.contrastive_pool.queries.shape == (1, 64) and pool.queries.shape == (5, 64)


def test_the_loss_is_the_weighted_sum_of_contrast_and_captioning():
    m = model(caption_weight=2.0, contrast_weight=1.0)
    task = CocaTask(m, Specials).eval()
    pixels, ids = batch()
    with torch.no_grad():
        terms = task.losses(pixels, ids)
        total = task((pixels, ids))
        # by hand: the contrast, both ways, averaged
        tokens = m.vision(pixels).last_hidden_state
        text = torch.cat([torch.full_like(ids[:, :1], DEC), ids[:, 1:]], 1)
        mask = (ids != PAD).long()
        scores = m.image_features(tokens) @ m.text_features(text, mask, CLS).T / m.config.temperature
        truth = torch.arange(3)
        contrast = (F.cross_entropy(scores, truth) + F.cross_entropy(scores.T, truth)) / 2
        # the captioning: each real next token after [DEC], padding ignored
        logits = m(text, pixel_values=pixels, decoder_attention_mask=mask).logits
        picked = [-logits[b, t].log_softmax(-1)[text[b, t + 1]] for b in range(3) for t in range(5)
                  if text[b, t + 1] != PAD]
        caption = torch.stack(picked).mean()
    torch.testing.assert_close(terms["contrast"], contrast, rtol=0, atol=1e-5)
    torch.testing.assert_close(terms["caption"], caption, rtol=0, atol=1e-5)
    torch.testing.assert_close(total, 1.0 * contrast + 2.0 * caption, rtol=0, atol=1e-5)
    evaluation = task.evaluate([(pixels, ids)])
    assert evaluation["loss"] == pytest.approx(float(total), abs=1e-5)


def test_cached_decoding_gives_the_uncached_logits_and_captions():
    m = model()
    pixels, ids = batch()
    with torch.no_grad():
        image = m.encode(pixels)
        whole = m(ids, encoder_out=image).logits
        cache = m.new_cache()
        steps = torch.cat([m(ids[:, i:i + 1], encoder_out=image, cache=cache).logits for i in range(6)], 1)
    torch.testing.assert_close(steps, whole, rtol=0, atol=1e-5)
    greedy = generate(m, pixels, max_new_tokens=5, eos_id=SEP)
    beam_of_one = generate(m, pixels, max_new_tokens=5, eos_id=SEP, num_beams=1)
    assert greedy.shape[0] == 3 and torch.equal(greedy, beam_of_one)


def test_overfits_one_batch():
    m = model()
    task = CocaTask(m, Specials).train()
    pixels, ids = batch()
    optimizer = torch.optim.AdamW(task.parameters(), lr=3e-3)
    first = float(task((pixels, ids)).detach())
    for _ in range(60):
        loss = task((pixels, ids))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss) < first / 4
