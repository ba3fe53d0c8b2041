"""Continuous batching: many requests share one decoder-only model, each joining the running batch
at the next decoding step and leaving it when it is done (Yu et al. 2022, Orca, section 3.1,
"iteration-level scheduling"), instead of waiting for a whole batch to finish.

One background thread owns the model. Each turn it takes in the requests that arrived (up to
``max_batch`` rows): each new prompt is prefilled alone, in a cache of its own, and its first token
is chosen; then it joins the batch. Its cache rows are appended to the batch's ``DynamicCache``;
the shorter side is left-padded, so every row's tokens end at the last slot, and the attention
mask marks each row's padding and its position ids count its own tokens. Then one decoding step
feeds every row its last token. A row that ends (its own ``max_tokens``, end of text, a stop
string, or a client that went away) is dropped from the cache at once, and slots that only
padding still fills are cut from the left.

The tradeoff: prefilling each prompt alone keeps its logits those of the request served alone
(no padding in the long prompt pass) and is simple, at the price of one forward per arrival; the
decoding steps, which are most of the work, are shared. Joining copies the batch's cache once
(concatenation) instead of recomputing anyone's keys.

Choosing the next token is ``processors.pick``, the engine's own, applied per row with the
request's own settings and random generator, so a request sampled with a seed draws the same
tokens as ``generate`` with that seed for that prompt alone. Text comes out through
``TextStream``, as ``generate_text`` streams it.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..core.cache import DynamicCache
from . import processors
from .engine import TextStream


@dataclass
class Request:
    """One prompt and its own settings. ``on_text(piece)`` receives the text as it becomes final;
    ``on_done(finish_reason, completion_tokens)`` is called once at the end, with "stop" (end of
    text or a stop string), "length" (``max_tokens``), "cancelled" or "error: ..." (then the
    message). Both are called from the batching thread. The prompt and ``max_tokens`` together
    must fit the model's ``max_positions`` (the server checks; a position table has no more rows)."""

    prompt: list[int]
    max_tokens: int
    on_text: Callable[[str], None]
    on_done: Callable[[str, int], None]
    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        """Free the request's row at the next step (its client went away)."""
        self.cancelled.set()


class _Row:
    def __init__(self, request: Request, tokenizer, eos_id, device):
        self.request = request
        self.text = TextStream(tokenizer, eos_id, request.stop)
        self.generator = torch.Generator(device=device).manual_seed(request.seed) if request.seed is not None else None
        self.seen = torch.tensor([request.prompt], device=device)  # for the repetition penalty


