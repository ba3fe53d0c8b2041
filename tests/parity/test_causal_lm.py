"""Decoder-only families against their `transformers` reference, loaded through our
production loader: every layer's hidden states and the logits within 1e-5 (fp32, CPU) with
left and right padding at three lengths, 20 greedy tokens equal to the reference `generate`,
and our export loading strictly in `transformers`."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage.generation import generate  # noqa: E402
from lmlineage.interop.reference import from_hf, to_hf  # noqa: E402

SPECIAL = dict(bos_token_id=1, eos_token_id=2)
CASES = {
    "gpt2-4heads": ("GPT2Config", "GPT2LMHeadModel",
                    dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64)),
    "gpt2-3heads-odd": ("GPT2Config", "GPT2LMHeadModel",
                        dict(vocab_size=101, n_embd=39, n_layer=3, n_head=3, n_positions=48, n_inner=37)),
    "ctrl-sinusoidal-scaled": ("CTRLConfig", "CTRLLMHeadModel",
                               dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64, dff=37)),
    "gpt1-post-ln": ("OpenAIGPTConfig", "OpenAIGPTLMHeadModel",
                     dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64)),
    "llama-gqa": ("LlamaConfig", "LlamaForCausalLM",
                  dict(vocab_size=99, hidden_size=48, num_hidden_layers=2, num_attention_heads=6,
                       num_key_value_heads=2, intermediate_size=37, max_position_embeddings=64)),
    "llama-theta": ("LlamaConfig", "LlamaForCausalLM",
                    dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=40, rope_theta=500.0, tie_word_embeddings=True,
                         max_position_embeddings=64)),
    "glm4-interleaved-partial-rotary": ("GlmConfig", "GlmForCausalLM",
                                        dict(vocab_size=99, hidden_size=48, num_hidden_layers=2,
                                             num_attention_heads=6, num_key_value_heads=2, intermediate_size=37,
                                             head_dim=8, pad_token_id=0, max_position_embeddings=64)),
    "gpt-neox-partial-rotary": ("GPTNeoXConfig", "GPTNeoXForCausalLM",
                                dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=37, rotary_pct=0.25, max_position_embeddings=64)),
    "bloom-5heads-alibi": ("BloomConfig", "BloomForCausalLM",
                           dict(vocab_size=99, hidden_size=40, n_layer=2, n_head=5)),
}


def reference(name, tmp_path):
    config_cls, model_cls, kwargs = CASES[name]
    torch.manual_seed(0)
    cfg = getattr(transformers, config_cls)(**kwargs, **SPECIAL, attn_implementation="eager")
    ref = getattr(transformers, model_cls)(cfg).eval()
    ref.save_pretrained(tmp_path)
    return ref, from_hf(tmp_path).eval()


def batch(vocab, length, pad_side):
    g = torch.Generator().manual_seed(length)
    ids = torch.randint(3, vocab, (3, length), generator=g)
    mask = torch.ones_like(ids)
    for row, n_pad in enumerate((0, 2, length // 2)):
        if n_pad:
            if pad_side == "left":
                mask[row, :n_pad] = 0
            else:
                mask[row, length - n_pad:] = 0
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, position_ids


def vocab_of(name):
    return CASES[name][2]["vocab_size"]


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("pad_side", ["left", "right"])
@pytest.mark.parametrize("length", [5, 17, 48])
def test_hidden_states_and_logits(name, pad_side, length, tmp_path):
    ref, ours = reference(name, tmp_path)
    ids, mask, pos = batch(vocab_of(name), length, pad_side)
    with torch.no_grad():
        theirs = ref(ids, attention_mask=mask, position_ids=pos, output_hidden_states=True)
        mine = ours(ids, attention_mask=mask, position_ids=pos, output_hidden_states=True)
    keep = mask.bool()
    assert len(mine.hidden_states) == len(theirs.hidden_states)
    for a, b in zip(mine.hidden_states[:-1], theirs.hidden_states[:-1]):
        torch.testing.assert_close(a[keep], b[keep], atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.last_hidden_state[keep], theirs.hidden_states[-1][keep], atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.logits[keep], theirs.logits[keep], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", CASES)
def test_greedy_matches_reference_generate(name, tmp_path):
    ref, ours = reference(name, tmp_path)
    ids, mask, _ = batch(vocab_of(name), 7, "left")
    with torch.no_grad():
        theirs = ref.generate(ids, attention_mask=mask, max_new_tokens=20, do_sample=False,
                              eos_token_id=None, pad_token_id=0)
    mine = generate(ours, ids, attention_mask=mask, max_new_tokens=20)
    assert torch.equal(mine, theirs[:, ids.shape[1]:])


@pytest.mark.parametrize("name", CASES)
def test_export_loads_strictly_in_transformers(name, tmp_path):
    ref, ours = reference(name, tmp_path / "ref")
    to_hf(ours, tmp_path / "out")
    model_cls = getattr(transformers, CASES[name][1])
    back, info = model_cls.from_pretrained(tmp_path / "out", output_loading_info=True)
    assert not any(info.values()), info
    ids = batch(vocab_of(name), 11, "right")[0]
    with torch.no_grad():
        torch.testing.assert_close(back.eval()(ids).logits, ours(ids).logits, atol=1e-5, rtol=0)
