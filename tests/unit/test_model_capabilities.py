"""The verbs ask a model what it is (``models.capabilities.ModelCapabilities``) instead of probing
its type or parts: every family's model declares whether it is a causal LM (what `serve` batches
and chat fine-tuning trains), samples by a rule of its own, or holds word vectors; the verbs'
modules never call ``hasattr``/``getattr`` or ``isinstance`` on a model, and each declaration routes
as it says."""

import ast
from pathlib import Path

import pytest
import torch

import lmlineage
from lmlineage.core.errors import UserError
from lmlineage.core.registry import get_family
from lmlineage.models import build_model

SRC = Path(lmlineage.__file__).resolve().parent
VERBS = ("cli.py", "api.py", "serve/__init__.py", "serve/app.py", "serve/page.py", "generation/text.py")


def probes(source: str) -> list[int]:
    """Lines of ``hasattr(model, ...)``, ``isinstance(model, ...)`` and ``getattr(model, ..., default)``
    calls on a variable named model."""
    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in ("hasattr", "isinstance", "getattr") and node.args
            and isinstance(node.args[0], ast.Name) and node.args[0].id == "model"
            and (node.func.id != "getattr" or len(node.args) == 3)]


def test_the_verbs_do_not_probe_models():
    assert {name: probes((SRC / name).read_text()) for name in VERBS} == {name: [] for name in VERBS}


def test_the_probe_finder_sees_planted_probes_and_not_plain_reads():
    planted = "def f(model, x):\n    a = hasattr(model, 'embed')\n    b = getattr(model, 'x', None)\n" \
              "    c = isinstance(model, Encoder)\n    return getattr(model, 'name'), hasattr(x, 'y')\n"
    assert probes(planted) == [2, 3, 4]


def tiny(family: str, **overrides):
    torch.manual_seed(0)
    return build_model(get_family(family).config("tiny", **overrides))


@pytest.mark.parametrize("family, causal", [("gpt2", True), ("llama", True), ("transformer-xl", True),
                                            ("bert", False), ("t5", False), ("xlnet", False)])
def test_only_decoder_only_token_models_are_causal_lms(family, causal):
    model = tiny(family)
    assert model.causal_lm is causal
    assert not model.samples_by_own_rule and not model.word_vectors


@pytest.mark.parametrize("family, sentence, joint", [("bert", True, False), ("labse", True, False),
                                                     ("gpt2", False, False), ("vit", False, False),
                                                     ("clip", False, True)])
def test_text_encoders_and_joint_spaces_are_declared(family, sentence, joint):
    model = tiny(family)
    assert (model.sentence_encoder, model.joint_image_text_space) == (sentence, joint)


def test_serve_refuses_a_model_that_is_no_causal_lm_in_one_line():
    pytest.importorskip("fastapi")
    from lmlineage.serve.app import Served

    with pytest.raises(UserError, match="not a decoder-only language model"):
        Served(tiny("xlnet"), "tiny-xlnet")
