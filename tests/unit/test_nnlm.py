"""NNLM (Bengio et al. 2003): contexts, the paper's equation, sentence-bounded scoring, the engine's
cache, interpolation, and the word tokenizer shared with the n-gram LM."""

import json
import math

import numpy as np
import torch

from lmlineage.classic.nnlm import NNLM, sentence_contexts
from lmlineage.classic.word_lm import cross_fitted_mixture, interpolate, mixture_weight
from lmlineage.cli import main
from lmlineage.core.registry import get_family
from lmlineage.generation.engine import generate
from lmlineage.tokenizers import load_tokenizer
from lmlineage.tokenizers.word import BOS, EOS, WordTokenizer


def tiny(direct=True, hidden=16, vocab=20, order=4):
    torch.manual_seed(0)
    cfg = get_family("nnlm").config("tiny", vocab_size=vocab, hidden=hidden, order=order, direct=direct)
    return NNLM(cfg)


def test_contexts_stop_at_sentence_ends():
    ids = torch.tensor([[5, 6, EOS, 7, 8]])
    expected = [[BOS, BOS, 5], [BOS, 5, 6], [BOS, BOS, BOS], [BOS, BOS, 7], [BOS, 7, 8]]
    assert sentence_contexts(ids, 3)[0].tolist() == expected
    history = torch.tensor([[9, EOS, 4]])  # a cache: the sentence began with 4
    assert sentence_contexts(torch.tensor([[5]]), 3, history)[0].tolist() == [[BOS, 4, 5]]


def test_forward_is_the_papers_equation():
    model = tiny()
    ids = torch.tensor([[3, 4, 5, 6]])
    x = torch.cat([model.C.weight[i] for i in (4, 5, 6)])  # the last position's context, oldest first
    y = model.b + model.W.weight @ x + model.U.weight @ torch.tanh(model.H.bias + model.H.weight @ x)
    torch.testing.assert_close(model(ids).logits[0, -1], y)
    no_direct = tiny(direct=False)
    assert no_direct.W is None and {n for n, _ in no_direct.named_parameters()} == {"C.weight", "H.weight", "H.bias",
                                                                                     "U.weight", "b"}


def test_scores_depend_on_the_own_sentence_only():
    model = tiny()
    a = model.token_logprobs(torch.tensor([3, 4, 5, EOS, 6, 7, EOS]))
    b = model.token_logprobs(torch.tensor([9, 9, 9, EOS, 6, 7, EOS]))
    torch.testing.assert_close(a[4:], b[4:])
    assert not torch.allclose(a[:4], b[:4])
    full = model(torch.tensor([[EOS, 3, 4, 5]])).logits.log_softmax(-1)[0]  # every token from scratch
    torch.testing.assert_close(a[:4], full.gather(-1, torch.tensor([[3], [4], [5], [EOS]]))[:, 0])


def test_engine_decoding_with_the_history_cache_matches_full_recompute():
    model = tiny().eval()
    prompt = torch.tensor([[EOS, 3, 4]])
    cached = generate(model, prompt, max_new_tokens=8)[0].tolist()
    seq = prompt[0].tolist()
    for _ in range(8):
        seq.append(int(model(torch.tensor([seq])).logits[0, -1].argmax()))
    assert cached == seq[3:]


def test_mixture_weight_is_the_maximum_likelihood_one():
    rng = np.random.default_rng(0)
    a, b = np.log(rng.uniform(0.01, 1, 500)), np.log(rng.uniform(0.01, 1, 500))
    lam = mixture_weight(a, b)
    grid = np.linspace(0.001, 0.999, 999)
    best = grid[np.argmax([interpolate(a, b, g).sum() for g in grid])]
    assert abs(lam - best) < 2e-3
    assert interpolate(a, b, lam).sum() >= max(a.sum(), b.sum())  # a mixture never loses to its parts
    nats, lams = cross_fitted_mixture(a, b)
    assert len(lams) == 2 and math.isfinite(nats)


def test_word_tokenizer_gives_the_ngram_models_tokens_and_vocabulary(tmp_path):
    from lmlineage.classic.ngram import NGramLM
    from lmlineage.tokenizers.word import sentences_from_text

    train = "The cat sat.\nThe dog sat!\n\nA cat ran, the end\n"
    tok = WordTokenizer.train(train, min_count=2)
    lm = NGramLM.fit(sentences_from_text(train), order=2, min_count=2)
    assert tok.words == lm.vocab
    test = "The cow sat\nthe cat.\n"
    assert len(tok.encode(test)) == lm.score_text(test).tokens
    assert tok.decode(tok.encode(test)) == "the <unk> sat\nthe cat\n"
    tok.save(tmp_path)
    again = load_tokenizer(tmp_path)
    assert isinstance(again, WordTokenizer) and again.encode(test) == tok.encode(test)


def test_nnlm_trains_evaluates_and_generates_from_the_cli(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"the cat sat on the mat number {i % 7}" for i in range(400)) + "\n")
    out = tmp_path / "run"
    assert main(["train", "nnlm", "--data", str(corpus), "--out", str(out), "--no-progress", "--steps", "60",
                 "--lr", "1e-2", "--warmup", "5", "--batch-size", "8", "--order", "3"]) == 0
    report = capsys.readouterr().out
    assert "perplexity" in report and "| 60 steps |" in report  # the steps taken (issue 14, item 12: "0 steps")
    assert json.loads((out / "best" / "config.json").read_text())["order"] == 3
    assert main(["eval", str(out), "--data", str(corpus), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["perplexity"] < 4  # 13 tokens, near-deterministic text
    assert main(["generate", str(out), "--prompt", "the cat", "--max-new-tokens", "5", "--seed", "1"]) == 0
    words = capsys.readouterr().out.split()
    assert words[:2] == ["the", "cat"] and set(words) <= {"the", "cat", "sat", "on", "mat", "number", *"0123456"}
    assert main(["train", "nnlm", "--data", str(corpus), "--out", str(tmp_path / "b"), "--order", "1"]) == 2
