"""The typed, nested config: every key of the flat layout checkpoints were written in before it has a
place, bad nested keys and types are refused with their key path, and nested changes merge."""

import dataclasses
import json
import typing
from pathlib import Path

import pytest

from lmlineage.classic.elmo import ELMoConfig
from lmlineage.classic.nnlm import NNLMConfig
from lmlineage.classic.rnn_seq2seq import Seq2SeqConfig
from lmlineage.core.config import ModelConfig, Spec, config_from_dict, is_flat
from lmlineage.core.errors import UserError
from lmlineage.core.registry import families, get_family, load_config

OLD_GPT2 = Path(__file__).resolve().parents[1] / "fixtures" / "old_checkpoints" / "gpt2" / "config.json"
CLASSIC = (NNLMConfig, ELMoConfig, Seq2SeqConfig)


def field_at(config_class, path: str):
    """The dataclass field a dotted key path names in ``config_class`` (a KeyError if none)."""
    cls, *parents = config_class, *path.split(".")[:-1]
    for part in parents:
        cls = typing.get_type_hints(cls)[part]
        assert isinstance(cls, type) and issubclass(cls, Spec), path
    return {f.name: f for f in dataclasses.fields(cls)}[path.split(".")[-1]]


def value_at(config, path: str):
    for part in path.split("."):
        config = getattr(config, part)
    return config


def test_the_mapping_names_every_key_old_checkpoints_hold():
    old = json.loads(OLD_GPT2.read_text())  # written by the flat layout: every one of its keys
    flat_keys = {k for k in ModelConfig.FLAT if not k.startswith("extra.")}
    assert set(old) == flat_keys | {"extra"}
    for config_class in (ModelConfig, *CLASSIC, get_family("electra").config_class):
        assert set(ModelConfig.FLAT) <= set(config_class.FLAT), config_class.__name__
        places = [p for p in config_class.FLAT.values() if p is not None]
        assert len(places) == len(set(places)), f"{config_class.__name__}: two old keys share a place"
        for place in places:
            field_at(config_class, place)  # the place exists


def test_each_old_key_lands_at_its_place_with_its_value():
    """Values unlike any default, so a key dropped or misplaced shows."""
    old = json.loads(OLD_GPT2.read_text())
    changed = {"vocab_size": 77, "n_layer": 3, "d_model": 24, "max_positions": 40, "dropout": 0.25, "bias": False,
               "layer_groups": 3, "heads": None, "n_head": 6, "n_kv_head": 2, "head_dim": 5, "qkv_bias": True,
               "attn_scale": 0.5, "attention_pattern": ["dense", "local"], "attention_window": 9,
               "position": "rotary", "rope_theta": 500.0, "rotary_fraction": 0.5, "rope_layout": "interleaved",
               "relative_buckets": 8, "relative_max_distance": 20, "mlp": "glu", "d_ff": 50, "activation": "silu",
               "n_experts": 4, "moe_every": 2, "moe_top_k": 2, "capacity_factor": 2.0, "expert_capacity": 3,
               "router_aux_coef": 0.5, "router_z_coef": 0.25, "router_jitter": 0.125, "norm": "rmsnorm",
               "norm_eps": 1e-3, "residual": "parallel", "final_norm": False, "embed_norm": True,
               "type_vocab_size": 2, "embed_dim": 12, "embed_scale": True, "tie_embeddings": False,
               "lm_head_bias": True, "rescale_head": True, "init": "fan_in", "init_std": 0.5, "n_decoder_layer": 2,
               "decoder_start_id": 4}
    extra = {"pad_id": 5, "eos_id": 6, "labels": ["a", "b"], "pooling": "mean", "buckets": 64, "max_distance": 7,
             "terms": ["c2p"], "share_projections": True, "norm_table": True}
    assert set(changed) | {"family"} == set(old) - {"extra"}
    cfg = config_from_dict({**old, **changed, "extra": extra})
    for key, value in {**changed, **{f"extra.{k}": v for k, v in extra.items()}}.items():
        if value is not None:
            assert value_at(cfg, ModelConfig.FLAT[key]) == value, key
    assert not is_flat(cfg.to_dict(), ModelConfig)


