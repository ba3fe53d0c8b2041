"""Transformer-XL's relative attention against a 3-token example worked by hand (there is no
reference implementation in transformers 5.x), and its --mem-len refusals."""

import math

import pytest
import torch

from lmlineage import cli
from lmlineage.layers.attention import Attention
from lmlineage.layers.relative_attention import RelativeSinusoidScores

# One head of width 2; sinusoids of width 4: R_d = [sin d, sin(d / 100), cos d, cos(d / 100)]
# (frequencies 1 / 10000^(0/4) and 1 / 10000^(2/4)).
Q = [[1.0, 0.0], [0.5, -1.0], [0.0, 2.0]]
K = [[0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]]
U = [0.1, -0.2]
V = [0.3, 0.4]
W_R = [[1.0, 0.0, 0.5, 0.0], [0.0, -1.0, 0.0, 2.0]]  # (head_dim, d_model)


def by_hand() -> list[list[float]]:
    """A_ij = q_i.k_j + q_i.W_R R_{i-j} + u.k_j + v.W_R R_{i-j}, times 1/sqrt(2) (Dai et al. 2019, 3.3)."""
    def r(d):
        return [math.sin(d), math.sin(d / 100), math.cos(d), math.cos(d / 100)]

    def proj(vec):
        return [sum(w * x for w, x in zip(row, vec)) for row in W_R]

    def dot(a, b):
        return sum(x * y for x, y in zip(a, b))

    return [[(dot(Q[i], K[j]) + dot(Q[i], proj(r(i - j))) + dot(U, K[j]) + dot(V, proj(r(i - j)))) / math.sqrt(2)
             for j in range(3)] for i in range(3)]


def hook() -> RelativeSinusoidScores:
    scores = RelativeSinusoidScores(d_model=4, n_head=1, head_dim=2, n_layer=1)
    with torch.no_grad():
        scores.position_proj[0].weight.copy_(torch.tensor(W_R))
        scores.content_bias[0].copy_(torch.tensor([U]))
        scores.position_bias[0].copy_(torch.tensor([V]))
    return scores


def test_relative_scores_match_the_hand_worked_example():
    class Layer:
        layer, scale = 0, 1 / math.sqrt(2)

    q, k = torch.tensor(Q)[None, None], torch.tensor(K)[None, None]
    shifted, position = hook()(q, k, torch.arange(3)[None], torch.arange(3)[None], Layer())
    scores = shifted @ k.transpose(-1, -2) * Layer.scale + position
    torch.testing.assert_close(scores[0, 0], torch.tensor(by_hand()), atol=1e-6, rtol=0)
    assert by_hand()[2][0] != by_hand()[0][2]  # the position terms are not symmetric in i - j


@pytest.mark.parametrize("backend", ["sdpa", "eager"])
def test_causal_attention_softmaxes_the_hand_worked_scores(backend):
    """Through the shared attention: q, k, v are the rows above (identity-like projections), each
    query sees itself and the keys before it, and the output is the softmax-weighted values."""
    attention = Attention(dim=4, n_head=1, kv_heads=1, head_dim=2, bias=False, score_mod=hook())
    attention.backend = backend
    x = torch.cat([torch.tensor(Q), torch.tensor(K)], dim=-1)[None]  # token i reads [q_i, k_i]
    pick_q, pick_k = torch.eye(4)[:2], torch.eye(4)[2:]
    with torch.no_grad():
        attention.qkv.weight.copy_(torch.cat([pick_q, pick_k, pick_q]))  # queries q_i, keys k_i, values q_i
        attention.out.weight.copy_(pick_q.T)
    out = attention(x, is_causal=True)
    hand = by_hand()
    expected = []
    for i in range(3):
        weights = torch.tensor(hand[i][: i + 1]).softmax(-1)
        expected.append(sum(w * torch.tensor(Q[j]) for j, w in enumerate(weights)))
    torch.testing.assert_close(out[0, :, :2], torch.stack(expected), atol=1e-5, rtol=0)


def one_line_exit_2(capsys, argv, needle):
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and needle in err[0], err


def test_a_negative_memory_is_refused_in_one_line(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abcdefgh " * 400)
    out = tmp_path / "run"
    one_line_exit_2(capsys, ["train", "transformer-xl", "--data", corpus, "--mem-len", -1, "--steps", 1, "--out", out],
                    "--mem-len -1")
    assert not (out / "last").exists()
    one_line_exit_2(capsys, ["train", "gpt2", "--data", corpus, "--mem-len", 8, "--steps", 1, "--out", out],
                    "--mem-len")
    assert cli.main(["train", "transformer-xl", "--data", str(corpus), "--steps", "1", "--context", "48",
                     "--batch-size", "2", "--eval-batches", "1", "--no-progress", "--out", str(out)]) == 0
    capsys.readouterr()
    one_line_exit_2(capsys, ["eval", out, "--mem-len", -1], "--mem-len -1")
    assert cli.main(["eval", str(out), "--mem-len", "0"]) == 0
