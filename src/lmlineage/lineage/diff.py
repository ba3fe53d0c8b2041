"""What one family changed from another, read from their declarations and named as the papers do.

Compared, spec by spec: the two families' configs at one preset (the same preset name where both
have it), their architectures, objectives and the tasks' options (the segment-pair objective, the
masking shares), default tokenizers and parameter counts. Each raw difference the field has a
name for is reported under that name ("RMSNorm", "SwiGLU", "RoPE", "untied LM head", "no NSP")
with the key paths it stands for; every other difference as its key path and both values. The
registry's lineage (each family's year, parent and declared "what it changed" line) along the
path from one family to the other is reported beside them: it carries the changes no config field
holds (RoBERTa's dynamic masking, more data, longer training).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from dataclasses import dataclass, field
from pathlib import Path

from ..core.config import ModelConfig, merge
from ..core.registry import Family, get_family
from ..objectives.mlm import MaskedLM
from ..tasks import TASKS
from ..tasks.masked_lm import MaskedLMTask
from ..train.memory import parameter_count

ABSENT = "(absent)"  # a key one family's config does not have

# The field's names for declared values.
NORMS = {"layernorm": "LayerNorm", "rmsnorm": "RMSNorm"}
PLACEMENTS = {"pre": "pre-LN", "post": "post-LN", "parallel": "parallel attention and MLP",
              "parallel_shared_norm": "parallel attention and MLP, one shared norm"}
POSITIONS = {"learned": "learned absolute positions", "sinusoidal": "sinusoidal positions",
             "sinusoidal_halves": "sinusoidal positions (sines, then cosines)", "learned_2d": "2-D positions",
             "rotary": "RoPE", "alibi": "ALiBi", "relative": "relative position buckets",
             "disentangled": "disentangled attention", "none": "no positions"}
GLUS = {"silu": "SwiGLU", "gelu": "GeGLU", "gelu_tanh": "GeGLU (tanh)", "relu": "ReGLU"}
ACTIVATIONS = {"silu": "SiLU", "gelu": "GELU", "gelu_tanh": "GELU (tanh)", "relu": "ReLU"}
ARCHITECTURES = {"decoder": "decoder only (causal)", "encoder": "encoder only (attends both ways)",
                 "encoder-decoder": "encoder-decoder", "classic": "pre-Transformer"}
TOKENIZERS = {"char": "characters", "bpe": "BPE", "wordpiece": "WordPiece", "unigram": "Unigram",
              "word": "words"}
OBJECTIVES = {"clm": "causal LM", "mlm": "masked LM", "nsp": "NSP", "sop": "SOP", "rtd": "replaced token detection",
              "control": "control codes", "span_corruption": "span corruption", "bart_denoising": "denoising",
              "blank_infilling": "blank infilling", "seq2seq": "sequence to sequence",
              "seq2seq_mle": "sequence to sequence", "distill": "distillation", "word_clm": "word-level LM",
              "bilm": "bidirectional LM", "counts": "n-gram counts", "word2vec": "word2vec"}


@dataclass(frozen=True)
class Change:
    """One difference from family A to family B: ``name`` is the field's word for it (None: a raw
    difference, known by its key path alone); ``a`` and ``b`` hold each side's values by key path."""

    name: str | None
    a: dict
    b: dict
    source: str  # config | objective | task | architecture | tokenizer

    @property
    def keys(self) -> list[str]:
        return list(self.a)


@dataclass(frozen=True)
class Step:
    """A family on the lineage path, with what its own declaration says it changed from its parent."""

    family: str
    year: int
    parent: str | None
    changes: str