def test_an_old_checkpoint_config_loads_and_saves_nested(tmp_path):
    cfg = load_config(OLD_GPT2)
    assert (cfg.attention.n_head, cfg.mlp.d_ff, cfg.position.kind, cfg.norm.placement) == (2, 32, "learned", "pre")
    cfg.save(tmp_path / "config.json")
    written = json.loads((tmp_path / "config.json").read_text())
    assert "n_head" not in written and written["attention"]["n_head"] == 2 and "extra" not in written
    assert load_config(tmp_path / "config.json") == cfg


@pytest.mark.parametrize("data,message", [
    ({"family": "gpt2", "n_head": 2, "bogus": 1}, "unknown config key(s): bogus"),
    ({"family": "gpt2", "n_head": 2, "extra": {"bogus": 1}}, "unknown config key(s): extra.bogus"),
    ({"attention": {"n_heads": 2}}, "unknown config key(s): attention.n_heads"),
    ({"position": {"disentangled": {"terms": ["c2c"]}}}, "config position.disentangled.terms: unknown"),
    ({"attention": {"n_head": "2"}}, "config attention.n_head='2' has the wrong type"),
    ({"attention": 2}, "config attention=2 has the wrong type"),
    ({"labels": ["a", 1]}, "config labels=['a', 1] has the wrong type"),
    ({"attention": {"n_head": 0}}, "config attention.n_head must be a positive integer"),
    ({"mlp": {"activation": "tanh"}}, "config mlp.activation='tanh' is not one of"),
    ({"moe": {"jitter": 1.5}}, "config moe.jitter must lie in"),
    ({"d_model": 10, "attention": {"n_head": 4}}, "config d_model=10 is not divisible by attention.n_head=4"),
])
def test_bad_keys_types_and_values_are_refused_by_their_path(data, message):
    with pytest.raises(UserError) as caught:
        config_from_dict(data)
    assert message in str(caught.value) and "\n" not in caught.value.problem


def test_nested_changes_keep_the_other_keys_of_their_spec():
    cfg = get_family("llama").config("small")
    smaller = cfg.replace(attention={"n_head": 2}, mlp={"d_ff": 64})
    assert (smaller.attention.n_head, smaller.attention.n_kv_head, smaller.mlp.kind) == (2, 2, "glu")
    assert cfg.attention.n_head == 6  # the original is untouched
    # A family's defaults merge under its presets and overrides key by key too.
    assert get_family("mistral").config("tiny").attention.pattern == ["local"]
    assert get_family("deberta").config("tiny").norm.kind == "layernorm"


def test_derived_sizes_live_in_their_spec():
    cfg = get_family("llama").config("tiny", attention=dict(n_head=4, n_kv_head=2), mlp=dict(d_ff=None))
    assert (cfg.attention.kv_heads, cfg.attention.dim_head(cfg.d_model), cfg.mlp.ff_dim(cfg.d_model)) == (2, 32, 512)


def test_classic_families_have_configs_of_their_own():
    for fam in families():
        if fam.architecture == "classic" or fam.name in ("seq2seq", "bahdanau"):
            assert not issubclass(fam.config_class, ModelConfig), fam.name
    nnlm = config_from_dict({**json.loads(OLD_GPT2.read_text()), "family": "nnlm", "d_model": 30, "d_ff": 40,
                             "extra": {"order": 3, "direct": True}}, NNLMConfig)
    assert (nnlm.order, nnlm.embed_dim, nnlm.hidden, nnlm.direct) == (3, 30, 40, True)
    with pytest.raises(UserError, match="config order=1 conditions on no word"):
        get_family("nnlm").config("tiny", order=1)
    with pytest.raises(UserError, match="unknown config key"):
        get_family("elmo").config("tiny", n_head=2)
    with pytest.raises(UserError, match="config filters"):
        get_family("elmo").config("tiny", filters=[[1]])
    with pytest.raises(UserError, match="decoder.n_layer"):
        get_family("seq2seq").config("tiny", decoder=dict(n_layer=2))
    with pytest.raises(UserError, match="unknown n-gram method 'bogus'"):
        get_family("ngram").config("tiny", method="bogus")
    with pytest.raises(UserError, match="word2vec dim must be"):
        get_family("word2vec").config("tiny", dim=0)
