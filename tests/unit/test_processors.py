import math

import pytest
import torch

from lmlineage.core.errors import UserError
from lmlineage.generation import processors


def test_top_p_keeps_smallest_set_reaching_p():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    out = processors.top_p(probs.log(), 0.8)
    assert torch.isfinite(out).tolist() == [[True, True, False, False]]
    out = processors.top_p(probs.log(), 0.81)
    assert torch.isfinite(out).tolist() == [[True, True, True, False]]


def test_top_k_and_repetition_penalty():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    assert torch.isfinite(processors.top_k(logits, 2)).tolist() == [[True, False, False, True]]
    penalised = processors.repetition_penalty(logits, torch.tensor([[0, 1]]), 2.0)
    assert penalised.tolist() == [[1.0, -2.0, 0.5, 3.0]]


@pytest.mark.parametrize("kwargs", [dict(temperature=-1), dict(top_p=0.0), dict(top_p=1.5), dict(top_k=-2),
                                    dict(repetition_penalty=0.0)])
def test_bad_sampling_parameters(kwargs):
    args = dict(temperature=1.0, top_k=None, top_p=None, repetition_penalty=1.0) | kwargs
    with pytest.raises(UserError):
        processors.check_sampling(**args)


def test_schedule_warmup_then_cosine_to_min():
    from lmlineage.train.schedule import warmup_cosine

    lrs = [warmup_cosine(s, lr=1e-3, min_lr=1e-4, warmup=10, total=100) for s in range(101)]
    assert lrs[0] == pytest.approx(1e-3 / 11)
    assert max(lrs) == pytest.approx(1e-3)
    assert lrs[100] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[55] == pytest.approx(1e-4 + 0.5 * (1 + math.cos(math.pi * 0.5)) * 9e-4)
