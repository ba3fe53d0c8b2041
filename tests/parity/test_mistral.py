"""Mistral against `transformers`' MistralForCausalLM on a tiny random config whose sliding window
(4) is shorter than every input, loaded through our production loader: every layer's hidden
states and the logits within 1e-5 (fp32, CPU, eager attention) with left and right padding,
20 greedy tokens with left padding equal to the reference `generate`, our export loading
strictly in `transformers`; and the rolling KV cache holding flat memory past the window."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage.core.cache import RollingCache  # noqa: E402
from lmlineage.generation import generate  # noqa: E402
from lmlineage.interop.reference import from_hf, to_hf  # noqa: E402

TINY = dict(vocab_size=99, hidden_size=48, num_hidden_layers=2, num_attention_heads=6, num_key_value_heads=2,
            intermediate_size=37, max_position_embeddings=64, bos_token_id=1, eos_token_id=2, pad_token_id=0)
WINDOWS = {"window-4": 4, "no-window": None}  # null: Mistral v0.2 on, no window at all


def reference(tmp_path, window=4):
    torch.manual_seed(0)
    cfg = transformers.MistralConfig(**TINY, sliding_window=window, attn_implementation="eager")
    ref = transformers.MistralForCausalLM(cfg).eval()
    ref.save_pretrained(tmp_path)
    return ref, from_hf(tmp_path).eval()


def batch(length, pad_side):
    g = torch.Generator().manual_seed(length)
    ids = torch.randint(3, TINY["vocab_size"], (3, length), generator=g)
    mask = torch.ones_like(ids)
    for row, n_pad in enumerate((0, 2, length // 2)):
        if n_pad:
            if pad_side == "left":
                mask[row, :n_pad] = 0
            else:
                mask[row, length - n_pad:] = 0
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("pad_side", ["left", "right"])
@pytest.mark.parametrize("length", [5, 17, 48])
def test_hidden_states_and_logits(window, pad_side, length, tmp_path):
    ref, ours = reference(tmp_path, WINDOWS[window])
    ids, mask, pos = batch(length, pad_side)
    with torch.no_grad():
        theirs = ref(ids, attention_mask=mask, position_ids=pos, output_hidden_states=True)
        mine = ours(ids, attention_mask=mask, position_ids=pos, output_hidden_states=True)
    keep = mask.bool()
    assert len(mine.hidden_states) == len(theirs.hidden_states)
    for a, b in zip(mine.hidden_states[:-1], theirs.hidden_states[:-1]):
        torch.testing.assert_close(a[keep], b[keep], atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.last_hidden_state[keep], theirs.hidden_states[-1][keep], atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.logits[keep], theirs.logits[keep], atol=1e-5, rtol=0)


def test_greedy_matches_reference_generate(tmp_path):
    ref, ours = reference(tmp_path)
    assert isinstance(ours.new_cache(), RollingCache)
    ids, mask, _ = batch(7, "left")
    with torch.no_grad():
        theirs = ref.generate(ids, attention_mask=mask, max_new_tokens=20, do_sample=False,
                              eos_token_id=None, pad_token_id=0)
    mine = generate(ours, ids, attention_mask=mask, max_new_tokens=20)
    assert torch.equal(mine, theirs[:, ids.shape[1]:])


def test_export_loads_strictly_in_transformers(tmp_path):
    ref, ours = reference(tmp_path / "ref")
    to_hf(ours, tmp_path / "out")
    back, info = transformers.MistralForCausalLM.from_pretrained(tmp_path / "out", output_loading_info=True)
    assert not any(info.values()), info
    assert back.config.sliding_window == 4
    ids = batch(11, "right")[0]
    with torch.no_grad():
        torch.testing.assert_close(back.eval()(ids).logits, ours(ids).logits, atol=1e-5, rtol=0)


def test_kv_cache_memory_stays_flat_past_the_window(tmp_path):
    _, ours = reference(tmp_path)
    made = []
    new_cache = ours.new_cache
    ours.new_cache = lambda **options: made.append(new_cache(**options)) or made[-1]
    held = []

    def on_token(_):
        cache = made[0]
        held.append((cache.length, {k.shape[-2] for k in cache.keys + cache.values},
                     sum(x.untyped_storage().nbytes() for x in cache.keys + cache.values)))

    ids, mask, _ = batch(7, "left")
    generate(ours, ids, attention_mask=mask, max_new_tokens=40, on_token=on_token)
    lengths, kept, sizes = zip(*held)
    assert lengths[-1] == 7 + 39  # the last token is never fed back
    assert all(k == {3} for k in kept)  # window - 1 keys and values per layer, from the prompt on
    assert len(set(sizes)) == 1 and sizes[0] == 2 * 2 * 3 * 2 * 3 * 8 * 4  # layers, k/v, rows, heads, keys, dim, fp32
