"""The shared mixture-of-experts layer: golden cases computed by hand for the routing, the
capacity dropping and both auxiliary losses; top-1 equal to Switch's routing, written out
independently here and run live in `transformers`; one expert equal to the dense MLP."""

import math

import pytest
import torch

from lmlineage.layers.mlp import MLP
from lmlineage.layers.moe import MoE, load_balancing_loss, route, router_z_loss

LN3 = math.log(3.0)


def test_load_balancing_loss_by_hand():
    # Four tokens, two experts. softmax([ln 3, 0]) = [3/4, 1/4].
    logits = torch.tensor([[[LN3, 0.0], [0.0, LN3], [LN3, 0.0], [LN3, 0.0]]])
    routing = route(logits, top_k=1)
    # f = (3/4, 1/4): three first choices of expert 0; P = ((3 * 3/4 + 1/4) / 4, (3 * 1/4 + 3/4) / 4) = (5/8, 3/8)
    # N * sum f_i P_i = 2 * (3/4 * 5/8 + 1/4 * 3/8) = 2 * 18/32 = 1.125; Switch's alpha = 0.01
    assert routing.experts[0, :, 0].tolist() == [0, 1, 0, 0]
    assert float(load_balancing_loss(routing.probs, routing.experts[..., 0])) == pytest.approx(1.125, abs=1e-6)
    layer = MoE(2, 3, "relu", False, n_experts=2, aux_coef=0.01, z_coef=0.0)
    layer.router.classifier.weight.data = torch.eye(2)  # the router's logits are the inputs themselves
    layer(logits)
    assert float(layer.aux_loss.detach()) == pytest.approx(0.01125, abs=1e-7)
    # Perfectly balanced routing scores exactly 1 (Switch, section 2.2: "minimized under uniform routing").
    balanced = route(torch.tensor([[[LN3, 0.0], [0.0, LN3]]]), top_k=1)
    assert float(load_balancing_loss(balanced.probs, balanced.experts[..., 0])) == pytest.approx(1.0, abs=1e-6)


def test_load_balancing_loss_is_taken_per_sequence_then_averaged():
    # Two sequences of two tokens, two experts; softmax([ln 3, 0]) = [3/4, 1/4].
    logits = torch.tensor([[[LN3, 0.0], [LN3, 0.0]],    # both to expert 0: f = (1, 0), P = (3/4, 1/4): 2 * 3/4 = 1.5
                           [[LN3, 0.0], [0.0, LN3]]])   # balanced: f = P = (1/2, 1/2): 2 * (1/4 + 1/4) = 1
    routing = route(logits, top_k=1)
    loss = float(load_balancing_loss(routing.probs, routing.experts[..., 0]))
    assert loss == pytest.approx((1.5 + 1.0) / 2, abs=1e-6)
    # Pooled over the batch instead it would be 2 * (3/4 * 5/8 + 1/4 * 3/8) = 1.125.
    assert loss != pytest.approx(1.125, abs=1e-3)


def test_router_jitter_in_training_only_and_the_experts_read_the_clean_input():
    torch.manual_seed(5)
    layer = MoE(8, 16, "relu", False, n_experts=4, capacity_factor=4.0, jitter=0.5)
    x = torch.randn(2, 6, 8)
    clean = (x @ layer.router.classifier.weight.t()).softmax(-1)
    with torch.no_grad():
        layer.eval()(x)
        torch.testing.assert_close(layer.routing.probs, clean)
        y = layer.train()(x)
    routing = layer.routing
    assert not torch.allclose(routing.probs, clean, atol=1e-3)  # noise of +-50% on the router's input
    assert routing.kept.all()
    for b in range(2):
        for t in range(6):
            expert = layer.experts[int(routing.experts[b, t, 0])]
            torch.testing.assert_close(y[b, t], routing.gates[b, t, 0] * expert(x[b, t]))


def test_router_z_loss_by_hand():
    # logsumexp([ln 3, 0]) = ln 4, logsumexp([0, 0, 0, 0]) = ln 4, logsumexp([ln 3, ln 3, 0, 0]) = ln 8
    logits = torch.tensor([[[LN3, 0.0, -math.inf, -math.inf], [0.0, 0.0, 0.0, 0.0], [LN3, LN3, 0.0, 0.0]]])
    expected = (math.log(4) ** 2 + math.log(4) ** 2 + math.log(8) ** 2) / 3
    assert float(router_z_loss(logits)) == pytest.approx(expected, rel=1e-6)


def test_top2_routing_and_capacity_dropping_on_hand_made_logits():
    # One sequence of four tokens, three experts. Probabilities (each row sums to 1):
    probs = torch.tensor([[[0.6, 0.3, 0.1],   # 1st: e0, 2nd: e1
                           [0.5, 0.1, 0.4],   # 1st: e0, 2nd: e2
                           [0.2, 0.7, 0.1],   # 1st: e1, 2nd: e0
                           [0.7, 0.1, 0.2]]])  # 1st: e0, 2nd: e2
    routing = route(probs.log(), top_k=2, capacity=2)
    assert routing.experts[0].tolist() == [[0, 1], [0, 2], [1, 0], [0, 2]]
    # Slots fill with all first choices, then all second choices, earlier tokens first:
    # e0 takes tokens 0 and 1 (first choices); token 3's first choice and token 2's second find e0 full.
    # e1: token 2 (first choice), then token 0 (second). e2: tokens 1 and 3 (second choices).
    assert routing.kept[0].tolist() == [[True, True], [True, True], [True, False], [False, True]]
    # GShard's gates: the top two renormalised to sum to one, a dropped one zeroed.
    expected = torch.tensor([[6 / 9, 3 / 9], [5 / 9, 4 / 9], [7 / 9, 0.0], [0.0, 2 / 9]])
    torch.testing.assert_close(routing.gates[0], expected)
    # Without a capacity nothing is dropped.
    assert route(probs.log(), top_k=2).kept.all()


