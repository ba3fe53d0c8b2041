"""Bits per character count the characters of the text that was scored: with --eval-batches only
the sampled windows' (once the whole split's, which printed 0.18 where 3.21 was right)."""

import math
from pathlib import Path

import pytest

import lmlineage

CORPUS = str(Path(__file__).resolve().parents[1] / "fixtures" / "golden_corpus.txt")


@pytest.mark.parametrize("eval_batches", [1, None])
def test_bits_per_char_counts_the_evaluated_characters(eval_batches, tmp_path):
    # One character per token: bits per char is the loss in bits, whatever part of the split is scored.
    result = lmlineage.train("gpt2", data=CORPUS, out=tmp_path / "run", tokenizer="char", steps=2, batch_size=2,
                             eval_batches=eval_batches, progress=False, sample_tokens=0)
    assert result.bits_per_char == pytest.approx(result.val_loss / math.log(2), rel=1e-9)
