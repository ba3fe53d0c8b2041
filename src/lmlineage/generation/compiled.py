"""The fast decoding path: one token per step from fixed buffers, torch.compile'd, and on CUDA
captured once as a CUDA graph and replayed for every later token.

Batch-1 decoding of a small model is launch-bound: a 1.1B LLaMA runs some 500 kernels per
token, each far shorter than the host needs to launch it. Compiling fuses the elementwise
work (norms, rotary, SwiGLU) into few kernels; the graph launches them all at once, with no
host work per layer. This is what ``generate(..., compile=True)`` uses.

What makes the step capturable: the static cache keeps its write offset on the device and
masks by device tensors (``core.cache.StaticCache``), the position ids live in a buffer that
the step itself advances, and the token ids are copied into a fixed input buffer. A model keeps
its last session (cache, buffers, graph) so that the next call of the same batch size and
length replays the recorded graph at once.
"""

from __future__ import annotations

import weakref

import torch

from .context import last_window, last_window_logits, window_of


def _step(model, ids, positions, cache):
    """One token per row: the logits of ``ids`` (B, 1); moves ``positions`` and the cache on."""
    logits = model(ids, position_ids=positions, cache=cache, logits_slice=-1).logits[:, -1]
    positions.add_(1)
    return logits


_compiled_step = torch.compile(_step)
_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> its last _Session


class _Session:
    """What a captured graph reads and writes, kept together so the graph can be replayed by a
    later call: the static cache, the token and position buffers, the graph and its output."""

    def __init__(self, model, batch, max_length, device):
        self.key = (batch, max_length, next(model.parameters()).dtype, device)
        self.cache = model.new_cache(batch_size=batch, max_length=max_length, static=True)
        self.ids = torch.zeros(batch, 1, dtype=torch.long, device=device)
        self.positions = torch.zeros(batch, 1, dtype=torch.long, device=device)
        self.graph = None
        self.logits = None  # the graph's output buffer
        self.warm_length = None  # the cache length at the (uncaptured) warm-up step

    def reset(self):
        """Empty the cache in place (the graph holds these very tensors)."""
        self.cache.position.zero_()
        self.cache.length = 0
        self.cache.real.fill_(True)


def _session(model, batch, max_length, device) -> _Session:
    key = (batch, max_length, next(model.parameters()).dtype, device)
    session = _SESSIONS.get(model)
    if session is None or session.key != key:
        session = _SESSIONS[model] = _Session(model, batch, max_length, device)
    else:
        session.reset()
    return session


class CapturedDecoderSteps:
    """Prefill eagerly into a static cache, then decode one token per step through the compiled
    step; on CUDA the second step is captured as a graph and every later step replays it.

    Speaks the engine's step protocol (``first``, ``step``, ``prefix``); beam search, which
    reshapes the batch, stays on the eager path. Past a position table's window each step is one
    eager forward over the last window (context.py)."""

    def __init__(self, model, input_ids, attention_mask, max_new_tokens):
        b, t = input_ids.shape
        self.model = model
        self.prefix = input_ids
        self.pass_mask = attention_mask is not None
        self.mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        self.sequence = input_ids  # what a step past a position table's window re-reads (context.py)
        self.window = window_of(model)
        length = t + max_new_tokens if self.window is None else min(t + max_new_tokens, self.window)
        self.session = _session(model, b, length, input_ids.device)
        self.cache = self.session.cache
        self.use_graph = input_ids.device.type == "cuda"

    def _run(self):
        s = self.session
        return _compiled_step(self.model, s.ids, s.positions, s.cache)

    def first(self):
        ids, mask, positions = last_window(self.sequence, self.mask, self.window)
        logits = self.model(ids, attention_mask=mask if self.pass_mask else None, position_ids=positions,
                            cache=self.cache, logits_slice=-1).logits[:, -1]
        self.session.positions.copy_(positions[:, -1:] + 1)
        return logits

    def step(self, next_ids):
        self.mask = torch.cat([self.mask, torch.ones_like(next_ids)[:, None]], dim=1)
        self.sequence = torch.cat([self.sequence, next_ids[:, None]], dim=1)
        if self.window is not None and self.sequence.shape[1] > self.window:
            return last_window_logits(self.model, self.sequence, self.mask, self.window)
        s = self.session
        s.ids.copy_(next_ids[:, None])
        if not self.use_graph:
            return self._run()
        if s.graph is None:
            return self._warm_up_or_capture()
        s.graph.replay()
        s.cache.length += 1  # the host mirror; the replay moved the device offset
        return s.logits

    def _warm_up_or_capture(self):
        """First decoding step: run the compiled step for real (compilation and cuBLAS set-up
        must not happen inside a capture). Second: record it, then replay the recording."""
        s = self.session
        main = torch.cuda.current_stream()
        side = torch.cuda.Stream()  # capture (and its warm-up) on a side stream, as CUDA graphs require
        side.wait_stream(main)
        with torch.cuda.stream(side):
            if s.warm_length is None:
                s.warm_length = s.cache.length
                logits = self._run()
                main.wait_stream(side)
                return logits
            length = s.cache.length
            s.cache.length = s.warm_length  # the value the compiled code's guards were built on
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=side):
                s.logits = self._run()
            s.graph = graph
            s.cache.length = length
        main.wait_stream(side)
        s.graph.replay()
        s.cache.length += 1
        return s.logits
