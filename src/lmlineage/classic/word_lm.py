"""What the word-level neural LMs (NNLM, ELMo) share: their data split, the shared trainer, scoring
held-out text token by token, and interpolation with another model.

The split is the n-gram LM's (:func:`lmlineage.data.corpora.split_text`: the last 10% of the text,
from a line break), tokenized by :class:`~lmlineage.tokenizers.word.WordTokenizer` built on the
training part, so every word-level model is scored on the same tokens. Models are trained by the
one trainer (:mod:`lmlineage.train.trainer`) on random windows of the training token stream, and
expose ``token_logprobs(ids)``: the natural-log probability of every token of a stream of
sentences, each predicted from its own sentence only (what the n-gram LM conditions on, too).
The run driver (:mod:`lmlineage.train.run`) trains them on this split.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.errors import UserError
from ..models.capabilities import ModelCapabilities


def split_corpus(corpus: list[str], min_count: int = 2):
    """(tokenizer, training ids, held-out text, held-out ids) from a corpus's documents."""
    from ..data.corpora import split_text
    from ..tokenizers.word import WordTokenizer

    train_text, val_text = split_text("\n".join(corpus))
    tok = WordTokenizer.train(train_text, min_count=min_count)
    train_ids = np.asarray(tok.encode(train_text), dtype=np.int32)
    val_ids = np.asarray(tok.encode(val_text), dtype=np.int32)
    if len(val_ids) < 2:
        raise UserError("the corpus has too little text to hold out 10% for validation", "give a larger corpus")
    return tok, train_ids, val_text, val_ids


@torch.no_grad()
def evaluate_text(model, tok, text: str) -> dict:
    """Total nats over the tokens of ``text`` (words + one ``</s>`` per sentence) and its characters."""
    ids = torch.tensor(tok.encode(text), dtype=torch.long)
    if len(ids) == 0:
        raise UserError("the text has no words to score", "give a text with words")
    was = model.training
    model.eval()
    nats = -float(model.token_logprobs(ids).double().sum())
    model.train(was)
    return {"loss": nats / len(ids), "nats": nats, "tokens": int(len(ids)), "chars": len(text)}


class WordLM(ModelCapabilities):
    """The classic face of a word-level neural LM: ``evaluate_text`` (what ``lmlineage eval`` calls
    on the held-out text) and ``sample_text`` (what ``lmlineage.generate`` calls): a sentence
    continued through the generation engine. The model's ``tokenizer`` is set when a checkpoint
    is loaded."""

    samples_by_own_rule = True

    tokenizer = None

    def evaluate_text(self, text: str) -> dict:
        return evaluate_text(self, self.tokenizer, text)

    def sample_text(self, prompt: str = "", max_new_tokens: int | None = None, seed: int | None = None,
                    temperature: float = 1.0, **_) -> str:
        from ..generation.engine import generate
        from ..tokenizers.word import EOS

        tok = self.tokenizer
        max_new_tokens = 30 if max_new_tokens is None else max_new_tokens
        ids = torch.tensor([[EOS] + tok.encode_words(prompt or "")])  # a sentence end: the prompt starts one
        new = generate(self, ids.to(next(self.parameters()).device), max_new_tokens=max_new_tokens,
                       temperature=temperature, seed=seed)[0]
        return tok.decode(ids[0, 1:].tolist() + new.tolist())


def mixture_weight(logp_a, logp_b, iterations: int = 100, tol: float = 1e-7) -> float:
    """The weight ``lam`` maximising sum(log(lam * p_a + (1 - lam) * p_b)) on held-out tokens, by EM
    (the way Bengio et al. 2003, Sec. 4, mix the network with an interpolated trigram)."""
    a, b = np.asarray(logp_a, np.float64), np.asarray(logp_b, np.float64)
    lam = 0.5
    for _ in range(iterations):
        la, lb = np.log(lam) + a, np.log1p(-lam) + b
        posterior = np.exp(la - np.logaddexp(la, lb)).mean()  # E-step: share of the mass from model a
        done = abs(posterior - lam) < tol
        lam = float(np.clip(posterior, 1e-6, 1 - 1e-6))
        if done:
            break
    return lam


def interpolate(logp_a, logp_b, lam: float) -> np.ndarray:
    """log(lam * p_a + (1 - lam) * p_b), token by token."""
    a, b = np.asarray(logp_a, np.float64), np.asarray(logp_b, np.float64)
    return np.logaddexp(np.log(lam) + a, np.log1p(-lam) + b)


def cross_fitted_mixture(logp_a, logp_b) -> tuple[float, list[float]]:
    """Interpolated nats per token where each half of the held-out tokens is scored with the weight
    fitted on the other half, so the weight never sees the tokens it scores; and both weights."""
    a, b = np.asarray(logp_a, np.float64), np.asarray(logp_b, np.float64)
    half = len(a) // 2
    first, second = slice(0, half), slice(half, len(a))
    lam_first, lam_second = mixture_weight(a[first], b[first]), mixture_weight(a[second], b[second])
    total = interpolate(a[first], b[first], lam_second).sum() + interpolate(a[second], b[second], lam_first).sum()
    return -float(total) / len(a), [lam_first, lam_second]


def load_word_lm(directory):
    """A word-level LM checkpoint (weights, config, word tokenizer), ready to score or generate."""
    from ..tokenizers import load_tokenizer
    from ..tokenizers.word import WordTokenizer
    from ..checkpoint.model import load_model
    from ..models import build_model

    model = load_model(directory, build_model)
    model.tokenizer = load_tokenizer(directory)
    if not isinstance(model.tokenizer, WordTokenizer):
        raise UserError(f"{directory} holds no word tokenizer", "is it a checkpoint of a word-level family?")
    return model.eval()
