"""BERT's fine-tuning heads (heads/tasks.py) against `transformers`' task classes, through our
production loader: sequence classification, multiple choice, token classification and extractive
QA logits within 1e-5 (fp32, CPU, eval mode) on padded batches at three lengths; the label names
come from id2label; and our export loads strictly in `transformers` with the same logits."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage.interop.reference import from_hf, to_hf  # noqa: E402

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
LABELS = ["O", "B-PER", "I-PER"]
TASKS = {  # reference class -> our heads
    "BertForSequenceClassification": ["pooler", "classifier"],
    "BertForMultipleChoice": ["pooler", "choice"],
    "BertForTokenClassification": ["tagger"],
    "BertForQuestionAnswering": ["span"],
}


def reference(architecture, tmp_path):
    torch.manual_seed(0)
    labels = {} if architecture in ("BertForQuestionAnswering", "BertForMultipleChoice") else \
        dict(id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    cfg = transformers.BertConfig(**TINY, **labels, attn_implementation="eager")
    ref = getattr(transformers, architecture)(cfg).eval()
    with torch.no_grad():  # perturb zero biases and unit norms so a swap shows
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ref.save_pretrained(tmp_path)
    return ref, from_hf(tmp_path).eval()


def batch(length, rows=3):
    g = torch.Generator().manual_seed(length)
    ids = torch.randint(5, 99, (rows, length), generator=g)
    mask = torch.ones_like(ids)
    segments = torch.zeros_like(ids)
    for row in range(rows):
        real = length - (0, 2, length // 2)[row % 3]
        mask[row, real:] = 0
        ids[row, real:] = 0
        segments[row, real // 2: real] = 1
    ids[:, 0] = 2
    return ids, mask, segments


def both(architecture, ref, ours, length):
    """(their logits, ours) in the reference's layout."""
    if architecture == "BertForMultipleChoice":  # 2 questions x 3 choices, flattened for us
        ids, mask, segments = batch(length, rows=6)
        with torch.no_grad():
            theirs = ref(ids.view(2, 3, -1), attention_mask=mask.view(2, 3, -1),
                         token_type_ids=segments.view(2, 3, -1)).logits
            mine = ours(ids, mask, segments).task_logits.view(2, 3)
        return theirs, mine
    ids, mask, segments = batch(length)
    with torch.no_grad():
        theirs = ref(ids, attention_mask=mask, token_type_ids=segments)
        mine = ours(ids, mask, segments).task_logits
    if architecture == "BertForQuestionAnswering":
        return torch.stack([theirs.start_logits, theirs.end_logits], dim=-1), mine
    return theirs.logits, mine


@pytest.mark.parametrize("architecture", TASKS)
@pytest.mark.parametrize("length", [5, 17, 40])
def test_task_logits_match(architecture, length, tmp_path):
    ref, ours = reference(architecture, tmp_path)
    assert sorted(ours.config.heads) == sorted(TASKS[architecture])
    if architecture in ("BertForSequenceClassification", "BertForTokenClassification"):
        assert ours.config.labels == LABELS
    theirs, mine = both(architecture, ref, ours, length)
    assert theirs.shape == mine.shape
    torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("architecture", TASKS)
def test_export_loads_strictly_in_transformers(architecture, tmp_path):
    ref, ours = reference(architecture, tmp_path / "ref")
    to_hf(ours, tmp_path / "out")
    back, info = getattr(transformers, architecture).from_pretrained(
        tmp_path / "out", output_loading_info=True, attn_implementation="eager")
    assert not any(info.values()), info
    if architecture == "BertForTokenClassification":
        assert back.config.id2label == dict(enumerate(LABELS))
    theirs, mine = both(architecture, back.eval(), ours, 11)
    torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=0)


def test_a_labelled_head_needs_label_names():
    from lmlineage.core.errors import UserError
    from lmlineage.core.registry import get_family
    from lmlineage.models import build_model

    with pytest.raises(UserError, match="label names"):
        build_model(get_family("bert").config("tiny", heads=["pooler", "classifier"]))
    model = build_model(get_family("bert").config("tiny", heads=["tagger"], labels=LABELS))
    assert model(torch.randint(0, 99, (2, 7))).task_logits.shape == (2, 7, 3)
