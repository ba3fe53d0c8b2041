"""InstructGPT's three stages (Ouyang et al. 2022, section 3.5) and DPO (Rafailov et al. 2023) on a
checkable task, small enough to run in minutes on a CPU:

1. SFT: a small decoder of ours learns the task from the demonstrations of the first
   ``sft_demonstrations`` training prompts (``tasks/sft.py``: loss on the assistant's tokens only),
   trained to its plateau on validation -- the policy every later stage starts from and is held near.
   The other training prompts have no demonstration: they are what the later stages learn from.
2. Reward model: the SFT model with a scalar head (``value``) read at a reply's last token, trained
   with the ranking loss over all pairs of K-way rankings of the SFT policy's K samples per prompt,
   ranked by the checker (exact or not) in place of a labeller.
3. PPO against the reward model (its scores normalised so the best-ranked replies score 0), with a
   per-token KL penalty to the SFT policy, a critic (a network of its own initialised from the
   reward model, as InstructGPT's value function, or a value head on the policy), GAE, the clipped
   objective, and the pretraining-mix term (PPO-ptx, weighted by ``ptx_coef``; ``ptx_rows``).
4. DPO on the same rankings (every ordered pair), with the SFT model as the reference.

The checkable reward (exact match, ``checkable.exact``) is measured greedily on held-out prompts no
stage saw; the KL to the SFT policy on the policy's own samples of those prompts. Settings, and the
PPO and DPO step kept (``eval_every``), are chosen on separate validation prompts.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import asdict, dataclass, field

import torch

from ..core.errors import UserError
from ..core.registry import get_family
from ..data.conversations import Example, pack
from ..tasks.sft import SFTConfig, SFTTask, encode_all, sft
from ..tokenizers.char import CharTokenizer
from ..tokenizers.chat import PLAIN_TEMPLATE, render
from . import checkable
from .losses import (dpo_loss, gae, kl_penalised_rewards, pairwise_accuracy, ppo_policy_loss,
                     ppo_value_loss, ranking_loss, whiten)
from .rollout import Batch, forward, last_token, left_pad, reply_logprobs, sample


@dataclass
class RLConfig:
    task: str = "sort"
    seed: int = 0
    family: str = "llama"
    policy: dict = field(default_factory=lambda: dict(n_layer=2, d_model=64, attention=dict(n_head=4),
                                                      mlp=dict(d_ff=176), max_positions=48))
    train_prompts: int = 2000
    test_prompts: int = 200
    val_prompts: int = 200  # for choosing settings and early stopping; never the held-out ones
    sft_demonstrations: int = 150  # SFT learns from the first N training prompts' answers; the rest are prompts only
    sft_epochs: int = 40
    sft_lr: float = 3e-3
    k: int = 4  # replies ranked per prompt
    rm_prompts: int = 1750  # ranked after the SFT demonstrations' prompts
    rank_demonstration: bool = False  # put the known answer among the K replies ranked (else K samples)
    rm_epochs: int = 2
    rm_lr: float = 3e-4
    max_new_tokens: int = 8
    batch_size: int = 32  # SFT's, the reward model's (in replies) and DPO's
    ppo_steps: int = 120
    ppo_batch_size: int = 128  # rollouts per PPO step
    ppo_epochs: int = 2
    ppo_lr: float = 1e-4
    kl_coef: float = 0.2
    clip: float = 0.2
    vf_coef: float = 0.1
    gamma: float = 1.0
    lam: float = 0.95
    ptx_coef: float = 0.2
    ppo_policy_coef: float = 1.0  # the clipped objective's weight; 0 is the control: the ptx term's updates alone
    ptx_data: str = "demonstrations"  # or "inputs": the task's user turns, every token (ptx_rows)
    normalise_reward: bool = True  # shift the RM so the best-ranked replies score 0 (InstructGPT: demonstrations)
    eval_every: int = 10  # PPO and DPO: exact match on the validation prompts every N steps; keep the best policy
    critic: str = "reward_model"  # a network of its own from the RM; or "policy": a value head on the policy
    dpo_beta: float = 0.1
    dpo_epochs: int = 1
    dpo_lr: float = 1e-5
    dpo_nll_coef: float = 0.0  # + this times the preferred reply's NLL per token (Pang et al. 2024's DPO+NLL)

    def __post_init__(self):
        # Checked when the settings are made, not when PPO reaches them after SFT and the reward model.
        for name, allowed in (("ptx_data", ("demonstrations", "inputs")), ("critic", ("reward_model", "policy"))):
            if getattr(self, name) not in allowed:
                raise UserError(f"{name} {getattr(self, name)!r}", f"choose {' or '.join(map(repr, allowed))}")


def prompt_text(prompt: str) -> str:
    return render(PLAIN_TEMPLATE, [{"role": "user", "content": prompt}], add_generation_prompt=True)


def conversation(prompt: str, reply: str) -> list[dict]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]


def new_policy(cfg: RLConfig):
    from ..models import build_model

    torch.manual_seed(cfg.seed)
    tok = CharTokenizer(checkable.ALPHABET)
    model = build_model(get_family(cfg.family).config(None, vocab_size=tok.vocab_size, **cfg.policy))
    model.tokenizer = tok
    return model


def with_value_head(model, seed: int):
    """A copy of ``model`` with a fresh scalar head (the reward model's or the critic's)."""
    from ..models import build_model

    torch.manual_seed(seed)
    out = build_model(model.config.replace(heads=["lm_head", "value"]))
    missing, unexpected = out.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("value.") for k in missing), (missing, unexpected)
    out.tokenizer = model.tokenizer
    return out


class Env:
    """The task's prompts and checker, encoded for one policy's tokenizer."""

    def __init__(self, cfg: RLConfig, tok):
        self.cfg, self.tok = cfg, tok
        self.train, self.test, self.val = checkable.split(cfg.task, cfg.train_prompts, cfg.test_prompts, cfg.seed,
                                                          cfg.val_prompts)
        self.stop = tok.token_to_id("\n")
        if cfg.train_prompts < cfg.sft_demonstrations + 100:
            raise UserError(f"{cfg.train_prompts} training prompts hold no 100 for SFT's held-out loss after "
                            f"{cfg.sft_demonstrations} demonstrations", "give more training prompts")
        self.demonstrations = self.train[:cfg.sft_demonstrations]

    def prompts(self, items) -> list[list[int]]:
        return [self.tok.encode(prompt_text(p)) for p, _ in items]

    def replies(self, batch: Batch) -> list[str]:
        out = []
        for row, keep in zip(batch.ids[:, batch.prompt_length:], batch.reply_mask):
            out.append(self.tok.decode(row[keep.bool()].tolist()).split("\n")[0])
        return out

    def sequences(self, items, replies) -> Batch:
        """Prompts and given replies (each ended by the end-of-turn newline) as one batch."""
        prompts = self.prompts(items)
        ids, mask = left_pad(prompts)
        bodies = [self.tok.encode(r + "\n") for r in replies]
        width = max(len(b) for b in bodies)
        body = torch.tensor([b + [0] * (width - len(b)) for b in bodies])
        body_mask = torch.tensor([[1] * len(b) + [0] * (width - len(b)) for b in bodies])
        return Batch(torch.cat([ids, body], 1), torch.cat([mask, body_mask], 1), body_mask, ids.shape[1])


# ---- evaluation ---------------------------------------------------------------------------------
@torch.no_grad()
def exact_match(model, env: Env, items=None) -> float:
    model.eval()
    items = env.test if items is None else items
    right = 0
    for start in range(0, len(items), 100):
        chunk = items[start:start + 100]
        batch = sample(model, env.prompts(chunk), env.cfg.max_new_tokens, env.stop, temperature=0)
        right += sum(checkable.exact(r, a) for r, (_, a) in zip(env.replies(batch), chunk))
    return right / len(items)


@torch.no_grad()
def kl_to(model, reference, env: Env, seed: int, items=None) -> float:
    """KL(pi || pi_ref) per reply, estimated on pi's samples for ``items`` (default: the held-out
    prompts), summed over the reply's tokens."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    items = env.test if items is None else items
    batch = sample(model, env.prompts(items), env.cfg.max_new_tokens, env.stop, generator=g)
    mine, _ = reply_logprobs(model, batch)
    theirs, _ = reply_logprobs(reference, batch)
    return float(((mine - theirs) * batch.reply_mask).sum(1).mean())


