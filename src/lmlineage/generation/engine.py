"""One generation engine for every model that speaks one of two small step protocols.

Decoder-only models (``is_encoder_decoder`` absent or false)::

    model(input_ids, attention_mask=..., position_ids=..., cache=..., logits_slice=-1).logits  # (B, T', V)
    model.new_cache(batch_size=..., max_length=..., static=...)

Encoder-decoder models (``model.is_encoder_decoder = True``; Transformer, T5, BART, and the RNN
seq2seq / Bahdanau models implement the same four names)::

    encoder_out = model.encode(input_ids, attention_mask)      # source (B, S), mask (B, S), 1 = real
    model(decoder_ids, encoder_out=encoder_out, encoder_mask=attention_mask, cache=cache,
          logits_slice=-1).logits                               # (B, T', V) for decoder_ids (B, T)
    model.new_cache(batch_size=..., max_length=..., static=...)
    model.decoder_start_id                                      # the first decoder input (int)

The source may be pixel values, (B, C, H, W) floats, for a model that captions images (BLIP).
``encoder_out`` may be any tensor, or tuple / list / dict of tensors (an RNN's outputs and
final state), with the batch on dim 0 of each tensor; the engine only passes it back and
selects rows of it. Decoding starts from ``decoder_start_id`` and feeds one token per step.

Every cache (both protocols) has ``reorder(index)``: row i becomes old row ``index[i]``
(``index`` a LongTensor on the model's device). The engine calls it to expand each prompt to
its beams after the first step and to follow surviving hypotheses in beam search; a model whose
``new_cache`` returns None is run without a cache (the whole prefix every step).

Decoding: greedy when ``temperature == 0``, else sampling with temperature, top-k, top-p and a
repetition penalty; beam search when ``num_beams > 1`` (greedy scoring, ``length_penalty``,
``early_stopping``, ``num_return_sequences`` best hypotheses per prompt), which selects the
same hypotheses as ``transformers``' ``generate`` does. Decoder-only prompts of different
lengths are left-padded; finished rows keep emitting ``pad_id``.

Past the context (``context.py``): a decoder with a position table (``model.context_window``)
predicts each token from the last window, as nanoGPT does; one with relative positions (RoPE,
ALiBi) decodes on as far as its cache holds.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F

from ..core.errors import UserError
from . import processors
from .compiled import CapturedDecoderSteps
from .context import last_window, last_window_logits, window_of

NEG = -1.0e9  # the score of an impossible hypothesis (finite, so sums and sorts stay ordered)


def is_encoder_decoder(model) -> bool:
    return bool(getattr(model, "is_encoder_decoder", False))


def _take(tree, index):
    """Rows ``index`` of every tensor in a (nested) tuple / list / dict; other leaves as they are."""
    if isinstance(tree, torch.Tensor):
        return tree.index_select(0, index)
    if isinstance(tree, (tuple, list)):
        return type(tree)(_take(t, index) for t in tree)
    if isinstance(tree, dict):
        return {k: _take(v, index) for k, v in tree.items()}
    return tree


class _DecoderOnlySteps:
    """Prompt prefill, then one token per row per step; left padding through the mask. Past a
    position table's window, each step re-reads the last window without the cache (context.py)."""

    def __init__(self, model, input_ids, attention_mask, max_new_tokens, static_cache):
        b, t = input_ids.shape
        self.model = model
        self.prefix = input_ids  # what the repetition penalty counts besides the new tokens
        self.mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        self.pass_mask = not bool(self.mask.all()) or static_cache
        self.window = window_of(model)
        length = t + max_new_tokens if self.window is None else min(t + max_new_tokens, self.window)
        self.cache = model.new_cache(batch_size=b, max_length=length, static=static_cache)
        self.sequence = input_ids  # prompt + new tokens: what an uncached or cropped step reads

    def first(self):
        ids, mask, positions = last_window(self.sequence, self.mask, self.window)
        logits = self.model(ids, attention_mask=mask if self.pass_mask else None,
                            position_ids=positions, cache=self.cache, logits_slice=-1).logits[:, -1]
        self.next_pos = positions[:, -1:] + 1
        return logits

    def step(self, next_ids):
        self.mask = torch.cat([self.mask, torch.ones_like(next_ids)[:, None]], dim=1)
        self.sequence = torch.cat([self.sequence, next_ids[:, None]], dim=1)
        fits = self.window is None or self.sequence.shape[1] <= self.window
        if self.cache is not None and fits:
            logits = self.model(next_ids[:, None], attention_mask=self.mask if self.pass_mask else None,
                                position_ids=self.next_pos, cache=self.cache, logits_slice=-1).logits[:, -1]
        else:
            logits = last_window_logits(self.model, self.sequence, self.mask, self.window)
        self.next_pos = self.next_pos + 1
        return logits

    def select(self, index):
        self.prefix, self.mask, self.next_pos, self.sequence = _take(
            (self.prefix, self.mask, self.next_pos, self.sequence), index)
        if self.cache is not None:
            self.cache.reorder(index)


