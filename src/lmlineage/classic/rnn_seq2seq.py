"""RNN encoder-decoders: the fixed context vector (Cho et al. 2014; Sutskever, Vinyals & Le 2014)
and Bahdanau attention (Bahdanau, Cho & Bengio 2015, "Neural Machine Translation by Jointly
Learning to Align and Translate").

One model, two ways of reading the source (the families ``seq2seq`` and ``bahdanau`` pick one):

* Encoder: source embeddings into a GRU (Cho et al. 2014, sec. 2.3), one direction or both
  (Bahdanau et al. sec. 3.2: the annotation h_j = [forward h_j; backward h_j]). Its ``summary`` is
  the state that has read the whole source: the forward GRU's last state (Cho et al.), or the
  backward GRU's state at the first word (Bahdanau et al. A.2.2: s_0 = tanh(W_s backward h_1)).
* Context c_i for target step i: :class:`FixedContext`, c = tanh(V h_N), one vector for every
  step (Cho et al. sec. 2.2: "a summary c of the whole input sequence"); or
  :class:`AdditiveAttention`, c_i = sum_j alpha_ij h_j with alpha_ij = softmax_j(e_ij),
  e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j) (Bahdanau et al. sec. 3.1, A.1.2).
* Decoder: s_0 = tanh(W_s summary); s_i = GRU([E y_{i-1}; c_i], s_{i-1}); the readout is a maxout
  of pool 2 over U_o s_i + V_o E y_{i-1} + C_o c_i, then a linear map to the vocabulary (Bahdanau
  et al. eq. 4 and A.2.2; Cho et al. eq. for p(y_t | y_{t-1}, h_t, c)). The two models differ only
  in c_i, so a comparison of the two measures what attention adds.

Sutskever et al. instead fed the context only as the decoder's first state, with deep LSTMs and
the source read backwards (sec. 3.3); the fixed-vector model here is Cho et al.'s, the
"RNNencdec" baseline of Bahdanau et al., so both families share cell, sizes and readout.

It speaks the generation engine's encoder-decoder protocol (``generation/engine.py``): ``encode``
returns ``(annotations, memory, s_0)`` (batch on dim 0; ``memory`` is what the context precomputes
once per source: U_a h_j, or c), ``forward`` takes ``encoder_out`` / ``encoder_mask`` / ``cache`` /
``logits_slice``, and the cache (:class:`RecurrentState`) is the decoder's last state with
``reorder``. ``forward`` also returns the alignment weights alpha (B, T, S) of every step.
Sources are right-padded (the engine and the pair batches pad them so): the encoder packs them
by length, and attention gives padding zero weight, so padding never changes an output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..core.config import DecoderSpec, FamilyConfig, classic_flat, require_positive, require_range
from ..core.errors import UserError
from ..models.capabilities import ModelCapabilities

@dataclass
class RNNSeq2SeqOutput:
    logits: torch.Tensor | None
    last_hidden_state: torch.Tensor  # the decoder's states s_i (B, T, d_model)
    attentions: torch.Tensor | None  # alpha (B, T, S): step i's weights over the source; None: fixed context
    encoder_last_hidden_state: torch.Tensor | None = None  # the annotations h_j (B, S, d_model * directions)


class RecurrentState:
    """The engine's cache: the decoder's last state s_{i-1} (B, d_model); None before the first step."""

    def __init__(self):
        self.state: torch.Tensor | None = None

    def reorder(self, index: torch.Tensor) -> None:
        if self.state is not None:
            self.state = self.state.index_select(0, index)


class FixedContext(nn.Module):
    """c = tanh(V summary): the whole source as one vector, the same at every target step."""

    def __init__(self, hidden: int, annotation: int):
        super().__init__()
        self.V = nn.Linear(hidden, hidden)
        self.dim = hidden

    def prepare(self, annotations: torch.Tensor, summary: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.V(summary))

    def forward(self, state, annotations, memory, mask):
        return memory, None


class AdditiveAttention(nn.Module):
    """e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j), alpha_i = softmax over the real source positions,
    c_i = sum_j alpha_ij h_j. U_a h_j does not depend on i and is computed once per source
    (``prepare``; Bahdanau et al. A.1.2). The alignment model's width n' is ``hidden``, as in the
    paper (n' = n = 1000)."""

    def __init__(self, hidden: int, annotation: int):
        super().__init__()
        self.W = nn.Linear(hidden, hidden, bias=False)
        self.U = nn.Linear(annotation, hidden, bias=False)
        self.v = nn.Linear(hidden, 1, bias=False)
        self.dim = annotation
        nn.init.zeros_(self.v.weight)  # every alignment starts uniform (Bahdanau et al. A.2.2: v_a = 0)

    def prepare(self, annotations: torch.Tensor, summary: torch.Tensor) -> torch.Tensor:
        return self.U(annotations)

    def forward(self, state, annotations, memory, mask):
        scores = self.v(torch.tanh(self.W(state)[:, None] + memory)).squeeze(-1)  # (B, S)
        alpha = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        return torch.bmm(alpha[:, None], annotations).squeeze(1), alpha


@dataclass
class Seq2SeqConfig(FamilyConfig):
    """The RNN encoder-decoder's sizes (Bahdanau et al. 2015, A.2); ``max_positions``: the longest
    sequence; ``decoder``: the token ids the pair task sets (its ``n_layer`` stays unset: the decoder
    has one GRU layer, as in both papers)."""

    family: str = "seq2seq"
    max_positions: int = 64
    hidden: int = 1000  # n: GRU units
    embed_dim: int | None = None  # m: word embedding size; None: n
    readout: int = 500  # l: maxout units of the readout
    n_layer: int = 1  # stacked encoder GRU layers
    dropout: float = 0.0  # on embeddings and the readout
    decoder: DecoderSpec = field(default_factory=DecoderSpec)

    FLAT = classic_flat(d_model="hidden", embed_dim="embed_dim", d_ff="readout", n_layer="n_layer",
                        dropout="dropout", decoder_start_id="decoder.start_id",
                        **{"extra.pad_id": "decoder.pad_id", "extra.eos_id": "decoder.eos_id"})

    def validate(self, where: str = "") -> None:
        super().validate(where)
        require_positive(self, where, "hidden", "readout", "n_layer")
        require_positive(self, where, "embed_dim", optional=True)
        require_range(self, where, "dropout", 0, False, 1)
        if self.decoder.n_layer not in (None, 1):
            raise UserError(f"config decoder.n_layer={self.decoder.n_layer}: the RNN decoder has one GRU layer",
                            "leave decoder.n_layer unset")


class RNNEncoderDecoder(ModelCapabilities, nn.Module):
    """``context``: :class:`FixedContext` or :class:`AdditiveAttention`; ``bidirectional``: the encoder."""

    is_encoder_decoder = True
    tokenizer = None  # set by ``lmlineage.load`` when the checkpoint carries one

    def __init__(self, cfg: Seq2SeqConfig, context: type[nn.Module] = FixedContext, bidirectional: bool = False):
        super().__init__()
        self.config = cfg
        n, m, readout = cfg.hidden, cfg.embed_dim or cfg.hidden, cfg.readout
        self.source_embed = nn.Embedding(cfg.vocab_size, m)
        self.encoder = nn.GRU(m, n, num_layers=cfg.n_layer, batch_first=True, bidirectional=bidirectional,
                              dropout=cfg.dropout if cfg.n_layer > 1 else 0.0)
        annotation = n * (2 if bidirectional else 1)
        self.context = context(n, annotation)
        self.target_embed = nn.Embedding(cfg.vocab_size, m)
        self.init_state = nn.Linear(n, n)  # W_s
        self.cell = nn.GRUCell(m + self.context.dim, n)
        self.readout = nn.Linear(n + m + self.context.dim, 2 * readout)  # U_o, V_o, C_o side by side
        self.lm_head = nn.Linear(readout, cfg.vocab_size)  # W_o
        self.dropout = nn.Dropout(cfg.dropout)
        self._init_weights()

    def _init_weights(self) -> None:
        """Recurrent matrices random orthogonal, one per gate, and biases zero (Bahdanau et al.
        A.2.2). The other matrices keep PyTorch's fan-in scaled init rather than the paper's
        N(0, 0.01^2), which suits its 1000-unit layers but starves narrow ones: at width 64 the
        ``tiny`` Bahdanau model's training loss on reversal stood at 2.19 after 150 Adam steps with
        it, 0.014 with fan-in scaling."""
        for name, p in self.named_parameters():
            if name.startswith("context.v."):
                continue
            if "bias" in name:
                nn.init.zeros_(p)
            elif "weight_hh" in name:
                for gate in p.data.chunk(3, dim=0):  # reset, update, new
                    nn.init.orthogonal_(gate)

    @property
    def decoder_start_id(self) -> int:
        return self.config.decoder.start_id

    @property
    def has_attention(self) -> bool:
        return not isinstance(self.context, FixedContext)

    def new_cache(self, batch_size: int = 1, max_length: int | None = None, static: bool = False, **_) -> RecurrentState:
        return RecurrentState()  # fixed size whatever the length: static and dynamic are the same here

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """Source ids (B, S), right-padded, and mask (B, S; 1 at real tokens) -> ``(annotations
        (B, S, n * directions), memory, s_0 (B, n))``; annotations are 0 at padding."""
        mask = _source_mask(input_ids, attention_mask)
        lengths = mask.sum(1).clamp(min=1).cpu()
        x = self.dropout(self.source_embed(input_ids))
        packed, final = self.encoder(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        annotations, _ = pad_packed_sequence(packed, batch_first=True, total_length=input_ids.shape[1])
        summary = final[-1]  # last layer: forward's last state, or backward's state at the first word
        return annotations, self.context.prepare(annotations, summary), torch.tanh(self.init_state(summary))

    def forward(self, decoder_input_ids: torch.Tensor, encoder_out=None, encoder_mask: torch.Tensor | None = None,
                cache: RecurrentState | None = None, *, input_ids: torch.Tensor | None = None,
                decoder_attention_mask: torch.Tensor | None = None,
                logits_slice: int | None = None) -> RNNSeq2SeqOutput:
        """Logits for ``decoder_input_ids`` (B, T), teacher forced. The source is ``encoder_out``
        (from ``encode``) or ``input_ids``; ``encoder_mask`` (B, S) marks its real tokens. With a
        ``cache`` the decoder continues from its state and leaves the new one there.
        ``decoder_attention_mask`` is accepted and unused: the decoder reads left to right, so
        padding after a target changes none of its predictions."""
        if encoder_out is None:
            if input_ids is None:
                raise ValueError("give the source: input_ids, or encoder_out from encode()")
            encoder_out = self.encode(input_ids, encoder_mask)
        annotations, memory, state = encoder_out
        mask = _source_mask(annotations[..., 0], encoder_mask)
        if cache is not None and cache.state is not None:
            state = cache.state
        embedded = self.dropout(self.target_embed(decoder_input_ids))
        states, contexts, weights = [], [], []
        for i in range(decoder_input_ids.shape[1]):
            context, alpha = self.context(state, annotations, memory, mask)
            state = self.cell(torch.cat([embedded[:, i], context], dim=-1), state)
            states.append(state)
            contexts.append(context)
            weights.append(alpha)
        if cache is not None:
            cache.state = state
        s, c = torch.stack(states, dim=1), torch.stack(contexts, dim=1)
        keep = slice(None) if logits_slice is None else slice(logits_slice, None)
        t = self.readout(torch.cat([s, embedded, c], dim=-1)[:, keep])
        t = t.unflatten(-1, (-1, 2)).amax(-1)  # maxout over pairs of units
        return RNNSeq2SeqOutput(
            logits=self.lm_head(self.dropout(t)), last_hidden_state=s,
            attentions=torch.stack(weights, dim=1) if self.has_attention else None,
            encoder_last_hidden_state=annotations,
        )


def _source_mask(like: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """A bool (B, S) mask of real source tokens, checked to be right-padded (real tokens first)."""
    if attention_mask is None:
        return torch.ones(like.shape[:2], dtype=torch.bool, device=like.device)
    mask = attention_mask.bool()
    if bool((mask[:, 1:] & ~mask[:, :-1]).any()):
        raise ValueError("an RNN encoder reads right-padded sources: real tokens first, then padding")
    return mask
