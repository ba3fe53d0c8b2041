"""The arena: the lineage's story in numbers. Every family with a language-modelling objective,
from the n-gram through the NNLM and ELMo's LSTM LM to the Transformers, trained on one corpus by
the one run driver (``lmlineage.api.train``) with its own defaults and scored on the same held-out
text, twice:

- **equal tokens**: every family reads the same amount of training text, counted in characters so
  a word tokenizer and a character tokenizer read the same text (a word-level model's token budget is
  the characters over the training split's characters per word; the n-gram counts the first
  sentences holding that many words);
- **equal wall-clock**: every family trains for the same seconds (its steps chosen from the
  throughput it measured in the equal-token run; the n-gram's counting pass over the whole training
  split is reported at what it took).

Masked-LM encoders (bert, roberta, ...) race when named, scored by pseudo-log-likelihood (each token
masked in turn and predicted from both sides of its window): a pseudo-perplexity, labelled so, and
left out of the seeds' order, which is about left-to-right loss.

Scoring: bits per character (total nats over the characters of the text, divided by ln 2) on the
same held-out text, a stretch at the start of the corpus's last 10% (``split_text``, the split
every family holds out), after a margin so no tokenizer's split puts any of it in training. A
word-level model (n-gram, NNLM, ELMo) predicts lowercased words and one ``</s>`` per line, so
the characters its words leave out (case, punctuation, spacing, a rare word's spelling behind
``<unk>``) are counted as predicted for free: its bits per character are a lower bound next to
a character model's. Compute is 6·N·D (N parameters, all of them; D training tokens), the usual
estimate of training FLOPs; the n-gram, which counts instead, has none.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserError
from ..core.registry import Family, families, get_family

# budget 1: the characters of training text each family reads, the seconds each trains, and the
# held-out characters every model is scored on (most of the default run's time is these three)
TRAIN_CHARS = 200_000
TRAIN_SECONDS = 15.0
HELD_OUT_CHARS = 100_000
HELD_OUT_MARGIN = 1_000  # characters skipped at the start of the held-out split (see the docstring)
BUDGETS = {"tiny": 0.01, "small": 0.25, "default": 1.0, "large": 4.0}

# The seeds' order: each stage should beat the one before it in held-out loss at equal tokens.
STAGES = ("n-gram", "NNLM", "RNN LM", "Transformer")
STAGE_OF = {"ngram": "n-gram", "nnlm": "NNLM", "elmo": "RNN LM"}
TABLES = ("equal_tokens", "equal_time")
MASKED_STAGE = "masked LM (pseudo-perplexity)"
PSEUDO_WINDOW = 64  # tokens a masked LM reads around each token it scores, [CLS] and [SEP] included


@dataclass(frozen=True)
class Budget:
    factor: float
    train_chars: int
    train_seconds: float
    held_out_chars: int

    def to_dict(self) -> dict:
        return dict(factor=self.factor, train_chars=self.train_chars, train_seconds=self.train_seconds,
                    held_out_chars=self.held_out_chars)


def parse_budget(text) -> Budget:
    """``--budget``: a factor (> 0) or a named size (tiny, small, default, large)."""
    name = str(text).strip()
    if name in BUDGETS:
        factor = BUDGETS[name]
    else:
        try:
            factor = float(name)
        except ValueError:
            raise UserError(f"--budget {text!r} is neither a number nor a size",
                            f"give a factor > 0 or one of: {', '.join(BUDGETS)}") from None
        if not math.isfinite(factor) or factor <= 0:
            raise UserError(f"--budget {text} must be a finite factor > 0", f"e.g. 0.5, or one of: {', '.join(BUDGETS)}")
        if factor > 1000:
            raise UserError(f"--budget {text} would train each family for {factor * TRAIN_SECONDS / 3600:.0f} hours",
                            "give a factor up to 1000")
    return Budget(factor, max(1, round(TRAIN_CHARS * factor)), TRAIN_SECONDS * factor,
                  min(HELD_OUT_CHARS, max(2_000, round(HELD_OUT_CHARS * factor))))


def _task_of(fam: Family):
    from ..tasks import TASKS, task_class

    return task_class(fam.objective) if fam.objective in TASKS else None


def is_language_model(fam: Family) -> bool:
    """A family the arena scores: its task predicts the text left to right (it generates) from a
    token stream, a word stream or a counting pass; not pairs, not word vectors, not masked LMs."""
    task = _task_of(fam)
    return task is not None and task.generates and task.reads in ("tokens", "words", "corpus")


def is_masked_lm(fam: Family) -> bool:
    """An encoder pre-trained by the masked LM alone (its model scores every token from both sides):
    raced when named, scored by pseudo-log-likelihood. Not ELECTRA (its discriminator predicts no
    tokens) nor DistilBERT (it needs a trained teacher)."""
    from ..tasks.masked_lm import MaskedLMTask

    task = _task_of(fam)
    return (task is not None and issubclass(task, MaskedLMTask) and task.reads == "tokens" and not task.own_weights
            and not task.checkpoint_options)


def arena_families() -> list[Family]:
    return [f for f in families() if is_language_model(f)]


def stage_of(fam: Family) -> str:
    """The step of the seeds' story a family stands for: every Transformer-era decoder is a Transformer;
    a masked LM stands apart (its pseudo-perplexity is no left-to-right loss)."""
    if is_masked_lm(fam):
        return MASKED_STAGE
    return STAGE_OF.get(fam.name, fam.name if fam.architecture == "classic" else "Transformer")


def check_families(names) -> list[Family]:
    """The families named (all of the arena's for None), refused in one line where one is unknown
    or has no language-modelling objective to score."""
    eligible = arena_families()
    if names is None:
        return eligible
    chosen = []
    for name in names:
        fam = get_family(name)  # an unknown name: UserError naming the choices
        if not (is_language_model(fam) or is_masked_lm(fam)):
            raise UserError(f"{name} ({fam.objective} objective) is not scored by the arena: it predicts neither the "
                            "text left to right nor masked tokens by itself",
                            f"choose among: {', '.join(f.name for f in eligible)} or a masked LM (bert, roberta, ...)")
        if fam not in chosen:
            chosen.append(fam)
    if not chosen:
        raise UserError("no family given", f"choose among: {', '.join(f.name for f in eligible)}")
    return chosen


# ---- the corpus and the held-out text ---------------------------------------------------------
@dataclass
class Corpus:
    data: str | None
    name: str
    train_text: str
    held_out: str
    words_per_char: float  # word-level tokens (words + one </s> per line) per character of training text
    train_words: int

    @classmethod
    def read(cls, data, held_out_chars: int) -> "Corpus":
        from ..data.corpora import load_corpus, split_text
        from ..tokenizers.word import sentences_from_text

        train_text, val_text = split_text("\n".join(load_corpus(data)))
        margin = min(HELD_OUT_MARGIN, len(val_text) // 4)
        start = val_text.find("\n", margin) + 1 if margin else 0
        held_out = val_text[start : start + held_out_chars]
        if len(held_out) == held_out_chars and "\n" in held_out:  # end at a line break: whole lines only
            held_out = held_out[: held_out.rindex("\n") + 1]
        if not held_out.strip():
            raise UserError("the corpus is too small to hold out text to score", "give a larger --data")
        words = sum(len(s) + 1 for s in sentences_from_text(train_text))
        return cls(data, "shakespeare (built in)" if data is None else str(data), train_text, held_out,
                   words / max(len(train_text), 1), words)


# ---- one run ----------------------------------------------------------------------------------
def _reads(fam: Family) -> str:
    return _task_of(fam).reads


def unit_of(fam: Family) -> str:
    return "word" if _reads(fam) in ("words", "corpus") else fam.default_tokenizer


def window(fam: Family, preset: str) -> tuple[int, int]:
    """(batch size, context) a run of ``fam`` trains with by default: tokens per step is their product."""
    from ..train.run import DEFAULTS

    if is_masked_lm(fam):  # trained on the windows it is scored in (its preset's 512 outgrow a small corpus)
        return DEFAULTS["batch_size"], min(fam.config(preset).max_positions, PSEUDO_WINDOW) - 2
    return DEFAULTS["batch_size"], fam.config(preset).max_positions - _task_of(fam).added_tokens


def tokens_per_char(fam: Family, corpus: Corpus, cache: dict) -> float:
    """The family's default tokenizer's tokens per character, measured on the held-out text."""
    if unit_of(fam) == "word":
        return corpus.words_per_char
    kind = fam.default_tokenizer
    if kind not in cache:
        from ..data.corpora import load_corpus
        from ..tokenizers import build_tokenizer

        tok = build_tokenizer(kind, load_corpus(corpus.data), None)
        cache[kind] = len(tok.encode(corpus.held_out)) / len(corpus.held_out)
    return cache[kind]


def _train_seconds(run: Path, tokens_per_step: int) -> float | None:
    """Seconds spent in optimizer steps, from the throughput the trainer logged (evaluation,
    checkpoints and data preparation excluded)."""
    path = run / "metrics.jsonl"
    if not path.exists():
        return None
    seconds, last_step = 0.0, 0
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if "tokens_per_s" in record:
            seconds += tokens_per_step * (record["step"] - last_step) / max(record["tokens_per_s"], 1e-9)
            last_step = record["step"]
    return seconds


def score_held_out(run: Path, text: str, batch_size: int = 64) -> dict:
    """The run's score on the held-out ``text`` (:func:`_score`) and the seconds it took."""
    started = time.perf_counter()
    scored = _score(run, text, batch_size)
    return {**scored, "score_s": time.perf_counter() - started}


def _score(run: Path, text: str, batch_size: int) -> dict:
    """Nats, characters and bits per character of the run's best checkpoint on ``text``: a word-level
    model through its own ``evaluate_text``, any other through the causal-LM task's evaluation
    over consecutive windows of the context it trained with (what ``lmlineage eval`` does)."""
    import numpy as np
    import torch

    from ..api import load
    from ..checkpoint.files import read_json
    from ..data.batches import packed_windows
    from ..tasks.causal_lm import CausalLMTask
    from ..tasks.protocol import bits_per_char

    model = load(run)
    unknown = None
    if is_masked_lm(get_family(model.config.family)) if hasattr(model, "config") else False:
        nats, tokens = pseudo_log_likelihood(model, text, batch_size)
        chars = len(text)
    elif hasattr(model, "evaluate_text"):
        result = model.evaluate_text(text)
        nats, chars, tokens = result["nats"], result["chars"], result["tokens"]
        unknown = _unknown_share(model, text)
    else:
        ids = np.asarray(model.tokenizer.encode(text), dtype=np.int64)
        context = read_json(run / "run.json").get("context") or model.config.max_positions
        with torch.no_grad():
            result = CausalLMTask(model).evaluate(packed_windows(ids, context, batch_size))
        nats, tokens = result["nats"], result["tokens"]
        chars = len(model.tokenizer.decode(ids[1:].tolist()))
    parameters = sum(p.numel() for p in model.parameters()) if hasattr(model, "parameters") else None
    return {"bits_per_char": bits_per_char(nats, chars), "loss": nats / max(tokens, 1), "scored_tokens": tokens,
            "scored_chars": chars, "unknown_share": unknown, "parameters": parameters}


def pseudo_log_likelihood(model, text: str, batch_size: int = 64) -> tuple[float, int]:
    """(nats, tokens): every token of ``text`` masked in turn and predicted from the rest of its
    window of PSEUDO_WINDOW tokens (``[CLS] window [SEP]``); the sum of -log p is the
    pseudo-log-likelihood (Salazar et al. 2020, "Masked Language Model Scoring", section 2.3)."""
    import torch

    from ..tasks.masked_lm import MaskedLMTask

    special = MaskedLMTask.check_inputs(model.tokenizer)
    ids = torch.tensor(model.tokenizer.encode(text), dtype=torch.long)
    width = min(model.config.max_positions, PSEUDO_WINDOW) - 2
    device = next(model.parameters()).device
    nats = 0.0
    with torch.no_grad():
        for start in range(0, len(ids), width):
            window = ids[start : start + width]
            n = len(window)
            row = torch.cat([torch.tensor([special["cls"]]), window, torch.tensor([special["sep"]])])
            copies, at = row.repeat(n, 1), torch.arange(n)
            copies[at, at + 1] = special["mask"]  # copy i hides token i
            where = torch.zeros_like(copies, dtype=torch.bool)
            where[at, at + 1] = True
            for i in range(0, n, batch_size):
                logits = model(copies[i : i + batch_size].to(device), mlm_positions=where[i : i + batch_size].to(device)).logits
                logp = logits.float().log_softmax(-1)  # one row per copy, in order
                nats -= float(logp.gather(1, window[i : i + batch_size, None].to(device)).sum())
    return nats, len(ids)


def _unknown_share(model, text: str) -> float | None:
    """The share of a word-level model's scored tokens that are ``<unk>``: each stands for a word
    whose spelling it never pays for, so the larger the share, the more its bits per character flatter it."""
    from ..tokenizers.word import UNK, WordTokenizer

    if isinstance(getattr(model, "tokenizer", None), WordTokenizer):
        ids = model.tokenizer.encode(text)
        return ids.count(UNK) / max(len(ids), 1)
    if hasattr(model, "lm"):  # the n-gram's own vocabulary
        score = model.lm.score_text(text)
        return score.oov / max(score.tokens, 1)
    return None


def train_family(fam: Family, out: Path, *, data, preset: str, seed: int, steps: int | None = None,
                 max_words: int | None = None) -> dict:
    """One run through ``lmlineage.api.train``: its own defaults, ``steps`` optimizer steps (warmup a
    tenth of them, at most the default 100), or for the n-gram a counting pass (over the first
    ``max_words`` tokens)."""
    from ..api import train
    from ..train.run import DEFAULTS

    started = time.perf_counter()
    if _reads(fam) == "corpus":
        options = {} if max_words is None else {"max_words": max_words}
        train(fam.name, preset=preset, data=data, out=out, seed=seed, progress=False, sample_tokens=0,
              options=options)
        wall = time.perf_counter() - started
        return {"steps": 0, "train_s": wall, "wall_s": wall}
    batch, context = window(fam, preset)
    train(fam.name, preset=preset, data=data, out=out, seed=seed, progress=False, sample_tokens=0, steps=steps,
          warmup=min(DEFAULTS["warmup"], steps // 10), eval_batches=1,
          context=context if is_masked_lm(fam) else None)
    wall = time.perf_counter() - started
    return {"steps": steps, "batch_size": batch, "context": context, "train_s": _train_seconds(out, batch * context),
            "wall_s": wall}


def _row(fam: Family, table: str, trained: dict, scored: dict, tokens: int, per_char: float) -> dict:
    parameters = scored.pop("parameters")
    return {
        "family": fam.name, "year": fam.year, "stage": stage_of(fam), "unit": unit_of(fam), "table": table,
        "score": "pseudo-log-likelihood" if is_masked_lm(fam) else "log-likelihood",
        "parameters": parameters, "tokens_seen": tokens, "chars_seen": round(tokens / per_char),
        "compute_6nd": 6 * parameters * tokens if parameters is not None else None,
        **trained, **scored,
    }


# ---- the order check --------------------------------------------------------------------------
def order_check(rows: list[dict]) -> list[dict]:
    """For each adjacent pair of the seeds' stages (n-gram, NNLM, RNN LM, Transformer) that was
    measured, whether the later stage's best family has the lower held-out bits per character, as
    measured. A pair whose units differ carries the caveat that word-level bits are a lower bound; two
    word-level models whose ``<unk>`` shares differ, that the smaller vocabulary is favoured."""
    best: dict[str, dict] = {}
    for row in rows:
        bpc = row.get("bits_per_char")
        if row.get("stage") in STAGES and bpc is not None and math.isfinite(bpc):
            if row["stage"] not in best or bpc < best[row["stage"]]["bits_per_char"]:
                best[row["stage"]] = row
    present = [s for s in STAGES if s in best]
    pairs = []
    for earlier, later in zip(present, present[1:]):
        a, b = best[earlier], best[later]
        agrees = b["bits_per_char"] < a["bits_per_char"]
        verb = "beats" if agrees else "does not beat"
        pair = {"earlier": earlier, "later": later, "earlier_family": a["family"], "later_family": b["family"],
                "earlier_bpc": a["bits_per_char"], "later_bpc": b["bits_per_char"], "agrees": agrees,
                "says": f"{later} ({b['family']}, {b['bits_per_char']:.3f} bpc) {verb} {earlier} "
                        f"({a['family']}, {a['bits_per_char']:.3f} bpc)"}
        if a["unit"] != b["unit"]:
            pair["caveat"] = (f"{a['family']} reads {a['unit']}s and {b['family']} {b['unit']}s: a word-level model's "
                              "bits per character leave out what its words drop (case, punctuation, the spelling of "
                              "a word behind <unk>), so it is favoured")
        elif abs((a.get("unknown_share") or 0) - (b.get("unknown_share") or 0)) > 0.01:
            pair["caveat"] = (f"{a['family']} predicts <unk> for {a['unknown_share'] or 0:.1%} of the held-out words and "
                              f"{b['family']} for {b['unknown_share'] or 0:.1%}: a word behind <unk> is never spelled, so "
                              "the smaller vocabulary is favoured")
        pairs.append(pair)
    return pairs


# ---- the whole arena ---------------------------------------------------------------------------
def check_out(out) -> Path:
    from ..train.run import check_out_dir

    out = check_out_dir(out)
    if (out / "arena.json").exists() or (out / "runs").exists():
        raise UserError(f"--out {out} already holds an arena", "choose another --out, or delete it first")
    return out


def run_arena(names=None, *, budget="default", data=None, out="arena", preset: str = "tiny", seed: int = 1337,
              progress: bool = True, log=print, command: str = "lmlineage.lineage.arena.run_arena") -> dict:
    """Train and score every family (``names``; default: every language-modelling family) at equal
    tokens and at equal wall-clock; write ``arena.json`` and ``arena.png`` into ``out``; return the
    JSON's content."""
    from ..train.progress import progress as progress_bar

    budget = budget if isinstance(budget, Budget) else parse_budget(budget)
    chosen = check_families(names)
    for fam in chosen:
        fam.preset(preset)  # an unknown preset: refused before any work
    out = check_out(out)
    started, load_before = time.time(), _load_average()
    corpus = Corpus.read(data, budget.held_out_chars)
    per_char_cache: dict = {}
    tables: dict[str, list[dict]] = {t: [] for t in TABLES}

    def record(table: str, fam: Family, run: Path, trained: dict, tokens: int, per_char: float) -> dict:
        """Score the run, keep its row, and write what is measured so far."""
        row = _row(fam, table, trained, score_held_out(run, corpus.held_out), tokens, per_char)
        tables[table].append(row)
        log(_line(row))
        partial = _summary(command, chosen, preset, seed, budget, corpus, tables, started, load_before, complete=False)
        (out / PARTIAL).write_text(json.dumps(partial, indent=1) + "\n")
        return row

    with progress_bar(2 * len(chosen), enabled=progress, desc="arena", unit="run") as bar:
        for fam in chosen:
            per_char = tokens_per_char(fam, corpus, per_char_cache)
            tokens_budget = max(1, round(budget.train_chars * per_char))
            counts = _reads(fam) == "corpus"  # the n-gram: a counting pass, no steps
            # equal tokens
            bar.set_postfix(run=f"{fam.name} (equal tokens)")
            run = out / "runs" / "equal_tokens" / fam.name
            if counts:
                from ..classic.ngram import first_tokens
                from ..tokenizers.word import sentences_from_text

                kept = first_tokens(sentences_from_text(corpus.train_text), tokens_budget)
                trained = train_family(fam, run, data=data, preset=preset, seed=seed, max_words=tokens_budget)
                tokens = sum(len(s) + 1 for s in kept)
            else:
                batch, context = window(fam, preset)
                steps = max(1, math.ceil(tokens_budget / (batch * context)))
                trained = train_family(fam, run, data=data, preset=preset, seed=seed, steps=steps)
                tokens = steps * batch * context
            row = record("equal_tokens", fam, run, trained, tokens, per_char)
            bar.update(1)
            # equal wall-clock: the steps the measured throughput fits into the budget
            bar.set_postfix(run=f"{fam.name} (equal time)")
            run = out / "runs" / "equal_time" / fam.name
            if counts:
                trained = train_family(fam, run, data=data, preset=preset, seed=seed)
                tokens = corpus.train_words
            else:
                seconds_per_step = max(row["train_s"] or row["wall_s"], 1e-6) / row["steps"]
                steps = max(1, round(budget.train_seconds / seconds_per_step))
                trained = train_family(fam, run, data=data, preset=preset, seed=seed, steps=steps)
                tokens = steps * batch * context
            record("equal_time", fam, run, trained, tokens, per_char)
            bar.update(1)
    result = _summary(command, chosen, preset, seed, budget, corpus, tables, started, load_before)
    (out / "arena.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / PARTIAL).unlink(missing_ok=True)
    plot(result, out / "arena.png")
    return result


PARTIAL = "arena.partial.json"  # what a run has measured so far: a run stopped early leaves its rows


def _summary(command, chosen, preset, seed, budget, corpus, tables, started, load_before, complete=True) -> dict:
    import resource

    import torch

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "command": command,
        "complete": complete,
        "families": [f.name for f in chosen],
        "preset": preset,
        "seed": seed,
        "budget": budget.to_dict(),
        "corpus": {"data": corpus.name, "train_chars": len(corpus.train_text), "train_words": corpus.train_words,
                   "held_out_chars": len(corpus.held_out),
                   "held_out": "the start of the corpus's last 10% (after a margin of whole lines)"},
        "device": {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                   "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                   "load_average_before": load_before, "load_average_after": _load_average()},
        "wall_s": time.time() - started,
        "cpu_s": usage.ru_utime + usage.ru_stime,  # this process's CPU time: the wall time alone, at one thread
        "compute": "6 * parameters * training tokens (all parameters; the n-gram counts and has none)",
        "bits_per_char": "total nats over the held-out characters / ln 2; word-level models (unit: word) leave "
                         "case, punctuation and rare spellings unscored, so theirs are lower bounds",
        "tables": tables,
        "order_check": {t: order_check(rows) for t, rows in tables.items()},
    }


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _line(row: dict) -> str:
    return (f"{row['table']:<12} {row['family']:<10} {row['bits_per_char']:.3f} bpc  {row['tokens_seen']:,} tokens  "
            f"{row['train_s']:.1f} s training, {row['wall_s']:.1f} s in all")


# ---- reporting ----------------------------------------------------------------------------------
TITLES = {"equal_tokens": "equal tokens (the same training text)", "equal_time": "equal wall-clock"}


def render_table(rows: list[dict]) -> str:
    """A Markdown table: one row per family."""
    header = ["family", "year", "stage", "unit", "parameters", "tokens seen", "chars seen", "steps", "train s",
              "wall s", "6ND FLOPs", "held-out bpc", "<unk> share"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["family"], str(r["year"]), r["stage"], r["unit"],
                 f"{r['parameters']:,}" if r["parameters"] is not None else "- (counts)",
                 f"{r['tokens_seen']:,}", f"{r['chars_seen']:,}", str(r["steps"]) if r["steps"] else "1 pass",
                 f"{r['train_s']:.1f}", f"{r['wall_s']:.1f}",
                 f"{r['compute_6nd']:.2e}" if r["compute_6nd"] is not None else "-", f"{r['bits_per_char']:.3f}",
                 f"{r['unknown_share']:.1%}" if r.get("unknown_share") is not None else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_order(pairs: list[dict]) -> str:
    if not pairs:
        return "(fewer than two of the stages n-gram, NNLM, RNN LM, Transformer were run)"
    lines = []
    for p in pairs:
        mark = "agrees" if p["agrees"] else "DISAGREES"
        lines.append(f"- {p['earlier']} > {p['later']}: {mark}: {p['says']}"
                     + (f" (caveat: {p['caveat']})" if "caveat" in p else ""))
    return "\n".join(lines)


def render(result: dict) -> str:
    parts = []
    for table in TABLES:
        b = result["budget"]
        what = (f"{b['train_chars']:,} training characters each" if table == "equal_tokens"
                else f"{b['train_seconds']:g} s of training each")
        parts.append(f"## {TITLES[table]}: {what}\n\n{render_table(result['tables'][table])}\n\n"
                     f"order the seeds tell (held-out bpc):\n{render_order(result['order_check'][table])}")
    return "\n\n".join(parts)


def plot(result: dict, path: Path) -> Path:
    """bits per character by year and by compute (6ND), both tables; word-level models hollow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_year, by_compute) = plt.subplots(1, 2, figsize=(13, 5.2))
    styles = {"equal_tokens": ("o", "tab:blue"), "equal_time": ("s", "tab:orange")}
    for table in TABLES:
        marker, color = styles[table]
        rows = result["tables"][table]
        for r in rows:
            face = "none" if r["unit"] == "word" else color
            by_year.scatter(r["year"], r["bits_per_char"], marker=marker, facecolors=face, edgecolors=color, s=45)
            name = r["family"] + (" (pseudo)" if r.get("score") == "pseudo-log-likelihood" else "")
            by_year.annotate(name, (r["year"], r["bits_per_char"]), xytext=(4, 3), textcoords="offset points",
                             fontsize=7, color=color)
            if r["compute_6nd"]:
                by_compute.scatter(r["compute_6nd"], r["bits_per_char"], marker=marker, facecolors=face,
                                   edgecolors=color, s=45)
                by_compute.annotate(name, (r["compute_6nd"], r["bits_per_char"]), xytext=(4, 3),
                                    textcoords="offset points", fontsize=7, color=color)
        by_year.scatter([], [], marker=marker, color=color, label=TITLES[table])
    by_year.scatter([], [], marker="o", facecolors="none", edgecolors="0.4", label="word-level (bpc a lower bound)")
    by_year.set_xlabel("year")
    by_year.set_ylabel("held-out bits per character")
    by_year.set_title("bits per character by year")
    by_year.legend(fontsize=8)
    by_compute.set_xscale("log")
    by_compute.set_xlabel("training compute, 6 x parameters x tokens (FLOPs)")
    by_compute.set_title("bits per character by compute (the n-gram counts: not drawn)")
    b = result["budget"]
    fig.suptitle(f"lmlineage arena on {result['corpus']['data']}: budget {b['factor']:g} "
                 f"({b['train_chars']:,} chars / {b['train_seconds']:g} s each), "
                 f"{result['corpus']['held_out_chars']:,} held-out chars", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