# ---- 1. supervised fine-tuning -------------------------------------------------------------------
def train_sft(cfg: RLConfig, env: Env, progress: bool = False):
    model = new_policy(cfg)
    settings = SFTConfig(epochs=cfg.sft_epochs, batch_size=cfg.batch_size, lr=cfg.sft_lr, seed=cfg.seed,
                         progress=progress)
    result = sft(model, [conversation(p, a) for p, a in env.demonstrations],
                 [conversation(p, a) for p, a in env.train[-100:]], settings)
    return model.eval(), result


# ---- 2. reward model -------------------------------------------------------------------------------
@torch.no_grad()
def rankings(policy, env: Env, items, seed: int) -> list[dict]:
    """K replies per prompt, ``policy``'s samples (with ``rank_demonstration``, the known answer and
    K - 1 samples), ranked by the checker (0: exact, 1: wrong; ties share a rank; a graded partial
    credit made the reward model easy to exploit: PPO raised its score while exact match fell);
    prompts whose replies all tie are left out. Without the answer among them, the rankings carry
    only what a labeller comparing the policy's own replies would say, no demonstration."""
    g = torch.Generator().manual_seed(seed)
    given = 1 if env.cfg.rank_demonstration else 0
    k = env.cfg.k - given
    out = []
    for start in range(0, len(items), 64):
        chunk = items[start:start + 64]
        batch = sample(policy, [p for p in env.prompts(chunk) for _ in range(k)], env.cfg.max_new_tokens,
                       env.stop, generator=g)
        replies = env.replies(batch)
        for n, (prompt, answer) in enumerate(chunk):
            candidates = [answer] * given + replies[n * k:(n + 1) * k]
            ranked = rank_by([checkable.exact(c, answer) for c in candidates])
            if len(set(ranked)) > 1:
                out.append({"prompt": prompt, "replies": candidates, "ranks": ranked})
    return out


