"""The masked-LM task turns the sampler's windows into what BERT and RoBERTa train on:
[CLS] A [SEP] B [SEP] pairs, B the true continuation half the time (BERT), full windows
(RoBERTa); evaluation masks are the same every call; tokenizers without [MASK] are refused."""

import pytest
import torch

from lmlineage.core.errors import UserError
from lmlineage.core.registry import get_family
from lmlineage.models import build_model
from lmlineage.objectives.nsp import IS_NEXT, NOT_NEXT
from lmlineage.tasks import make_task
from lmlineage.tokenizers import build_tokenizer

TEXT = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer. " * 20


@pytest.fixture(scope="module")
def wordpiece():
    return build_tokenizer("wordpiece", TEXT, 120)


def task_for(family, tok, max_positions=64):
    cfg = get_family(family).config("tiny", vocab_size=tok.vocab_size, d_model=32, attention=dict(n_head=2),
                     max_positions=max_positions, dropout=0.0)
    return make_task(get_family(family).objective, build_model(cfg), tok)


def windows(tok, rows, length, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(len(tok.special_ids), tok.vocab_size, (rows, length), generator=g)


def test_bert_pairs_are_true_continuations_half_the_time(wordpiece):
    task = task_for("bert", wordpiece)
    cls_id, sep_id = wordpiece.token_to_id("[CLS]"), wordpiece.token_to_id("[SEP]")
    x = windows(wordpiece, 400, 20)
    task.objective.mask_rate = 1e-9  # one chosen token per row: the layout stays readable
    batch = task.encode(x, torch.Generator().manual_seed(1))
    ids = torch.where(batch["labels"] != -100, batch["labels"], batch["input_ids"])  # undo the masking
    segments, labels = batch["token_type_ids"], batch["next_sentence_label"]
    assert ids.shape == (400, 23) and bool((ids[:, 0] == cls_id).all()) and bool((ids[:, -1] == sep_id).all())
    for row in range(400):
        split = int((segments[row] == 0).sum()) - 2  # [CLS] A [SEP] are segment 0
        assert 1 <= split <= 19 and ids[row, split + 1] == sep_id
        a, b = ids[row, 1 : split + 1], ids[row, split + 2 : -1]
        assert torch.equal(a, x[row, :split])
        if labels[row] == IS_NEXT:
            assert torch.equal(b, x[row, split:])
        else:
            others = torch.cat([x[:row], x[row + 1 :]])[:, split:]
            assert bool((others == b).all(dim=1).any()), "NotNext text comes from another window"
    assert abs(float((labels == NOT_NEXT).float().mean()) - 0.5) < 0.08


def test_roberta_windows_are_full_length_and_trimmed_to_fit(wordpiece):
    task = task_for("roberta", wordpiece, max_positions=34)  # 32 real positions (fairseq starts at 2)
    x = windows(wordpiece, 4, 40)
    batch = task.encode(x, torch.Generator().manual_seed(0))
    ids = torch.where(batch["labels"] != -100, batch["labels"], batch["input_ids"])
    assert ids.shape == (4, 32) and "token_type_ids" not in batch
    assert torch.equal(ids[:, 1:-1], x[:, :30])
    chosen = (batch["labels"] != -100).sum(dim=1)
    assert chosen.tolist() == [round(0.15 * 30)] * 4
    assert float(task((x, x)).detach()) > 0  # the full model runs on what it was given


def test_training_masks_change_and_evaluation_masks_do_not(wordpiece):
    task = task_for("bert", wordpiece).eval()
    x = windows(wordpiece, 8, 30)
    first, second = task.encode(x)["labels"], task.encode(x)["labels"]
    assert not torch.equal(first, second), "dynamic masking: a new mask each time"
    batches = [(x, x), (x[:2], x[:2])]
    result = task.evaluate(iter(batches))
    assert result == task.evaluate(iter(batches))
    assert set(result) == {"loss", "nats", "tokens", "mlm_loss", "accuracy", "unigram_accuracy", "accuracy_at_mask",
                           "unigram_accuracy_at_mask", "nsp_loss", "nsp_accuracy"}
    assert result["mlm_loss"] == pytest.approx(result["nats"] / result["tokens"])
    assert result["loss"] == pytest.approx(result["mlm_loss"] + result["nsp_loss"])  # what training minimises
    assert 0 <= result["accuracy"] <= 1 and result["tokens"] > 0


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_a_tokenizer_without_mask_is_refused(family):
    with pytest.raises(UserError, match=r"no \[CLS\], \[SEP\], \[MASK\] token.*--tokenizer wordpiece"):
        task_for(family, build_tokenizer("char", TEXT))
