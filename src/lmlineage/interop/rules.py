"""Declarative, invertible weight-mapping rules between a reference checkpoint and ours.

A family lists rules; the same list loads (reference -> ours) and exports (ours ->
reference). ``{i}`` in a name stands for the layer index, ``{j}`` for an expert's (mixture of
experts: one rule per expert, ``cfg.moe.n_experts`` of them). Loading fails, naming keys,
on any unconsumed reference tensor, any parameter left unfilled, or any shape mismatch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from ..core.errors import UserError


class Rule(ABC):
    """One mapping between tensors of a reference checkpoint (theirs) and of our model (ours);
    ``load`` and ``export`` are inverses. Loading skips a rule whose ``their_keys`` are not all in
    the source, exporting one whose ``our_keys`` are not all in the model (a part it lacks)."""

    @abstractmethod
    def load(self, src, out, used, cfg=None) -> None:
        """Fill ``out`` (ours) from ``src`` (theirs); add every name it consumed to ``used``."""

    @abstractmethod
    def export(self, ours, out, cfg=None) -> None:
        """Fill ``out`` (theirs) from ``ours``."""

    def their_keys(self) -> tuple[str, ...]:
        return ()

    def our_keys(self) -> tuple[str, ...]:
        return ()


class OneToOne(Rule):
    """A rule between one tensor of ours (``ours``) and one of theirs (``theirs``)."""

    ours: str
    theirs: str

    def their_keys(self):
        return (self.theirs,)

    def our_keys(self):
        return (self.ours,)


@dataclass(frozen=True)
class Rename(OneToOne):
    """One tensor under another name; ``transpose`` for GPT-2's Conv1D (in, out) layout."""

    ours: str
    theirs: str
    transpose: bool = False

    def load(self, src, out, used, cfg=None):
        t = src[self.theirs]
        out[self.ours] = t.t() if self.transpose else t
        used.add(self.theirs)

    def export(self, ours, out, cfg=None):
        t = ours[self.ours]
        out[self.theirs] = t.t() if self.transpose else t


@dataclass(frozen=True)
class Reshape(OneToOne):
    """One tensor under another name and shape: ours is flat, theirs ``their_shape`` (Marian's and
    BART's output bias is a (1, vocab) buffer, ours a (vocab,) parameter)."""

    ours: str
    theirs: str
    their_shape: tuple[int, ...] = (1, -1)

    def load(self, src, out, used, cfg=None):
        out[self.ours] = src[self.theirs].reshape(-1)
        used.add(self.theirs)

    def export(self, ours, out, cfg=None):
        out[self.theirs] = ours[self.ours].reshape(self.their_shape)


@dataclass(frozen=True)
class Offset(OneToOne):
    """A position table whose first ``rows`` rows the reference never reads (BART's learned
    positions start at index 2): ours holds the rows in use; export puts zero rows back."""

    ours: str
    theirs: str
    rows: int = 2

    def load(self, src, out, used, cfg=None):
        out[self.ours] = src[self.theirs][self.rows:]
        used.add(self.theirs)

    def export(self, ours, out, cfg=None):
        t = ours[self.ours]
        out[self.theirs] = torch.cat([t.new_zeros(self.rows, *t.shape[1:]), t])