class _EncoderDecoderSteps:
    """Encode the source once; the decoder starts from ``decoder_start_id``."""

    def __init__(self, model, input_ids, attention_mask, max_new_tokens, static_cache):
        b = input_ids.shape[0]
        self.model = model
        self.source_mask = attention_mask
        self.encoder_out = model.encode(input_ids, attention_mask)
        self.prefix = torch.full((b, 1), int(model.decoder_start_id), dtype=torch.long, device=input_ids.device)
        self.cache = model.new_cache(batch_size=b, max_length=max_new_tokens, static=static_cache)

    def _logits(self, ids):
        return self.model(ids, encoder_out=self.encoder_out, encoder_mask=self.source_mask, cache=self.cache,
                          logits_slice=-1).logits[:, -1]

    def first(self):
        return self._logits(self.prefix)

    def step(self, next_ids):
        self.prefix = torch.cat([self.prefix, next_ids[:, None]], dim=1)
        return self._logits(next_ids[:, None] if self.cache is not None else self.prefix)

    def select(self, index):
        self.encoder_out, self.source_mask, self.prefix = _take((self.encoder_out, self.source_mask, self.prefix), index)
        if self.cache is not None:
            self.cache.reorder(index)


@torch.inference_mode()
def generate(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    *,
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
    eos_id: int | None = None,
    pad_id: int = 0,
    seed: int | None = None,
    static_cache: bool = False,
    on_token: Callable[[torch.Tensor], None] | None = None,
    should_stop: Callable[[torch.Tensor], torch.Tensor] | None = None,
    num_beams: int = 1,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
    num_return_sequences: int = 1,
    compile: bool = False,
) -> torch.Tensor:
    """Return the new tokens, shape (B * num_return_sequences, n <= max_new_tokens); for an
    encoder-decoder model ``input_ids`` is the source and the new tokens are the target.

    ``on_token(next_ids)`` streams each step; ``should_stop(generated) -> (B,) bool`` ends
    rows early (stop strings); both need ``num_beams == 1``. Beam search ranks hypotheses by
    summed log-probability / generated length ** ``length_penalty``; ``early_stopping``: True
    ends a prompt's search once it has ``num_beams`` finished hypotheses, False when no running
    one can still beat them at its current length, "never" at max_new_tokens (for positive
    length penalties).

    ``compile``: decode through a static cache with a torch.compile'd one-token step, captured
    as a CUDA graph on CUDA (``generation.compiled``); same tokens as the eager path within the
    compiler's rounding; the first call per model pays the compilation."""
    processors.check_sampling(temperature, top_k, top_p, repetition_penalty)
    _check_beams(num_beams, num_return_sequences, length_penalty, early_stopping, temperature, on_token, should_stop)
    if max_new_tokens < 1:
        raise UserError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    # An image captioner's source is the image: pixel values (B, C, H, W), which its encode reads.
    image_source = is_encoder_decoder(model) and input_ids.is_floating_point()
    if not image_source and (input_ids.ndim != 2 or input_ids.shape[1] == 0):
        raise UserError("the prompt is empty", "give at least one token of prompt")
    b, t = input_ids.shape[0], 0 if image_source else input_ids.shape[1]
    _check_length(model, t, max_new_tokens)
    if compile:
        if num_beams > 1 or is_encoder_decoder(model):
            raise UserError("compiled decoding runs one hypothesis per prompt of a decoder-only model",
                            "drop compile for beam search and encoder-decoder models")
        steps = CapturedDecoderSteps(model, input_ids, attention_mask, max_new_tokens)
    else:
        steps = (_EncoderDecoderSteps if is_encoder_decoder(model) else _DecoderOnlySteps)(
            model, input_ids, attention_mask, max_new_tokens, static_cache)

    was_training = model.training
    model.eval()
    try:
        if num_beams > 1:
            return _beam_search(steps, b, max_new_tokens, num_beams, length_penalty, early_stopping,
                                num_return_sequences, eos_id, pad_id, repetition_penalty)
        return _sample(steps, b, input_ids.device, max_new_tokens, temperature, top_k, top_p, repetition_penalty,
                       eos_id, pad_id, seed, on_token, should_stop)
    finally:
        model.train(was_training)


