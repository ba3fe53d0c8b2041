"""GLM (2021) has no reference in `transformers`: its blank-infilling examples, 2-D positions and
prefix mask are checked on the paper's own hand-made example (figure 2), the span sampler on
its stated statistics, and the model on what the mask must hide."""

import json
import math

import torch

from lmlineage.cli import main
from lmlineage.core import masks
from lmlineage.core.registry import get_family
from lmlineage.models import build_model
from lmlineage.objectives.blank_infilling import BlankInfilling
from lmlineage.tasks.blank_infilling import BlankInfillingTask
from lmlineage.train.trainer import read_metrics

MASK, S, E, PAD = 90, 91, 92, 0
X = [11, 12, 13, 14, 15, 16]  # x1 .. x6
T, F = True, False


def test_figure_2_example():
    # GLM figure 2: spans [x3] and [x5, x6]; Part B in the order (x5 x6), (x3).
    example = BlankInfilling(MASK, S, E).corrupt(X, spans=[(2, 3), (4, 6)], order=[1, 0])
    assert example["input_ids"] == [11, 12, MASK, 14, MASK, S, 15, 16, S, 13]
    assert example["labels"] == [-100] * 5 + [15, 16, E, 13, E]
    # Figure 2(c), counted from 0: position 1 -> 0, ..., and block position 0 in Part A.
    assert example["positions"] == [0, 1, 2, 3, 4, 4, 4, 4, 2, 2]
    assert example["block_positions"] == [0, 0, 0, 0, 0, 1, 2, 3, 1, 2]
    assert example["prefix_length"] == 5


def test_figure_2_mask():
    # Figure 2(d): Part A (5 tokens) sees all of Part A; Part B sees Part A and its own past.
    mask, is_causal = masks.build(10, 10, is_causal=True, prefix_lengths=torch.tensor([5]))
    assert not is_causal
    expected = [[T] * 5 + [F] * 5 for _ in range(5)] + [[T] * (6 + i) + [F] * (4 - i) for i in range(5)]
    assert mask[0, 0].tolist() == expected
    # With right padding (one pad key) the pad column is closed to every real query.
    mask, _ = masks.build(4, 4, is_causal=True, prefix_lengths=torch.tensor([2]), key_mask=torch.tensor([[1, 1, 1, 0]]))
    assert mask[0, 0, :3].tolist() == [[T, T, F, F], [T, T, F, F], [T, T, T, F]]


def test_prepare_pads_and_stacks_two_dimensional_positions():
    batch = BlankInfilling(MASK, S, E, PAD).prepare(torch.tensor([X, X]), torch.Generator().manual_seed(0))
    n = batch["input_ids"].shape[1]
    assert batch["position_ids"].shape == (2, 2, n) and batch["prefix_lengths"].shape == (2,)
    for row in range(2):
        real = int(batch["attention_mask"][row].sum())
        assert (batch["labels"][row, real:] == -100).all() and (batch["input_ids"][row, real:] == PAD).all()
        assert (batch["labels"][row, : int(batch["prefix_lengths"][row])] == -100).all()


def fill_blanks(example):
    """Undo the corruption: put each Part B span back at its [MASK]."""
    a = example["input_ids"][: example["prefix_length"]]
    spans, current, at = {}, None, None
    for token, pos, block, label in zip(example["input_ids"], example["positions"], example["block_positions"],
                                        example["labels"]):
        if block == 1:
            at, current = pos, []
            spans[at] = current
        if block >= 1 and label != E:
            current.append(label)
    out = []
    for i, token in enumerate(a):
        out += spans[i] if token == MASK else [token]
    return out


def test_sampled_spans_follow_the_paper_and_the_example_restores_the_text():
    objective = BlankInfilling(MASK, S, E)
    g = torch.Generator().manual_seed(1)
    masked, total, lengths = 0, 0, []
    for trial in range(300):
        tokens = torch.randint(1, 80, (64,), generator=g).tolist()
        spans = objective.sample_spans(len(tokens), g)
        assert all(b[0] > a[1] for a, b in zip(spans, spans[1:]))  # sorted, apart, never touching
        covered = sum(end - start for start, end in spans)
        assert covered >= 0.15 * 64  # "until at least 15% of the original tokens are masked"
        masked, total = masked + covered, total + 64
        lengths += [end - start for start, end in spans]
        order = torch.randperm(len(spans), generator=g).tolist()
        assert fill_blanks(objective.corrupt(tokens, spans, order)) == tokens
    # Span lengths ~ Poisson(3) (at least 1): the mean sits near 3.
    assert 2.6 < sum(lengths) / len(lengths) < 3.6
    assert masked / total < 0.25  # the sampler stops soon after 15%


def tiny_glm(**changes):
    return build_model(get_family("glm").config("tiny", vocab_size=100, n_layer=2, d_model=32, **changes)).eval()


