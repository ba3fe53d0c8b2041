"""BLIP against `transformers`' BlipForConditionalGeneration and BlipForImageTextRetrieval (tiny
random configs with more image layers than text layers, eager attention, fp32, CPU): saved with
save_pretrained, loaded by our production loader (declarative rules, the image tower's under its
own config), every layer of both towers and the outputs (caption logits, matching logits,
contrastive similarities) within 1e-5; greedy and 4-beam captions equal the reference's
``generate``; our export loads strictly with the same outputs."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage.generation.engine import generate  # noqa: E402
from lmlineage.interop.reference import from_hf, to_hf  # noqa: E402

BOS, SEP, PAD = 1, 2, 0
TEXT = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            encoder_hidden_size=32, bos_token_id=BOS, sep_token_id=SEP, pad_token_id=PAD, eos_token_id=SEP)
VISION = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=37, image_size=8,
              patch_size=2)
CLASSES = {"caption": "BlipForConditionalGeneration", "retrieval": "BlipForImageTextRetrieval"}


def reference(kind, tmp_path, activation="gelu"):
    torch.manual_seed(0)
    cfg = transformers.BlipConfig(text_config={**TEXT, "hidden_act": activation}, vision_config=VISION,
                                  image_text_hidden_size=16, attn_implementation="eager")
    ref = getattr(transformers, CLASSES[kind])(cfg).eval()
    with torch.no_grad():  # perturb zero biases and unit norms so a swap shows
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ref.save_pretrained(tmp_path / kind)
    return ref, from_hf(tmp_path / kind).eval()


def inputs():
    g = torch.Generator().manual_seed(1)
    pixels = torch.randn(3, 3, 8, 8, generator=g)
    ids = torch.randint(3, 99, (3, 7), generator=g)
    ids[:, 0] = BOS
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0  # a padded caption
    return pixels, ids, mask


def close(a, b):
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_captioner_every_layer_and_the_logits_match(tmp_path, activation):
    ref, ours = reference("caption", tmp_path, activation)
    assert ours.config.heads == ["lm"] and ours.config.vision.n_layer == 3 and ours.config.n_layer == 2
    pixels, ids, mask = inputs()
    with torch.no_grad():
        vision = ref.vision_model(pixel_values=pixels, output_hidden_states=True)
        image, image_states = ours.encode(pixels, output_hidden_states=True)
        assert len(image_states) == len(vision.hidden_states) == 4
        for a, b in zip(image_states, vision.hidden_states):
            close(a, b)
        close(image, vision.last_hidden_state)
        text = ref.text_decoder(input_ids=ids, attention_mask=mask, encoder_hidden_states=vision.last_hidden_state,
                                output_hidden_states=True)
        mine = ours(ids, encoder_out=image, decoder_attention_mask=mask, output_hidden_states=True)
        assert len(mine.hidden_states) == len(text.hidden_states) == 3
        for a, b in zip(mine.hidden_states, text.hidden_states):
            close(a[mask.bool()], b[mask.bool()])  # padded places are never read
        close(mine.logits[mask.bool()], text.logits[mask.bool()])
        whole = ref(pixel_values=pixels, input_ids=ids, attention_mask=mask).logits
        close(ours(ids, pixel_values=pixels, decoder_attention_mask=mask).logits[mask.bool()], whole[mask.bool()])


def test_retrieval_matching_and_contrast_match(tmp_path):
    ref, ours = reference("retrieval", tmp_path)
    assert set(ours.config.heads) == {"itc", "itm"} and ours.config.projection_dim == 16
    pixels, ids, mask = inputs()
    with torch.no_grad():
        image = ours.encode(pixels)
        image_atts = torch.ones(image.shape[:2], dtype=torch.long)
        grounded = ref.text_encoder(input_ids=ids, attention_mask=mask, encoder_hidden_states=image,
                                    encoder_attention_mask=image_atts, output_hidden_states=True)
        logits, states = ours.match(ids, image, mask, output_hidden_states=True)
        for a, b in zip(states, grounded.hidden_states):
            close(a[mask.bool()], b[mask.bool()])
        close(logits, ref(input_ids=ids, pixel_values=pixels, attention_mask=mask).itm_score)
        unimodal = ref.text_encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        hidden, states = ours.text_encoder(ids, mask, output_hidden_states=True)  # cross layers skipped
        for a, b in zip(states, unimodal.hidden_states):
            close(a[mask.bool()], b[mask.bool()])
        similarity = ours.image_features(image) @ ours.text_features(ids, mask).T
        close(similarity, ref(input_ids=ids, pixel_values=pixels, attention_mask=mask, use_itm_head=False).itm_score)


@pytest.mark.parametrize("beams", [1, 4])
def test_captions_equal_the_reference_generate(tmp_path, beams):
    ref, ours = reference("caption", tmp_path)
    pixels = inputs()[0]
    with torch.no_grad():
        theirs = ref.generate(pixel_values=pixels, max_new_tokens=8, do_sample=False, num_beams=beams)
    mine = generate(ours, pixels, max_new_tokens=8, eos_id=SEP, pad_id=PAD, num_beams=beams)
    assert theirs[:, 0].eq(BOS).all()
    theirs = theirs[:, 1:]  # the reference returns its [DEC] start too
    width = max(theirs.shape[1], mine.shape[1])
    pad = lambda t: torch.nn.functional.pad(t, (0, width - t.shape[1]), value=PAD)  # noqa: E731
    assert torch.equal(pad(mine), pad(theirs))


@pytest.mark.parametrize("kind", list(CLASSES))
def test_export_loads_strictly_with_the_same_outputs(tmp_path, kind):
    ref, ours = reference(kind, tmp_path)
    to_hf(ours, tmp_path / "out")
    back, info = getattr(transformers, CLASSES[kind]).from_pretrained(tmp_path / "out", output_loading_info=True,
                                                                      attn_implementation="eager")
    assert not any(info.values()), info  # no missing, unexpected or mismatched key
    pixels, ids, mask = inputs()
    with torch.no_grad():
        if kind == "caption":
            close(back.eval()(pixel_values=pixels, input_ids=ids).logits, ref(pixel_values=pixels, input_ids=ids).logits)
        else:
            for itm in (True, False):
                close(back.eval()(input_ids=ids, pixel_values=pixels, use_itm_head=itm).itm_score,
                      ref(input_ids=ids, pixel_values=pixels, use_itm_head=itm).itm_score)
