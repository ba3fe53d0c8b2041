"""The weight-mapping rules fail loudly and work both ways."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from lmlineage.core.errors import UserError
from lmlineage.core.registry import get_family
from lmlineage.interop.reference import from_hf, to_hf
from lmlineage.interop.rules import Fuse, Rename, export_state, load_state
from lmlineage.models import build_model


@pytest.fixture
def exported(tmp_path):
    torch.manual_seed(0)
    model = build_model(get_family("gpt2").config("tiny", vocab_size=40, n_layer=2, d_model=16,
                                                  attention=dict(n_head=2), max_positions=8))
    return model, to_hf(model, tmp_path / "hf")


def test_roundtrip_ours_to_reference_to_ours(exported):
    model, directory = exported
    back = from_hf(directory)
    for (name, a), b in zip(model.state_dict().items(), back.state_dict().values()):
        assert torch.equal(a, b), name


def test_unconsumed_key_is_named(exported):
    _, directory = exported
    tensors = load_file(str(directory / "model.safetensors"))
    tensors["transformer.h.0.attn.extra.weight"] = torch.zeros(2)
    save_file(tensors, str(directory / "model.safetensors"))
    with pytest.raises(UserError, match="transformer.h.0.attn.extra.weight"):
        from_hf(directory)


def test_missing_key_is_named(exported):
    _, directory = exported
    tensors = load_file(str(directory / "model.safetensors"))
    del tensors["transformer.h.1.ln_2.bias"]
    save_file(tensors, str(directory / "model.safetensors"))
    with pytest.raises(UserError, match="layers.1.mlp_norm.bias"):
        from_hf(directory)


def test_shape_mismatch_is_named(exported):
    _, directory = exported
    tensors = load_file(str(directory / "model.safetensors"))
    tensors["transformer.wpe.weight"] = torch.zeros(9, 16)
    save_file(tensors, str(directory / "model.safetensors"))
    with pytest.raises(UserError, match=r"embed_positions.weight has shape \(9, 16\)"):
        from_hf(directory)


def test_fuse_splits_back_by_head_counts():
    cfg = get_family("gpt2").config("tiny", d_model=16, attention=dict(n_head=4, n_kv_head=2))
    q, k, v = torch.randn(16, 16), torch.randn(8, 16), torch.randn(8, 16)
    rules = (Fuse("a.qkv", ("q", "k", "v"), split="qkv"), Rename("b", "B", transpose=True))
    src = {"q": q, "k": k, "v": v, "B": torch.randn(3, 5)}
    target = {"a.qkv": torch.empty(32, 16), "b": torch.empty(5, 3)}
    ours = load_state(rules, src, target, cfg, "test")
    back = export_state(rules, ours, cfg)
    assert back.keys() == src.keys()
    assert all(torch.equal(back[k], src[k]) for k in src)
