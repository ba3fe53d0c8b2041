"""CLIP against `transformers`' CLIPModel (tiny random config, towers of different widths and depths,
eager attention, fp32, CPU): saved with save_pretrained, loaded by our production loader
(declarative rules; the image tower's expanded over its own depth), every layer of both towers
and the outputs (image_embeds, text_embeds, logits_per_image) within 1e-5, with right-padded
texts; our export loads strictly in `transformers` with the same outputs. Both end-of-text
conventions: the first eos_token_id, and the legacy eos_token_id=2 (the row's largest id)."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage.interop.reference import from_hf, to_hf  # noqa: E402
from lmlineage.models.image_text import end_of_text  # noqa: E402

VOCAB = 99


def reference(eos: int, channels: int = 3):
    torch.manual_seed(0)
    cfg = transformers.CLIPConfig(
        text_config=dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=37, max_position_embeddings=16, eos_token_id=eos, bos_token_id=3,
                         pad_token_id=1),
        vision_config=dict(hidden_size=24, num_hidden_layers=3, num_attention_heads=4, intermediate_size=29,
                           image_size=8, patch_size=2, num_channels=channels, hidden_act="gelu"),
        projection_dim=16, attn_implementation="eager")
    ref = transformers.CLIPModel(cfg).eval()
    with torch.no_grad():  # perturb zero biases, unit norms and the temperature so a swap shows
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return ref


def texts(eos: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three right-padded rows (padding with the pad id, 1) ending at ``eos``; with eos = 2 the
    end is the row's largest id, as legacy CLIP vocabularies have it."""
    g = torch.Generator().manual_seed(3)
    top = VOCAB - 1 if eos == 2 else eos
    lengths = (9, 5, 7)
    ids = torch.ones(3, 9, dtype=torch.long)
    mask = torch.zeros(3, 9, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, : n - 1] = torch.randint(4, VOCAB - 2, (n - 1,), generator=g)
        ids[row, n - 1] = top
        mask[row, :n] = 1
    return ids, mask


@pytest.fixture(params=[7, 2], ids=["first-eos", "legacy-eos-2"])
def pair(request, tmp_path):
    ref = reference(request.param)
    ref.save_pretrained(tmp_path / "ref")
    return ref, from_hf(tmp_path / "ref").eval(), request.param


def test_every_layer_and_the_outputs_match(pair):
    ref, ours, eos = pair
    assert ours.config.vision.n_layer == 3 and ours.config.n_layer == 2 and ours.config.eos_id == eos
    pixels = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    ids, mask = texts(eos)
    with torch.no_grad():
        theirs = ref(input_ids=ids, attention_mask=mask, pixel_values=pixels, output_hidden_states=True)
        mine = ours(pixels, ids, mask, output_hidden_states=True)
    vision, text = theirs.vision_model_output, theirs.text_model_output
    assert len(mine.vision_hidden_states) == len(vision.hidden_states) == 4
    for a, b in zip(mine.vision_hidden_states, vision.hidden_states):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    torch.testing.assert_close(mine.vision_last_hidden_state, vision.last_hidden_state, rtol=0, atol=1e-5)
    assert len(mine.text_hidden_states) == len(text.hidden_states) == 3
    real = mask.bool()  # padded positions are never read (the summary is at the end of text)
    for a, b in zip(mine.text_hidden_states, text.hidden_states):
        torch.testing.assert_close(a[real], b[real], rtol=0, atol=1e-5)
    torch.testing.assert_close(mine.text_last_hidden_state[real], text.last_hidden_state[real], rtol=0, atol=1e-5)
    for name in ("image_embeds", "text_embeds", "logits_per_image", "logits_per_text"):
        torch.testing.assert_close(getattr(mine, name), getattr(theirs, name), rtol=0, atol=1e-5)


def test_export_loads_strictly_with_the_same_outputs(pair, tmp_path):
    ref, ours, eos = pair
    to_hf(ours, tmp_path / "out")
    back, info = transformers.CLIPModel.from_pretrained(tmp_path / "out", output_loading_info=True,
                                                        attn_implementation="eager")
    assert not any(info.values()), info  # no missing, unexpected or mismatched key
    assert back.config.text_config.eos_token_id == eos and back.config.vision_config.num_hidden_layers == 3
    pixels = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    ids, mask = texts(eos)
    with torch.no_grad():
        again, theirs = back.eval()(input_ids=ids, attention_mask=mask, pixel_values=pixels), \
            ref(input_ids=ids, attention_mask=mask, pixel_values=pixels)
    for name in ("image_embeds", "text_embeds", "logits_per_image"):
        torch.testing.assert_close(getattr(again, name), getattr(theirs, name), rtol=0, atol=1e-5)


def test_the_state_round_trips_exactly(pair, tmp_path):
    """Export then import gives back every tensor bit for bit (the reshaped class and position
    embeddings included)."""
    _, ours, _ = pair
    to_hf(ours, tmp_path / "again")
    back = from_hf(tmp_path / "again")
    for (name, a), (other, b) in zip(ours.state_dict().items(), back.state_dict().items()):
        assert name == other and torch.equal(a, b), name


def test_end_of_text_is_the_first_eos_or_the_largest_id_for_legacy_configs():
    ids = torch.tensor([[5, 9, 7, 7, 7], [5, 7, 3, 7, 1]])
    assert end_of_text(ids, 7).tolist() == [2, 1]  # the first, when padding repeats it
    assert end_of_text(torch.tensor([[5, 98, 1, 1], [4, 6, 98, 1]]), 2).tolist() == [1, 2]