@dataclass
class FamilyDiff:
    a: str
    b: str
    presets: tuple[str | None, str | None]  # the preset compared on each side (None: the family defaults)
    comparing: str  # the same, in words
    facts: dict  # family -> {year, parent, architecture, objective, tokenizer, parameters, paper}
    changes: list[Change] = field(default_factory=list)
    ancestor: str | None = None  # the nearest family both descend from (or are)
    lineage_a: list[Step] = field(default_factory=list)  # from the ancestor down to A (A's own changes)
    lineage_b: list[Step] = field(default_factory=list)  # from the ancestor down to B

    @property
    def named(self) -> list[str]:
        return [c.name for c in self.changes if c.name]

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "presets": list(self.presets), "comparing": self.comparing,
                "facts": self.facts,
                "changes": [{"name": c.name, "keys": c.keys, "a": c.a, "b": c.b, "source": c.source}
                            for c in self.changes],
                "ancestor": self.ancestor,
                "lineage": {"a": [dataclasses.asdict(s) for s in self.lineage_a],
                            "b": [dataclasses.asdict(s) for s in self.lineage_b]}}


def diff(a: str, b: str, preset: str | None = None) -> FamilyDiff:
    """What family ``b`` changed from family ``a``, at ``preset`` (default: the first preset of
    ``a`` that ``b`` also has, else each family's defaults)."""
    fa, fb = get_family(a), get_family(b)
    pa, pb, comparing = _presets(fa, fb, preset)
    va, vb = _values(fa, pa), _values(fb, pb)
    named = _named(va, vb)
    changes = named + _raw(va, vb, {k for c in named for k in c.keys})
    ancestor, up_a, up_b = _paths(fa, fb)
    facts = {f.name: {"year": f.year, "parent": f.parent, "paper": f.paper, "architecture": f.architecture,
                      "objective": f.objective, "tokenizer": f.default_tokenizer,
                      "parameters": _parameters(f, p)} for f, p in ((fa, pa), (fb, pb))}
    return FamilyDiff(a, b, (pa, pb), comparing, facts, changes, ancestor, up_a, up_b)


def _presets(fa: Family, fb: Family, preset: str | None) -> tuple[str | None, str | None, str]:
    if preset is not None:
        for f in (fa, fb):
            f.preset(preset)  # a UserError naming f's presets where it lacks this one
        return preset, preset, f"preset {preset!r} of both"
    shared = [p for p in fa.presets if p in fb.presets]
    if shared:
        return shared[0], shared[0], f"preset {shared[0]!r} of both (shared: {', '.join(shared)})"
    return None, None, "each family's defaults (no preset name in common)"


def _values(family: Family, preset: str | None) -> dict:
    """Everything compared, by key path: the config's fields (``attention.n_head``), and the
    family's ``architecture``, ``objective``, ``task.*`` options and ``tokenizer``."""
    if family.config_class is None:  # fitted by its own task from the preset's plain settings
        config = merge(family.defaults, family.preset(preset) if preset else {})
    else:
        config = family.config(preset).to_dict()
    values = {k: v for k, v in _flatten(config).items() if k != "family"}
    values.update(_task_options(family.objective))
    values.update({"architecture": family.architecture, "objective": family.objective,
                   "tokenizer": family.default_tokenizer})
    return values


def _task_options(objective: str) -> dict:
    """The options the objective's task declares: its segment-pair objective and, for masked LMs,
    the masking shares (BERT's 15% chosen, 80% [MASK], 10% random unless the task departs)."""
    task = TASKS.get(objective)
    if task is None or not issubclass(task, MaskedLMTask):
        return {}
    defaults = {name: p.default for name, p in inspect.signature(MaskedLM).parameters.items()
                if name in ("mask_rate", "replace_with_mask", "replace_with_random")}
    shares = {**defaults, **task.masking}
    return {"task.pairs": task.pairs, **{f"task.masking.{k}": v for k, v in shares.items()}}


def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _parameters(family: Family, preset: str | None) -> int | None:
    """The model's parameter count at the preset (tied weights once), built on the meta device so
    a 7B preset costs no memory; None for families fitted without a model (n-gram, word2vec)."""
    if family.config_class is None:
        return None
    cfg = family.config(preset)
    if family.build is None and not isinstance(cfg, ModelConfig):  # counts or vectors, fitted by their task
        return None
    return parameter_count(cfg)