def _check_beams(num_beams, num_return_sequences, length_penalty, early_stopping, temperature, on_token, should_stop):
    if num_beams < 1:
        raise UserError(f"num_beams must be >= 1, got {num_beams}")
    if not 1 <= num_return_sequences <= num_beams:
        raise UserError(f"num_return_sequences must lie in [1, num_beams={num_beams}], got {num_return_sequences}",
                        "return at most one sequence per beam")
    if early_stopping not in (True, False, "never"):
        raise UserError(f"early_stopping must be true, false or 'never', got {early_stopping!r}")
    if not -1e6 < length_penalty < 1e6:
        raise UserError(f"length_penalty must be a finite number, got {length_penalty}")
    if num_beams > 1 and temperature != 0:
        raise UserError("beam search scores hypotheses greedily; it does not sample",
                        "use temperature 0 with num_beams > 1, or num_beams 1 to sample")
    if num_beams > 1 and (on_token is not None or should_stop is not None):
        raise UserError("beam search cannot stream tokens or stop at strings while it runs",
                        "use num_beams 1 to stream")


def new_token_limit(model) -> int | None:
    """The most new tokens one call may ask for: an encoder-decoder's target has the context; a
    decoder-only model crops to its window or decodes as far as its cache holds (context.py): None."""
    return getattr(model, "max_positions", None) if is_encoder_decoder(model) else None


def _check_length(model, t, max_new_tokens):
    """An encoder-decoder's source and target each have the context."""
    limit = new_token_limit(model)
    if limit is None:
        return
    if t > limit:
        raise UserError(f"the source is {t} tokens, longer than the model's context of {limit}",
                        "shorten the source")
    if max_new_tokens > limit:
        raise UserError(f"max_new_tokens ({max_new_tokens}) exceeds the context of {limit}",
                        f"use --max-new-tokens {limit} or less")


def _sample(steps, b, device, max_new_tokens, temperature, top_k, top_p, repetition_penalty, eos_id, pad_id, seed,
            on_token, should_stop):
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    logits = steps.first()
    out = torch.empty(b, 0, dtype=torch.long, device=device)
    finished = torch.zeros(b, dtype=torch.bool, device=device)
    track_finished = eos_id is not None or should_stop is not None
    for step in range(max_new_tokens):
        seen = torch.cat([steps.prefix, out], dim=1) if repetition_penalty != 1.0 else None
        next_ids = processors.pick(logits, seen, temperature, top_k, top_p, repetition_penalty, generator)
        if track_finished:
            next_ids = torch.where(finished, torch.full_like(next_ids, pad_id), next_ids)
        out = torch.cat([out, next_ids[:, None]], dim=1)
        if on_token is not None:
            on_token(next_ids)
        if eos_id is not None:
            finished |= next_ids == eos_id
        if should_stop is not None:
            finished |= should_stop(out)
        if step == max_new_tokens - 1 or (track_finished and bool(finished.all())):
            break
        logits = steps.step(next_ids)
    return out


