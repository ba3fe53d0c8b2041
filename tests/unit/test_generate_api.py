"""``lmlineage.generate(model, prompt, ...)``: the one public way to generate. Models do not
generate by themselves; ``blocks/`` never reaches up into ``generation/``."""

import ast
from pathlib import Path

import torch

import lmlineage
from lmlineage.generation import generate as generate_ids

BLOCKS = Path(lmlineage.__file__).parent / "blocks"


def test_ids_in_new_ids_out_as_the_engine():
    model = lmlineage.load("gpt2", preset="tiny").eval()
    prompt = torch.tensor([[1, 2, 3]])
    ours = lmlineage.generate(model, prompt, max_new_tokens=5, temperature=0)
    assert ours.shape == (1, 5)
    assert torch.equal(ours, generate_ids(model, prompt, max_new_tokens=5, temperature=0))
    assert not hasattr(model, "generate")


def test_a_classic_sampler_is_called_with_its_own_default_length():
    from lmlineage.models.capabilities import ModelCapabilities

    class Counts(ModelCapabilities):
        samples_by_own_rule = True

        def sample_text(self, prompt="", max_new_tokens=None, seed=None, **_):
            return f"{prompt}|{max_new_tokens}|{seed}"

    assert lmlineage.generate(Counts(), "the", seed=3) == "the|None|3"
    assert lmlineage.generate(Counts(), max_new_tokens=4) == "|4|None"


def test_blocks_import_nothing_from_generation():
    for path in BLOCKS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "generation" not in (node.module or ""), f"{path.name} imports {node.module}"


def test_the_cli_default_length_fits_an_encoder_decoders_context(tmp_path, cli_run, cli_refused):
    """`generate` asks for 200 new tokens unless told: an encoder-decoder whose target holds fewer
    gets as many as it holds, said in one line on stderr; a number the user gave is refused."""
    from lmlineage.checkpoint.directory import atomic_directory
    from lmlineage.checkpoint.model import save_model_files
    from lmlineage.core.registry import get_family
    from lmlineage.models import build_model
    from lmlineage.tokenizers import build_tokenizer

    tok = build_tokenizer("wordpiece", ["the cat sat on the mat", "a dog ran home"] * 5, 60)
    with atomic_directory(tmp_path / "bart") as tmp:
        save_model_files(tmp, build_model(get_family("bart").config("tiny", vocab_size=tok.vocab_size,
                                                                    max_positions=16)), tok)
    code, out, err = cli_run("generate", tmp_path / "bart", "--prompt", "the cat", "--temperature", "0")
    assert code == 0 and out.strip(), err
    assert err.strip().splitlines() == ["generated at most 16 new tokens, the model's context "
                                        "(--max-new-tokens N chooses fewer)"]
    cli_refused("generate", tmp_path / "bart", "--prompt", "the cat", "--max-new-tokens", "200",
                needle="max_new_tokens (200) exceeds the context of 16")
    code, out, err = cli_run("generate", tmp_path / "bart", "--prompt", "the cat", "--max-new-tokens", "16")
    assert code == 0 and err == "", err
    cli_refused("generate", tmp_path / "bart", needle="give --prompt TEXT")  # a refusal stays one line
