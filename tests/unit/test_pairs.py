"""Sequence-pair data: generated digit tasks, pair files, tokenized splits and their batches."""

import json

import numpy as np
import pytest
import torch

from lmlineage.core.errors import UserError
from lmlineage.data import algorithmic
from lmlineage.data.pairs import PAD, PairSplit, default_tokenizer, is_builtin, load_pairs
from lmlineage.tokenizers import build_tokenizer


def test_digit_tasks_are_what_they_say():
    for source, target in algorithmic.digit_pairs("reverse", 200, 3, 7, seed=5):
        assert 3 <= len(source) <= 7 and target == source[::-1] and source.isdigit()
    for source, target in algorithmic.digit_pairs("sort", 200, 1, 12, seed=5):
        assert target == "".join(sorted(source)) and len(target) == len(source)
    lengths = {len(s) for s, _ in algorithmic.digit_pairs("reverse", 2000, 2, 5)}
    assert lengths == {2, 3, 4, 5}  # every length in range occurs


def test_digit_tasks_are_deterministic_and_hold_out_unseen_sources():
    assert algorithmic.digit_pairs("sort", 50, seed=3) == algorithmic.digit_pairs("sort", 50, seed=3)
    assert algorithmic.digit_pairs("sort", 50, seed=3) != algorithmic.digit_pairs("sort", 50, seed=4)
    train, val = load_pairs("reverse:2-6")
    assert len(train) == algorithmic.TRAIN_PAIRS and len(val) == algorithmic.VAL_PAIRS
    assert not {s for s, _ in train} & {s for s, _ in val}
    assert all(2 <= len(s) <= 6 for s, _ in train + val)


def test_names_and_default_tokenizers():
    assert is_builtin("reverse") and is_builtin("sort:3-9") and is_builtin("bible-en-zh")
    assert not is_builtin("shuffle") and not is_builtin("reverse:9")
    assert default_tokenizer("sort:1-4") == ("bpe", 257) and default_tokenizer("bible-en-zh")[0] == "bpe"
    with pytest.raises(UserError, match="1 <= min <= max"):
        load_pairs("reverse:5-2")
    with pytest.raises(UserError, match="too few distinct"):
        load_pairs("reverse:1-1")
    assert load_pairs(None) == load_pairs("reverse")  # the default pair set: no optional package


def test_pair_files(tmp_path):
    tsv = tmp_path / "p.tsv"
    tsv.write_text("".join(f"a{i}\tb{i}\n" for i in range(40)) + "\n")
    train, val = load_pairs(str(tsv))
    assert train[0] == ("a0", "b0") and val == [("a38", "b38"), ("a39", "b39")]  # the last 5%
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("\n".join(json.dumps({"source": f"s{i}", "target": f"t{i}"}) for i in range(3)))
    assert load_pairs(str(jsonl)) == ([("s0", "t0"), ("s1", "t1")], [("s2", "t2")])
    tsv.write_text("one field only\n")
    with pytest.raises(UserError, match=r"p.tsv:1: expected source TAB target"):
        load_pairs(str(tsv))
    jsonl.write_text('{"source": "x"}\n')
    with pytest.raises(UserError, match="source and target fields"):
        load_pairs(str(jsonl))
    (tmp_path / "p.txt").write_text("x")
    with pytest.raises(UserError, match=".tsv or .jsonl"):
        load_pairs(str(tmp_path / "p.txt"))


def test_split_encodes_pads_and_round_trips(tmp_path):
    pairs = [("123", "321"), ("9", "9"), ("4567", "7654")]
    tok = build_tokenizer("bpe", ["0123456789"], 257)
    split = PairSplit.encode(pairs, tok, eos_id=tok.eos_id)
    assert len(split) == 3 and split.max_lengths() == (4, 5)
    source, target = split.pair(2)
    assert tok.decode(source) == "4567" and tok.decode(target[:-1]) == "7654" and target[-1] == tok.eos_id
    src, tgt = split.collate([1, 0])
    assert src.tolist() == [[tok.encode("9")[0], PAD, PAD], tok.encode("123")]
    assert tgt.tolist() == [[tok.encode("9")[0], tok.eos_id, PAD, PAD], [*tok.encode("321"), tok.eos_id]]
    split.save(tmp_path, "val")
    again = PairSplit.load(tmp_path, "val")
    assert all(np.array_equal(getattr(split, f), getattr(again, f)) for f in ("source", "target", "source_offsets"))
    batches = list(split.batches(2))
    assert [b[0].shape[0] for b in batches] == [2, 1]
    assert batches[0][0][0, :1].tolist() == tok.encode("9")  # shortest first
    assert batches[1][0].shape == (1, 4)


def test_sampler_resumes_exactly():
    tok = build_tokenizer("bpe", ["0123456789"], 257)
    split = PairSplit.encode(algorithmic.digit_pairs("reverse", 100), tok, tok.eos_id)
    a = split.sampler(8, seed=1)
    next(a)
    state = a.state_dict()
    expected = next(a)
    b = split.sampler(8, seed=99)
    b.load_state_dict(state)
    got = next(b)
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    halves = [next(split.sampler(8, seed=1, rank=r, world=2))[0] for r in (0, 1)]
    assert sum(h.shape[0] for h in halves) == 8


def test_length_groups_batch_neighbours_in_length_and_still_draw_every_pair_alike():
    """XLM's group_by_size: a batch of pairs of similar length pads less; each pair is drawn as
    often as under uniform draws; one group, the uniform draws themselves."""
    from lmlineage.data.pairs import RandomPairs

    tok = build_tokenizer("bpe", ["0123456789"], 257)
    split = PairSplit.encode(algorithmic.digit_pairs("reverse", 400, max_length=40), tok, tok.eos_id)
    lengths = torch.from_numpy(split.lengths())

    def padding(sampler, steps=300):
        drawn = [torch.tensor(sampler.draw()) for _ in range(steps)]
        spans = [lengths[d].max() * len(d) - lengths[d].sum() for d in drawn]
        return float(sum(spans)) / float(sum(lengths[d].sum() for d in drawn)), torch.cat(drawn)

    uniform_padding, _ = padding(RandomPairs(split, 16, seed=3))
    grouped_padding, drawn = padding(RandomPairs(split, 16, seed=3, groups=8), steps=2500)
    assert grouped_padding < uniform_padding / 3
    counts = torch.bincount(drawn, minlength=len(split)).float()  # 100 draws a pair on average
    by_length = counts[torch.argsort(lengths, stable=True)]
    rates = [float(quarter.mean()) / float(counts.mean()) for quarter in by_length.chunk(4)]
    assert all(abs(rate - 1) < 0.05 for rate in rates), rates  # the shortest and longest as often as the rest
    generator = torch.Generator().manual_seed(5)
    assert RandomPairs(split, 16, seed=5).draw() == torch.randint(len(split), (16,), generator=generator).tolist()
    split.length_groups = 8
    a, b = split.sampler(16, seed=1), split.sampler(16, seed=1)
    next(a)
    b.load_state_dict(a.state_dict())
    assert a.draw() == b.draw() and a.groups == 8


def test_tlm_batches_by_length():
    from lmlineage.tasks import task_class

    assert task_class("tlm").length_groups > 1 and task_class("translation_ranking").length_groups == 1
