"""XLNet against `transformers`' XLNetLMHeadModel, loaded through our production loader: every
layer's content and query streams and the logits within 1e-5 (fp32, CPU) with left and right
padding, a permutation mask and a target mapping; the memory of a previous segment (mems); and
our export loading strictly in `transformers`."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage.core.cache import XLMemory  # noqa: E402
from lmlineage.interop.reference import from_hf, to_hf  # noqa: E402
from lmlineage.objectives.plm import PermutationLM  # noqa: E402

VOCAB = 99
KWARGS = dict(vocab_size=VOCAB, d_model=32, n_layer=2, n_head=4, d_inner=37, mem_len=None, dropout=0.0,
              pad_token_id=0, bos_token_id=1, eos_token_id=2)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("xlnet")
    torch.manual_seed(0)
    ref = transformers.XLNetLMHeadModel(transformers.XLNetConfig(**KWARGS)).eval()
    ref.save_pretrained(directory)
    return ref, from_hf(directory).eval()


def padded(length: int, side: str):
    g = torch.Generator().manual_seed(length)
    ids = torch.randint(3, VOCAB, (3, length), generator=g)
    mask = torch.ones_like(ids)
    for row, n_pad in enumerate((0, 2, length // 2)):
        if n_pad:
            mask[row, slice(0, n_pad) if side == "left" else slice(length - n_pad, length)] = 0
    types = (torch.arange(length) >= length // 2).long().expand(3, -1)  # two segments per row
    return ids, mask, types


def plm_inputs(ids, mask, seed):
    """A permutation mask and one-hot target mapping from our objective, at real tokens only."""
    perm, targets, _ = PermutationLM(k=3).prepare(ids, torch.Generator().manual_seed(seed), mask)
    return perm.float(), targets.float()


def assert_streams_match(theirs, mine, rows=None):
    ref_states = theirs.hidden_states
    if mine.query_states is None:
        assert len(ref_states) == len(mine.hidden_states)
        pairs = list(zip(ref_states, mine.hidden_states))
    else:
        assert len(ref_states) == 2 * len(mine.hidden_states)
        pairs = [p for i, (h, g) in enumerate(zip(mine.hidden_states, mine.query_states))
                 for p in ((ref_states[2 * i], h), (ref_states[2 * i + 1], g))]
    for ref_state, state in pairs:
        assert ref_state.shape == state.shape
        torch.testing.assert_close(state, ref_state, atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.logits, theirs.logits, atol=1e-5, rtol=0)


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("length", [6, 17])
def test_streams_and_logits_with_padding_permutation_and_targets(models, side, length):
    ref, ours = models
    ids, mask, types = padded(length, side)
    perm, targets = plm_inputs(ids, mask, length)
    args = dict(attention_mask=mask, perm_mask=perm, target_mapping=targets, token_type_ids=types)
    with torch.no_grad():
        theirs = ref(ids, output_hidden_states=True, **args)
        mine = ours(ids, output_hidden_states=True, **args)
    assert mine.logits.shape == (3, targets.shape[1], VOCAB)
    assert_streams_match(theirs, mine)


@pytest.mark.parametrize("side", ["left", "right"])
def test_content_stream_alone_with_padding(models, side):
    ref, ours = models
    ids, mask, types = padded(11, side)
    with torch.no_grad():
        theirs = ref(ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
        mine = ours(ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
    assert_streams_match(theirs, mine)


def test_memory_of_the_previous_segment(models):
    """Segment 1 then segment 2 with its memory (transformers: mems, ours: XLMemory), the second
    with a permutation mask and targets."""
    ref, ours = models
    g = torch.Generator().manual_seed(7)
    first, second = torch.randint(3, VOCAB, (2, 9), generator=g), torch.randint(3, VOCAB, (2, 7), generator=g)
    perm, targets = plm_inputs(second, torch.ones_like(second), 3)
    memory = XLMemory(64)
    with torch.no_grad():
        mems = ref(first, use_mems=True).mems
        theirs = ref(second, mems=mems, perm_mask=perm, target_mapping=targets, use_mems=True,
                     output_hidden_states=True)
        ours(first, cache=memory)
        mine = ours(second, perm_mask=perm, target_mapping=targets, cache=memory, output_hidden_states=True)
    assert memory.kept == 16
    assert_streams_match(theirs, mine)
    # what the memory holds is theirs too: each layer's keys are its projection of their mems
    layer = ours.backbone.layers[1].attn
    keys = layer.qkv(torch.cat([mems[1], theirs.mems[1][-7:]]).transpose(0, 1))[..., 32:64]
    torch.testing.assert_close(memory.keys[1], keys.view(2, 16, 4, 8).transpose(1, 2), atol=1e-5, rtol=0)


def test_export_loads_strictly_in_transformers(models, tmp_path):
    ref, ours = models
    to_hf(ours, tmp_path)
    back, info = transformers.XLNetLMHeadModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched key
    back = back.eval()
    assert set(back.state_dict()) == set(ref.state_dict())
    ids, mask, types = padded(9, "left")
    perm, targets = plm_inputs(ids, mask, 9)
    args = dict(attention_mask=mask, perm_mask=perm, target_mapping=targets, token_type_ids=types)
    with torch.no_grad():
        torch.testing.assert_close(back(ids, **args).logits, ref(ids, **args).logits, atol=1e-6, rtol=0)
        torch.testing.assert_close(ours(ids, **args).logits, back(ids, **args).logits, atol=1e-5, rtol=0)