# ---- naming ---------------------------------------------------------------------------------
def _named(va: dict, vb: dict) -> list[Change]:
    """The differences the field has a name for; each consumes the key paths it stands for."""
    found = []

    def get(values, key):
        return values.get(key, ABSENT)

    def changed(*keys):
        return any(get(va, k) != get(vb, k) for k in keys)

    def add(name, source, *keys):
        found.append(Change(name, {k: get(va, k) for k in keys}, {k: get(vb, k) for k in keys}, source))

    if changed("architecture"):
        add(ARCHITECTURES.get(vb["architecture"], vb["architecture"]), "architecture", "architecture")
    if changed("norm.kind") and get(vb, "norm.kind") in NORMS:
        add(NORMS[vb["norm.kind"]], "config", "norm.kind")
    if changed("norm.placement") and get(vb, "norm.placement") in PLACEMENTS:
        add(PLACEMENTS[vb["norm.placement"]], "config", "norm.placement")
    for key, yes, no in (("norm.final", "final norm", "no final norm"),
                         ("norm.after_embeddings", "norm after the embeddings", "no norm after the embeddings"),
                         ("embedding.tie", "tied LM head", "untied LM head"),
                         ("bias", "biases", "no biases"),
                         ("embedding.scale", "embeddings scaled by sqrt(d_model)", "unscaled embeddings"),
                         ("embedding.head_bias", "a bias on the LM head", "no bias on the LM head")):
        if changed(key) and isinstance(get(vb, key), bool):
            add(yes if vb[key] else no, "config", key)
    if changed("mlp.kind", "mlp.activation") and ABSENT not in (get(va, "mlp.kind"), get(vb, "mlp.kind")):
        add(_ffn(vb), "config", "mlp.kind", "mlp.activation")
    if changed("position.kind") and get(vb, "position.kind") in POSITIONS:
        add(POSITIONS[vb["position.kind"]], "config", "position.kind")
    if changed("attention.n_kv_head") and "attention.n_head" in vb:
        kv = vb["attention.n_kv_head"] or vb["attention.n_head"]
        name = ("multi-head attention" if kv == vb["attention.n_head"] else
                "multi-query attention" if kv == 1 else f"grouped-query attention ({kv} K/V heads)")
        add(name, "config", "attention.n_kv_head")
    if changed("attention.pattern") and "attention.pattern" in vb:
        kinds = set(vb["attention.pattern"] or ["dense"])
        add("sliding-window attention" if kinds == {"local"} else
            "alternating dense and local (banded) attention" if "local" in kinds else "dense attention in every layer",
            "config", "attention.pattern")
    if changed("moe.n_experts") and isinstance(get(vb, "moe.n_experts"), int):
        n = vb["moe.n_experts"]
        add(f"mixture of experts ({n} experts)" if n else "no mixture of experts", "config", "moe.n_experts")
    if changed("layer_groups") and "layer_groups" in vb:
        add("cross-layer parameter sharing" if vb["layer_groups"] else "no cross-layer sharing", "config",
            "layer_groups")
    if changed("embedding.dim") and "embedding.dim" in vb:
        add("factorized embeddings" if vb["embedding.dim"] else "embeddings as wide as the model", "config",
            "embedding.dim")
    if changed("embedding.type_vocab_size") and isinstance(get(vb, "embedding.type_vocab_size"), int):
        if not va.get("embedding.type_vocab_size") or not vb["embedding.type_vocab_size"]:
            add("segment embeddings" if vb["embedding.type_vocab_size"] else "no segment embeddings", "config",
                "embedding.type_vocab_size")
    if changed("heads") and isinstance(get(vb, "heads"), list) and isinstance(get(va, "heads"), list):
        dropped = [h for h in va["heads"] if h not in vb["heads"]]
        added = [h for h in vb["heads"] if h not in va["heads"]]
        add("; ".join(([f"drops the {', '.join(dropped)} head(s)"] if dropped else []) +
                      ([f"adds the {', '.join(added)} head(s)"] if added else [])), "config", "heads")
    if changed("objective"):
        # the task's options come with its objective: its pair objective always, the masking
        # shares where only one side masks
        tasks = [k for k in dict.fromkeys([*va, *vb]) if k == "task.pairs" or
                 (k.startswith("task.") and ABSENT in (get(va, k), get(vb, k)))]
        found.append(_objective(va, vb, [k for k in tasks if changed(k)]))
    if changed("tokenizer"):
        add(f"{TOKENIZERS.get(vb['tokenizer'], vb['tokenizer'])} tokenizer", "tokenizer", "tokenizer")
    return found


