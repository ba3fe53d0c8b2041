"""LoRA against `peft`'s on a tiny random LLaMA: the same adapter weights (peft's, saved in its own
format and read by our loader onto our model) give logits within 1e-5; merged equals unmerged; ours
saved loads back into peft with the same outputs; an adapter of another shape is refused in one line."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from lmlineage.core.errors import UserError  # noqa: E402
from lmlineage.interop.lora import find_targets, read_adapter  # noqa: E402
from lmlineage.interop.reference import from_hf  # noqa: E402

LLAMA = dict(vocab_size=99, hidden_size=48, num_hidden_layers=2, num_attention_heads=6, num_key_value_heads=2,
             intermediate_size=37, max_position_embeddings=64, bos_token_id=1, eos_token_id=2)


def peft_llama(tmp_path, targets=("q_proj", "v_proj"), r=4, alpha=8, hidden=48, seed=0):
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(**{**LLAMA, "hidden_size": hidden}, attn_implementation="eager")
    base = transformers.LlamaForCausalLM(cfg).eval()
    base.save_pretrained(tmp_path / "base")
    lora = peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets), init_lora_weights=False,
                           lora_dropout=0.0)
    model = peft.get_peft_model(base, lora).eval()  # init_lora_weights=False: B is random, not zero
    model.save_pretrained(tmp_path / "adapter")
    return model


def ids():
    return torch.randint(3, 99, (2, 11), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("targets", [("q_proj", "v_proj"), ("q_proj", "k_proj", "v_proj", "o_proj", "down_proj")])
def test_peft_adapter_on_our_llama_matches_peft(tmp_path, targets):
    ref = peft_llama(tmp_path, targets)
    ours = from_hf(tmp_path / "base").eval()
    adapter = read_adapter(ours, tmp_path / "adapter").attach(ours)
    x = ids()
    with torch.no_grad():
        expected = ref(x).logits
        got = ours(x).logits
        plain = from_hf(tmp_path / "base").eval()(x).logits
    assert (expected - plain).abs().max() > 1e-3  # the adapter does change the outputs
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    adapter.merge(ours)
    with torch.no_grad():
        merged = ours(x).logits
    torch.testing.assert_close(merged, got, atol=1e-5, rtol=0)


def test_our_adapter_saved_loads_into_peft(tmp_path):
    from lmlineage.interop.lora import Adapter

    peft_llama(tmp_path)  # writes the base directory
    ours = from_hf(tmp_path / "base").eval()
    adapter = Adapter(find_targets(ours), r=2, alpha=4)
    with torch.no_grad():
        for _, part in adapter.parts():
            part.lora_B.normal_(0, 0.1)
    adapter.attach(ours)
    (tmp_path / "ours").mkdir()
    adapter.save(tmp_path / "ours")
    assert json.loads((tmp_path / "ours" / "adapter_config.json").read_text())["target_modules"] == ["q_proj", "v_proj"]
    base = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "base", attn_implementation="eager")
    theirs = peft.PeftModel.from_pretrained(base, tmp_path / "ours").eval()
    x = ids()
    with torch.no_grad():
        torch.testing.assert_close(ours(x).logits, theirs(x).logits, atol=1e-5, rtol=0)


def test_an_adapter_for_another_shape_is_refused(tmp_path):
    peft_llama(tmp_path / "wide", hidden=48)
    peft_llama(tmp_path / "narrow", hidden=24)
    ours = from_hf(tmp_path / "narrow" / "base")
    with pytest.raises(UserError, match="another shape"):
        read_adapter(ours, tmp_path / "wide" / "adapter")
