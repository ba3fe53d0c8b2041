"""ELMo (Peters et al. 2018, "Deep contextualized word representations"): a character-CNN token
encoder under forward and backward LSTM language models, whose layers are mixed into contextual
word vectors.

* Token encoder (Sec. 3.4, following Kim et al. 2016 and Jozefowicz et al. 2016): each word's
  characters (UTF-8 bytes, with begin/end-of-word marks, at most ``max_chars``) are embedded,
  convolved with filters of several widths, max-pooled over the characters, passed through
  highway layers (Srivastava et al. 2015) and projected to the LSTM width.
* biLM (Sec. 3.1): ``n_layer`` LSTM layers per direction (each a cell of ``d_ff`` units projected to
  ``d_model``, i.e. LSTMP), a residual connection between the layers (Sec. 3.4), the token encoder
  and the softmax shared by both directions; the loss is the sum of the forward and backward
  negative log-likelihoods (eq. 3).
* ELMo (Sec. 3.2, eq. 1): ``gamma * sum_j softmax(s)_j h_j`` over the token layer (duplicated to
  both directions' width) and every LSTM layer ([forward; backward]): :class:`ScalarMix`.

Within the trainer the model reads windows of the word stream; scored held-out text is read one
sentence at a time (each word predicted from its own sentence only), as the n-gram LM reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from ..core.config import FamilyConfig, classic_flat, require_positive, require_range
from ..core.errors import UserError
from ..tokenizers.word import BOS, EOS, UNK, SPECIALS
from .word_lm import WordLM

# Character ids: 0 pads, a byte b is b + 1; then marks for a word's begin/end and the specials.
PAD_CHAR, BOW, EOW, CHAR_BOS, CHAR_EOS, CHAR_UNK = 0, 257, 258, 259, 260, 261
N_CHARS = 262
_SPECIAL_CHARS = {SPECIALS[UNK]: CHAR_UNK, SPECIALS[BOS]: CHAR_BOS, SPECIALS[EOS]: CHAR_EOS}


def word_char_ids(word: str, max_chars: int) -> list[int]:
    """``[BOW, bytes..., EOW]`` padded with 0 to ``max_chars``; long words keep their first bytes."""
    if word in _SPECIAL_CHARS:
        inner = [_SPECIAL_CHARS[word]]
    else:
        inner = [b + 1 for b in word.encode("utf-8")[: max_chars - 2]]
    ids = [BOW, *inner, EOW]
    return ids + [PAD_CHAR] * (max_chars - len(ids))


class Highway(nn.Module):
    """``y = g * x + (1 - g) * relu(W_h x)``, ``g = sigmoid(W_g x)``, per layer (Srivastava et al.
    2015). The gate bias starts at 1, so each layer first mostly carries its input through."""

    def __init__(self, dim: int, n_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(dim, 2 * dim) for _ in range(n_layers))
        for layer in self.layers:
            nn.init.zeros_(layer.bias[:dim])
            nn.init.ones_(layer.bias[dim:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            transform, gate = layer(x).chunk(2, dim=-1)
            gate = torch.sigmoid(gate)
            x = gate * x + (1 - gate) * F.relu(transform)
        return x


class CharCNN(nn.Module):
    """(..., max_chars) character ids -> (..., out_dim) token vectors."""

    def __init__(self, char_dim: int, filters: list[list[int]], n_highway: int, out_dim: int):
        super().__init__()
        self.embed = nn.Embedding(N_CHARS, char_dim, padding_idx=PAD_CHAR)
        self.convs = nn.ModuleList(nn.Conv1d(char_dim, n, width) for width, n in filters)
        width = sum(n for _, n in filters)
        self.highway = Highway(width, n_highway)
        self.projection = nn.Linear(width, out_dim)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        shape = chars.shape[:-1]
        x = self.embed(chars.reshape(-1, chars.shape[-1])).transpose(1, 2)  # (N, char_dim, max_chars)
        pooled = torch.cat([F.relu(conv(x).max(dim=-1).values) for conv in self.convs], dim=-1)
        return self.projection(self.highway(pooled)).reshape(*shape, -1)


class ScalarMix(nn.Module):
    """ELMo's task-specific combination (eq. 1): ``gamma * sum_j softmax(s)_j * layer_j``."""

    def __init__(self, n_layers: int):
        super().__init__()
        self.scalars = nn.Parameter(torch.zeros(n_layers))
        self.gamma = nn.Parameter(torch.ones(()))

    def forward(self, layers: torch.Tensor) -> torch.Tensor:
        """``layers``: (n_layers, ..., dim)."""
        weights = self.scalars.softmax(0).reshape(-1, *([1] * (layers.dim() - 1)))
        return self.gamma * (weights * layers).sum(0)


@dataclass
class BiLMOutput:
    logits: torch.Tensor


class LSTMState:
    """The engine's cache for the forward LM: each layer's (h, c)."""

    def __init__(self, n_layers: int):
        self.states: list = [None] * n_layers


