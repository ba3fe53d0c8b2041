"""Tiny presets are sized alike across families, so every default run takes the same order of
time (bloom's once kept its 2048-token context: 20 steps took minutes where others took seconds).
Measured from the shapes, not the clock: the work of one training step per sequence."""

import torch

from lmlineage.core.config import ModelConfig
from lmlineage.core.registry import families
from lmlineage.models import build_model
from lmlineage.tasks import TASKS

# No tiny preset's step may cost more than this many times the median tiny preset's.
RATIO = 10


def step_cost(config, window: int) -> int:
    """Multiply-adds of one window through the layers (d_model^2 projections and MLP, window x
    d_model attention scores per position): embeddings and logits depend on the tokenizer's
    vocabulary, not the preset, and are left out. A classic family (no Transformer blocks): its
    weights apart from the vocabulary's, once per position."""
    if not isinstance(config, ModelConfig):
        with torch.device("meta"):
            model = build_model(config.replace(vocab_size=1))
        return window * sum(p.numel() for p in model.parameters())
    layers = config.n_layer + (config.decoder.n_layer or 0)
    d = config.d_model
    per_position = (4 * d * d + 2 * d * (config.mlp.d_ff or 4 * d)) + 2 * window * d
    return window * layers * per_position


def tiny_windows():
    """(family, config, default window) of every family trained on windows of a stream."""
    for fam in families():
        task = TASKS[fam.objective]
        if task.reads in ("tokens", "words"):
            config = fam.config("tiny")
            yield fam.name, config, config.max_positions - task.added_tokens


def test_every_tiny_preset_costs_the_same_order_per_step():
    costs = {name: step_cost(config, window) for name, config, window in tiny_windows()}
    median = sorted(costs.values())[len(costs) // 2]
    too_costly = {name: round(cost / median, 1) for name, cost in costs.items() if cost > RATIO * median}
    assert not too_costly, f"tiny presets over {RATIO}x the median step: {too_costly}"


def test_every_decoder_tiny_preset_has_a_short_context():
    long = {name: config.max_positions for name, config, _ in tiny_windows()
            if TASKS[get_objective(name)].generates and config.max_positions > 128}
    assert not long


def get_objective(name):
    from lmlineage.core.registry import get_family

    return get_family(name).objective