def _beam_search(steps, b, max_new_tokens, k, length_penalty, early_stopping, n_return, eos_id, pad_id,
                 repetition_penalty):
    """Beam search over ``k`` hypotheses per prompt, batched as (B * k) rows.

    Each step scores every one-token extension of every running hypothesis by its summed
    log-probability and keeps the best 2k (so k remain running even if k of them just ended).
    Extensions that end (``eos_id``, or the length limit) among the best k enter the prompt's
    pool of finished hypotheses, scored by sum / generated length ** ``length_penalty``; the
    best k of the rest run on. The pool keeps its best k; the search ends when no running
    hypothesis can improve it (see ``generate``'s ``early_stopping``)."""
    first = steps.first()
    device = first.device
    expand = torch.arange(b, device=device).repeat_interleave(k)  # each prompt's k beams, adjacent
    steps.select(expand)
    logits = first.index_select(0, expand)
    rows = torch.arange(b, device=device)[:, None]

    running = torch.full((b, k, max_new_tokens), pad_id, dtype=torch.long, device=device)
    running_scores = torch.full((b, k), NEG, device=device)
    running_scores[:, 0] = 0.0  # beams start identical: only the first one may extend at step one
    done = torch.full((b, k, max_new_tokens), pad_id, dtype=torch.long, device=device)
    done_scores = torch.full((b, k), NEG, device=device)
    done_lengths = torch.zeros((b, k), dtype=torch.long, device=device)
    is_done = torch.zeros((b, k), dtype=torch.bool, device=device)
    improvable = torch.ones((b, 1), dtype=torch.bool, device=device)
    in_top_k = torch.arange(2 * k, device=device) < k

    for length in range(1, max_new_tokens + 1):  # the generated length after this step
        log_probs = F.log_softmax(logits.float(), dim=-1)
        if repetition_penalty != 1.0:
            seen = torch.cat([steps.prefix, running.view(b * k, -1)[:, : length - 1]], dim=1)
            log_probs = processors.repetition_penalty(log_probs, seen, repetition_penalty)
        vocab = log_probs.shape[-1]
        totals = (log_probs.view(b, k, vocab) + running_scores[:, :, None]).view(b, k * vocab)
        top_scores, top_index = torch.topk(totals, 2 * k, dim=-1)
        source_beam, token = top_index // vocab, top_index % vocab
        candidates = running[rows, source_beam]  # (B, 2k, max_new_tokens)
        candidates[:, :, length - 1] = token
        ends = torch.full_like(token, length == max_new_tokens, dtype=torch.bool)
        if eos_id is not None:
            ends |= token == eos_id

        # The best k unfinished extensions run on.
        alive_scores = top_scores + ends.float() * NEG
        keep = torch.topk(alive_scores, k, dim=-1).indices
        running, running_scores = candidates[rows, keep], alive_scores[rows, keep]
        parents = (source_beam[rows, keep] + rows * k).view(-1)

        # Ended extensions among the best k join the finished pool, which keeps its best k.
        new_scores = top_scores / (length ** length_penalty)
        admitted = ends & in_top_k & improvable
        if early_stopping is True:
            admitted &= ~is_done.all(dim=-1, keepdim=True)
        new_scores = torch.where(admitted, new_scores, torch.full_like(new_scores, NEG))
        pool_scores = torch.cat([done_scores, new_scores], dim=1)
        best = torch.topk(pool_scores, k, dim=-1).indices
        done = torch.cat([done, candidates], dim=1)[rows, best]
        done_scores = pool_scores[rows, best]
        done_lengths = torch.cat([done_lengths, torch.full_like(token, length)], dim=1)[rows, best]
        is_done = torch.cat([is_done, admitted], dim=1)[rows, best]

        # Can a running hypothesis still beat the worst finished one?
        best_length = max_new_tokens if early_stopping == "never" and length_penalty > 0 else length
        best_running = running_scores[:, :1] / (best_length ** length_penalty)
        worst_done = torch.where(is_done, done_scores.min(dim=1, keepdim=True).values, torch.full_like(done_scores, NEG))
        improvable &= (best_running > worst_done).any(dim=-1, keepdim=True)
        if bool(ends.all()) or not bool(improvable.any()) or (early_stopping is True and bool(is_done.all())):
            break
        steps.select(parents)
        logits = steps.step(running[:, :, length - 1].reshape(-1))

    width = int(done_lengths[:, :n_return].max())
    return done[:, :n_return, :width].reshape(b * n_return, width)