@dataclass
class ELMoConfig(FamilyConfig):
    """The biLM's sizes; ``max_positions``: the training window."""

    family: str = "elmo"
    max_positions: int = 64
    d_model: int = 128  # LSTM output (projection) and token width
    cell: int | None = None  # LSTM cell size, projected back to d_model when larger (LSTMP); None: d_model
    n_layer: int = 2  # layers per direction
    dropout: float = 0.0
    char_dim: int = 16  # the character embedding
    filters: list[list[int]] = field(default_factory=lambda: [[1, 32], [2, 32], [3, 64]])  # [width, count] pairs
    highway: int = 2  # highway layers after the character CNN
    max_chars: int = 50  # characters read per word

    FLAT = classic_flat(d_model="d_model", d_ff="cell", n_layer="n_layer", dropout="dropout",
                        **{f"extra.{k}": k for k in ("char_dim", "filters", "highway", "max_chars")})

    def validate(self, where: str = "") -> None:
        super().validate(where)
        require_positive(self, where, "d_model", "n_layer", "char_dim", "max_chars")
        require_positive(self, where, "cell", optional=True)
        require_range(self, where, "dropout", 0, False, 1)
        if self.highway < 0:
            raise UserError(f"config highway must be >= 0, got {self.highway}")
        if not self.filters or any(len(f) != 2 or min(f) < 1 for f in self.filters):
            raise UserError(f"config filters={self.filters!r}", "list [width, count] pairs of positive integers")


