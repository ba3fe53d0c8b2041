"""ELMo (Peters et al. 2018): character ids, highway, scalar mix, directions that see only their side,
sentence-bounded scoring, padding-free layers, the engine's LSTM cache, and the CLI."""

import json
import math

import torch

from lmlineage.classic.elmo import ELMo, Highway, ScalarMix, word_char_ids
from lmlineage.cli import main
from lmlineage.core.registry import get_family
from lmlineage.generation.engine import generate
from lmlineage.tokenizers.word import EOS


def tiny(vocab=12):
    torch.manual_seed(0)
    model = ELMo(get_family("elmo").config("tiny", vocab_size=vocab)).eval()
    model.use_vocabulary(["<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(vocab - 3)])
    return model


def test_character_ids():
    assert word_char_ids("ab", 6) == [257, ord("a") + 1, ord("b") + 1, 258, 0, 0]
    assert word_char_ids("</s>", 5) == [257, 260, 258, 0, 0]
    assert word_char_ids("é", 5)[:4] == [257, 0xC3 + 1, 0xA9 + 1, 258]  # UTF-8 bytes
    assert word_char_ids("abcdefgh", 5) == [257, 98, 99, 100, 258]  # long words keep their first bytes


def test_highway_is_the_gated_carry():
    torch.manual_seed(0)
    hw = Highway(3, 1)
    x = torch.randn(4, 3)
    transform, gate = hw.layers[0](x).chunk(2, -1)
    g = torch.sigmoid(gate)
    torch.testing.assert_close(hw(x), g * x + (1 - g) * torch.relu(transform))
    with torch.no_grad():
        hw.layers[0].bias[3:] = 50.0  # gate open: the input passes through
    torch.testing.assert_close(hw(x), x)
    assert torch.allclose(Highway(3, 2).layers[1].bias[3:], torch.ones(3))


def test_scalar_mix():
    mix = ScalarMix(2)
    with torch.no_grad():
        mix.scalars.copy_(torch.tensor([0.0, math.log(3.0)]))
        mix.gamma.fill_(2.0)
    a, b = torch.randn(5, 4), torch.randn(5, 4)
    torch.testing.assert_close(mix(torch.stack([a, b])), 2 * (0.25 * a + 0.75 * b))


def test_each_direction_sees_only_its_side():
    model = tiny()
    ids = torch.tensor([[3, 4, 5, 6, 7, 8]])
    other = ids.clone()
    other[0, 4:] = 9  # change the future
    torch.testing.assert_close(model(ids).logits[0, :4], model(other).logits[0, :4])
    assert not torch.allclose(model(ids).logits[0, 4:], model(other).logits[0, 4:])
    other = ids.clone()
    other[0, :2] = 9  # change the past
    torch.testing.assert_close(model.backward_logits(ids)[0, 2:], model.backward_logits(other)[0, 2:])


def test_sentences_are_scored_on_their_own_in_both_directions():
    model = tiny()
    stream = torch.tensor([3, 4, EOS, 5, 6, 7, EOS])
    fwd, bwd = model.sentence_logprobs(stream)
    fwd2, bwd2 = model.sentence_logprobs(torch.tensor([8, EOS, 5, 6, 7, EOS]))
    torch.testing.assert_close(fwd[3:], fwd2[2:])
    torch.testing.assert_close(bwd[3:], bwd2[2:])
    seq = torch.tensor([[EOS, 5, 6, 7, EOS]])  # the second sentence alone
    direct_f = model(seq[:, :-1]).logits.log_softmax(-1)[0].gather(-1, seq[0, 1:, None])[:, 0]
    direct_b = model.backward_logits(seq[:, 1:]).log_softmax(-1)[0].gather(-1, seq[0, :-1, None])[:, 0]
    torch.testing.assert_close(fwd[3:], direct_f)
    torch.testing.assert_close(bwd[3:], torch.cat([direct_b[1:], direct_b[:1]]))  # words, then the start


def test_layers_shape_and_padding_independence():
    model = tiny()
    layers, mask = model.layers([["w1", "w2"], ["w3", "zebra", "w4", "w5"]])  # any word: it is spelled
    assert layers.shape == (3, 2, 4, 64) and mask.tolist() == [[True, True, False, False], [True] * 4]
    alone, _ = model.layers([["w1", "w2"]])
    torch.testing.assert_close(layers[:, :1, :2], alone)
    torch.testing.assert_close(layers[0, ..., :32], layers[0, ..., 32:])  # the token layer, both halves


def test_engine_decoding_with_the_lstm_cache_matches_full_recompute():
    model = tiny()
    prompt = torch.tensor([[EOS, 3, 4]])
    cached = generate(model, prompt, max_new_tokens=6)[0].tolist()
    seq = prompt[0].tolist()
    for _ in range(6):
        seq.append(int(model(torch.tensor([seq])).logits[0, -1].argmax()))
    assert cached == seq[3:]


def test_elmo_trains_evaluates_and_generates_from_the_cli(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"the cat sat on the mat number {i % 7}" for i in range(400)) + "\n")
    out = tmp_path / "run"
    assert main(["train", "elmo", "--data", str(corpus), "--out", str(out), "--no-progress", "--steps", "40",
                 "--lr", "1e-2", "--warmup", "5", "--batch-size", "8", "--context", "16"]) == 0
    report = capsys.readouterr().out
    assert "perplexity" in report and "| 40 steps |" in report  # the steps taken (issue 14, item 12: "0 steps")
    assert main(["eval", str(out), "--data", str(corpus), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["perplexity"] < 4
    assert main(["generate", str(out), "--prompt", "the cat", "--max-new-tokens", "4", "--seed", "1"]) == 0
    assert capsys.readouterr().out.split()[:2] == ["the", "cat"]
