"""Config fields we leave as "derive it" (d_ff None: 4 * d_model; n_kv_head None: n_head) are
exported as the numbers they resolve to, so the reference reads the same model back."""

import json

import pytest
import torch

from lmlineage.core.registry import get_family
from lmlineage.interop.reference import to_hf
from lmlineage.models import build_model

transformers = pytest.importorskip("transformers")


def test_bert_tiny_with_derived_width_exports_and_loads_strictly(tmp_path):
    cfg = get_family("bert").config("tiny", vocab_size=97)
    assert cfg.mlp.d_ff is None
    torch.manual_seed(0)
    ours = build_model(cfg).eval()
    to_hf(ours, tmp_path / "out")
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["intermediate_size"] == 4 * cfg.d_model
    theirs, info = transformers.AutoModelForPreTraining.from_pretrained(tmp_path / "out", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    ids = torch.randint(5, 97, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(theirs.eval()(ids).prediction_logits, ours(ids).logits, atol=1e-5, rtol=1e-5)
