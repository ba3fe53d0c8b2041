"""The objectives and task compositions of ALBERT, DistilBERT and ELECTRA, as the papers state
them: sentence-order pairs (consecutive segments, swapped half the time); ELECTRA's masking, its
generator sharing the discriminator's embeddings, replaced-token labels that mark exactly the
changed tokens (a sample equal to the original is original); DistilBERT's student taken from
every other teacher layer, its frozen teacher, its loss terms against independent formulas."""

import pytest
import torch
from torch.nn import functional as F

from lmlineage.core.errors import UserError
from lmlineage.core.config import merge
from lmlineage.core.registry import get_family
from lmlineage.models import build_model
from lmlineage.objectives.distill import Distillation
from lmlineage.objectives.rtd import ReplacedTokenDetection
from lmlineage.objectives.sop import IN_ORDER, SWAPPED, SentenceOrderPrediction
from lmlineage.tasks import make_task
from lmlineage.tasks.distillation import student_config
from lmlineage.tokenizers import build_tokenizer

TEXT = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer. " * 20
CLS, SEP = 2, 3


@pytest.fixture(scope="module")
def wordpiece():
    return build_tokenizer("wordpiece", TEXT, 120)


def tiny(family, tok, **changes):
    sizes = dict(vocab_size=tok.vocab_size, d_model=32, attention=dict(n_head=2), max_positions=64, dropout=0.0)
    cfg = get_family(family).config("tiny", **merge(sizes, changes))
    return build_model(cfg)