class ContinuousBatcher:
    """Decodes every submitted request in one shared, changing batch on a thread of its own."""

    def __init__(self, model, max_batch: int = 64):
        self.model = model.eval()  # the batcher owns the model from now on
        self.tokenizer = model.tokenizer
        self.eos_id = self.tokenizer.eos_id
        self.device = next(model.parameters()).device
        self.max_batch = max_batch
        self._arrivals: queue.Queue[Request] = queue.Queue()
        self._waiting: list[Request] = []
        self._rows: list[_Row] = []
        self._cache = DynamicCache()
        self._mask = self._positions = self._last = None
        self._closed = threading.Event()
        self.steps = 0  # decoding steps taken (shared by every row in them)
        self.busiest = 0  # the most rows one step has decoded
        self._thread = threading.Thread(target=self._run, name="lmlineage-batcher", daemon=True)
        self._thread.start()

    @property
    def active(self) -> int:
        """Rows in the batch now."""
        return len(self._rows)

    def submit(self, request: Request) -> None:
        if self._closed.is_set():
            raise RuntimeError("the batcher is closed")
        self._arrivals.put(request)

    def close(self, timeout: float = 10.0) -> None:
        self._closed.set()
        self._thread.join(timeout)

    # The batching thread.

    def _run(self) -> None:
        with torch.inference_mode():
            while not self._closed.is_set():
                self._take_arrivals(block=not self._rows and not self._waiting)
                # A bug must not take the server down: the requests it touched fail, the rest go on.
                while self._waiting and len(self._rows) < self.max_batch:
                    request = self._waiting.pop(0)
                    try:
                        self._admit(request)
                    except Exception as e:
                        request.on_done(f"error: {type(e).__name__}: {e}", 0)
                if self._rows:
                    try:
                        self._step()
                    except Exception as e:
                        self._fail_all(f"error: {type(e).__name__}: {e}")
            self._fail_all("cancelled")
            for request in self._waiting + list(self._arrivals.queue):
                request.on_done("cancelled", 0)

    def _take_arrivals(self, block: bool) -> None:
        try:
            if block:
                self._waiting.append(self._arrivals.get(timeout=0.1))
            while True:
                self._waiting.append(self._arrivals.get_nowait())
        except queue.Empty:
            pass

    def _admit(self, request: Request) -> None:
        """Prefill the prompt alone, choose its first token, and join the batch unless that ended it."""
        if request.cancelled.is_set():
            request.on_done("cancelled", 0)
            return
        row = _Row(request, self.tokenizer, self.eos_id, self.device)
        cache = DynamicCache()
        n = len(request.prompt)
        logits = self.model(row.seen, position_ids=torch.arange(n, device=self.device)[None], cache=cache,
                            logits_slice=-1).logits[:, -1]
        token = self._choose(row, logits)
        if self._deliver(row, token):
            return
        mask = torch.ones(1, n, dtype=torch.long, device=self.device)
        if self._rows:
            width = self._mask.shape[1]
            if n < width:
                cache.pad_left(width - n)
                mask = torch.cat([torch.zeros(1, width - n, dtype=torch.long, device=self.device), mask], dim=1)
            elif n > width:
                self._cache.pad_left(n - width)
                self._mask = torch.cat([self._mask.new_zeros(len(self._rows), n - width), self._mask], dim=1)
            self._cache.append_rows(cache)
            self._mask = torch.cat([self._mask, mask])
            self._positions = torch.cat([self._positions, torch.tensor([[n]], device=self.device)])
            self._last = torch.cat([self._last, token])
        else:
            self._cache, self._mask = cache, mask
            self._positions, self._last = torch.tensor([[n]], device=self.device), token
        self._rows.append(row)

    def _step(self) -> None:
        """One token for every row; rows that ended leave the batch."""
        self.steps += 1
        self.busiest = max(self.busiest, len(self._rows))
        self._mask = torch.cat([self._mask, self._mask.new_ones(len(self._rows), 1)], dim=1)
        logits = self.model(self._last[:, None], attention_mask=self._mask, position_ids=self._positions,
                            cache=self._cache, logits_slice=-1).logits[:, -1]
        self._positions = self._positions + 1
        keep, last = [], []
        for i, row in enumerate(self._rows):
            if row.request.cancelled.is_set():
                row.request.on_done("cancelled", len(row.text.tokens))
                continue
            token = self._choose(row, logits[i : i + 1])
            if not self._deliver(row, token):
                keep.append(i)
                last.append(token)
        if len(keep) < len(self._rows):
            self._leave(keep)
        if last:
            self._last = torch.cat(last)

    def _choose(self, row: _Row, logits: torch.Tensor) -> torch.Tensor:
        r = row.request
        token = processors.pick(logits, row.seen, r.temperature, r.top_k, r.top_p, r.repetition_penalty, row.generator)
        if r.repetition_penalty != 1.0:
            row.seen = torch.cat([row.seen, token[:, None]], dim=1)
        return token

    def _deliver(self, row: _Row, token: torch.Tensor) -> bool:
        """Hand the token's text to the request; True when the row has ended."""
        t = int(token)
        piece = row.text.add(t)
        if piece:
            row.request.on_text(piece)
        ended = "stop" if t == self.eos_id or row.text.stopped else \
            "length" if len(row.text.tokens) >= row.request.max_tokens else None
        if ended is None:
            return False
        piece = row.text.finish()
        if piece:
            row.request.on_text(piece)
        row.request.on_done(ended, len(row.text.tokens))
        return True

    def _leave(self, keep: list[int]) -> None:
        self._rows = [self._rows[i] for i in keep]
        if not keep:
            self._cache, self._mask = DynamicCache(), None
            return
        index = torch.tensor(keep, device=self.device)
        self._cache.reorder(index)
        self._mask, self._positions = self._mask[index], self._positions[index]
        padding = int((self._mask.sum(0) == 0).long().cumprod(0).sum())  # leading slots no row uses
        self._cache.drop_left(padding)
        self._mask = self._mask[:, padding:]

    def _fail_all(self, reason: str) -> None:
        """End every row in the batch (an error in a shared step, or closing)."""
        for row in self._rows:
            row.request.on_done(reason, len(row.text.tokens))
        self._rows, self._cache, self._mask = [], DynamicCache(), None

