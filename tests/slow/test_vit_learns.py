"""Learning, not just running: `lmlineage train vit` on the built-in digits (the tiny preset,
2x2 patches of the 8x8 images) beats the majority class by a wide margin on the held-out 20%
after a short run. The full claim (>= 97%, next to scikit-learn's logistic regression and SVC on
the same split) is benchmarks/vit_digits.py's, in BENCHMARKS.md."""

import json

import numpy as np
import pytest
import torch

from lmlineage import cli
from lmlineage.vision.batches import held_out_split
from lmlineage.vision.images import load_images


@pytest.mark.slow
def test_vit_beats_the_majority_class_on_held_out_digits(tmp_path, capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: a second thread only waits on the first
    out = tmp_path / "vit"
    argv = ["train", "vit", "--steps", "300", "--batch-size", "64", "--lr", "2e-3", "--warmup", "30",
            "--out", out, "--no-progress"]
    try:
        assert cli.main([str(a) for a in argv]) == 0
    finally:
        torch.set_num_threads(threads)
    capsys.readouterr()
    assert cli.main(["eval", str(out), "--json"]) == 0
    accuracy = json.loads(capsys.readouterr().out)["accuracy"]
    train, val = held_out_split(load_images("digits"))
    majority = float(np.mean(val.labels == np.bincount(train.labels).argmax()))
    assert majority < 0.15
    assert accuracy >= 0.8, accuracy
