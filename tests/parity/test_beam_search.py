"""Beam search on decoder-only models equals `transformers`' `generate(num_beams=4)`: the same
hypotheses for a batch of left-padded prompts, with and without an end-of-sequence token that
ends hypotheses at different lengths, with length penalties, early stopping and n-best lists,
on a dynamic and a static cache (both reordered as beams are chosen)."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage.generation import generate  # noqa: E402
from lmlineage.interop.reference import from_hf  # noqa: E402

CASES = {
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64)),
    "llama-gqa": ("LlamaConfig", "LlamaForCausalLM",
                  dict(vocab_size=99, hidden_size=48, num_hidden_layers=2, num_attention_heads=6,
                       num_key_value_heads=2, intermediate_size=37, max_position_embeddings=64)),
}


@pytest.fixture(scope="module", params=list(CASES))
def models(request, tmp_path_factory):
    config_cls, model_cls, kwargs = CASES[request.param]
    torch.manual_seed(0)
    cfg = getattr(transformers, config_cls)(**kwargs, bos_token_id=1, eos_token_id=2, attn_implementation="eager")
    ref = getattr(transformers, model_cls)(cfg).eval()
    directory = tmp_path_factory.mktemp(request.param)
    ref.save_pretrained(directory)
    return ref, from_hf(directory).eval()


def prompts():
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(3, 99, (3, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[1, :2] = 0
    mask[2, :4] = 0
    return ids * mask, mask


def reference_beams(ref, ids, mask, eos_id, **options):
    with torch.no_grad():
        out = ref.generate(ids, attention_mask=mask, max_new_tokens=20, do_sample=False, num_beams=4,
                           eos_token_id=eos_id, pad_token_id=0, **options)
    return out[:, ids.shape[1]:]


def after_eos_as_pad(ids, eos_id, pad_id=0):
    ids = ids.clone()
    seen = (ids == eos_id).long().cumsum(1)
    ids[(seen > 1) | ((seen == 1) & (ids != eos_id))] = pad_id
    return ids


@pytest.mark.parametrize(("options", "static"), [
    ({}, False), ({}, True), (dict(length_penalty=-1.0, num_return_sequences=4), False),
    (dict(early_stopping=True, num_return_sequences=2), False),
])
def test_beam_search_matches_reference_generate(models, options, static):
    ref, ours = models
    ids, mask = prompts()
    theirs = reference_beams(ref, ids, mask, None, **options)
    mine = generate(ours, ids, mask, max_new_tokens=20, num_beams=4, static_cache=static, **options)
    assert torch.equal(mine, theirs)
    eos = int(theirs[0, 2])  # a token the best beam emits early: as eos it ends hypotheses at length 3
    without = mine
    theirs = reference_beams(ref, ids, mask, eos, **options)
    mine = generate(ours, ids, mask, max_new_tokens=20, num_beams=4, eos_id=eos, static_cache=static, **options)
    assert not torch.equal(after_eos_as_pad(mine, eos), without)  # the end token changed the search
    assert mine.shape == theirs.shape
    assert torch.equal(after_eos_as_pad(mine, eos), after_eos_as_pad(theirs, eos))