def encode_prompts(tokenizer, prompts: list[str], pad_id: int = 0, side: str = "left"):
    """Tokenize prompts and pad them into (ids, attention_mask): on the left for a decoder's
    prompt (so every row's next token comes last), on the right for an encoder's source."""
    if tokenizer is None:
        raise UserError("this model has no tokenizer to encode a text prompt", "pass token ids, or load a checkpoint with one")
    encoded = [tokenizer.encode(p) for p in prompts]
    if any(len(e) == 0 for e in encoded):
        raise UserError("a prompt is empty", "give at least one character of prompt")
    width = max(len(e) for e in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, e in enumerate(encoded):
        span = slice(width - len(e), width) if side == "left" else slice(0, len(e))
        ids[row, span] = torch.tensor(e)
        mask[row, span] = 1
    return ids, mask


def generate_text(model, prompt, max_new_tokens: int = 64, stream: Callable[[str], None] | None = None,
                  stop: list[str] | None = None, **options):
    """``prompt``: a string, a list of strings (batched, padded) or an id tensor. With
    ``num_beams`` > 1 and ``num_return_sequences`` n > 1, each prompt gives a list of n texts."""
    device = next(model.parameters()).device
    tok = getattr(model, "tokenizer", None)
    if isinstance(prompt, torch.Tensor):
        return generate(model, prompt.to(device), max_new_tokens=max_new_tokens, **options)
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    pad_id = tok.pad_id if tok is not None and tok.pad_id is not None else 0
    ids, mask = encode_prompts(tok, prompts, pad_id, side="right" if is_encoder_decoder(model) else "left")
    options.setdefault("eos_id", tok.eos_id)
    options.setdefault("pad_id", pad_id)
    beams = options.get("num_beams", 1) > 1
    if beams and stream is not None:
        raise UserError("beam search cannot stream its text", "use num_beams 1 to stream")
    streamed = TextStream(tok, options["eos_id"], stop) if stream is not None and len(prompts) == 1 else None

    def on_token(next_ids):
        if streamed is not None and (piece := streamed.add(int(next_ids[0]))):
            stream(piece)

    def should_stop(out):
        return torch.tensor([any(s in tok.decode(row) for s in stop) for row in out.tolist()], device=out.device)

    live = {} if beams else dict(on_token=on_token, should_stop=should_stop if stop else None)
    new = generate(model, ids.to(device), mask.to(device), max_new_tokens=max_new_tokens, **live, **options)
    texts = [_cut_at_stop(tok.decode(_until(row, options["eos_id"])), stop) for row in new.tolist()]
    if streamed is not None and (piece := streamed.finish()):  # what was held back
        stream(piece)
    n = options.get("num_return_sequences", 1)
    if n > 1:
        texts = [texts[i : i + n] for i in range(0, len(texts), n)]
    return texts[0] if isinstance(prompt, str) else texts


class TextStream:
    """One row's new text as its tokens arrive, in pieces that never change once shown. Text
    that may still change is held back: a character whose bytes have not all arrived (decoded as
    U+FFFD for now), and a tail that could be the start of a stop string. Nothing after
    ``eos_id`` or a stop string is shown."""

    def __init__(self, tokenizer, eos_id: int | None, stop: list[str] | None = None):
        self.tokenizer, self.eos_id, self.stop = tokenizer, eos_id, list(stop or ())
        self.hold = max((len(s) - 1 for s in self.stop), default=0)
        self.tokens: list[int] = []
        self.shown = ""
        self.stopped = False  # a stop string has appeared

    def add(self, token: int) -> str:
        """Take the next token; return the text that became safe to show ("" if none)."""
        self.tokens.append(token)
        decoded = self.tokenizer.decode(_until(self.tokens, self.eos_id))
        self.stopped = any(s in decoded for s in self.stop)
        text = _cut_at_stop(decoded, self.stop).rstrip("\ufffd")
        return self._show(text[: len(text) - self.hold] if self.hold and not self.stopped else text)

    @property
    def text(self) -> str:
        """All of the row's text so far, held-back tail included."""
        return _cut_at_stop(self.tokenizer.decode(_until(self.tokens, self.eos_id)), self.stop)

    def finish(self) -> str:
        """What was held back, once the row has ended."""
        return self._show(self.text)

    def _show(self, text: str) -> str:
        if not (text.startswith(self.shown) and len(text) > len(self.shown)):
            return ""
        piece, self.shown = text[len(self.shown):], text
        return piece


def _until(row: list[int], eos_id: int | None) -> list[int]:
    return row[: row.index(eos_id)] if eos_id is not None and eos_id in row else row


def _cut_at_stop(text: str, stop: list[str] | None) -> str:
    for s in stop or ():
        if s in text:
            text = text[: text.index(s)]
    return text
