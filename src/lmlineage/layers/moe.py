"""The mixture-of-experts feed-forward layer: a router sends each token to ``top_k`` of
``n_experts`` expert MLPs and mixes their outputs by the router's gates.

- Switch Transformer (Fedus et al. 2021, section 2.1): top-1; the expert's output is scaled by
  its router probability p_i(x) (eq. 2).
- GShard / GLaM (Lepikhin et al. 2020, Algorithm 1; Du et al. 2021, section 3): top-2, the two
  gates renormalised to sum to one. (GShard's random dispatch of the second expert is left out:
  the second choice is always dispatched while there is room.)

Capacity (Switch section 2.2): each sequence is a group, and an expert takes at most
``capacity`` of a group's token assignments, first choices before second choices, earlier tokens
first. An assignment beyond it is dropped: its gate becomes 0 and a token dropped everywhere
passes through the block's residual connection unchanged. In training the capacity is
``ceil(capacity_factor * tokens * top_k / n_experts)``; in evaluation nothing is dropped, so a
sequence decoded token by token sees what it sees in one pass, unless ``moe.expert_capacity`` fixes
the capacity (as SwitchTransformers' checkpoints do).

Auxiliary losses, weighted and summed into ``self.aux_loss`` at every forward (the decoder
reports them in its output and the task adds them to the objective's loss):
- load balancing (Switch eq. 4): alpha * N * sum_i f_i * P_i, with f_i the share of tokens whose
  first choice is expert i and P_i the mean router probability of expert i, per routing group (a
  sequence, as for capacity) and averaged over the groups, as the Switch code computes it
  (transformers' ``load_balancing_loss_func`` too);
- router z-loss (Zoph et al. 2022, ST-MoE, eq. 5): the mean squared log-partition of the router logits.

Router input jitter (``jitter``, training only): the router reads its input times noise drawn
uniformly from [1 - jitter, 1 + jitter], the multiplicative jitter of the Switch Transformer's
released router (transformers' ``router_jitter_noise``, 0.01 there); the experts read the input as is.

Parameter names, for reference checkpoints: ``router.classifier.weight`` and
``experts.{j}.fc_in.weight`` / ``experts.{j}.fc_out.weight`` (SwitchTransformers:
``router.classifier.weight``, ``experts.expert_{j}.wi.weight`` / ``wo.weight``: a rename per expert).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .mlp import make_mlp


@dataclass
class Routing:
    probs: torch.Tensor  # (G, S, E) router probabilities, fp32
    experts: torch.Tensor  # (G, S, k) chosen experts, first choice first
    gates: torch.Tensor  # (G, S, k) combine weights; 0 where the assignment was dropped
    kept: torch.Tensor  # (G, S, k) bool: the assignment fitted in its expert's capacity


def route(logits: torch.Tensor, top_k: int, capacity: int | None = None) -> Routing:
    """Route (G, S, E) router logits: top-k experts per token, then capacity per group."""
    probs = logits.float().softmax(dim=-1)
    gates, experts = probs.topk(top_k, dim=-1)
    if top_k > 1:  # GShard Algorithm 1: g1, g2 <- g1 / (g1 + g2), g2 / (g1 + g2)
        gates = gates / gates.sum(dim=-1, keepdim=True)
    if capacity is None:
        kept = torch.ones_like(experts, dtype=torch.bool)
    else:
        g, s, k = experts.shape
        chosen = F.one_hot(experts, probs.shape[-1])  # (G, S, k, E)
        # Buffer slots fill with every token's first choice, then every second choice, in token order.
        by_rank = chosen.transpose(1, 2).reshape(g, k * s, -1)
        slot = ((by_rank.cumsum(dim=1) - 1) * by_rank).sum(-1).reshape(g, k, s).transpose(1, 2)
        kept = slot < capacity
    return Routing(probs, experts, gates * kept, kept)


def load_balancing_loss(probs: torch.Tensor, first_choice: torch.Tensor) -> torch.Tensor:
    """Switch eq. 4 without alpha: N * sum_i f_i * P_i within each group of (G, S, E)
    probabilities and (G, S) first choices, averaged over the G groups."""
    n = probs.shape[-1]
    f = F.one_hot(first_choice, n).float().mean(dim=-2)
    p = probs.float().mean(dim=-2)
    return n * (f * p).sum(dim=-1).mean()


def router_z_loss(logits: torch.Tensor) -> torch.Tensor:
    """ST-MoE eq. 5 without its weight: mean over tokens of (log sum_j exp x_j)^2."""
    return torch.logsumexp(logits.float(), dim=-1).pow(2).mean()


class Router(nn.Module):
    """A linear map to one logit per expert, computed in fp32 (Switch section 2.4, "selective precision")."""

    def __init__(self, dim: int, n_experts: int, jitter: float = 0.0):
        super().__init__()
        self.classifier = nn.Linear(dim, n_experts, bias=False)
        self.jitter = jitter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if self.training and self.jitter > 0:
            x = x * torch.empty_like(x).uniform_(1.0 - self.jitter, 1.0 + self.jitter)
        return F.linear(x, self.classifier.weight.float())


class MoE(nn.Module):
    def __init__(self, dim: int, hidden: int, activation: str, bias: bool, n_experts: int, top_k: int = 1,
                 kind: str = "mlp", capacity_factor: float = 1.25, expert_capacity: int | None = None,
                 aux_coef: float = 0.01, z_coef: float = 0.0, jitter: float = 0.0):
        super().__init__()
        self.n_experts, self.top_k = n_experts, top_k
        self.capacity_factor, self.expert_capacity = capacity_factor, expert_capacity
        self.aux_coef, self.z_coef = aux_coef, z_coef
        self.router = Router(dim, n_experts, jitter)
        self.experts = nn.ModuleList(make_mlp(kind, dim, hidden, activation, bias) for _ in range(n_experts))
        self.aux_loss: torch.Tensor | None = None  # of the latest forward
        self.routing: Routing | None = None

    def capacity(self, tokens_per_group: int) -> int | None:
        if self.expert_capacity is not None:
            return self.expert_capacity
        if not self.training:
            return None
        return math.ceil(self.capacity_factor * tokens_per_group * self.top_k / self.n_experts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, d): each sequence is a routing group."""
        logits = self.router(x)
        routing = route(logits, self.top_k, self.capacity(x.shape[1]))
        flat = x.reshape(-1, x.shape[-1])
        experts = routing.experts.reshape(-1, self.top_k)
        kept = routing.kept.reshape(experts.shape)
        gates = routing.gates.reshape(-1, self.top_k)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            # Every expert runs, on zero tokens if need be, so each one is part of the graph.
            token, rank = torch.nonzero(kept & (experts == e), as_tuple=True)
            out.index_add_(0, token, expert(flat[token]) * gates[token, rank, None].to(x.dtype))
        self.routing = routing
        self.aux_loss = self.aux_coef * load_balancing_loss(routing.probs, routing.experts[..., 0]) + \
            self.z_coef * router_z_loss(logits)
        return out.view_as(x)


def feed_forward(cfg, layer: int) -> nn.Module:
    """Layer ``layer``'s feed-forward sub-layer: an MoE layer where the config places one, else
    the dense MLP (the rule for which layers: ``MoESpec.every``)."""
    if cfg.moe.n_experts and layer % cfg.moe.every == 1 % cfg.moe.every:
        return MoE(cfg.d_model, cfg.mlp.ff_dim(cfg.d_model), cfg.mlp.activation, cfg.bias, cfg.moe.n_experts,
                   cfg.moe.top_k, cfg.mlp.kind,
                   cfg.moe.capacity_factor, cfg.moe.expert_capacity, cfg.moe.aux_coef, cfg.moe.z_coef, cfg.moe.jitter)
    return make_mlp(cfg.mlp.kind, cfg.d_model, cfg.mlp.ff_dim(cfg.d_model), cfg.mlp.activation, cfg.bias)
