"""Switch Transformer against `transformers`' SwitchTransformersForConditionalGeneration, loaded
through our production loader: every encoder and decoder layer's hidden states, the logits and
the router losses within 1e-5 (fp32, CPU) with left- and right-padded sources at three lengths;
20 greedy tokens and 4-beam search equal to the reference `generate`; our export loading
strictly in `transformers` with the same logits; cached decoding equal to uncached.

Each case runs twice: with an expert capacity that drops no token ("room") and with one that
drops many ("drops": 2 slots per expert and sequence, padding counted as the reference counts it),
which our router must drop exactly as the reference does."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage.core.registry import get_family  # noqa: E402
from lmlineage.generation import generate  # noqa: E402
from lmlineage.checkpoint.files import read_json  # noqa: E402
from lmlineage.interop.reference import from_hf, to_hf  # noqa: E402
from lmlineage.layers.moe import MoE  # noqa: E402
from lmlineage.models import build_model  # noqa: E402

# REFERENCES.md's tiny Switch: T5's sizes, one sparse layer (block 1) per stack, four experts.
TINY = dict(vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=2, num_heads=4,
            num_sparse_encoder_layers=1, num_sparse_decoder_layers=1, num_experts=4, decoder_start_token_id=0,
            pad_token_id=0, eos_token_id=1)
CAPACITY = {"room": 64, "drops": 2}


def reference(capacity, tmp_path):
    torch.manual_seed(0)
    cfg = transformers.SwitchTransformersConfig(**TINY, expert_capacity=CAPACITY[capacity], attn_implementation="eager")
    ref = transformers.SwitchTransformersForConditionalGeneration(cfg).eval()
    with torch.no_grad():  # unit-variance embeddings make a tied random T5 repeat one token; shrink them
        ref.shared.weight.mul_(0.05)
    ref.save_pretrained(tmp_path)
    ref = transformers.SwitchTransformersForConditionalGeneration.from_pretrained(
        tmp_path, attn_implementation="eager").eval()
    return ref, from_hf(tmp_path).eval()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The reference and ours for a capacity, built once per module (saving and loading dominate)."""
    built = {}

    def get(capacity):
        if capacity not in built:
            built[capacity] = reference(capacity, tmp_path_factory.mktemp(capacity))
        return built[capacity]
    return get


