"""The alignment losses against `trl` 1.16 where it exposes them, else golden cases by hand.

trl computes DPO's loss (and the pairwise reward-model loss) inside its trainers' loss methods:
they are called here unbound, on a stand-in for the trainer that carries only the settings they
read, so the numbers are trl's own code on the same inputs. trl 1.16 no longer ships PPO, so the
clipped policy loss, the clipped value loss and GAE are checked against cases worked by hand."""

import math
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

trl = pytest.importorskip("trl")

from lmlineage.core.errors import UserError  # noqa: E402
from lmlineage.rl.losses import (dpo_loss, gae, kl_penalised_rewards, pairwise_accuracy, ppo_policy_loss,  # noqa: E402
                                 ppo_value_loss, ranking_loss)


class _Accelerator:
    device = torch.device("cpu")

    @staticmethod
    def gather(x):
        return x

    gather_for_metrics = gather


def _trainer(**settings):
    return SimpleNamespace(model=SimpleNamespace(training=False), accelerator=_Accelerator(), aux_loss_enabled=False,
                           _metrics=defaultdict(lambda: defaultdict(list)), _total_train_tokens=0, _tp_size=1,
                           **settings)


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_dpo_loss_equals_trl(beta):
    from trl.trainer.dpo_trainer import DPOTrainer

    g = torch.Generator().manual_seed(0)
    pairs, length = 4, 7
    per_token = -torch.rand(2 * pairs, length - 1, generator=g) * 3  # chosen rows, then rejected rows
    completion = torch.zeros(2 * pairs, length, dtype=torch.long)
    completion[:, 3:] = 1
    per_token = per_token * completion[:, 1:]
    reference = -torch.rand(2 * pairs, generator=g) * 10

    def model(**kwargs):  # trl reads the per-token log-probabilities its fused head would return
        return SimpleNamespace(log_probs=per_token, entropy=torch.zeros_like(per_token),
                               mean_logits=torch.zeros_like(per_token), is_top1=torch.zeros_like(per_token).bool())

    inputs = {"input_ids": torch.zeros(2 * pairs, length, dtype=torch.long), "attention_mask": torch.ones(2 * pairs, length),
              "completion_mask": completion, "ref_chosen_logps": reference[:pairs], "ref_rejected_logps": reference[pairs:]}
    trainer = _trainer(ld_alpha=None, precompute_ref_logps=True, f_divergence_type="reverse_kl", loss_types=["sigmoid"],
                       loss_weights=[1.0], beta=beta, use_weighting=False, label_smoothing=0.0)
    theirs = DPOTrainer._compute_loss(trainer, model, inputs, return_outputs=False)
    logps = per_token.sum(1)
    ours, chosen, rejected = dpo_loss(logps[:pairs], logps[pairs:], reference[:pairs], reference[pairs:], beta)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
    assert trainer._metrics["eval"]["rewards/margins"][0] == pytest.approx(float((chosen - rejected).mean()), abs=1e-6)


def test_two_way_ranking_loss_equals_trl_reward_loss():
    from trl.trainer.reward_trainer import RewardTrainer

    g = torch.Generator().manual_seed(1)
    chosen, rejected = torch.randn(6, generator=g), torch.randn(6, generator=g)
    trainer = _trainer(args=SimpleNamespace(center_rewards_coefficient=None))
    outputs = SimpleNamespace(logits=torch.cat([chosen, rejected])[:, None])
    theirs = RewardTrainer.compute_loss(trainer, lambda **kw: outputs, {"attention_mask": torch.ones(12, 3)})
    ours = ranking_loss(torch.stack([chosen, rejected], 1), torch.tensor([[0, 1]] * 6))
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