def _ffn(values: dict) -> str:
    act = values["mlp.activation"]
    if values["mlp.kind"] == "glu":
        return GLUS.get(act, f"GLU ({act})")
    return f"{ACTIVATIONS.get(act, act)} MLP"


def _objective(va: dict, vb: dict, task_keys: list[str]) -> Change:
    """The main objective's change, and each auxiliary objective (``mlm+nsp``'s NSP) dropped or
    added; ``task_keys``: the task options that change with it."""
    main_a, *aux_a = va["objective"].split("+")
    main_b, *aux_b = vb["objective"].split("+")
    keys = ["objective", *task_keys]
    names = []
    if main_a != main_b:
        names.append(f"{OBJECTIVES.get(main_b, main_b)} (was {OBJECTIVES.get(main_a, main_a)})")
    names += [f"no {OBJECTIVES.get(x, x)}" for x in aux_a if x not in aux_b]
    names += [f"adds {OBJECTIVES.get(x, x)}" for x in aux_b if x not in aux_a]
    return Change(", ".join(names) or None, {k: va.get(k, ABSENT) for k in keys},
                  {k: vb.get(k, ABSENT) for k in keys}, "objective")


def _raw(va: dict, vb: dict, consumed: set[str]) -> list[Change]:
    """Every difference no name stood for (``consumed``: the named ones' key paths), by key path,
    in the order of A's keys then B's."""
    keys = list(va) + [k for k in vb if k not in va]
    return [Change(None, {k: va.get(k, ABSENT)}, {k: vb.get(k, ABSENT)}, _source(k))
            for k in keys if k not in consumed and va.get(k, ABSENT) != vb.get(k, ABSENT)]


def _source(key: str) -> str:
    return key.split(".")[0] if key.split(".")[0] in ("task", "architecture", "objective", "tokenizer") else "config"


# ---- lineage --------------------------------------------------------------------------------
def _chain(family: Family) -> list[Family]:
    """The family and its ancestors, nearest first."""
    chain, seen = [family], {family.name}
    while chain[-1].parent is not None and chain[-1].parent not in seen:
        seen.add(chain[-1].parent)
        chain.append(get_family(chain[-1].parent))
    return chain


def _paths(fa: Family, fb: Family) -> tuple[str | None, list[Step], list[Step]]:
    """The nearest common ancestor, and the steps from it down to A and down to B (each step
    carrying the family's declared change from its parent)."""
    up_a, up_b = _chain(fa), _chain(fb)
    names_b = [f.name for f in up_b]
    common = next((f for f in up_a if f.name in names_b), None)

    def steps(chain):
        below = chain if common is None else chain[:[f.name for f in chain].index(common.name)]
        return [Step(f.name, f.year, f.parent, f.changes) for f in reversed(below)]

    return (common.name if common else None), steps(up_a), steps(up_b)