def source(length, pad_side, vocab=99, rows=3):
    g = torch.Generator().manual_seed(length)
    ids = torch.randint(2, vocab, (rows, length), generator=g)
    mask = torch.ones_like(ids)
    for row, n_pad in enumerate((0, 2, length // 2)[:rows]):
        if n_pad:
            cut = slice(0, n_pad) if pad_side == "left" else slice(length - n_pad, length)
            mask[row, cut] = 0
            ids[row, cut] = 0
    return ids, mask


def switch_layers(model):
    return [layer.mlp for stack in (model.encoder, model.decoder) for layer in stack.layers if isinstance(layer.mlp, MoE)]


def test_the_reference_layout_is_loaded():
    cfg = get_family("switch").config("tiny")
    model = build_model(cfg)
    assert [type(layer.mlp).__name__ for layer in model.encoder.layers] == ["MLP", "MoE"]
    assert all(layer.top_k == 1 and len(layer.experts) == 4 for layer in switch_layers(model))


@pytest.mark.parametrize("capacity", CAPACITY)
@pytest.mark.parametrize("pad_side", ["left", "right"])
@pytest.mark.parametrize("length", [5, 17, 40])
def test_hidden_states_logits_and_router_losses(capacity, pad_side, length, pair):
    ref, ours = pair(capacity)
    assert ours.config.moe.expert_capacity == CAPACITY[capacity] and ours.config.moe.every == 2
    ids, mask = source(length, pad_side)
    decoder_ids = torch.randint(2, 99, (3, max(length // 2, 3)), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs = ref(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids, output_hidden_states=True,
                     output_router_logits=True)
        mine = ours(decoder_ids, input_ids=ids, encoder_mask=mask, output_hidden_states=True)
    dropped = [bool((~layer.routing.kept).any()) for layer in switch_layers(ours)]
    if capacity == "room":
        assert not any(dropped)
    elif length >= 17:
        assert all(dropped)  # both stacks' Switch layers sent tokens past a full expert
    keep = mask.bool()
    assert len(mine.encoder_hidden_states) == len(theirs.encoder_hidden_states) == 3
    for a, b in zip(mine.encoder_hidden_states[:-1], theirs.encoder_hidden_states[:-1]):
        torch.testing.assert_close(a[keep], b[keep], atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.encoder_last_hidden_state[keep], theirs.encoder_hidden_states[-1][keep],
                               atol=1e-5, rtol=0)
    assert len(mine.hidden_states) == len(theirs.decoder_hidden_states) == 3
    for a, b in zip(mine.hidden_states[:-1], theirs.decoder_hidden_states[:-1]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.last_hidden_state, theirs.decoder_hidden_states[-1], atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.logits, theirs.logits, atol=1e-5, rtol=0)
    # One Switch layer per stack: the reference's per-stack losses are that layer's (padding routed too).
    cfg = ref.config
    expected = cfg.router_aux_loss_coef * (theirs.encoder_aux_loss + theirs.decoder_aux_loss) + \
        cfg.router_z_loss_coef * (theirs.encoder_z_loss + theirs.decoder_z_loss)
    torch.testing.assert_close(mine.aux_loss, expected, atol=1e-5, rtol=1e-6)


def after_eos_as_pad(ids, eos_id, pad_id=0):
    """Each row cut at its first end-of-sequence token; the rest pad (the reference pads with eos)."""
    ids = ids.clone()
    seen = (ids == eos_id).long().cumsum(1)
    ids[(seen > 1) | ((seen == 1) & (ids != eos_id))] = pad_id
    return ids


def reference_generate(ref, ids, mask, eos_id, **options):
    with torch.no_grad():
        out = ref.generate(ids, attention_mask=mask, max_new_tokens=20, do_sample=False, eos_token_id=eos_id,
                           pad_token_id=0, **options)
    return out[:, 1:]  # drop the decoder start token


@pytest.mark.parametrize("capacity", CAPACITY)
def test_greedy_matches_reference_generate(capacity, pair):
    ref, ours = pair(capacity)
    ids, mask = source(17, "right")
    theirs = reference_generate(ref, ids, mask, None)
    assert theirs.shape == (3, 20) and len(set(theirs.flatten().tolist())) > 3  # not one repeated token
    assert torch.equal(generate(ours, ids, mask, max_new_tokens=20), theirs)
    if capacity == "drops":
        return  # routing happens in the encoder pass and in one-token decoder steps alike: no new case below
    middle = theirs[:, 3:12].flatten()
    eos = int(torch.mode(middle[middle > 1]).values)  # a token the reference emits mid-sequence
    theirs = reference_generate(ref, ids, mask, eos)
    mine = generate(ours, ids, mask, max_new_tokens=20, eos_id=eos)
    assert (mine == eos).any()
    assert torch.equal(after_eos_as_pad(mine, eos), after_eos_as_pad(theirs, eos))


@pytest.mark.parametrize("capacity", CAPACITY)
def test_beam_search_matches_reference_generate(capacity, pair):
    ref, ours = pair(capacity)
    ids, mask = source(17, "left")
    theirs = reference_generate(ref, ids, mask, None, num_beams=4)
    assert torch.equal(generate(ours, ids, mask, max_new_tokens=20, num_beams=4), theirs)
    if capacity == "drops":
        return
    eos = int(theirs[0, 2])  # now hypotheses end at different lengths and compete by normalised score
    theirs = reference_generate(ref, ids, mask, eos, num_beams=4, num_return_sequences=2)
    mine = generate(ours, ids, mask, max_new_tokens=20, num_beams=4, eos_id=eos, num_return_sequences=2)
    assert mine.shape == theirs.shape
    assert torch.equal(after_eos_as_pad(mine, eos), after_eos_as_pad(theirs, eos))


@pytest.mark.parametrize("capacity", CAPACITY)
def test_export_loads_strictly_in_transformers(capacity, pair, tmp_path):
    _, ours = pair(capacity)
    to_hf(ours, tmp_path / "out")
    back, info = transformers.SwitchTransformersForConditionalGeneration.from_pretrained(
        tmp_path / "out", output_loading_info=True)
    assert not any(info.values()), info
    assert [b.layer[-1].is_sparse for b in back.encoder.block] == [False, True]
    assert [b.layer[-1].is_sparse for b in back.decoder.block] == [False, True]
    assert back.config.expert_capacity == CAPACITY[capacity]
    ids, mask = source(17, "right")
    decoder_ids = torch.randint(2, 99, (3, 6))
    with torch.no_grad():
        theirs = back.eval()(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits
        torch.testing.assert_close(theirs, ours(decoder_ids, input_ids=ids, encoder_mask=mask).logits,
                                   atol=1e-5, rtol=0)


def test_a_model_without_fixed_capacity_exports_one_that_never_drops(tmp_path):
    """Ours trained from scratch has no fixed capacity (the factor in training, none in
    evaluation): exported as int32's largest, and read back as none."""
    torch.manual_seed(3)
    cfg = get_family("switch").config("tiny", vocab_size=99, d_model=32, attention=dict(head_dim=8),
                     mlp=dict(d_ff=37), moe=dict(n_experts=4))
    ours = build_model(cfg).eval()
    assert ours.config.moe.expert_capacity is None
    to_hf(ours, tmp_path / "out")
    assert read_json(tmp_path / "out" / "config.json")["expert_capacity"] == 2**31 - 1
    assert from_hf(tmp_path / "out").config.moe.expert_capacity is None
    back = transformers.SwitchTransformersForConditionalGeneration.from_pretrained(tmp_path / "out").eval()
    ids, mask = source(40, "left")
    decoder_ids = torch.randint(2, 99, (3, 30))
    with torch.no_grad():
        torch.testing.assert_close(back(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits,
                                   ours(decoder_ids, input_ids=ids, encoder_mask=mask).logits, atol=1e-5, rtol=0)


@pytest.mark.parametrize("static", [False, True])
def test_cached_decoding_equals_uncached(static, pair):
    _, ours = pair("room")  # with room for all: a token's route does not depend on its neighbours
    ids, mask = source(13, "left")
    decoder_ids = torch.randint(2, 99, (3, 10))
    with torch.no_grad():
        full = ours(decoder_ids, input_ids=ids, encoder_mask=mask).logits
        encoded = ours.encode(ids, mask)
        cache = ours.new_cache(batch_size=3, max_length=10, static=static)
        steps = [ours(decoder_ids[:, t : t + 1], encoder_out=encoded, encoder_mask=mask, cache=cache).logits
                 for t in range(10)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)


def test_glam_routing_with_k1_is_switch_routing(pair):
    """GLaM's mixture-of-experts layer, built from the glam family with one expert per token, given
    the weights of the reference's encoder Switch layer, computes what that layer computes,
    dropped tokens included."""
    ref, _ = pair("drops")
    glam = get_family("glam").config("tiny", d_model=32, mlp=dict(d_ff=37, kind="mlp", activation="relu"),
                      moe=dict(n_experts=4, top_k=1, expert_capacity=2), bias=False)
    model = build_model(glam).eval()
    layer = model.backbone.layers[1].mlp
    switch = ref.encoder.block[1].layer[-1].mlp
    layer.load_state_dict({k.replace("experts.expert_", "experts.").replace(".wi.", ".fc_in.").replace(".wo.", ".fc_out."): v
                           for k, v in switch.state_dict().items()})
    x = torch.randn(3, 17, 32)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), switch(x), atol=1e-6, rtol=0)
    assert (~layer.routing.kept).any()