def test_ranking_loss_averages_all_pairs_of_a_k_way_ranking_by_hand():
    scores = torch.tensor([[2.0, 0.5, -1.0, 0.0]])
    ranks = torch.tensor([[0, 1, 1, 2]])  # the middle two tie: 5 ordered pairs, not 6
    pairs = [(0, 1), (0, 2), (0, 3), (1, 3), (2, 3)]
    by_hand = -sum(math.log(1 / (1 + math.exp(-(scores[0, i] - scores[0, j]).item()))) for i, j in pairs) / 5
    assert ranking_loss(scores, ranks).item() == pytest.approx(by_hand, abs=1e-6)
    assert pairwise_accuracy(scores, ranks) == (4, 5)  # -1.0 < 0.0 puts pair (2, 3) the wrong way round


def test_a_ranking_with_ties_only_is_refused():
    with pytest.raises(UserError, match="ties only"):
        ranking_loss(torch.randn(2, 3), torch.tensor([[0, 1, 2], [0, 0, 0]]))


def test_ppo_clipped_policy_loss_by_hand():
    old = torch.log(torch.tensor([[0.5, 0.5, 0.5, 0.5]]))
    new = torch.log(torch.tensor([[0.5, 0.75, 0.25, 0.75]]))  # ratios 1, 1.5, 0.5, 1.5
    advantages = torch.tensor([[1.0, 1.0, -1.0, -1.0]])
    mask = torch.ones(1, 4)
    loss, clipped = ppo_policy_loss(new, old, advantages, mask, clip=0.2)
    # -min(r A, clip(r) A): 1 ratio 1 -> -1; 1.5 A+ -> -1.2 (clipped); 0.5 A- -> +0.8 (clipped); 1.5 A- -> +1.5
    assert loss.item() == pytest.approx((-1 - 1.2 + 0.8 + 1.5) / 4, abs=1e-6)
    assert clipped.item() == pytest.approx(0.5)
    masked, _ = ppo_policy_loss(new, old, advantages, torch.tensor([[1.0, 1.0, 0.0, 0.0]]), clip=0.2)
    assert masked.item() == pytest.approx((-1 - 1.2) / 2, abs=1e-6)


def test_ppo_clipped_value_loss_by_hand():
    old = torch.tensor([[0.0, 0.0, 1.0]])
    new = torch.tensor([[0.5, -0.1, 1.0]])
    returns = torch.tensor([[1.0, 1.0, 0.0]])
    loss = ppo_value_loss(new, old, returns, torch.ones(1, 3), clip=0.2)
    # max((v - R)^2, (clip(v) - R)^2): (0.25, 0.64) -> 0.64; (1.21, 1.21) -> 1.21; (1, 1) -> 1
    assert loss.item() == pytest.approx(0.5 * (0.64 + 1.21 + 1.0) / 3, abs=1e-6)


def test_gae_and_kl_penalised_rewards_by_hand():
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    logprobs, reference = torch.tensor([[-1.0, -2.0, -0.5, 0.0]]), torch.tensor([[-1.5, -2.0, -1.0, -9.0]])
    rewards, kl = kl_penalised_rewards(torch.tensor([2.0]), logprobs, reference, mask, kl_coef=0.1)
    torch.testing.assert_close(rewards, torch.tensor([[-0.05, 0.0, 2.0 - 0.05, 0.0]]))
    assert kl.sum().item() == pytest.approx(1.0)
    values = torch.tensor([[0.5, 1.0, 1.5, 7.0]])
    advantages, returns = gae(rewards, values, mask, gamma=0.9, lam=0.8)
    d2 = 1.95 - 1.5  # the last token: no value after it
    d1 = 0.0 + 0.9 * 1.5 - 1.0
    d0 = -0.05 + 0.9 * 1.0 - 0.5
    a2, a1 = d2, d1 + 0.72 * d2
    a0 = d0 + 0.72 * a1
    torch.testing.assert_close(advantages, torch.tensor([[a0, a1, a2, 0.0]]))
    torch.testing.assert_close(returns, torch.tensor([[a0 + 0.5, a1 + 1.0, a2 + 1.5, 0.0]]))