# ---- text -----------------------------------------------------------------------------------
def _show(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "[]"
    return str(value)


def render(d: FamilyDiff) -> str:
    """The diff as a readable table."""
    lines = [f"{d.a} -> {d.b}, comparing {d.comparing}", ""]
    rows = [("", d.a, d.b)]
    for fact in ("year", "parent", "architecture", "objective", "tokenizer", "parameters"):
        va, vb = d.facts[d.a][fact], d.facts[d.b][fact]
        show = (lambda v: "-" if v is None else f"{v:,}") if fact == "parameters" else _show
        rows.append((fact, show(va), show(vb)))
    lines += _table(rows)
    named = [c for c in d.changes if c.name]
    raw = [c for c in d.changes if not c.name]
    lines += ["", f"What {d.b} changed from {d.a}, by name:" if named else f"No named change from {d.a} to {d.b}."]
    lines += _table([(c.name, *_shown(c)) for c in named], "  ")
    if raw:
        lines += ["", "Other differences (key path: " + f"{d.a} -> {d.b}):"]
        lines += _table([_shown(c) for c in raw], "  ")
    if not d.changes:
        lines += ["", "No differences in the declarations."]
    lines += ["", _lineage_title(d)]
    for label, steps in ((d.a, d.lineage_a), (d.b, d.lineage_b)):
        for s in steps:
            lines.append(f"  {s.family} ({s.year}, from {s.parent or '-'}): {s.changes}")
    return "\n".join(lines)


def _shown(change: Change, most: int = 2) -> tuple[str, str]:
    """The key paths and ``a -> b`` values of a table row: the first ``most`` keys (the objective's
    task options can run to five; --json has them all)."""
    keys = change.keys[:most]
    side = lambda values: " + ".join(_show(values[k]) for k in keys)  # noqa: E731
    more = f" (+{len(change.keys) - most} more)" if len(change.keys) > most else ""
    return ", ".join(keys) + more, f"{side(change.a)} -> {side(change.b)}"


def _lineage_title(d: FamilyDiff) -> str:
    if d.a == d.b:
        return "Lineage: the same family."
    if d.ancestor is None:
        return f"Lineage: {d.a} and {d.b} share no ancestor; each family's own line from its root:"
    if d.ancestor == d.a:
        path = " -> ".join([d.a] + [s.family for s in d.lineage_b])
        return f"Lineage (as each family declares what it changed): {path}"
    if d.ancestor == d.b:
        return (f"Lineage: {d.a} descends from {d.b} ("
                + " -> ".join([d.b] + [s.family for s in d.lineage_a]) + "); what each step changed:")
    return (f"Lineage: both descend from {d.ancestor}; "
            + " -> ".join([d.ancestor] + [s.family for s in d.lineage_a]) + " and "
            + " -> ".join([d.ancestor] + [s.family for s in d.lineage_b]) + ":")


def _table(rows, indent: str = "") -> list[str]:
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [indent + "  ".join(f"{v:<{w}}" for v, w in zip(r, widths)) + "  " + r[-1] for r in rows]


# ---- the family files -----------------------------------------------------------------------
def family_file(name: str) -> Path:
    """The file that declares a family: ``families/<name>.py`` (a dash in the name: an underscore)."""
    family = get_family(name)
    return Path(__file__).resolve().parents[1] / "families" / f"{family.name.replace('-', '_')}.py"


def side_by_side(a: str, b: str, width: int = 60) -> str:
    """The two family files' lines side by side, each cut to ``width`` characters (a cut line ends
    in ``~``), aligned where they agree: ``|`` marks a changed line, ``<`` one only A has, ``>``
    one only B has."""
    left, right = (family_file(name).read_text(encoding="utf-8").splitlines() for name in (a, b))
    cut = lambda line: line if len(line) <= width else line[: width - 1] + "~"  # noqa: E731
    rows = [f"{cut(str(family_file(a).name)):<{width}}   {family_file(b).name}"]
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, left, right, autojunk=False).get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            l = left[i1 + k] if i1 + k < i2 else ""  # noqa: E741
            r = right[j1 + k] if j1 + k < j2 else ""
            mark = {"equal": " ", "delete": "<", "insert": ">"}.get(tag) or ("|" if l and r else "<" if l else ">")
            rows.append(f"{cut(l):<{width}} {mark} {cut(r)}".rstrip())
    return "\n".join(rows)