@dataclass(frozen=True)
class Fuse(Rule):
    """Our one tensor is the concatenation of several of theirs along ``dim`` (q, k, v -> qkv).
    ``split="qkv"`` cuts it back by head counts (grouped-query attention), else equally."""

    ours: str
    theirs: tuple[str, ...]
    dim: int = 0
    transpose: bool = False
    split: str = "equal"

    def load(self, src, out, used, cfg=None):
        parts = [src[k].t() if self.transpose else src[k] for k in self.theirs]
        out[self.ours] = torch.cat(parts, dim=self.dim)
        used.update(self.theirs)

    def export(self, ours, out, cfg=None):
        t = ours[self.ours]
        if self.split == "qkv":
            sizes = [cfg.attention.n_head * cfg.attention.dim_head(cfg.d_model),
                     cfg.attention.kv_heads * cfg.attention.dim_head(cfg.d_model),
                     cfg.attention.kv_heads * cfg.attention.dim_head(cfg.d_model)]
        else:
            sizes = [t.shape[self.dim] // len(self.theirs)] * len(self.theirs)
        for key, part in zip(self.theirs, torch.split(t, sizes, dim=self.dim)):
            out[key] = part.t() if self.transpose else part

    def their_keys(self):
        return self.theirs

    def our_keys(self):
        return (self.ours,)


@dataclass(frozen=True)
class FuseHeads(Rule):
    """Theirs: (d_model, n_head, head_dim) tensors used as ``einsum("ibh,hnd->ibnd")`` (XLNet's q, k,
    v, r; its o the other way round). Ours: one Linear weight, the reshaped (d_model, n_head *
    head_dim) of each, transposed for an input projection (``transpose``), stacked along rows."""

    ours: str
    theirs: tuple[str, ...]
    transpose: bool = True

    def load(self, src, out, used, cfg=None):
        parts = [src[k].reshape(src[k].shape[0], -1) for k in self.theirs]
        out[self.ours] = torch.cat([p.t() if self.transpose else p for p in parts])
        used.update(self.theirs)

    def export(self, ours, out, cfg=None):
        heads, width = cfg.attention.n_head, cfg.attention.dim_head(cfg.d_model)
        for key, part in zip(self.theirs, ours[self.ours].chunk(len(self.theirs))):
            out[key] = (part.t() if self.transpose else part).reshape(-1, heads, width).contiguous()

    def their_keys(self):
        return self.theirs

    def our_keys(self):
        return (self.ours,)


@dataclass(frozen=True)
class Split(Rule):
    """Their one tensor is the concatenation of several of ours along ``dim`` (a fused
    gate/up projection -> our separate gate and up)."""

    ours: tuple[str, ...]
    theirs: str
    dim: int = 0

    def load(self, src, out, used, cfg=None):
        for key, part in zip(self.ours, src[self.theirs].chunk(len(self.ours), dim=self.dim)):
            out[key] = part
        used.add(self.theirs)

    def export(self, ours, out, cfg=None):
        out[self.theirs] = torch.cat([ours[k] for k in self.ours], dim=self.dim)

    def their_keys(self):
        return (self.theirs,)

    def our_keys(self):
        return self.ours


@dataclass(frozen=True)
class HeadInterleaved(OneToOne):
    """Their fused q/k/v is laid out head by head, (H, 3, head_dim) rows (GPT-NeoX, BLOOM);
    ours is (3, H, head_dim): all queries, then all keys, then all values."""

    ours: str
    theirs: str

    def _shape(self, t, cfg):
        return (cfg.attention.n_head, 3, cfg.attention.dim_head(cfg.d_model)) + tuple(t.shape[1:])

    def load(self, src, out, used, cfg=None):
        t = src[self.theirs]
        out[self.ours] = t.reshape(self._shape(t, cfg)).transpose(0, 1).reshape(t.shape)
        used.add(self.theirs)

    def export(self, ours, out, cfg=None):
        t = ours[self.ours]
        shape = (3, cfg.attention.n_head, cfg.attention.dim_head(cfg.d_model)) + tuple(t.shape[1:])
        out[self.theirs] = t.reshape(shape).transpose(0, 1).reshape(t.shape)


@dataclass(frozen=True)
class RopePermute(OneToOne):
    """Their q or k projection lists each head's rows in interleaved-rotary order (row 2j+h holds
    channel h*d/2 + j: llama.cpp's ``permute`` in convert_hf_to_gguf.py, as in Meta's original LLaMA
    release); ours holds the halves order. ``heads``: the attention spec's attribute counting this
    projection's heads (``n_head`` for q, ``kv_heads`` for k)."""

    ours: str
    theirs: str
    heads: str

    def _regroup(self, t, cfg, order):
        rows = (getattr(cfg.attention, self.heads),) + order
        return t.reshape(*rows, *t.shape[1:]).transpose(1, 2).reshape(t.shape)

    def load(self, src, out, used, cfg=None):
        half = cfg.attention.dim_head(cfg.d_model) // 2
        out[self.ours] = self._regroup(src[self.theirs], cfg, (half, 2))  # (pair, 2) -> (2, half)
        used.add(self.theirs)

    def export(self, ours, out, cfg=None):
        out[self.theirs] = self._regroup(ours[self.ours], cfg, (2, cfg.attention.dim_head(cfg.d_model) // 2))


@dataclass(frozen=True)
class Tie(Rule):
    """Our parameter shares storage with another (tied LM head). The reference may store a
    copy under ``theirs`` (consumed, not loaded) and omits it on export. Where the model's config
    unties it, the rule is a plain ``Rename`` (see ``_untied``)."""

    ours: str
    theirs: str | None = None

    def load(self, src, out, used, cfg=None):
        if self.theirs in src:
            used.add(self.theirs)

    def export(self, ours, out, cfg=None):
        pass

    def their_keys(self):
        return ()

    def our_keys(self):
        return (self.ours,)


@dataclass(frozen=True)
class Copies(Rule):
    """Our one tensor, which the reference may store under several names holding the same values
    (BERT's MLM output bias is ``cls.predictions.bias`` and, untied, ``cls.predictions.decoder.bias``).
    Loads the first name present, consumes every one, writes every one."""

    ours: str
    theirs: tuple[str, ...]

    def load(self, src, out, used, cfg=None):
        present = [k for k in self.theirs if k in src]
        if present:
            out[self.ours] = src[present[0]]
            used.update(present)

    def export(self, ours, out, cfg=None):
        for key in self.theirs:
            out[key] = ours[self.ours].clone()  # safetensors stores no two names for one storage

    def their_keys(self):
        return ()  # any one suffices; none present shows as an unfilled parameter

    def our_keys(self):
        return (self.ours,)


@dataclass(frozen=True)
class Ignore(Rule):
    """Reference tensors that carry no parameter (causal-mask buffers and the like)."""

    theirs: str

    def load(self, src, out, used, cfg=None):
        if self.theirs in src:
            used.add(self.theirs)

    def export(self, ours, out, cfg=None):
        pass


@dataclass(frozen=True)
class Part:
    """The rules of a sub-model whose config is the field ``config`` of the model's (BLIP's image
    tower, ``vision``): its ``{i}`` templates expand over that config's layers, and rules that read
    the config (a qkv split) read that one."""

    config: str
    rules: tuple


def with_configs(rules, cfg) -> list:
    """(rule, the config it reads) for every rule, templates expanded; a ``Part``'s under its own config."""
    out = []
    for rule in rules:
        if isinstance(rule, Part):
            sub = cfg
            for name in rule.config.split("."):
                sub = getattr(sub, name)
            out.extend(with_configs(rule.rules, sub))
        else:
            out.extend((r, cfg) for r in expand((rule,), cfg.n_layer, cfg.moe.n_experts))
    return out


def expand(rules, n_layer: int, n_experts: int = 0) -> list:
    """Instantiate ``{i}`` templates for every layer, then ``{j}`` ones for every expert."""
    out = []
    for rule in rules:
        out.extend(r for layer in _each(rule, "{i}", n_layer) for r in _each(layer, "{j}", n_experts))
    return out


def _each(rule, slot: str, n: int) -> list:
    if slot not in repr(rule):
        return [rule]
    return [type(rule)(**{k: _fmt(v, slot, i) for k, v in vars(rule).items()}) for i in range(n)]


def _fmt(value, slot, i):
    if isinstance(value, str):
        return value.replace(slot, str(i))
    if isinstance(value, tuple):
        return tuple(_fmt(v, slot, i) for v in value)
    return value


def _listing(keys, limit=8) -> str:
    keys = sorted(keys)
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def tied_keys(state: dict[str, torch.Tensor]) -> set[str]:
    """Names that share storage with an earlier entry (a tied LM head): filled by tying."""
    seen, tied = set(), set()
    for name, tensor in state.items():
        if tensor.data_ptr() in seen:
            tied.add(name)
        seen.add(tensor.data_ptr())
    return tied


def _untied(rule, tied: set[str]):
    """A ``Tie`` whose parameter the model does not actually tie (``embedding.tie`` false) maps
    its own tensor: their copy is the weight, not a duplicate."""
    if isinstance(rule, Tie) and rule.ours not in tied and rule.theirs is not None:
        return Rename(rule.ours, rule.theirs)
    return rule


def load_state(rules, src: dict, target: dict[str, torch.Tensor], cfg, where: str) -> dict:
    """Map reference tensors ``src`` onto our ``target`` state (for names and shapes)."""
    out, used, tied = {}, set(), tied_keys(target)
    for rule, config in with_configs(rules, cfg):
        rule = _untied(rule, tied)
        if isinstance(rule, Tie):
            tied.add(rule.ours)
        missing = [k for k in rule.their_keys() if k not in src]
        if missing:
            continue  # reported below as unfilled parameters
        rule.load(src, out, used, config)
    unused = set(src) - used
    if unused:
        raise UserError(f"{where}: reference tensors with no place in the model: {_listing(unused)}",
                        "is this checkpoint of the family you named?")
    unfilled = set(target) - set(out) - tied
    if unfilled:
        raise UserError(f"{where}: model parameters missing from the checkpoint: {_listing(unfilled)}")
    for key, tensor in out.items():
        if key not in target:
            raise RuntimeError(f"rule fills {key!r}, which the model does not have")  # a bug in the family
        if tuple(tensor.shape) != tuple(target[key].shape):
            raise UserError(f"{where}: {key} has shape {tuple(tensor.shape)}, the model expects "
                            f"{tuple(target[key].shape)}", "the config and the weights disagree")
    return out


def export_state(rules, ours: dict, cfg) -> dict:
    out, tied = {}, tied_keys(ours)
    for rule, config in with_configs(rules, cfg):
        rule = _untied(rule, tied)
        if not all(k in ours for k in rule.our_keys()):
            continue  # a part this configuration lacks (e.g. absolute positions), skipped as on load
        if not set(rule.our_keys()) & tied:  # a tied copy is not stored (transformers re-ties it)
            rule.export(ours, out, config)
    return {k: v.detach().contiguous() for k, v in out.items()}
