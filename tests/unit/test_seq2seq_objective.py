"""Teacher forcing, label smoothing (Vaswani et al. 2017 section 5.4) and the inverse square
root schedule (section 5.3, eq. 3)."""

import math

import pytest
import torch
from torch.nn import functional as F

from lmlineage.core.errors import UserError
from lmlineage.objectives.seq2seq import PAD, Seq2SeqLM, label_smoothed_nll
from lmlineage.train.schedule import inverse_sqrt, inverse_sqrt_peak
from lmlineage.train.trainer import TrainConfig


def test_label_smoothing_golden_case():
    # Two classes, logits (0, ln 3): p = (1/4, 3/4); target 1, eps 0.1:
    # 0.9 * -ln(3/4) + 0.1 * mean(-ln(1/4), -ln(3/4))
    logits = torch.tensor([[0.0, math.log(3.0)]])
    expected = 0.9 * -math.log(0.75) + 0.1 * 0.5 * (-math.log(0.25) - math.log(0.75))
    assert label_smoothed_nll(logits, torch.tensor([1]), eps=0.1).item() == pytest.approx(expected, rel=1e-6)


def test_label_smoothing_matches_torch_and_ignores_padding():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 11, generator=g)
    targets = torch.randint(11, (3, 5), generator=g)
    targets[0, 3:] = PAD
    keep = targets != PAD
    ref = F.cross_entropy(logits[keep], targets[keep], label_smoothing=0.1)
    torch.testing.assert_close(label_smoothed_nll(logits, targets, eps=0.1), ref)
    total = label_smoothed_nll(logits, targets, eps=0.1, reduction="sum")
    torch.testing.assert_close(total, ref * keep.sum())
    torch.testing.assert_close(label_smoothed_nll(logits, targets, eps=0.0), F.cross_entropy(logits[keep], targets[keep]))


def test_smoothing_prefers_a_less_certain_model():
    """Section 5.4: smoothing "hurts perplexity, as the model learns to be more unsure": the
    loss is lowest at p(reference) = 1 - eps + eps/K, not at certainty."""
    k, eps = 4, 0.1
    best = 1 - eps + eps / k

    def loss_at(p):
        rest = (1 - p) / (k - 1)
        logits = torch.log(torch.tensor([[p, rest, rest, rest]]))
        return label_smoothed_nll(logits, torch.tensor([0]), eps=eps).item()

    assert loss_at(best) < loss_at(0.999) and loss_at(best) < loss_at(0.8)


def test_prepare_shifts_the_target_behind_the_start_token():
    source = torch.tensor([[5, 6, 2], [7, 2, PAD]])
    target = torch.tensor([[8, 9, 2], [3, 2, PAD]])
    batch = Seq2SeqLM(decoder_start_id=2, pad_id=0).prepare((source, target))
    assert batch["input_ids"].tolist() == [[5, 6, 2], [7, 2, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["decoder_input_ids"].tolist() == [[2, 8, 9], [2, 3, 2]]
    assert batch["decoder_attention_mask"].tolist() == [[1, 1, 1], [1, 1, 1]]
    assert batch["labels"].tolist() == target.tolist()
    longer = Seq2SeqLM(2, 0).prepare((source, torch.tensor([[8, 2, PAD, PAD]] * 2)))
    assert longer["decoder_input_ids"].tolist()[0] == [2, 8, 2, 0]
    assert longer["decoder_attention_mask"].tolist()[0] == [1, 1, 1, 0]


def test_inverse_sqrt_schedule():
    d, w = 512, 4000
    paper = lambda n: d**-0.5 * min(n**-0.5, n * w**-1.5)  # noqa: E731  eq. 3, steps from 1
    for step in (0, 10, 3998, 3999, 4000, 20000):
        assert inverse_sqrt(step, d_model=d, warmup=w) == pytest.approx(paper(step + 1))
        assert inverse_sqrt_peak(step, lr=(d * w) ** -0.5, warmup=w) == pytest.approx(paper(step + 1))
    assert max(inverse_sqrt_peak(s, lr=1e-3, warmup=100) for s in range(1000)) == pytest.approx(1e-3)
    assert inverse_sqrt_peak(399, lr=1e-3, warmup=100) == pytest.approx(0.5e-3)  # 4x the warmup: half the peak
    with pytest.raises(UserError, match="schedule"):
        TrainConfig(schedule="linear").validate()
    with pytest.raises(UserError, match="warmup >= 1"):
        TrainConfig(schedule="inverse_sqrt", warmup=0).validate()


def test_target_logprobs_are_each_pairs_teacher_forced_log_likelihood():
    from lmlineage.core.registry import get_family
    from lmlineage.models import build_model
    from lmlineage.tasks.seq2seq import Seq2SeqTask

    torch.manual_seed(0)
    task = Seq2SeqTask(build_model(get_family("t5").config("tiny", vocab_size=20)).eval(), pad_id=1)
    source = torch.tensor([[3, 4, 5, 1], [6, 7, PAD, PAD], [8, PAD, PAD, PAD]])
    target = torch.tensor([[9, 1, PAD], [10, 11, 1], [1, PAD, PAD]])
    each = task.target_logprobs((source, target))
    assert each.shape == (3,) and bool((each < 0).all())
    assert float(each.sum()) == pytest.approx(-task.evaluate([(source, target)])["nats"], rel=1e-5)
    for i in range(3):  # a pair alone, unpadded: the batch's padding neither counts nor leaks
        alone = task.target_logprobs((source[i : i + 1, source[i] != PAD], target[i : i + 1, target[i] != PAD]))
        assert float(alone[0]) == pytest.approx(float(each[i]), abs=1e-5)
