"""`lmlineage rlhf`: InstructGPT's stages and DPO on a checkable task. Bad rankings are refused in
one line before anything trains; the stages run end to end at a small size and write the curves."""

import dataclasses
import json

import pytest
import torch

from lmlineage.cli import main
from lmlineage.rl import checkable
from lmlineage.rl.rollout import sample
from lmlineage.data.conversations import IGNORE
from lmlineage.rl import stages
from lmlineage.rl.stages import Env, RLConfig, new_policy, rank_by, run, plot_curves


def test_a_ranking_with_ties_only_is_refused_in_one_line(tmp_path, capsys):
    data = tmp_path / "rankings.jsonl"
    data.write_text(json.dumps({"prompt": "sort 21", "replies": ["12", "21"], "ranks": [0, 1]}) + "\n" +
                    json.dumps({"prompt": "sort 31", "replies": ["13", "31", "11"], "ranks": [1, 1, 1]}) + "\n")
    code = main(["rlhf", "--rankings", str(data), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "line 2" in err[0] and "ties only" in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("setting", [{"ptx_data": "pretraining"}, {"critic": "value_head"}])
def test_an_unknown_ppo_setting_is_refused_when_the_settings_are_made(setting):
    from lmlineage.core.errors import UserError

    with pytest.raises(UserError, match=f"{next(iter(setting))} '{next(iter(setting.values()))}'"):
        RLConfig(**setting)  # not after SFT and the reward model have trained
    with pytest.raises(UserError):
        dataclasses.replace(RLConfig(), **setting)


def test_checker_and_ranks():
    assert checkable.exact(" 123 ", "123") == 1.0 and checkable.exact("124", "123") == 0.0
    assert rank_by([0.5, 2.0, 0.5, -1.0]) == [1, 0, 1, 2]
    train, test, val = checkable.split("add", 50, 20, seed=0, n_val=10)
    assert not {p for p, _ in train} & {p for p, _ in test} and not {p for p, _ in train + test} & {p for p, _ in val}
    assert (train, test) == checkable.split("add", 50, 20, seed=0)[:2]  # validation drawn after: the rest unchanged
    assert all(str(eval(p.split()[1])) == a for p, a in train)  # add a+b: the answer is the sum


def test_sampling_stops_at_the_end_of_turn():
    cfg = RLConfig(train_prompts=110, test_prompts=4, sft_demonstrations=10)
    policy = new_policy(cfg).eval()
    env = Env(cfg, policy.tokenizer)
    batch = sample(policy, env.prompts(env.test), 6, env.stop, generator=torch.Generator().manual_seed(0))
    for row, keep in zip(batch.ids[:, batch.prompt_length:], batch.reply_mask):
        tokens = row[keep.bool()].tolist()
        assert env.stop not in tokens[:-1]  # nothing is generated after the newline
        assert bool((row[~keep.bool()] == 0).all())


@pytest.mark.slow
def test_the_stages_run_end_to_end_small(tmp_path):
    cfg = RLConfig(train_prompts=300, test_prompts=20, val_prompts=20, sft_epochs=1, rm_prompts=30, rm_epochs=1,
                   ppo_steps=2, batch_size=8, ppo_batch_size=8, dpo_epochs=1, rank_demonstration=True)
    result = run(cfg)
    assert 0 <= result["reward_model"]["pairwise_accuracy"] <= 1 and result["reward_model"]["pairs"] > 0
    assert len(result["ppo"]["curve"]) == 2 and result["dpo"]["curve"]
    plot_curves(result, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_ptx_on_demonstrations_trains_the_answers_only():
    cfg = RLConfig(train_prompts=130, test_prompts=4, val_prompts=4, sft_demonstrations=20, ptx_data="demonstrations")
    policy = new_policy(cfg)
    env = Env(cfg, policy.tokenizer)
    rows = stages.ptx_rows(policy, env)
    trained = int((rows["targets"] != IGNORE).sum())
    assert env.demonstrations == env.train[:20]
    assert trained == sum(len(a) + 1 for _, a in env.demonstrations)  # each answer and its end-of-turn newline
    inputs = stages.ptx_rows(policy, Env(dataclasses.replace(cfg, ptx_data="inputs"), policy.tokenizer))
    assert int((inputs["targets"] != IGNORE).sum()) > 5 * trained  # the other source: the prompts' every token


def test_reward_normalisation_puts_the_best_replies_at_zero():
    cfg = RLConfig(train_prompts=110, test_prompts=4, val_prompts=4, sft_demonstrations=10)
    policy = new_policy(cfg)
    env = Env(cfg, policy.tokenizer)
    rm = stages.with_value_head(policy, 0).eval()
    rows = [{"prompt": p, "replies": [a, a[::-1], "1"], "ranks": [0, 1, 1]} for p, a in env.train]
    shift, scale = stages.reward_scale(rm, env, rows)
    with torch.no_grad():
        scores, ranks = stages.ranked_scores(rm, env, rows)
    normalised = (scores - shift) / scale
    assert abs(float(normalised[ranks == 0].mean())) < 1e-5 and abs(float(normalised.std()) - 1) < 1e-4


def test_ppo_keeps_the_policy_of_the_best_validation_step(monkeypatch):
    cfg = RLConfig(train_prompts=140, test_prompts=4, val_prompts=4, sft_demonstrations=40, ppo_batch_size=4,
                   ppo_steps=6, eval_every=2, ppo_lr=1e-2, ptx_data="demonstrations", critic="reward_model",
                   normalise_reward=False,
                   policy=dict(n_layer=1, d_model=16, attention=dict(n_head=2), mlp=dict(d_ff=32), max_positions=48))
    sft_model = new_policy(cfg).eval()
    env = Env(cfg, sft_model.tokenizer)
    rm = stages.with_value_head(sft_model, 1)
    seen, scripted = [], iter([0.2, 0.7, 0.4])

    def scored(model, env_, items=None):
        assert items is env_.val  # selection reads the validation prompts only
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(scripted)

    monkeypatch.setattr(stages, "exact_match", scored)
    policy, curve = stages.ppo(sft_model, rm, env)
    assert [p.get("val_exact") for p in curve] == [None, 0.2, None, 0.7, None, 0.4]
    assert stages.chosen_step(curve) == {"chosen_step": 4, "val_exact_match": 0.7}
    kept = policy.state_dict()
    assert all(torch.equal(kept[k], v) for k, v in seen[1].items())  # step 4's weights, not the last step's
    assert not all(torch.equal(kept[k], v) for k, v in seen[2].items())
    assert not any(k.startswith("value.") for k in kept)  # the critic is a network apart from the policy


def test_rankings_hold_the_known_answer_only_when_asked():
    cfg = RLConfig(train_prompts=110, test_prompts=4, val_prompts=4, sft_demonstrations=10, k=3)
    policy = new_policy(cfg).eval()  # untrained: every sample is wrong
    env = Env(cfg, policy.tokenizer)
    assert stages.rankings(policy, env, env.train[:8], 0) == []  # all K samples tie: nothing to learn from
    env.cfg = dataclasses.replace(cfg, rank_demonstration=True)
    rows = stages.rankings(policy, env, env.train[:8], 0)
    assert len(rows) == 8 and all(r["replies"][0] == a and len(r["replies"]) == 3 and r["ranks"] == [0, 1, 1]
                                  for r, (_, a) in zip(rows, env.train))


def test_the_ptx_control_leaves_rl_out():
    """ppo_policy_coef 0 (the benchmark's control) with no ptx term: nothing but weight decay moves the policy."""
    cfg = RLConfig(train_prompts=140, test_prompts=4, val_prompts=4, sft_demonstrations=40, ppo_batch_size=4,
                   ppo_steps=3, eval_every=0, ppo_lr=1e-2, ptx_coef=0.0, ppo_policy_coef=0.0, normalise_reward=False,
                   policy=dict(n_layer=1, d_model=16, attention=dict(n_head=2), mlp=dict(d_ff=32), max_positions=48))
    sft_model = new_policy(cfg).eval()
    env = Env(cfg, sft_model.tokenizer)
    before = {k: v.clone() for k, v in sft_model.state_dict().items()}
    policy, _ = stages.ppo(sft_model, stages.with_value_head(sft_model, 1), env)
    assert all(torch.allclose(policy.state_dict()[k], v, rtol=1e-3, atol=1e-6) for k, v in before.items())
    moved = stages.ppo(sft_model, stages.with_value_head(sft_model, 1),
                       Env(dataclasses.replace(cfg, ppo_policy_coef=1.0), sft_model.tokenizer))[0]
    assert not all(torch.allclose(moved.state_dict()[k], v, rtol=1e-3, atol=1e-6) for k, v in before.items())
