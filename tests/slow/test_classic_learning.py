"""Learning claims of the classic lineage, on small settings of the benchmarks' own code."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

pytestmark = pytest.mark.slow


def _script(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_nnlm_interpolated_with_the_ngram_beats_the_modified_kneser_ney_ngram():
    """Bengio et al. 2003, Sec. 4: the mixture beats the best smoothed n-gram on held-out words
    (116k training words of the built-in corpus, 200 steps)."""
    r = _script("nnlm_vs_ngram").run(chars=600_000, steps=200, batch_size=32, lr=1e-2, progress=False)
    best_ngram = min(r["ngram_perplexity"].values())
    assert r["interpolated_perplexity"] < 0.99 * best_ngram, r
    assert r["nnlm_perplexity"] < 2 * best_ngram, r  # the network itself learned, not just the n-gram
