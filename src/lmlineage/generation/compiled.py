"""The fast decoding path: one token per step from fixed buffers, torch.compile'd, and on CUDA
captured once as a CUDA graph and replayed for every later token.

Batch-1 decoding of a small model is launch-bound: a 1.1B LLaMA runs some 500 kernels per
token, each far shorter than the host needs to launch it. Compiling fuses the elementwise
work (norms, rotary, SwiGLU) into few kernels; the graph launches them all at once, with no
host work per layer. This is what ``generate(..., compile=True)`` uses.

What makes the step capturable: the static cache keeps its write offset on the device and
masks by device tensors (``core.cache.StaticCache``), the position ids live in a buffer that
the step itself advances, and the token ids are copied into a fixed input buffer.
"""

from __future__ import annotations

import torch

_COMPILED = {}  # id(model) -> compiled step: a model compiles once per process


def _step(model, ids, positions, cache):
    """One token per row: the logits of ``ids`` (B, 1); moves ``positions`` and the cache on."""
    logits = model(ids, position_ids=positions, cache=cache, logits_slice=-1).logits[:, -1]
    positions.add_(1)
    return logits


def compiled_step(model):
    key = id(model)
    if key not in _COMPILED or _COMPILED[key][0] is not model:
        _COMPILED[key] = (model, torch.compile(_step))
    compiled = _COMPILED[key][1]
    return lambda ids, positions, cache: compiled(model, ids, positions, cache)


class CapturedDecoderSteps:
    """Prefill eagerly into a static cache, then decode one token per step through the compiled
    step; on CUDA the second step is captured as a graph and every later step replays it.

    Speaks the engine's step protocol (``first``, ``step``, ``prefix``); beam search, which
    reshapes the batch, stays on the eager path."""

    def __init__(self, model, input_ids, attention_mask, max_new_tokens):
        b, t = input_ids.shape
        self.model = model
        self.prefix = input_ids
        self.mask = attention_mask
        self.positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0) if attention_mask is not None else \
            torch.arange(t, device=input_ids.device)[None, :].expand(b, -1)
        self.cache = model.new_cache(batch_size=b, max_length=t + max_new_tokens, static=True)
        self.ids = torch.zeros(b, 1, dtype=torch.long, device=input_ids.device)
        self.next_positions = None
        self.run = compiled_step(model)
        self.use_graph = input_ids.device.type == "cuda"
        self.graph = None
        self._warm_length = None  # the cache length at the warm-up step
        self.logits = None  # the graph's output buffer

    def first(self):
        logits = self.model(self.prefix, attention_mask=self.mask, position_ids=self.positions, cache=self.cache,
                            logits_slice=-1).logits[:, -1]
        self.next_positions = self.positions[:, -1:] + 1
        return logits

    def step(self, next_ids):
        self.ids.copy_(next_ids[:, None])
        if not self.use_graph:
            return self.run(self.ids, self.next_positions, self.cache)
        if self.graph is None:
            return self._warm_up_or_capture()
        self.graph.replay()
        self.cache.length += 1  # the host mirror; the replay moved the device offset
        return self.logits

    def _warm_up_or_capture(self):
        """First decoding step: run the compiled step for real (compilation and cuBLAS set-up
        must not happen inside a capture). Second: record it, then replay the recording."""
        main = torch.cuda.current_stream()
        side = torch.cuda.Stream()  # capture (and its warm-up) on a side stream, as CUDA graphs require
        side.wait_stream(main)
        with torch.cuda.stream(side):
            if self._warm_length is None:
                self._warm_length = self.cache.length
                logits = self.run(self.ids, self.next_positions, self.cache)
                main.wait_stream(side)
                return logits
            length = self.cache.length
            self.cache.length = self._warm_length  # the value the compiled code's guards were built on
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph, stream=side):
                self.logits = self.run(self.ids, self.next_positions, self.cache)
            self.cache.length = length
        main.wait_stream(side)
        self.graph.replay()
        self.cache.length += 1
        return self.logits
