"""`lmlineage diff A B`: what one family changed from another, named as the papers name it, read
from the families' declarations (configs at one preset, objectives and task options, tokenizers,
the registry's lineage)."""

import dataclasses
import json

import pytest

from lmlineage.core.registry import get_family
from lmlineage.lineage.diff import _presets, diff, family_file, side_by_side


def by_name(found) -> dict:
    return {c.name: c for c in found.changes if c.name}


def test_gpt2_to_llama_names_what_llama_changed(cli_run):
    found = diff("gpt2", "llama")
    assert found.presets == ("tiny", "tiny") and "'tiny' of both" in found.comparing
    named = by_name(found)
    expected = {"RMSNorm": {"norm.kind": "rmsnorm"}, "SwiGLU": {"mlp.kind": "glu", "mlp.activation": "silu"},
                "RoPE": {"position.kind": "rotary"}, "untied LM head": {"embedding.tie": False},
                "no biases": {"bias": False}}
    for name, b in expected.items():
        assert named[name].b == b, name  # each name stands for the key paths that hold it
    assert named["RMSNorm"].a == {"norm.kind": "layernorm"} and named["RoPE"].a == {"position.kind": "learned"}
    # what no name covers is still reported, by key path and both values
    raw = {c.keys[0]: (c.a[c.keys[0]], c.b[c.keys[0]]) for c in found.changes if not c.name}
    assert raw["vocab_size"] == (50257, 32000) and raw["norm.eps"] == (1e-5, 1e-6)
    assert not {"norm.kind", "bias", "embedding.tie"} & set(raw)  # a named change is not repeated raw
    assert [s.family for s in found.lineage_b] == ["gpt3", "llama"] and found.ancestor == "gpt2"

    code, out, err = cli_run("diff", "gpt2", "llama")
    assert code == 0 and not err
    for name in (*expected, "vocab_size", "50257 -> 32000", "gpt2 -> gpt3 -> llama"):
        assert name in out, name


def test_the_other_way_names_the_other_choices():
    named = set(diff("llama", "gpt2").named)
    assert {"LayerNorm", "tied LM head", "biases", "learned absolute positions", "GELU (tanh) MLP"} <= named
    assert not {"RMSNorm", "SwiGLU", "RoPE"} & named


def test_bert_to_roberta_no_nsp_and_dynamic_masking(cli_run):
    found = diff("bert", "roberta")
    no_nsp = by_name(found)["no NSP"]  # from the objective and its task's pair option
    assert no_nsp.a == {"objective": "mlm+nsp", "task.pairs": "nsp"}
    assert no_nsp.b == {"objective": "mlm", "task.pairs": None}
    # dynamic masking is no config field: RoBERTa's declared change from its parent says it
    assert found.ancestor == "bert" and [s.family for s in found.lineage_b] == ["roberta"]
    assert "dynamic masking" in found.lineage_b[0].changes

    code, out, _ = cli_run("diff", "bert", "roberta")
    assert code == 0 and "no NSP" in out and "dynamic masking" in out


@pytest.mark.parametrize("family", ["gpt2", "bert", "t5", "ngram", "nnlm"])
def test_a_family_against_itself_differs_in_nothing(family, cli_run):
    found = diff(family, family)
    assert found.changes == [] and found.lineage_a == found.lineage_b == []
    code, out, _ = cli_run("diff", family, family)
    assert code == 0 and "No differences" in out


def test_json_parses_and_holds_the_same_changes(cli_run):
    code, out, _ = cli_run("diff", "gpt2", "llama", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["a"] == "gpt2" and data["b"] == "llama" and data["presets"] == ["tiny", "tiny"]
    assert {c["name"] for c in data["changes"]} >= {"RMSNorm", "SwiGLU", "RoPE", "untied LM head", "no biases"}
    swiglu = next(c for c in data["changes"] if c["name"] == "SwiGLU")
    assert swiglu["keys"] == ["mlp.kind", "mlp.activation"]
    assert swiglu["b"] == {"mlp.kind": "glu", "mlp.activation": "silu"}
    assert data["facts"]["llama"]["parameters"] > 0 and data["lineage"]["b"][-1]["family"] == "llama"


def test_a_named_preset_is_compared_and_counted_without_building_weights():
    found = diff("llama", "mistral", preset="7b")  # built on the meta device: no 7B of memory
    assert found.presets == ("7b", "7b") and 6e9 < found.facts["llama"]["parameters"] < 7e9
    assert "sliding-window attention" in found.named


def test_families_with_no_preset_name_in_common_compare_their_defaults():
    gpt2 = get_family("gpt2")
    other = dataclasses.replace(gpt2, name="other", presets={"huge": {}})
    assert _presets(gpt2, other, None) == (None, None, "each family's defaults (no preset name in common)")
    assert _presets(gpt2, get_family("llama"), None)[:2] == ("tiny", "tiny")  # the first of A's that B has


def test_an_unknown_family_or_preset_is_one_line_and_exit_2(cli_run):
    code, out, err = cli_run("diff", "gpt2", "gtp5")
    assert code == 2 and not out
    assert err.count("\n") == 1 and "unknown family 'gtp5'" in err and "llama" in err and "roberta" in err
    code, out, err = cli_run("diff", "gpt2", "llama", "--preset", "base")
    assert code == 2 and err.count("\n") == 1 and "no preset 'base'" in err and "7b" in err


def test_the_family_files_side_by_side(cli_run):
    from lmlineage.core.registry import families

    assert all(family_file(f.name).is_file() for f in families())  # every family: families/<name>.py
    rows = side_by_side("bert", "roberta", width=70).splitlines()
    assert rows[0].split() == ["bert.py", "roberta.py"]
    changed = next(r for r in rows if r.lstrip().startswith('objective="mlm+nsp"'))
    assert ' | ' in changed and 'objective="mlm",' in changed.split(" | ")[1]
    same = next(r for r in rows if r.startswith('    architecture="encoder",'))
    assert same.split() == ['architecture="encoder",', 'architecture="encoder",']  # equal lines: no mark
    assert all(len(r) <= 70 + 3 + 70 for r in rows) and any(r.endswith("~") for r in rows)  # long lines cut
    code, out, _ = cli_run("diff", "bert", "roberta", "--source")
    assert code == 0 and "bert.py" in out and "roberta.py" in out and "no NSP" in out
