"""Instruction tuning data (FLAN: Wei et al. 2022, "Finetuned Language Models Are Zero-Shot
Learners"; Flan-T5: Chung et al. 2022, "Scaling Instruction-Finetuned Language Models").

Checkable tasks are generated here, so every answer can be scored without people: reversing,
sorting, copying and picking from strings of digits or letters, counting, two-digit arithmetic,
weekdays and months, the sentiment of short made-up reviews, picking the word of a named kind (a
day, a month, a colour, an animal) from three, and naming a word's kind. Tasks are grouped into
clusters (FLAN section 2.2): a benchmark holds a whole cluster out of the mixture and asks the
tuned model for it zero-shot.

Each task has several phrasings (templates, FLAN's "ten templates per data set", here two to
four); an example is rendered zero-shot (instruction + input), few-shot (exemplars of the same
template before it, Chung et al. section 2.1) or with chain of thought (the instruction ends
"Let's think step by step." and the target spells out the steps before the answer; only tasks
with steps to spell out, arithmetic and dates). The mixture takes each task's examples up to a
per-task cap (Raffel et al. 2020 section 3.5.2, examples-proportional mixing with a limit K), so a
task with many possible examples does not drown the others.

``plain`` renders the same mixture without templates (the input alone, FLAN's "no template"
ablation, section 4.3): the baseline that shows what the instructions add.

Data names, as ``train --data`` reads them: ``flan`` (every cluster), ``flan:without=CLUSTER``
(that cluster held out), ``flan:plain`` (no templates), combinable: ``flan:without=count:plain``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from ..core.errors import UserError

DIGITS, LETTERS = "0123456789", "abcdefghijklmnopqrstuvwxyz"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
POSITIVE = ("great", "wonderful", "lovely", "superb", "moving", "delightful", "brilliant", "charming")
NEGATIVE = ("awful", "boring", "dull", "terrible", "clumsy", "tedious", "dreadful", "bland")
SUBJECTS = ("the film", "the acting", "the story", "the music", "the ending", "the meal", "the book", "the show")
# Words of four kinds: what the picking tasks pick from, and what "What kind of word is X?" names.
KINDS = {"day": WEEKDAYS, "month": MONTHS,
         "colour": ("red", "blue", "green", "yellow", "black", "white", "purple", "brown"),
         "animal": ("dog", "cat", "horse", "sheep", "lion", "mouse", "goat", "bird")}
FEW_SHOT, CHAIN_OF_THOUGHT = "few-shot", "chain-of-thought"
COT_CUE = "Let's think step by step."


@dataclass(frozen=True)
class Example:
    input: dict  # the fields the templates fill: {"x": "4821"}, {"a": 12, "b": 30}
    answer: str
    steps: str = ""  # the chain of thought before the answer ("" where the task has none)


@dataclass(frozen=True)
class InstructionTask:
    name: str
    cluster: str
    templates: tuple[str, ...]  # phrasings with {fields} of the input
    draw: Callable[[random.Random], Example]
    plain: str = "{x}"  # the input without an instruction (the no-template baseline)
    # The answers to choose among, where a task has a closed set (FLAN's OPTIONS): what rank
    # classification scores, answer by answer, instead of reading a generated one.
    options: Callable[[dict], tuple[str, ...]] | None = None


def _string(alphabet: str, low: int = 3, high: int = 8):
    def draw(rng: random.Random) -> str:
        return "".join(rng.choices(alphabet, k=rng.randint(low, high)))
    return draw


def _string_task(name: str, cluster: str, alphabet: str, templates: tuple[str, ...], answer: Callable[[str], str]):
    make = _string(alphabet)
    return InstructionTask(name, cluster, templates, lambda rng: Example({"x": (x := make(rng))}, answer(x)))


def _reorder(noun: str):
    return {
        "reverse": (f"Reverse the {noun}: {{x}}", "Write {x} backwards.", "What is {x} read from right to left?"),
        "sort": (f"Sort the {noun}: {{x}}", f"Put the {noun} of {{x}} in order.",
                 "Arrange {x} from smallest to largest."),
        "copy": ("Copy this: {x}", "Repeat {x} exactly.", f"Write the {noun} {{x}} again."),
    }


def _select(unit: str):
    return {
        "first": (f"What is the first {unit} of {{x}}?", f"Give the first {unit} in {{x}}.", f"{{x}}: first {unit}?"),
        "last": (f"What is the last {unit} of {{x}}?", f"Give the last {unit} in {{x}}.", f"{{x}}: last {unit}?"),
        "count": (f"How many {unit}s are in {{x}}?", f"Count the {unit}s: {{x}}", f"{{x}} has how many {unit}s?"),
    }


def _add(rng: random.Random) -> Example:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    ones, carry = (a % 10 + b % 10) % 10, (a % 10 + b % 10) // 10
    steps = (f"{a % 10}+{b % 10}={a % 10 + b % 10}, write {ones} carry {carry}. "
             f"{a // 10}+{b // 10}+{carry}={a // 10 + b // 10 + carry}.")
    return Example({"a": a, "b": b}, str(a + b), steps)


def _subtract(rng: random.Random) -> Example:
    a, b = sorted((rng.randint(10, 99), rng.randint(10, 99)), reverse=True)
    borrow = int(a % 10 < b % 10)
    steps = (f"{a % 10 + 10 * borrow}-{b % 10}={a % 10 + 10 * borrow - b % 10}, borrow {borrow}. "
             f"{a // 10}-{b // 10}-{borrow}={a // 10 - b // 10 - borrow}.")
    return Example({"a": a, "b": b}, str(a - b), steps)


def _cycle(names: tuple[str, ...], shift: int, unit: str):
    def draw(rng: random.Random) -> Example:
        i = rng.randrange(len(names))
        j = (i + shift) % len(names)
        steps = f"{names[i]} is {unit} {i + 1}; {i + 1}{shift:+d} is {unit} {j + 1}, {names[j]}."
        return Example({"x": names[i]}, names[j], steps)
    return draw


def _review(rng: random.Random) -> Example:
    good = rng.random() < 0.5
    words = rng.sample(POSITIVE if good else NEGATIVE, 2)
    return Example({"x": f"{rng.choice(SUBJECTS)} was {words[0]} and {words[1]}."}, "positive" if good else "negative")


def _pick(kind: str):
    """A list of three words of three kinds, one of them ``kind``: the answer is that one."""
    def draw(rng: random.Random) -> Example:
        others = rng.sample([k for k in KINDS if k != kind], 2)
        words = [rng.choice(KINDS[k]) for k in (kind, *others)]
        answer = words[0]
        rng.shuffle(words)
        return Example({"x": ", ".join(words)}, answer)
    return draw


def _kind_of_word(rng: random.Random) -> Example:
    kind = rng.choice(list(KINDS))
    return Example({"x": rng.choice(KINDS[kind])}, kind)


def _word(rng: random.Random) -> Example:
    word = rng.choice(rng.choice(list(KINDS.values())))
    return Example({"x": word}, word)


def _pick_task(kind: str) -> InstructionTask:
    a = "an" if kind[0] in "aeiou" else "a"
    return InstructionTask(f"pick_{kind}", f"pick_{kind}", (f"Which word is {a} {kind}: {{x}}?",
                                                           f"Pick the {kind} from {{x}}.",
                                                           f"{{x}}: which one is {a} {kind}?"), _pick(kind),
                           options=lambda inputs: tuple(inputs["x"].split(", ")))


def _tasks() -> tuple[InstructionTask, ...]:
    digits, letters = _reorder("digits"), _reorder("letters")
    digit, letter = _select("digit"), _select("letter")
    tasks = [
        _string_task("reverse_digits", "reorder_digits", DIGITS, digits["reverse"], lambda x: x[::-1]),
        _string_task("sort_digits", "reorder_digits", DIGITS, digits["sort"], lambda x: "".join(sorted(x))),
        _string_task("reverse_letters", "reorder_letters", LETTERS, letters["reverse"], lambda x: x[::-1]),
        _string_task("sort_letters", "reorder_letters", LETTERS, letters["sort"], lambda x: "".join(sorted(x))),
        _string_task("copy_digits", "copy", DIGITS, digits["copy"], lambda x: x),
        _string_task("copy_letters", "copy", LETTERS, letters["copy"], lambda x: x),
        # Every kind's words written out: a held-out picking task's answers are words the model has written.
        InstructionTask("copy_word", "copy", ("Repeat the word {x}.", "Say {x}.", "Write {x} again."), _word),
        _string_task("first_digit", "select", DIGITS, digit["first"], lambda x: x[0]),
        _string_task("last_digit", "select", DIGITS, digit["last"], lambda x: x[-1]),
        _string_task("first_letter", "select", LETTERS, letter["first"], lambda x: x[0]),
        _string_task("last_letter", "select", LETTERS, letter["last"], lambda x: x[-1]),
        _string_task("count_digits", "count", DIGITS, digit["count"], lambda x: str(len(x))),
        _string_task("count_letters", "count", LETTERS, letter["count"], lambda x: str(len(x))),
        InstructionTask("add", "arithmetic", ("What is {a} plus {b}?", "{a} + {b} = ?", "Add {a} and {b}."), _add,
                        plain="{a} {b}"),
        InstructionTask("subtract", "arithmetic", ("What is {a} minus {b}?", "{a} - {b} = ?",
                                                   "Subtract {b} from {a}."), _subtract, plain="{a} {b}"),
        InstructionTask("next_day", "dates", ("What day comes after {x}?", "The day after {x} is?"),
                        _cycle(WEEKDAYS, 1, "day")),
        InstructionTask("previous_day", "dates", ("What day comes before {x}?", "The day before {x} is?"),
                        _cycle(WEEKDAYS, -1, "day")),
        InstructionTask("next_month", "dates", ("What month comes after {x}?", "The month after {x} is?"),
                        _cycle(MONTHS, 1, "month")),
        InstructionTask("sentiment", "sentiment", ("Is this review positive or negative? {x}", "{x} Sentiment?",
                                                   "How does the writer feel: {x}"), _review,
                        options=lambda inputs: ("positive", "negative")),
        # Picking a word by its kind, one cluster per kind: holding one out asks for a known operation
        # (picking) on a kind only "kind_of_word" and the other tasks' inputs name.
        *(_pick_task(kind) for kind in KINDS),
        InstructionTask("kind_of_word", "kind_of_word", ("What kind of word is {x}?", "Is {x} a day, a month, a "
                                                         "colour or an animal?", "{x} is a what?"), _kind_of_word,
                        options=lambda inputs: tuple(KINDS)),
    ]
    return tuple(tasks)


TASKS = _tasks()
CLUSTERS = tuple(dict.fromkeys(t.cluster for t in TASKS))
FORMATS = {"zero-shot": 0.8, FEW_SHOT: 0.1, CHAIN_OF_THOUGHT: 0.1}  # shares of a task's examples
STEPS_TASKS = frozenset({"add", "subtract", "next_day", "previous_day", "next_month"})
CAP = 1000  # examples per task in the mixture (the limit K)
VAL_PER_TASK = 8
SHOTS = 1  # exemplars before a few-shot question: one keeps sources short enough for a CPU


def cluster_tasks(cluster: str) -> tuple[InstructionTask, ...]:
    if cluster not in CLUSTERS:
        raise UserError(f"no instruction cluster {cluster!r}", f"choose one of: {', '.join(CLUSTERS)}")
    return tuple(t for t in TASKS if t.cluster == cluster)


def render(task: InstructionTask, example: Example, template: str, form: str = "zero-shot",
           shots: tuple[Example, ...] = ()) -> tuple[str, str]:
    """(source, target) of one example in one format."""
    prompt = template.format(**example.input)
    if form == FEW_SHOT:
        solved = "\n".join(f"Q: {template.format(**s.input)}\nA: {s.answer}" for s in shots)
        return f"{solved}\nQ: {prompt}\nA:", example.answer
    if form == CHAIN_OF_THOUGHT:
        return f"{prompt} {COT_CUE}", f"{example.steps} So the answer is {example.answer}."
    return prompt, example.answer


def examples(task: InstructionTask, n: int, seed, *, plain: bool = False, formats: dict | None = None,
             exclude: frozenset = frozenset()) -> list[tuple[str, str]]:
    """``n`` rendered (source, target) pairs of ``task`` drawn from ``seed``, each in a template
    and format drawn from ``formats`` (chain of thought only where the task has steps); ``plain``:
    the input alone. Inputs in ``exclude`` are skipped (the held-out split never repeats training)."""
    # Inputs and their rendering draw from two generators, so the inputs of a seed are the same
    # whatever the formats (``_inputs`` lists them); str seeds hash deterministically.
    rng, style = random.Random(f"{task.name}-{seed}"), random.Random(f"{task.name}-{seed}-style")
    formats = dict(formats or FORMATS)
    if task.name not in STEPS_TASKS:
        formats.pop(CHAIN_OF_THOUGHT, None)
    pairs, tries = [], 0
    while len(pairs) < n and tries < 20 * n:
        tries += 1
        example = task.draw(rng)
        key = repr(sorted(example.input.items()))
        if key in exclude:
            continue
        if plain:
            pairs.append((task.plain.format(**example.input), example.answer))
            continue
        form = style.choices(list(formats), weights=list(formats.values()))[0]
        shots = tuple(task.draw(style) for _ in range(SHOTS)) if form == FEW_SHOT else ()
        pairs.append(render(task, example, style.choice(task.templates), form, shots))
    return pairs


def _draws(task: InstructionTask, n: int, seed) -> list[Example]:
    """The first ``n`` examples ``seed`` draws: the inputs ``examples`` renders where none is excluded."""
    rng = random.Random(f"{task.name}-{seed}")
    return [task.draw(rng) for _ in range(n)]


def _inputs(task: InstructionTask, n: int, seed) -> frozenset:
    return frozenset(repr(sorted(e.input.items())) for e in _draws(task, n, seed))


def parse_name(name: str) -> dict | None:
    """``flan[:without=CLUSTER][:plain]`` -> {"without": cluster or None, "plain": bool}; None for other names."""
    if not isinstance(name, str) or name.split(":")[0] != "flan":
        return None
    parsed = {"without": None, "plain": False}
    for part in name.split(":")[1:]:
        if part == "plain":
            parsed["plain"] = True
        elif part.startswith("without="):
            parsed["without"] = cluster_tasks(part.removeprefix("without="))[0].cluster
        else:
            raise UserError(f"{name}: unknown part {part!r}", "use flan, flan:without=CLUSTER, flan:plain")
    return parsed


def mixture(without: str | None = None, plain: bool = False, cap: int = CAP, n_val: int = VAL_PER_TASK,
            seed: int = 0) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, validation) pairs of every task outside the cluster ``without``: up to ``cap``
    examples per task, shuffled together; validation inputs never occur in training."""
    train, val = [], []
    for task in TASKS:
        if task.cluster == without:
            continue
        train += examples(task, cap, seed, plain=plain)
        val += examples(task, n_val, f"val-{seed}", plain=plain, exclude=_inputs(task, cap, seed))
    random.Random(seed).shuffle(train)
    return train, val


def load(name: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    return mixture(**parse_name(name))


def held_out(cluster: str, n: int = 100, seed: str = "held-out") -> dict[str, list[tuple[str, str]]]:
    """Zero-shot (source, answer) pairs of each task of ``cluster``, as a held-out benchmark asks them."""
    return {t.name: examples(t, n, seed, formats={"zero-shot": 1.0}) for t in cluster_tasks(cluster)}


def held_out_options(cluster: str, n: int = 100, seed: str = "held-out") -> dict[str, list[tuple[str, ...]]]:
    """The options of each question ``held_out`` asks, in its order, for the cluster's tasks that
    have a closed set of answers (rank classification, as FLAN scores such tasks)."""
    return {t.name: [t.options(e.input) for e in _draws(t, n, seed)] for t in cluster_tasks(cluster)
            if t.options is not None}