def windows(tok, rows, length, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(len(tok.special_ids), tok.vocab_size, (rows, length), generator=g)


# ---- ALBERT: sentence order prediction ---------------------------------------------------------
def test_sop_pairs_are_consecutive_segments_in_or_out_of_order():
    x = torch.arange(100, 100 + 400 * 20).reshape(400, 20)  # every token says where it came from
    batch = SentenceOrderPrediction().prepare(x, CLS, SEP, torch.Generator().manual_seed(0))
    ids, segments, labels = batch["input_ids"], batch["token_type_ids"], batch["sentence_order_label"]
    assert ids.shape == (400, 23) and bool((ids[:, 0] == CLS).all()) and bool((ids[:, -1] == SEP).all())
    for row in range(400):
        first_len = int((segments[row] == 0).sum()) - 2  # [CLS] first [SEP] are segment 0
        assert 1 <= first_len <= 19 and ids[row, first_len + 1] == SEP
        first, second = ids[row, 1: first_len + 1], ids[row, first_len + 2: -1]
        a, b = (second, first) if labels[row] == SWAPPED else (first, second)
        assert torch.equal(torch.cat([a, b]), x[row]), "the two segments are the window, A then B"


def test_sop_swaps_half_the_pairs():
    """40,000 pairs: the swapped share within 0.01 of 1/2 (four standard deviations, 0.0025 each)."""
    x = torch.randint(5, 99, (40_000, 6))
    labels = SentenceOrderPrediction().prepare(x, CLS, SEP, torch.Generator().manual_seed(1))["sentence_order_label"]
    assert set(labels.tolist()) == {IN_ORDER, SWAPPED}
    assert abs(float((labels == SWAPPED).float().mean()) - 0.5) < 0.01


def test_albert_task_trains_mlm_and_sop_on_its_pooled_head(wordpiece):
    model = tiny("albert", wordpiece)
    task = make_task("mlm+sop", model, wordpiece)
    x = windows(wordpiece, 4, 12)
    loss = task((x, x), torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and model.sop.weight.grad is not None and model.nsp is None
    assert len(model.backbone.layers) == 1 and model.backbone.layers[0].attn.qkv.weight.grad is not None


def test_layer_sharing_is_a_stack_option_any_encoder_takes(wordpiece):
    """Cross-layer sharing comes from the config, not the family: BERT with layer_groups=1 has one
    block applied n_layer times, and 2 groups over 4 layers split them into runs of two."""
    shared = tiny("bert", wordpiece, n_layer=4, layer_groups=1)
    assert len(shared.backbone.layers) == 1
    calls = []
    shared.backbone.layers[0].register_forward_hook(lambda *_: calls.append(1))
    shared(windows(wordpiece, 1, 5))
    assert len(calls) == 4
    grouped = tiny("bert", wordpiece, n_layer=4, layer_groups=2)
    order = []
    for index, layer in enumerate(grouped.backbone.layers):
        layer.register_forward_hook(lambda *_, index=index: order.append(index))
    grouped(windows(wordpiece, 1, 5))
    assert order == [0, 0, 1, 1]


# ---- ELECTRA: generator, sampling, replaced-token detection ------------------------------------
def test_rtd_labels_mark_exactly_the_changed_tokens():
    original = torch.tensor([[2, 10, 11, 12, 13, 3], [2, 20, 21, 22, 23, 3]])
    chosen = torch.tensor([[0, 1, 0, 1, 1, 0], [0, 0, 1, 1, 0, 0]], dtype=torch.bool)
    samples = torch.tensor([10, 40, 13, 50, 22])  # row-major fills: two of them the original token
    corrupted, labels = ReplacedTokenDetection.corrupt(original, chosen, samples)
    assert corrupted.tolist() == [[2, 10, 11, 40, 13, 3], [2, 20, 50, 22, 23, 3]]
    assert labels.tolist() == [[0, 0, 0, 1, 0, 0], [0, 0, 1, 0, 0, 0]]


def test_electra_generator_shares_the_embeddings_and_is_a_quarter_as_wide(wordpiece):
    disc = tiny("electra", wordpiece, d_model=128, attention=dict(n_head=2), embedding=dict(dim=64))
    task = make_task("mlm+rtd", disc, wordpiece)
    gen = task.generator
    for name in ("embed_tokens", "embed_positions", "embed_segments", "embed_norm"):
        assert getattr(gen.backbone, name) is getattr(disc.backbone, name)
    assert gen.mlm.decoder.weight is disc.backbone.embed_tokens.weight  # tied to the shared table
    assert gen.config.d_model == 32 and gen.config.mlp.ff_dim(gen.config.d_model) == 128 and gen.config.embedding.dim == 64
    assert gen.backbone.embed_proj.weight.shape == (32, 64) and disc.backbone.embed_proj.weight.shape == (128, 64)
    assert disc.mlm is None and gen.rtd is None
    names = [n for n, _ in task.named_parameters()]
    assert not any(n.startswith("generator.backbone.embed_tokens") for n in names)  # one table, counted once


def test_electra_masks_85_percent_and_keeps_the_rest(wordpiece):
    """24,000 chosen tokens: the [MASK] share within 0.01 of 0.85 (four standard deviations); no random tokens."""
    task = make_task("mlm+rtd", tiny("electra", wordpiece), wordpiece)
    batch = task.encode(windows(wordpiece, 6000, 30), torch.Generator().manual_seed(0))
    chosen = batch["labels"] != -100
    shown = batch["input_ids"][chosen]
    masked, kept = int((shown == task.objective.mask_id).sum()), int((shown == batch["labels"][chosen]).sum())
    assert masked + kept == len(shown) == 24_000  # 4 of 30 per row
    assert abs(masked / len(shown) - 0.85) < 0.01


def test_the_discriminator_sees_the_samples_and_learns_their_labels(wordpiece, monkeypatch):
    """Through the task: the discriminator's input differs from the original text exactly where
    the labels say replaced; where the generator sampled the original token the label is 0."""
    task = make_task("mlm+rtd", tiny("electra", wordpiece), wordpiece)
    x = windows(wordpiece, 8, 20)
    seen = {}
    real_sample = ReplacedTokenDetection.sample

    def half_original(logits, generator=None):  # every other fill is the true token
        fills = real_sample(logits, generator)
        fills[::2] = seen["targets"][::2]
        return fills

    real_loss = ReplacedTokenDetection.loss

    def spy_loss(logits, labels, attention_mask=None, reduction="mean"):
        seen["labels"] = labels
        return real_loss(logits, labels, attention_mask, reduction)

    real_encode = task.encode

    def spy_encode(windows_, generator=None):
        batch = real_encode(windows_, generator)
        seen["targets"] = batch["labels"][batch["labels"] != -100]
        seen["original"] = torch.where(batch["labels"] != -100, batch["labels"], batch["input_ids"])
        seen["chosen"] = batch["labels"] != -100
        return batch

    real_forward = task.model.forward
    monkeypatch.setattr(task, "encode", spy_encode)
    monkeypatch.setattr(task.rtd, "sample", half_original)
    monkeypatch.setattr(task.rtd, "loss", spy_loss)
    monkeypatch.setattr(task.model, "forward", lambda ids, **kw: seen.setdefault("input", ids) is not None and
                        real_forward(ids, **kw))
    task((x, x), torch.Generator().manual_seed(3)).backward()
    changed = seen["input"] != seen["original"]
    assert torch.equal(seen["labels"].bool(), changed)
    assert not bool((changed & ~seen["chosen"]).any())  # only masked positions are ever replaced
    fills_original = torch.zeros_like(changed)
    fills_original[seen["chosen"]] = torch.arange(int(seen["chosen"].sum())) % 2 == 0
    assert not bool(seen["labels"][fills_original].any()), "a sample equal to the original is not replaced"
    assert bool(seen["labels"].any())
    assert task.generator.mlm.transform.weight.grad is not None and task.model.rtd.prediction.weight.grad is not None


def test_rtd_loss_is_binary_cross_entropy_and_lambda_50():
    logits, labels = torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([[1, 0, 0]])
    expected = -(torch.log(torch.sigmoid(torch.tensor(2.0))) + torch.log(1 - torch.sigmoid(torch.tensor(-1.0)))
                 + torch.log(1 - torch.sigmoid(torch.tensor(0.5)))) / 3
    torch.testing.assert_close(ReplacedTokenDetection.loss(logits, labels), expected)
    assert ReplacedTokenDetection().weight == 50.0


# ---- DistilBERT: the student, the teacher, the loss ---------------------------------------------
@pytest.fixture
def teacher(wordpiece):
    torch.manual_seed(0)
    model = tiny("bert", wordpiece, n_layer=4).eval()
    with torch.no_grad():  # LayerNorms start at one and biases at zero: make every tensor distinct
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.tokenizer = wordpiece
    return model


def test_student_is_half_the_teacher_from_every_other_layer(wordpiece, teacher):
    student = build_model(get_family("distilbert").config("tiny", **student_config(teacher.config), dropout=0.0))
    task = make_task("distill", student, wordpiece, teacher=teacher)
    assert student.config.n_layer == 2 and student.backbone.embed_segments is None and student.pooler is None
    t, s = teacher.state_dict(), student.state_dict()
    for i, source in ((0, 0), (1, 2)):
        for name in ("attn.qkv.weight", "mlp.fc_out.bias", "mlp_norm.weight"):
            assert torch.equal(s[f"backbone.layers.{i}.{name}"], t[f"backbone.layers.{source}.{name}"])
    assert torch.equal(s["mlm.transform.weight"], t["mlm.transform.weight"])
    ids = windows(wordpiece, 2, 9)
    with torch.no_grad():  # segment row 0 folded into the positions: the same embedding output
        torch.testing.assert_close(student(ids, output_hidden_states=True).hidden_states[0],
                                   teacher(ids, output_hidden_states=True).hidden_states[0])
    task.train()
    assert not task.teacher.training and student.training
    task((ids, ids), torch.Generator().manual_seed(0)).backward()
    assert all(p.grad is None for p in teacher.parameters()) and student.mlm.transform.weight.grad is not None


def test_distillation_refuses_a_missing_or_unfit_teacher(wordpiece, teacher):
    student = tiny("distilbert", wordpiece)
    with pytest.raises(UserError, match="--teacher"):
        make_task("distill", student, wordpiece)
    with pytest.raises(UserError, match="half depth"):
        make_task("distill", student, wordpiece, teacher=teacher)  # 1 layer, the teacher's 4 halve to 2
    with pytest.raises(UserError, match="distil a bert checkpoint"):
        make_task("distill", student, wordpiece, teacher=tiny("roberta", wordpiece))


def test_soft_target_loss_is_cross_entropy_at_temperature_times_t_squared():
    torch.manual_seed(0)
    s, t = torch.randn(6, 11), torch.randn(6, 11)
    d = Distillation(temperature=3.0)
    teacher_probs = torch.softmax(t / 3, -1)
    kl = F.kl_div(torch.log_softmax(s / 3, -1), teacher_probs, reduction="batchmean")
    entropy = -(teacher_probs * torch.log(teacher_probs)).sum(-1).mean()
    torch.testing.assert_close(d.soft_target_loss(s, t), 9 * (kl + entropy))  # CE = KL + H(teacher)
    h = torch.randn(5, 8)
    torch.testing.assert_close(d.cosine_loss(h, 3 * h), torch.tensor(0.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(d.cosine_loss(h, -h), torch.tensor(2.0))
    total = d.loss(torch.tensor(1.5), s, t, h, -h)
    torch.testing.assert_close(total, 5.0 * d.soft_target_loss(s, t) + 2.0 * 1.5 + 1.0 * 2.0)


def test_electra_resume_restores_the_generator_bit_for_bit(wordpiece, tmp_path):
    """The saved model is the discriminator; the generator travels in task.safetensors, so N steps
    equal N/2 + resume + N/2, generator included."""
    import numpy as np

    from lmlineage.train.trainer import TrainConfig, Trainer

    tokens = np.array(wordpiece.encode(TEXT * 3), dtype=np.uint16)
    split = len(tokens) * 3 // 4

    def trainer(out):
        torch.manual_seed(0)
        task = make_task("mlm+rtd", tiny("electra", wordpiece, dropout=0.1), wordpiece)
        cfg = TrainConfig(steps=6, batch_size=4, context=14, warmup=2, log_interval=2, eval_interval=3,
                          eval_batches=1, progress=False, seed=7)
        return Trainer(task, tokens[:split], tokens[split:], cfg, out)

    full = trainer(tmp_path / "full")
    full.fit()
    first = trainer(tmp_path / "split")
    first.fit(stop_at=3)
    assert (tmp_path / "split" / "last" / "task.safetensors").exists()
    second = trainer(tmp_path / "split")
    second.resume(tmp_path / "split" / "last")
    second.fit()
    pairs = list(zip(full.task.named_parameters(), second.task.parameters()))
    assert any(name.startswith("generator.") for (name, _), _ in pairs)
    for (name, a), b in pairs:
        assert torch.equal(a, b), name


@pytest.mark.parametrize("family, changes, needles", [
    ("gpt2", {"n_layer": 2}, ["gpt2 model with no heads", "2 layers"]),
    ("bert", {"n_layer": 1}, ["bert model with heads pooler, nsp and 1 layer"]),
])
def test_a_teacher_that_cannot_teach_is_named_properly(family, changes, needles, wordpiece):
    """The refusal said "with heads None" for a teacher without encoder heads."""
    from lmlineage.tasks.distillation import DistillationTask

    model = tiny(family, wordpiece, **changes)
    if family == "bert":
        model = build_model(model.config.replace(heads=["pooler", "nsp"]))  # no MLM head to distil from
    with pytest.raises(UserError) as refused:
        DistillationTask.check_teacher(model)
    assert "None" not in str(refused.value) and all(n in str(refused.value) for n in needles), refused.value