def test_part_a_never_sees_part_b_and_part_b_sees_part_a():
    torch.manual_seed(0)
    model = tiny_glm()
    batch = BlankInfilling(MASK, S, E).prepare(torch.tensor([X]), torch.Generator().manual_seed(3))
    ids, pos, prefix = batch["input_ids"], batch["position_ids"], batch["prefix_lengths"]
    a = int(prefix[0])
    changed_b, changed_a = ids.clone(), ids.clone()
    changed_b[0, a + 1:] = 50
    changed_a[0, 0] = 50
    with torch.no_grad():
        base = model(ids, position_ids=pos, prefix_lengths=prefix).logits
        after_b = model(changed_b, position_ids=pos, prefix_lengths=prefix).logits
        after_a = model(changed_a, position_ids=pos, prefix_lengths=prefix).logits
    torch.testing.assert_close(base[0, :a], after_b[0, :a])  # Part A is blind to Part B
    assert not torch.allclose(base[0, a:], after_a[0, a:])  # Part B reads Part A
    assert not torch.allclose(base[0, 1:a], after_a[0, 1:a])  # ... and Part A reads itself both ways


def test_two_dimensional_positions_are_two_learned_tables():
    torch.manual_seed(1)
    model = tiny_glm()
    table = model.backbone.embed_positions
    pos = torch.tensor([[[0, 1, 2, 2, 2], [0, 0, 0, 1, 2]]])
    expected = table.position.weight[[0, 1, 2, 2, 2]] + table.block_position.weight[[0, 0, 0, 1, 2]]
    torch.testing.assert_close(table(pos)[0], expected)
    # One-dimensional positions mean block position 0: the plain left-to-right model.
    torch.testing.assert_close(table(torch.tensor([[0, 1, 2]]))[0],
                               table.position.weight[:3] + table.block_position.weight[0])


def test_without_blanks_glm_is_gpt2_with_a_constant_added():
    """With 1-D positions and no prefix, GLM is GPT-2 whose position table absorbed block position 0."""
    torch.manual_seed(2)
    model = tiny_glm(mlp=dict(activation="gelu_tanh"))
    gpt2 = build_model(get_family("gpt2").config("tiny", vocab_size=100, n_layer=2, d_model=32)).eval()
    state = {k: v for k, v in model.state_dict().items() if "embed_positions" not in k}
    table = model.backbone.embed_positions
    state["backbone.embed_positions.weight"] = table.position.weight + table.block_position.weight[0]
    gpt2.load_state_dict(state)
    ids = torch.randint(0, 100, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, gpt2(ids).logits)


def test_task_loss_is_cross_entropy_over_part_b_and_windows_fit_the_context():
    torch.manual_seed(3)
    model = tiny_glm(max_positions=40)
    task = BlankInfillingTask(model, MASK, S, E, PAD)
    windows = torch.randint(1, 80, (3, 40))
    assert task.room() + 2 * math.ceil(0.15 * task.room()) <= 40 < task.room() + 1 + 2 * math.ceil(0.15 * (task.room() + 1))
    loss = task((windows, windows), generator=torch.Generator().manual_seed(4))
    encoded = task.objective.prepare(windows[:, : task.room()], torch.Generator().manual_seed(4))
    assert encoded["input_ids"].shape[1] <= 40
    logits = model(encoded["input_ids"], attention_mask=encoded["attention_mask"],
                   position_ids=encoded["position_ids"], prefix_lengths=encoded["prefix_lengths"]).logits
    keep = encoded["labels"] != -100
    expected = torch.nn.functional.cross_entropy(logits[keep], encoded["labels"][keep])
    torch.testing.assert_close(loss, expected)
    result = task.evaluate([(windows, windows)])
    assert result == task.evaluate([(windows, windows)])  # evaluation scores the same spans every time
    assert 0 < result["unigram_loss"] and 0 <= result["accuracy"] <= 1


def test_train_and_eval_glm_from_the_command_line(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog and runs far away. " * 60)
    out = tmp_path / "run"
    argv = ["train", "glm", "--data", str(corpus), "--out", str(out), "--steps", "3", "--context", "24",
            "--batch-size", "2", "--vocab-size", "60", "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().err
    # GLM fills blanks autoregressively: its accuracy is not a masked LM's
    report = capsys.readouterr().out
    assert "blank-infilling token accuracy" in report and "MLM" not in report, report
    final = read_metrics(out)[-1]
    assert {"val_loss", "val_unigram_loss", "val_accuracy"} <= set(final)
    assert main(["eval", str(out), "--data", str(corpus)]) == 0
    report = capsys.readouterr().out
    assert "blank-infilling token accuracy" in report and "MLM" not in report, report
    assert main(["eval", str(out), "--data", str(corpus), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)  # windows of the model's full context: other spans than training's
    assert {"loss", "unigram_loss", "accuracy", "perplexity"} <= set(result) and "bits_per_char" not in result
