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
    class Counts:
        def sample_text(self, prompt="", max_new_tokens=None, seed=None, **_):
            return f"{prompt}|{max_new_tokens}|{seed}"

    assert lmlineage.generate(Counts(), "the", seed=3) == "the|None|3"
    assert lmlineage.generate(Counts(), max_new_tokens=4) == "|4|None"


def test_blocks_import_nothing_from_generation():
    for path in BLOCKS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "generation" not in (node.module or ""), f"{path.name} imports {node.module}"
