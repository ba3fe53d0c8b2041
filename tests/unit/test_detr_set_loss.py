"""DETR's pieces against hand-computed cases: generalized IoU (Rezatofighi et al. 2019), box
conversions, the Hungarian matching (against brute force over every assignment), the set loss's
down-weighted no-object class and its auxiliary sum, the 2-D sine positions, and the config's
refusals."""

import itertools
import math

import numpy as np
import pytest
import torch

from lmlineage.core.config import SetLossSpec
from lmlineage.core.errors import UserError
from lmlineage.core.registry import get_family
from lmlineage.layers.sine_2d import sine_2d
from lmlineage.objectives.set_prediction import (centres, corners, generalized_iou, layer_loss, match,
                                                 pairwise_iou, set_loss)


@pytest.mark.parametrize("a, b, expected", [
    ((0, 0, 1, 1), (0, 0, 1, 1), 1.0),  # the same box
    ((0, 0, 1, 1), (2, 0, 3, 1), -1 / 3),  # apart: IoU 0, union 2, hull 3
    ((0, 0, 2, 2), (1, 1, 3, 3), 1 / 7 - 2 / 9),  # overlap 1, union 7, hull 9
    ((0, 0, 4, 4), (1, 1, 2, 2), 1 / 16),  # nested: the hull is the outer box
    ((0, 0, 1, 1), (1, 0, 2, 1), 0.0),  # touching: hull 2 = union
    ((0, 0, 1, 1), (9, 9, 10, 10), 2 / 100 - 1),  # far apart: tends to -1
])
def test_generalized_iou_of_hand_computed_pairs(a, b, expected):
    got = generalized_iou(torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64))
    assert got.shape == (1, 1) and float(got) == pytest.approx(expected, abs=1e-12)
    assert float(generalized_iou(torch.tensor([b], dtype=torch.float64), torch.tensor([a], dtype=torch.float64))) == \
        pytest.approx(expected, abs=1e-12)  # symmetric


def test_iou_matrix_and_box_conversions():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]])
    iou, union = pairwise_iou(a, a)
    torch.testing.assert_close(iou, torch.tensor([[1.0, 1 / 7], [1 / 7, 1.0]]))
    torch.testing.assert_close(union, torch.tensor([[4.0, 7.0], [7.0, 4.0]]))
    assert centres(a).tolist() == [[1.0, 1.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0]]
    torch.testing.assert_close(corners(centres(a)), a)


def test_matching_is_the_cheapest_assignment():
    """Against brute force over every injective assignment of targets to predictions."""
    torch.manual_seed(0)
    spec = SetLossSpec()
    for trial in range(5):
        queries, k = 5, 3
        logits = torch.randn(1, queries, 4)
        boxes = torch.rand(1, queries, 4) * 0.5 + 0.25
        target = {"labels": torch.randint(0, 3, (k,)), "boxes": torch.rand(k, 4) * 0.5 + 0.25}
        (rows, cols), = match(logits, boxes, [target], spec)
        p = logits[0].softmax(-1)[:, target["labels"]]
        cost = (spec.class_cost * -p + spec.bbox_cost * torch.cdist(boxes[0], target["boxes"], p=1)
                + spec.giou_cost * -generalized_iou(corners(boxes[0]), corners(target["boxes"]))).numpy()
        best = min(sum(cost[q, t] for t, q in enumerate(chosen)) for chosen in itertools.permutations(range(queries), k))
        assert sorted(cols.tolist()) == list(range(k))
        assert cost[rows, cols].sum() == pytest.approx(best, abs=1e-5)


def test_matching_recovers_a_permutation_and_the_loss_of_perfect_boxes_is_zero():
    target = {"labels": torch.tensor([2, 0]), "boxes": torch.tensor([[0.2, 0.3, 0.1, 0.2], [0.7, 0.6, 0.3, 0.2]])}
    boxes = torch.tensor([[[0.5, 0.5, 0.2, 0.2], [0.7, 0.6, 0.3, 0.2], [0.2, 0.3, 0.1, 0.2]]])
    logits = torch.full((1, 3, 4), -5.0)
    logits[0, 0, 3] = logits[0, 1, 0] = logits[0, 2, 2] = 5.0  # query 0 says no object
    (rows, cols), = match(logits, boxes, [target], SetLossSpec())
    assert dict(zip(rows.tolist(), cols.tolist())) == {1: 1, 2: 0}
    terms = layer_loss(logits, boxes, [target], SetLossSpec(), n_objects=2)
    assert float(terms["l1"]) == pytest.approx(0.0, abs=1e-6) and float(terms["giou"]) == pytest.approx(0.0, abs=1e-6)
    assert float(terms["classes"]) < 1e-3


def test_no_object_is_down_weighted_in_the_cross_entropy():
    """Two queries, one object: the matched query's cross-entropy weighs 1, the other's (no object) 0.1."""
    spec = SetLossSpec(no_object_weight=0.1)
    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])  # two classes + no object
    boxes = torch.tensor([[[0.5, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1]]])
    target = {"labels": torch.tensor([0]), "boxes": torch.tensor([[0.5, 0.5, 0.2, 0.2]])}
    terms = layer_loss(logits, boxes, [target], spec, n_objects=1)
    matched = -math.log(math.exp(2) / (math.exp(2) + 2))
    unmatched = math.log(3)
    assert float(terms["classes"]) == pytest.approx((matched + 0.1 * unmatched) / 1.1, abs=1e-6)


def test_the_auxiliary_losses_add_each_layers_weighted_loss():
    torch.manual_seed(1)
    spec = SetLossSpec()
    target = [{"labels": torch.tensor([1]), "boxes": torch.tensor([[0.4, 0.4, 0.2, 0.3]])}]
    layers = [(torch.randn(1, 4, 3), torch.rand(1, 4, 4) * 0.4 + 0.3) for _ in range(3)]
    total, _ = set_loss(*layers[-1], target, spec, auxiliary=layers[:-1])
    expected = 0.0
    for logits, boxes in layers:
        t = layer_loss(logits, boxes, target, spec, n_objects=1)
        expected += float(t["classes"] + spec.bbox_weight * t["l1"] + spec.giou_weight * t["giou"])
    assert float(total) == pytest.approx(expected, abs=1e-5)


def test_sine_positions_of_a_two_by_two_grid():
    """dim 4: one sine/cosine pair per axis, rows first; places normalized to (0, 2 pi]."""
    pos = sine_2d(2, 2, 4, dtype=torch.float64)
    assert pos.shape == (4, 4)
    y = [math.pi, 2 * math.pi]  # places 1 and 2 of 2, times 2 pi
    expected = [[math.sin(y[r]), math.cos(y[r]), math.sin(y[c]), math.cos(y[c])] for r in range(2) for c in range(2)]
    np.testing.assert_allclose(pos.numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("overrides, needle", [
    ({"d_model": 30, "attention": {"n_head": 3}}, "odd"),
    ({"d_model": 33, "attention": {"n_head": 3}}, "odd"),
    ({"backbone": {"layer_type": "dense"}}, "layer_type"),
    ({"backbone": {"hidden_sizes": [8, 16], "depths": [1]}}, "depths"),
    ({"n_queries": 0}, "n_queries"),
])
def test_bad_configs_are_refused(overrides, needle):
    if overrides.get("d_model") == 30:  # even: accepted
        get_family("detr").config("tiny", **overrides)
        return
    with pytest.raises(UserError, match=needle):
        get_family("detr").config("tiny", **overrides)
