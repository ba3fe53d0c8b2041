"""Real learning from the CLI for every causal family (GPT-1, GPT-2, CTRL, GPT-3, GPT-NeoX, BLOOM,
PaLM, LLaMA, GLaM, GLM-4) and GLM (blank infilling): after a few hundred steps on a slice of tinyshakespeare, the held-out loss of each family's own objective
beats the best unigram model by a stated margin.

The causal families' baseline is the entropy of the validation tokens' own frequencies: no
model that ignores context can score lower on them. GLM's is the same entropy over the tokens it
predicts (its spans and their [E]), which its evaluation reports as ``val_unigram_loss``."""

import numpy as np
import pytest

from lmlineage import cli
from lmlineage.data.tokens import open_token_file
from lmlineage.train.trainer import read_metrics

# 300 steps of 16 x 64 tokens from the first 300 KB at lr 2e-3 (char tokenizer for the causal
# families, wordpiece of 300 for GLM). The validation characters' unigram entropy is 3.37 nats;
# CTRL's training loss passed 2.66 by step 75 on a busy machine. A family takes 30-55 s on a quiet
# 2-core host (10-20 minutes when the cores are shared). The margins leave room below the curves.
CAUSAL_MARGIN = 0.5  # nats per character below the unigram entropy
GLM_MARGIN = 0.2  # nats per predicted token below the unigram entropy of the same targets


def train(family, tmp_path, tinyshakespeare, capsys, *extra):
    corpus = tmp_path / "slice.txt"
    corpus.write_text(tinyshakespeare[:300_000])
    out_dir = tmp_path / family
    code = cli.main([str(a) for a in ["train", family, "--data", corpus, "--out", out_dir, "--steps", "300",
                                      "--context", "64", "--batch-size", "16", "--lr", "2e-3", "--warmup", "20",
                                      "--no-progress", *extra]])
    assert code == 0, capsys.readouterr().err
    final = read_metrics(out_dir)[-1]
    assert final["step"] == 300
    return out_dir, final


def unigram_entropy(tokens) -> float:
    counts = np.bincount(np.asarray(tokens, dtype=np.int64)).astype(np.float64)
    share = counts[counts > 0] / counts.sum()
    return float(-(share * np.log(share)).sum())


# GPT-1 is post-LN: at lr 2e-3 with 20 warmup steps it measured 3.397, above the unigram (post-LN
# needs the warmup; Xiong et al. 2020), and 2.362 with 100 (2.567 at lr 6e-4 with 20).
WARMUP = {"gpt": "100"}


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gpt", "gpt2", "ctrl", "gpt3", "gpt-neox", "bloom", "palm", "llama", "glam", "glm4"])
def test_causal_families_beat_the_unigram_model(family, tmp_path, tinyshakespeare, capsys):
    out_dir, final = train(family, tmp_path, tinyshakespeare, capsys, "--warmup", WARMUP.get(family, "20"))
    baseline = unigram_entropy(open_token_file(out_dir / "data" / "val.bin")[1:])
    assert final["val_loss"] < baseline - CAUSAL_MARGIN, (final, baseline)


@pytest.mark.slow
def test_glm_beats_the_unigram_model_at_filling_blanks(tmp_path, tinyshakespeare, capsys):
    """Blank infilling predicts ~15% of the tokens (the spans and their [E]), so GLM reads 64
    windows a step, of a 128-piece WordPiece vocabulary, at lr 3e-3. Measured: 3.567 vs the
    targets' unigram entropy 3.922 after 300 steps (3.854 at step 100, 3.696 at 200). With 16
    windows of a 300-piece vocabulary at lr 2e-3 it had reached only 4.378 vs 4.396: a fifth of
    the predictions a causal model gets from the same tokens, too few for the span tokens to
    leave their unigram plateau (the prefix mask and 2-D positions changed nothing there)."""
    _, final = train("glm", tmp_path, tinyshakespeare, capsys, "--vocab-size", "128", "--batch-size", "64",
                     "--lr", "3e-3", "--warmup", "30")
    assert final["val_loss"] < final["val_unigram_loss"] - GLM_MARGIN, final