def rank_by(scores: list[float]) -> list[int]:
    """Dense ranks, 0 for the highest score."""
    levels = sorted(set(scores), reverse=True)
    return [levels.index(s) for s in scores]


def check_rankings(rows: list[dict]) -> None:
    for n, row in enumerate(rows):
        if len(set(row["ranks"])) < 2:
            raise UserError(f"ranking {n} ranks all {len(row['ranks'])} replies the same (ties only)",
                            "rank at least two replies differently")


def scores_of(reward_model, env: Env, items, replies) -> torch.Tensor:
    batch = env.sequences(items, replies)
    values = forward(reward_model, batch.ids, batch.mask).outputs["values"]
    return values[torch.arange(len(values)), last_token(batch.mask)]


def ranked_scores(reward_model, env: Env, rows: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    items = [(r["prompt"], None) for r in rows for _ in r["replies"]]
    replies = [reply for r in rows for reply in r["replies"]]
    scores = scores_of(reward_model, env, items, replies).view(len(rows), -1)
    return scores, torch.tensor([r["ranks"] for r in rows])


def train_reward_model(sft_model, env: Env, train_rows: list[dict], test_rows: list[dict]) -> tuple:
    cfg = env.cfg
    check_rankings(train_rows)
    model = with_value_head(sft_model, cfg.seed).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.rm_lr)
    rng = random.Random(cfg.seed)
    losses = []
    per_batch = max(1, cfg.batch_size // cfg.k)
    for _ in range(cfg.rm_epochs):
        order = list(range(len(train_rows)))
        rng.shuffle(order)
        for start in range(0, len(order), per_batch):
            scores, ranks = ranked_scores(model, env, [train_rows[i] for i in order[start:start + per_batch]])
            loss = ranking_loss(scores, ranks)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        right, total = pairwise_accuracy(*ranked_scores(model, env, test_rows))
    return model, {"pairwise_accuracy": right / max(total, 1), "pairs": total, "losses": losses}


# ---- 3. PPO ----------------------------------------------------------------------------------------
def ptx_rows(model, env: Env):
    """The pretraining mix of PPO-ptx. InstructGPT mixes in its pre-training distribution; here
    ``ptx_data`` picks its stand-in: "inputs", the language of the task's inputs (the user turns,
    every token trained, no answers), which keeps the language model from drifting without teaching
    the task but starts far from anything SFT trained (prompt tokens carried no loss there); or
    "demonstrations", SFT's own data and loss (the assistant's tokens), the distribution the policy
    was last trained on."""
    tok = model.tokenizer
    if env.cfg.ptx_data == "demonstrations":
        examples = encode_all(model, [conversation(p, a) for p, a in env.demonstrations], PLAIN_TEMPLATE)
    else:  # "inputs"
        examples = [Example(ids, [True] * len(ids)) for ids in (tok.encode(f"user: {p}\n") for p, _ in env.train)]
    return pack(examples, model.max_positions)


def reward_scale(reward_model, env: Env, rows: list[dict]) -> tuple[float, float]:
    """(shift, scale) that make the reward model's scores of the best-ranked replies of ``rows`` mean 0
    (InstructGPT normalises its RM so demonstrations score 0 on average) and all its scores of them
    unit spread, so the KL coefficient means the same whatever scale the RM learnt."""
    with torch.no_grad():
        scores, ranks = ranked_scores(reward_model, env, rows)
    return float(scores[ranks == 0].mean()), float(scores.std().clamp(min=1e-6))


class BestOnValidation:
    """Early stopping that never reads the held-out prompts: every ``eval_every`` steps the policy's
    exact match on the validation prompts goes into the step's curve point, and the best step's
    weights are what ``restore`` leaves in the policy (the last step's when ``eval_every`` is 0);
    ``restore`` marks the kept point ``"kept": True`` (the first of equals)."""

    def __init__(self, env: Env):
        self.env, self.score, self.state, self.point = env, -1.0, None, None

    def check(self, policy, point: dict) -> None:
        every = self.env.cfg.eval_every
        if every and point["step"] % every == 0:
            point["val_exact"] = exact_match(policy, self.env, self.env.val)
            if point["val_exact"] > self.score:
                self.score, self.state, self.point = point["val_exact"], copy.deepcopy(policy.state_dict()), point
            policy.train()

    def restore(self, policy) -> None:
        if self.state is not None:
            policy.load_state_dict(self.state)
            self.point["kept"] = True


def values_of(critic, batch: Batch, out=None) -> torch.Tensor:
    """The critic's value before each reply token (B, N); ``out``: its forward pass if already run."""
    out = forward(critic, batch.ids, batch.mask) if out is None else out
    return out.outputs["values"][:, batch.prompt_length - 1:-1]


def ppo(sft_model, reward_model, env: Env, progress=None, reward_rows: list[dict] | None = None) -> tuple:
    """(policy, curve). With ``cfg.eval_every``, the policy returned is the one of the checked steps
    with the best exact match on the validation prompts (never the held-out ones); ``reward_rows``:
    the rankings ``cfg.normalise_reward`` sets the reward model's shift and scale on."""
    cfg = env.cfg
    if cfg.normalise_reward and not reward_rows:
        raise ValueError("normalise_reward sets the reward model's shift and scale on reward_rows: give them")
    shift, scale = reward_scale(reward_model, env, reward_rows) if cfg.normalise_reward else (0.0, 1.0)
    best = BestOnValidation(env)
    if cfg.critic == "policy":  # one network: its value head's loss trains the policy's trunk too
        policy = critic = with_value_head(sft_model, cfg.seed + 1)
    else:  # "reward_model", InstructGPT's: the value function starts from the RM, apart
        policy, critic = copy.deepcopy(sft_model).requires_grad_(True), copy.deepcopy(reward_model)
    reference = sft_model.eval().requires_grad_(False)
    reward_model.eval().requires_grad_(False)
    trained = list(policy.parameters()) + ([] if critic is policy else list(critic.requires_grad_(True).parameters()))
    optimizer = torch.optim.AdamW(trained, lr=cfg.ppo_lr)
    ptx = SFTTask(policy)
    rows = ptx_rows(policy, env)
    g = torch.Generator().manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    curve = []
    for step in range(cfg.ppo_steps):
        items = rng.sample(env.train, cfg.ppo_batch_size)
        policy.eval(), critic.eval()
        with torch.no_grad():
            batch = sample(policy, env.prompts(items), cfg.max_new_tokens, env.stop, generator=g)
            old_logprobs, out = reply_logprobs(policy, batch)
            old_values = values_of(critic, batch, out if critic is policy else None) * batch.reply_mask
            reference_logprobs, _ = reply_logprobs(reference, batch)
            replies = env.replies(batch)
            scores = (scores_of(reward_model, env, items, replies) - shift) / scale
            rewards, kl = kl_penalised_rewards(scores, old_logprobs, reference_logprobs, batch.reply_mask.float(),
                                               cfg.kl_coef)
            advantages, returns = gae(rewards, old_values, batch.reply_mask.float(), cfg.gamma, cfg.lam)
            advantages = whiten(advantages, batch.reply_mask.float())
        policy.train(), critic.train()
        for _ in range(cfg.ppo_epochs):
            logprobs, out = reply_logprobs(policy, batch)
            values = values_of(critic, batch, out if critic is policy else None)
            mask = batch.reply_mask.float()
            policy_loss, clipped = ppo_policy_loss(logprobs, old_logprobs, advantages, mask, cfg.clip)
            value_loss = ppo_value_loss(values, old_values, returns, mask, cfg.clip)
            pick = torch.randint(rows["input_ids"].shape[0], (max(1, cfg.ppo_batch_size // 4),), generator=g)
            ptx_loss = ptx({k: v[pick] for k, v in rows.items()})
            loss = cfg.ppo_policy_coef * policy_loss + cfg.vf_coef * value_loss + cfg.ptx_coef * ptx_loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trained, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        point = {"step": step + 1, "reward": float(scores.mean()),
                 "exact": sum(checkable.exact(r, a) for r, (_, a) in zip(replies, items)) / len(items),
                 "kl": float(kl.sum(1).mean()), "policy_loss": policy_loss.item(), "value_loss": value_loss.item(),
                 "ptx_loss": ptx_loss.item(), "clip_fraction": clipped.item()}
        best.check(policy, point)
        curve.append(point)
        if progress:
            progress(point)
    best.restore(policy)
    return policy.eval().requires_grad_(False), curve


# ---- 4. DPO ----------------------------------------------------------------------------------------
def preference_pairs(rows: list[dict]) -> list[tuple[str, str, str]]:
    """(prompt, preferred, dispreferred) for every ordered pair of every ranking."""
    return [(r["prompt"], r["replies"][i], r["replies"][j]) for r in rows
            for i in range(len(r["ranks"])) for j in range(len(r["ranks"])) if r["ranks"][i] < r["ranks"][j]]


def sequence_logprobs(model, env: Env, items, replies) -> torch.Tensor:
    batch = env.sequences(items, replies)
    logprobs, _ = reply_logprobs(model, batch)
    return logprobs.sum(1)


def dpo(sft_model, env: Env, rows: list[dict], progress=None) -> tuple:
    cfg = env.cfg
    check_rankings(rows)
    policy = copy.deepcopy(sft_model).train().requires_grad_(True)
    reference = sft_model.eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.dpo_lr)
    pairs = preference_pairs(rows)
    best = BestOnValidation(env)
    rng = random.Random(cfg.seed)
    curve = []
    for _ in range(cfg.dpo_epochs):
        rng.shuffle(pairs)
        for start in range(0, len(pairs), cfg.batch_size):
            chunk = pairs[start:start + cfg.batch_size]
            items = [(p, None) for p, _, _ in chunk]
            both = sequence_logprobs(policy, env, items + items, [c for _, c, _ in chunk] + [r for _, _, r in chunk])
            with torch.no_grad():
                ref = sequence_logprobs(reference, env, items + items, [c for _, c, _ in chunk] + [r for _, _, r in chunk])
            n = len(chunk)
            loss, chosen, rejected = dpo_loss(both[:n], both[n:], ref[:n], ref[n:], cfg.dpo_beta)
            if cfg.dpo_nll_coef:  # DPO alone lowers the preferred replies' likelihood too (the "kl" column)
                lengths = torch.tensor([len(env.tok.encode(c + "\n")) for _, c, _ in chunk])
                loss = loss + cfg.dpo_nll_coef * -(both[:n] / lengths).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            point = {"step": len(curve) + 1, "loss": loss.item(), "margin": float((chosen - rejected).mean()),
                     "accuracy": float((chosen > rejected).float().mean()),
                     "kl": float(-(both[:n] - ref[:n]).detach().mean())}  # -log-ratio of the preferred: a KL proxy
            best.check(policy, point)
            curve.append(point)
            if progress and len(curve) % 10 == 0:
                progress(point)
    best.restore(policy)
    return policy.eval().requires_grad_(False), curve


# ---- the whole run --------------------------------------------------------------------------------
def read_rankings(path) -> list[dict]:
    """Rankings from a .jsonl file: {"prompt", "replies": [K texts], "ranks": [K ints, 0 = best]}."""
    from pathlib import Path

    from ..data.records import records

    path = Path(path)
    if not path.is_file() or path.suffix != ".jsonl":
        raise UserError(f"{path} is not a .jsonl file", 'give one {"prompt", "replies", "ranks"} per line')
    rows = []
    for where, row in records(path, path.read_text(encoding="utf-8")):
        replies, ranks = row.get("replies"), row.get("ranks")
        if not isinstance(row.get("prompt"), str) or not isinstance(replies, list) or not isinstance(ranks, list) \
                or len(replies) != len(ranks) or len(replies) < 2 or not all(isinstance(r, int) for r in ranks) \
                or not all(isinstance(r, str) for r in replies):
            raise UserError(f"{path} {where}: a ranking is a prompt, 2+ replies and one integer rank per reply",
                            '{"prompt": "sort 312", "replies": ["123", "132"], "ranks": [0, 1]}')
        if len(set(ranks)) < 2:
            raise UserError(f"{path} {where}: the ranking has ties only, so no pair to learn from",
                            "rank at least two replies differently")
        rows.append({"prompt": row["prompt"], "replies": replies, "ranks": ranks})
    if len(rows) < 2:
        raise UserError(f"{path} holds {len(rows)} ranking(s)", "give at least 2")
    return rows


def run(cfg: RLConfig, methods=("ppo", "dpo"), log=None, given_rankings: list[dict] | None = None) -> dict:
    """Every stage on ``cfg.task``; returns the numbers (and keeps the models under "models").
    ``given_rankings``: rankings in place of the checker's (10% of them held out)."""
    say = log or (lambda line: None)
    env = Env(cfg, checkable_tokenizer())
    sft_model, sft_result = train_sft(cfg, env)
    result = {"config": asdict(cfg), "sft": {"exact_match": exact_match(sft_model, env),
                                              "val_exact_match": exact_match(sft_model, env, env.val),
                                              "val_loss": sft_result.val_loss}}
    say(f"SFT: held-out exact match {result['sft']['exact_match']:.3f}")
    if given := given_rankings:
        cut = max(1, len(given) // 10)
        train_rows, test_rows = given[cut:], given[:cut]
    else:
        n = cfg.sft_demonstrations
        train_rows = rankings(sft_model, env, env.train[n:n + cfg.rm_prompts], cfg.seed)
        test_rows = rankings(sft_model, env, env.test, cfg.seed + 1)
    reward_model, rm = train_reward_model(sft_model, env, train_rows, test_rows)
    result["reward_model"] = {**rm, "train_rankings": len(train_rows), "test_rankings": len(test_rows)}
    say(f"reward model: held-out pairwise accuracy {rm['pairwise_accuracy']:.3f} over {rm['pairs']} pairs")
    models = {"sft": sft_model, "reward": reward_model}
    if "ppo" in methods:
        policy, curve = ppo(sft_model, reward_model, env, reward_rows=train_rows)
        models["ppo"] = policy
        result["ppo"] = {"exact_match": exact_match(policy, env), "kl_to_sft": kl_to(policy, sft_model, env, cfg.seed),
                         **chosen_step(curve), "curve": curve}
        say(f"PPO: held-out exact match {result['ppo']['exact_match']:.3f}, KL to SFT {result['ppo']['kl_to_sft']:.3f}")
    if "dpo" in methods:
        policy, curve = dpo(sft_model, env, train_rows)
        models["dpo"] = policy
        result["dpo"] = {"exact_match": exact_match(policy, env), "kl_to_sft": kl_to(policy, sft_model, env, cfg.seed),
                         **chosen_step(curve), "curve": curve,
                         "pairs": len(preference_pairs(train_rows))}
        say(f"DPO: held-out exact match {result['dpo']['exact_match']:.3f}, KL to SFT {result['dpo']['kl_to_sft']:.3f}")
    result["models"] = models
    return result


def chosen_step(curve: list[dict]) -> dict:
    """The step early stopping kept and its validation score (the last step where none was checked)."""
    kept = [p for p in curve if p.get("kept")]
    if not kept:
        return {"chosen_step": len(curve)}
    return {"chosen_step": kept[0]["step"], "val_exact_match": kept[0]["val_exact"]}


def checkable_tokenizer():
    return CharTokenizer(checkable.ALPHABET)


def plot_curves(result: dict, path) -> None:
    """Reward, KL and losses per step (PPO), loss, margin and KL proxy per step (DPO), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    if "ppo" in result:
        c = result["ppo"]["curve"]
        panels += [("PPO reward (RM score), exact match", c, ["reward", "exact", "val_exact"]),
                   ("PPO KL to SFT (per reply)", c, ["kl"]),
                   ("PPO losses", c, ["policy_loss", "value_loss", "ptx_loss"])]
    if "dpo" in result:
        c = result["dpo"]["curve"]
        panels += [("DPO loss", c, ["loss"]), ("DPO implicit reward margin", c, ["margin", "accuracy", "val_exact"]),
                   ("DPO -log ratio of preferred (KL proxy)", c, ["kl"])]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), squeeze=False)
    for ax, (title, curve, keys) in zip(axes[0], panels):
        for key in keys:  # val_exact: only at the steps early stopping checked
            points = [(p["step"], p[key]) for p in curve if key in p]
            if points:
                ax.plot(*zip(*points), label=key, marker="o" if key == "val_exact" else None, markersize=3)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def mean_sd(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / max(len(values) - 1, 1))
