"""T5's span corruption as the paper states it (Raffel et al. 2020, section 3.1.4): 15% of the
tokens dropped in spans of mean length 3, each span replaced by its own sentinel from the top of
the vocabulary, the target the sentinels each followed by its span, eos at the end of both; and
the task that trains t5 from the CLI."""

import math

import torch

from lmlineage.core.registry import get_family
from lmlineage.models import build_model
from lmlineage.objectives.span_corruption import SpanCorruption
from lmlineage.tasks.span_corruption import N_SENTINELS, SpanCorruptionTask

VOCAB, EOS, PAD = 500, 1, 0


def objective():
    return SpanCorruption(VOCAB, EOS, PAD, decoder_start_id=PAD)


def test_noise_share_and_mean_span_length_over_many_samples():
    o, g = objective(), torch.Generator().manual_seed(0)
    noise = spans = tokens = 0
    for i in range(800):
        length = 20 + (i * 7) % 200  # short and long windows alike
        mask = o.noise_mask(length, g)
        noise += int(mask.sum())
        spans += int((mask & ~torch.cat([torch.tensor([False]), mask[:-1]])).sum())
        tokens += length
    assert abs(noise / tokens - 0.15) < 0.01
    assert abs(noise / spans - 3.0) / 3.0 < 0.05


def test_spans_alternate_with_kept_text_and_start_kept():
    o, g = objective(), torch.Generator().manual_seed(1)
    for length in (2, 3, 10, 57, 128):
        mask = o.noise_mask(length, g)
        assert len(mask) == length and not mask[0] and 1 <= int(mask.sum()) < length


def test_inputs_and_targets_rebuild_the_text():
    o, g = objective(), torch.Generator().manual_seed(2)
    windows = torch.randint(5, 300, (6, 73), generator=g)
    batch = o.prepare(windows, g)
    sentinels = set(o.sentinel_ids.tolist())
    assert o.sentinel(0) == VOCAB - 1 and o.sentinel(1) == VOCAB - 2  # from the top of the vocabulary
    for row in range(6):
        source = batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist()
        target = [t for t in batch["labels"][row].tolist() if t != o.ignore_index]
        assert source[-1] == EOS and target[-1] == EOS
        source_sentinels = [t for t in source if t in sentinels]
        target_sentinels = [t for t in target if t in sentinels]
        assert source_sentinels == target_sentinels == [o.sentinel(j) for j in range(len(source_sentinels))]
        assert target[0] == o.sentinel(0)
        # Put every span back where its sentinel stands: the original window.
        spans, current = {}, None
        for t in target[:-1]:
            if t in sentinels:
                current = t
                spans[current] = []
            else:
                spans[current].append(t)
        rebuilt = [u for t in source[:-1] for u in (spans[t] if t in sentinels else [t])]
        assert rebuilt == windows[row].tolist()
        labels = batch["labels"][row]
        decoder_in = batch["decoder_input_ids"][row]
        assert decoder_in[0] == PAD and torch.equal(decoder_in[1 : len(target)], labels[: len(target) - 1])


def test_same_generator_same_corruption():
    windows = torch.randint(5, 300, (3, 40))
    a = objective().prepare(windows, torch.Generator().manual_seed(7))
    b = objective().prepare(windows, torch.Generator().manual_seed(7))
    assert all(torch.equal(a[k], b[k]) for k in a)


class _Tok:
    kind, vocab_size, eos_id, pad_id = "unigram", 60, 2, 3


def test_task_sizes_the_model_and_trains_a_step():
    sized = SpanCorruptionTask.model_config(_Tok)
    assert sized == {"vocab_size": 60 + N_SENTINELS, "decoder": {"start_id": 3}}
    torch.manual_seed(0)
    cfg = get_family("t5").config("tiny", n_layer=1, d_model=32, attention=dict(head_dim=8), mlp=dict(d_ff=48),
                     max_positions=40, **sized)
    task = SpanCorruptionTask.for_tokenizer(build_model(cfg), _Tok)
    windows = torch.randint(5, 60, (4, 40))
    loss = task((windows, windows))
    # Mesh TF's fan-in init gives the tied head logits of about unit variance, and Gaussian logits of
    # variance v cost about v/2 nats over uniform (seeds 0-7 measured 0.42-0.89); GPT-2's init
    # would sit at uniform, so the lower bound also catches a lost init.
    above_uniform = float(loss.detach()) - math.log(160)
    assert 0.2 < above_uniform < 1.2, above_uniform
    loss.backward()
    result = task.eval().evaluate([(windows, windows)])
    assert result["tokens"] > 0 and result["span_loss"] > 0 and 0 < result["unigram_span_loss"] < result["span_loss"]