def test_dropped_tokens_pass_through_as_zero_and_kept_ones_are_gated_expert_outputs():
    torch.manual_seed(0)
    layer = MoE(4, 8, "gelu", True, n_experts=3, top_k=2, expert_capacity=2)
    x = torch.randn(1, 4, 4)
    y = layer(x)
    routing = layer.routing
    for t in range(4):
        want = torch.zeros(4)
        for r in range(2):
            if routing.kept[0, t, r]:
                want += routing.gates[0, t, r] * layer.experts[int(routing.experts[0, t, r])](x[0, t])
        torch.testing.assert_close(y[0, t], want)


def switch_top1(logits, capacity):
    """Switch's routing as the paper states it (section 2.1-2.2): argmax expert, scaled by its
    probability, tokens over an expert's capacity (in sequence order) dropped."""
    probs = logits.softmax(-1)
    expert = probs.argmax(-1)
    one_hot = torch.nn.functional.one_hot(expert, probs.shape[-1])
    within = (one_hot.cumsum(dim=1) * one_hot).sum(-1) <= capacity
    return expert, probs.max(-1).values * within, within


def test_top1_of_the_general_router_is_switch_routing():
    torch.manual_seed(1)
    logits = torch.randn(3, 16, 4)
    for capacity in (2, 4, 16):
        routing = route(logits, top_k=1, capacity=capacity)
        expert, gate, kept = switch_top1(logits, capacity)
        assert torch.equal(routing.experts[..., 0], expert)
        assert torch.equal(routing.kept[..., 0], kept)
        torch.testing.assert_close(routing.gates[..., 0], gate)
        assert (~kept).any() or capacity == 16  # the small capacities do drop tokens


def test_top1_layer_matches_transformers_switch_sparse_mlp():
    transformers = pytest.importorskip("transformers")
    from transformers.models.switch_transformers import modeling_switch_transformers as ref_module

    cfg = transformers.SwitchTransformersConfig(d_model=32, d_ff=37, num_experts=4, expert_capacity=2,
                                                router_jitter_noise=0.0, dense_act_fn="relu")
    torch.manual_seed(0)
    ref = ref_module.SwitchTransformersSparseMLP(cfg).eval()
    for p in ref.parameters():
        torch.nn.init.normal_(p, std=0.3)
    ours = MoE(32, 37, "relu", False, n_experts=4, top_k=1, expert_capacity=2).eval()
    # SwitchTransformers' names: a rename per expert (wi -> fc_in, wo -> fc_out).
    state = {k.replace("experts.expert_", "experts.").replace(".wi.", ".fc_in.").replace(".wo.", ".fc_out."): v
             for k, v in ref.state_dict().items()}
    ours.load_state_dict(state, strict=True)
    x = torch.randn(2, 12, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=0)
    assert (~ours.routing.kept).any()  # 12 tokens into 4 experts of capacity 2: some dropped


def test_one_expert_with_room_for_all_is_the_dense_mlp():
    torch.manual_seed(2)
    dense = MLP(16, 24, "gelu_tanh", True)
    layer = MoE(16, 24, "gelu_tanh", True, n_experts=1, top_k=1, capacity_factor=1.0).train()
    layer.experts[0].load_state_dict(dense.state_dict())
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(layer(x), dense(x))
    assert layer.routing.kept.all()


def test_identical_top2_experts_mix_to_the_dense_mlp():
    torch.manual_seed(3)
    dense = MLP(16, 24, "relu", True)
    layer = MoE(16, 24, "relu", True, n_experts=4, top_k=2).eval()  # evaluation: no capacity limit
    for expert in layer.experts:
        expert.load_state_dict(dense.state_dict())
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(layer(x), dense(x))  # renormalised gates sum to one


def test_capacity_from_the_factor_in_training_only():
    layer = MoE(8, 8, "relu", False, n_experts=4, top_k=2, capacity_factor=1.25)
    assert layer.train().capacity(10) == math.ceil(1.25 * 10 * 2 / 4)  # 7
    assert layer.eval().capacity(10) is None
    assert MoE(8, 8, "relu", False, n_experts=4, expert_capacity=3).eval().capacity(10) == 3


def test_every_expert_gets_a_gradient_path_and_the_router_learns():
    torch.manual_seed(4)
    layer = MoE(8, 8, "relu", False, n_experts=4, top_k=2, z_coef=1e-3).train()
    x = torch.randn(1, 2, 8)  # two tokens: at least one expert gets none
    (layer(x).sum() + layer.aux_loss).backward()
    assert all(p.grad is not None for p in layer.parameters())
    assert layer.router.classifier.weight.grad.abs().sum() > 0
