"""GLaM has no reference: its MoE layers sit in every other layer with top-2 gating; with one
expert (and room for every token) a GLaM model is the dense model with those weights, and with
GPT-2's feed-forward layer that dense model is GPT-2, which is parity-tested against `transformers`."""

import pytest
import torch

from lmlineage.core.config import merge
from lmlineage.core.registry import get_family
from lmlineage.layers.mlp import GLU, MLP
from lmlineage.layers.moe import MoE
from lmlineage.models import build_model
from lmlineage.tasks.causal_lm import CausalLMTask


def glam(**changes):
    sizes = dict(vocab_size=40, n_layer=4, d_model=32, mlp=dict(d_ff=48), max_positions=32)
    return get_family("glam").config("tiny", **merge(sizes, changes))


def dense_state(state):
    """A one-expert model's weights under the dense model's names (expert 0's MLP is the MLP)."""
    return {k.replace("mlp.experts.0.", "mlp."): v for k, v in state.items() if "router" not in k}


def test_every_other_layer_is_a_top2_mixture():
    model = build_model(glam())
    kinds = [type(layer.mlp) for layer in model.backbone.layers]
    assert kinds == [GLU, MoE, GLU, MoE]
    assert model.backbone.layers[1].mlp.top_k == 2 and len(model.backbone.layers[1].mlp.experts) == 4
    ids = torch.randint(0, 40, (2, 10))
    out = model.eval()(ids)
    routing = model.backbone.layers[1].mlp.routing
    assert routing.kept.all() and torch.all(routing.experts[..., 0] != routing.experts[..., 1])
    assert out.aux_loss is not None and out.aux_loss > 0


@pytest.mark.parametrize("train", [False, True])
def test_one_expert_glam_is_the_dense_model(train):
    torch.manual_seed(0)
    # Capacity factor 1 with one expert: room for every token, so nothing is dropped in training either.
    moe = build_model(glam(moe=dict(n_experts=1, top_k=1, capacity_factor=1.0))).train(train)
    dense = build_model(glam(moe=dict(n_experts=0))).train(train)
    dense.load_state_dict(dense_state(moe.state_dict()))
    ids = torch.randint(0, 40, (2, 12))
    a, b = moe(ids), dense(ids)
    torch.testing.assert_close(a.logits, b.logits, atol=0, rtol=0)
    # The load-balancing loss of one expert is alpha * 1 * (1 * 1) per MoE layer; no z-loss.
    assert float(a.aux_loss.detach()) == pytest.approx(2 * 0.01)
    assert b.aux_loss is None


def test_glam_reduced_to_one_gpt2_style_expert_is_gpt2():
    torch.manual_seed(1)
    gpt2_like = dict(mlp=dict(kind="mlp", activation="gelu_tanh"), bias=True, moe=dict(n_experts=1, top_k=1))
    moe = build_model(glam(**merge(gpt2_like, dict(mlp=dict(d_ff=None))))).eval()
    gpt2 = build_model(get_family("gpt2").config("tiny", vocab_size=40, n_layer=4, d_model=32,
                                                 max_positions=32)).eval()
    assert isinstance(gpt2.backbone.layers[1].mlp, MLP)
    gpt2.load_state_dict(dense_state(moe.state_dict()))
    ids = torch.randint(0, 40, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, :4] = 0
    with torch.no_grad():
        torch.testing.assert_close(moe(ids, attention_mask=mask).logits, gpt2(ids, attention_mask=mask).logits,
                                   atol=0, rtol=0)


def test_training_adds_the_router_loss_and_evaluation_does_not():
    torch.manual_seed(2)
    model = build_model(glam(moe=dict(z_coef=1e-3)))
    task = CausalLMTask(model)
    ids = torch.randint(0, 40, (2, 13))
    batch = (ids[:, :-1], ids[:, 1:])
    train_loss = task.train()(batch)
    out = model(batch[0])
    objective = task.objective.loss(out.logits, batch[1])
    torch.testing.assert_close(train_loss, objective + out.aux_loss)
    train_loss.backward()
    assert model.backbone.layers[1].mlp.router.classifier.weight.grad.abs().sum() > 0
    with torch.no_grad():
        assert task.eval().evaluate([batch])["loss"] == pytest.approx(float(task(batch)), rel=1e-6)
        assert float(task(batch)) == pytest.approx(float(task.objective.loss(model(batch[0]).logits, batch[1])))