class ELMo(WordLM, nn.Module):
    """Peters et al. 2018's biLM: a character CNN with highway layers, then forward and backward
    LSTM stacks sharing the token encoder and the softmax."""

    def __init__(self, cfg: ELMoConfig):
        super().__init__()
        self.config = cfg
        self.max_chars = cfg.max_chars
        self.encoder = CharCNN(cfg.char_dim, cfg.filters, cfg.highway, cfg.d_model)
        cell = max(cfg.cell or cfg.d_model, cfg.d_model)
        proj = cfg.d_model if cell > cfg.d_model else 0  # LSTMP: the cell projected back to d_model

        def stack():
            return nn.ModuleList(nn.LSTM(cfg.d_model, cell, batch_first=True, proj_size=proj)
                                 for _ in range(cfg.n_layer))

        self.forward_lstm, self.backward_lstm = stack(), stack()
        self.softmax = nn.Linear(cfg.d_model, cfg.vocab_size)  # shared by both directions (Sec. 3.1)
        self.dropout = nn.Dropout(cfg.dropout)
        # each vocabulary word's characters: what the token encoder reads for an id
        self.register_buffer("char_table", torch.zeros(cfg.vocab_size, self.max_chars, dtype=torch.long))

    def use_vocabulary(self, words: list[str]) -> None:
        if len(words) != self.config.vocab_size:
            raise ValueError(f"{len(words)} words for a vocabulary of {self.config.vocab_size}")
        self.char_table.copy_(torch.tensor([word_char_ids(w, self.max_chars) for w in words]))

    def chars_of(self, sentences: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Character ids (B, T, max_chars) of words themselves (any word, in the vocabulary or not)
        and their lengths, right-padded."""
        width = max(len(s) for s in sentences)
        chars = torch.zeros(len(sentences), width, self.max_chars, dtype=torch.long)
        for row, words in enumerate(sentences):
            if words:
                chars[row, : len(words)] = torch.tensor([word_char_ids(w, self.max_chars) for w in words])
        return chars.to(self.char_table.device), torch.tensor([len(s) for s in sentences])

    # ------------------------------------------------------------------ the biLM
    def embed_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Token vectors for word ids: the encoder runs once per distinct id of the batch."""
        unique, inverse = ids.unique(return_inverse=True)
        return self.encoder(self.char_table[unique])[inverse]

    def run(self, x: torch.Tensor, lstms: nn.ModuleList, states: list | None = None) -> list[torch.Tensor]:
        """Every layer's outputs (B, T, d_model), left to right; residual from the second layer on."""
        outputs = []
        for j, lstm in enumerate(lstms):
            h, state = lstm(self.dropout(x), states[j] if states is not None else None)
            if states is not None:
                states[j] = state
            x = h + x if j > 0 else h
            outputs.append(x)
        return outputs

    def forward(self, input_ids, attention_mask=None, position_ids=None, cache: LSTMState | None = None,
                logits_slice=None, **_) -> BiLMOutput:
        """The forward LM: logits for the token after each position (the engine's step protocol)."""
        h = self.run(self.embed_ids(input_ids), self.forward_lstm, cache.states if cache is not None else None)[-1]
        if logits_slice is not None:
            h = h[:, logits_slice:] if logits_slice < 0 else h[:, :logits_slice]
        return BiLMOutput(self.softmax(self.dropout(h)))

    def backward_logits(self, ids: torch.Tensor) -> torch.Tensor:
        """The backward LM: at each position, logits for the token before it, from it and all after."""
        h = self.run(self.embed_ids(ids.flip(1)), self.backward_lstm)[-1]
        return self.softmax(self.dropout(h)).flip(1)

    def new_cache(self, batch_size: int, max_length: int = 0, static: bool = False) -> LSTMState:
        return LSTMState(len(self.forward_lstm))

    # ------------------------------------------------------------------ scoring sentences
    def _sentence_batches(self, ids: torch.Tensor, batch: int = 64):
        """Sentences of a stream (each ending in ``</s>``) as right-padded (B, T) rows
        ``[</s>, words..., </s>]``, longest first, with their lengths and stream order."""
        ends = (ids == EOS).nonzero()[:, 0].tolist()
        if not ends or ends[-1] != len(ids) - 1:
            ends.append(len(ids) - 1)
        starts = [0] + [e + 1 for e in ends[:-1]]
        order = sorted(range(len(starts)), key=lambda i: starts[i] - ends[i])
        for first in range(0, len(order), batch):
            chosen = order[first : first + batch]
            rows = [[EOS] + ids[starts[i] : ends[i] + 1].tolist() for i in chosen]
            width = max(len(r) for r in rows)
            padded = torch.full((len(rows), width), EOS, dtype=torch.long)
            for r, row in enumerate(rows):
                padded[r, : len(row)] = torch.tensor(row)
            yield chosen, padded, [len(r) for r in rows], starts

    @torch.no_grad()
    def sentence_logprobs(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(forward, backward) log P of every token of a stream of sentences, each from its own
        sentence: forward predicts the words and ``</s>`` left to right, backward the words right to
        left and then the sentence start (the ``</s>`` before it), as many tokens as forward."""
        device = self.char_table.device
        fwd, bwd = torch.zeros(len(ids)), torch.zeros(len(ids))
        for chosen, padded, lengths, starts in self._sentence_batches(ids.cpu()):
            padded = padded.to(device)
            f = self(padded[:, :-1]).logits.float().log_softmax(-1).gather(-1, padded[:, 1:, None])[..., 0]
            reversed_rows = padded.clone()
            for r, n in enumerate(lengths):
                reversed_rows[r, :n] = padded[r, :n].flip(0)
            # the backward LM reads each reversed sentence left to right: [</s>, w_n .. w_1] -> [w_n .. w_1, start]
            b = self.backward_logits(reversed_rows[:, :-1].flip(1)).flip(1)
            b = b.float().log_softmax(-1).gather(-1, reversed_rows[:, 1:, None])[..., 0]
            for r, i in enumerate(chosen):
                n = lengths[r] - 1  # tokens predicted in this sentence
                fwd[starts[i] : starts[i] + n] = f[r, :n].cpu()
                # aligned with the forward tokens: w_1 .. w_n, then the sentence boundary
                bwd[starts[i] : starts[i] + n] = torch.cat([b[r, : n - 1].flip(0), b[r, n - 1 : n]]).cpu()
        return fwd, bwd

    def token_logprobs(self, ids: torch.Tensor) -> torch.Tensor:
        return self.sentence_logprobs(ids)[0]

    def evaluate_text(self, text: str) -> dict:
        """The forward LM's score (the one comparable with left-to-right LMs) and the backward LM's."""
        ids = torch.tensor(self.tokenizer.encode(text), dtype=torch.long)
        was = self.training
        self.eval()
        fwd, bwd = self.sentence_logprobs(ids)
        self.train(was)
        nats = -float(fwd.double().sum())
        return {"loss": nats / len(ids), "nats": nats, "tokens": len(ids), "chars": len(text),
                "backward_loss": -float(bwd.double().mean())}

    # ------------------------------------------------------------------ contextual embeddings
    @torch.no_grad()
    def layers(self, sentences: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """The biLM's layers for each word of each sentence: (n_layer + 1, B, T, 2 * d_model) and the
        (B, T) mask of real words. Layer 0 is the token encoder's vector, repeated for both directions."""
        marked = [[SPECIALS[EOS], *words, SPECIALS[EOS]] for words in sentences]  # sentence boundaries
        chars, lengths = self.chars_of(marked)
        x = self.encoder(chars)
        forward = self.run(x, self.forward_lstm)
        index = torch.arange(chars.shape[1])[None].expand(len(marked), -1)
        flip = torch.where(index < lengths[:, None], lengths[:, None] - 1 - index, index).to(x.device)
        gather = flip[..., None].expand(-1, -1, x.shape[-1])
        backward = [h.gather(1, gather) for h in self.run(x.gather(1, gather), self.backward_lstm)]
        stacked = torch.stack([torch.cat([x, x], -1)] + [torch.cat([f, b], -1) for f, b in zip(forward, backward)])
        mask = (index >= 1) & (index < lengths[:, None] - 1)  # the words, not the boundaries
        return stacked[:, :, 1:-1], mask[:, 1:-1].to(x.device)

