"""The switch family beyond parity: `lmlineage train switch` runs span corruption with the router
losses added in training (and left out of evaluation), and its config fields read
SwitchTransformers' sparse-layer placement as transformers derives it."""

import pytest
import torch

from lmlineage import cli, load
from lmlineage.core.errors import UserError
from lmlineage.core.registry import get_family
from lmlineage.generation import generate
from lmlineage.layers.moe import MoE
from lmlineage.models import build_model
from lmlineage.tasks.span_corruption import SpanCorruptionTask

SMOKE = ["--steps", "3", "--context", "32", "--batch-size", "4", "--warmup", "1", "--no-progress"]
SPEC = get_family("switch").references[0]


def test_switch_trains_with_span_corruption_and_its_checkpoint_decodes(tmp_path, tinyshakespeare, capsys):
    corpus = tmp_path / "slice.txt"
    corpus.write_text(tinyshakespeare[:60_000])
    out_dir = tmp_path / "switch"
    code = cli.main(["train", "switch", "--data", str(corpus), "--out", str(out_dir), "--vocab-size", "300", *SMOKE])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "span tokens" in out.strip().splitlines()[-1]
    model = load(out_dir / "last")
    assert model.is_encoder_decoder and model.config.family == "switch"
    assert [isinstance(layer.mlp, MoE) for layer in model.encoder.layers] == [False, True]
    assert [isinstance(layer.mlp, MoE) for layer in model.decoder.layers] == [False, True]
    source = torch.tensor([model.tokenizer.encode("To be, or not to be")])
    assert generate(model, source, max_new_tokens=5, num_beams=2).shape == (1, 5)


def test_training_adds_both_stacks_router_losses_and_evaluation_does_not():
    torch.manual_seed(0)
    cfg = get_family("switch").config("tiny", vocab_size=140, d_model=32, attention=dict(head_dim=8),
                     mlp=dict(d_ff=48), dropout=0.0, moe=dict(jitter=0.0), max_positions=64)
    model = build_model(cfg)
    task = SpanCorruptionTask(model, eos_id=1, pad_id=0)
    windows = torch.randint(2, 40, (3, 30))
    batch = (windows, windows)
    loss = task.train()(batch, generator=torch.Generator().manual_seed(1))
    encoded = task.encode(windows, torch.Generator().manual_seed(1))
    out = model(encoded["decoder_input_ids"], input_ids=encoded["input_ids"], encoder_mask=encoded["attention_mask"])
    routers = [layer.mlp for stack in (model.encoder, model.decoder) for layer in stack.layers
               if isinstance(layer.mlp, MoE)]
    assert len(routers) == 2 and out.aux_loss is not None
    torch.testing.assert_close(out.aux_loss, routers[0].aux_loss + routers[1].aux_loss)
    assert float(routers[0].aux_loss.detach()) >= 0.01  # alpha * (a load-balancing loss >= 1) + z-loss
    torch.testing.assert_close(loss, task.objective.loss(out.logits, encoded["labels"]) + out.aux_loss)
    loss.backward()
    assert all(float(r.router.classifier.weight.grad.abs().sum()) > 0 for r in routers)
    with torch.no_grad():  # evaluation: no capacity limit, so the logits differ from training's as well
        evaluated = task.eval()(batch, generator=torch.Generator().manual_seed(1))
        out = model(encoded["decoder_input_ids"], input_ids=encoded["input_ids"],
                    encoder_mask=encoded["attention_mask"])
    assert out.aux_loss > 0  # reported, not added
    torch.testing.assert_close(evaluated, task.objective.loss(out.logits, encoded["labels"]))


def hf_config(**changes):
    return {"model_type": "switch_transformers", "vocab_size": 99, "d_model": 32, "d_kv": 8, "d_ff": 37,
            "num_heads": 4, "num_layers": 6, "num_experts": 4, **changes}


def test_sparse_step_is_read_or_derived_as_transformers_does():
    assert SPEC.config_from_hf(hf_config(encoder_sparse_step=3, decoder_sparse_step=3))["moe"]["every"] == 3
    # Without the keys: num_layers // num_sparse_layers (6 // 3 = 2, transformers' default of 3 sparse layers).
    assert SPEC.config_from_hf(hf_config())["moe"]["every"] == 2
    assert SPEC.config_from_hf(hf_config(num_sparse_encoder_layers=6, num_sparse_decoder_layers=6))["moe"]["every"] == 1
    with pytest.raises(UserError, match="decoder_sparse_step"):
        SPEC.config_from_hf(hf_config(encoder_sparse_step=2, decoder_sparse_step=3))


def test_placement_follows_the_reference_rule():
    """Block i is sparse when i % step == 1, or every block for step 1 (transformers' rule)."""
    for every, sparse in ((1, [0, 1, 2, 3, 4]), (2, [1, 3]), (3, [1, 4])):
        model = build_model(get_family("switch").config("tiny", n_layer=5, d_model=32, attention=dict(head_dim=8),
                                                        mlp=dict(d_ff=16), vocab_size=50, moe=dict(every=every)))
        assert [i for i, layer in enumerate(model.encoder.layers) if isinstance(layer.mlp, MoE)] == sparse
        assert [i for i, layer in enumerate(model.decoder.layers) if isinstance(layer.mlp, MoE)] == sparse
