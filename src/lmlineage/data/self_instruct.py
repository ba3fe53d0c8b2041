"""Self-instruct (Wang et al. 2023, "Self-Instruct: Aligning Language Models with Self-Generated
Instructions"), as Alpaca used it (Taori et al. 2023): a few human-written seed tasks, a generator
model shown a handful of them proposes a new task (instruction, optional input, output) in one
pass, and a proposal is kept only when it parses, passes simple heuristics and is novel: its
instruction's ROUGE-L F-measure against every instruction kept so far (seeds included) is at most
0.7 (self-instruct, section 2.3). The kept tasks become conversations for chat SFT.

The generator is any function from prompts to continuations, so this module runs no model: the
API loads one (our checkpoint, a reference directory or a GGUF file) and passes its sampler in.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from ..core.errors import UserError
from .records import records

ROUGE_THRESHOLD = 0.7  # self-instruct section 2.3: kept only when ROUGE-L with every kept one is < 0.7
MIN_WORDS, MAX_WORDS = 3, 150  # Alpaca's bounds on an instruction's length, in words
# What a text-only model cannot do (self-instruct 2.3 drops instructions naming images, pictures, graphs).
BANNED = ("image", "images", "graph", "graphs", "picture", "pictures", "photo", "photos", "file", "files",
          "map", "maps", "draw", "plot", "video", "audio", "music", "diagram", "flowchart", "go to")
NO_INPUT = "<noinput>"  # how a task without input is written in the prompt, as Alpaca's prompt does
HEADER = ("Below are tasks for an assistant. Each has an instruction, an input (or <noinput>) and the "
          "correct output. Write a new task, different from these.\n\n")
REASONS = ("unparsable", "instruction too short", "instruction too long", "banned word",
           "starts with punctuation", "not ASCII", "empty output", "duplicate", "too similar")


FIELDS = ("instruction", "input", "output")  # a task's fields, as seed files and the prompt name them


@dataclass(frozen=True)
class Task:
    instruction: str
    input: str
    output: str

    @classmethod
    def trimmed(cls, fields) -> "Task":
        """The task whose FIELDS are ``fields[name]`` (a seed file's row, a parsed proposal), stripped."""
        return cls(*(fields[name].strip() for name in FIELDS))

    def messages(self) -> list[dict]:
        """The task as a conversation for chat SFT: the instruction (and input) from the user, the
        output from the assistant."""
        user = f"{self.instruction}\n\n{self.input}" if self.input else self.instruction
        return [{"role": "user", "content": user}, {"role": "assistant", "content": self.output}]


def _t(instruction, output, input=""):
    return Task(instruction, input, output)


# Written for lmlineage: short, varied, checkable where possible (self-instruct's 175 are longer).
SEED_TASKS = (
    _t("Give three tips for staying healthy.", "Eat vegetables, sleep eight hours and walk every day."),
    _t("Translate the sentence into French.", "Le chat dort.", "The cat is sleeping."),
    _t("Sort the numbers from smallest to largest.", "2, 5, 9, 14", "9, 2, 14, 5"),
    _t("What is the capital of Japan?", "Tokyo."),
    _t("Rewrite the sentence in the past tense.", "She walked to school.", "She walks to school."),
    _t("Name the opposite of the word.", "Cold.", "hot"),
    _t("Add the two numbers.", "59", "23 and 36"),
    _t("Classify the review as positive or negative.", "Negative.", "The food was cold and the waiter was rude."),
    _t("Write a haiku about the sea.", "Waves fold into foam,\nsalt wind carries gull voices,\nthe tide keeps its time."),
    _t("Explain what a noun is in one sentence.", "A noun is a word that names a person, place, thing or idea."),
    _t("Count the vowels in the word.", "5", "education"),
    _t("Suggest a name for a small bakery.", "The Golden Crust."),
    _t("Correct the spelling mistakes.", "I received the letter yesterday.", "I recieved the leter yesterday."),
    _t("Convert the temperature from Celsius to Fahrenheit.", "68 degrees Fahrenheit.", "20 degrees Celsius"),
    _t("List the primary colors.", "Red, yellow and blue."),
    _t("Summarize the text in one sentence.", "Tom lost his keys but found them in his coat.",
       "Tom could not find his keys this morning. He searched the kitchen and the car. "
       "In the end they were in the pocket of his coat."),
    _t("Reverse the letters of the word.", "nohtyp", "python"),
    _t("Is the number even or odd?", "Odd.", "37"),
    _t("Write a polite reply declining an invitation to a party.",
       "Thank you for the kind invitation. I am sorry, but I cannot come this time. Have a wonderful party!"),
    _t("Give a synonym for the word.", "Happy.", "glad"),
    _t("What does the abbreviation stand for?", "Central Processing Unit.", "CPU"),
    _t("Turn the statement into a question.", "Is the train late?", "The train is late."),
    _t("Name three animals that live in the ocean.", "Dolphins, octopuses and sharks."),
    _t("Find the largest number in the list.", "42", "17, 42, 8, 23"),
    _t("Describe the taste of a lemon in a few words.", "Sour, sharp and fresh."),
    _t("Make the sentence more formal.", "I would like to request some assistance, please.", "Can you help me out?"),
    _t("How many days are in a leap year?", "366."),
    _t("Give an example of a renewable energy source.", "Solar power."),
    _t("Extract the year from the sentence.", "1969", "The first people walked on the Moon in 1969."),
    _t("Write a short slogan for a recycling campaign.", "Give your bottles a second life."),
    _t("Split the sentence into words.", "the, dog, barked", "the dog barked"),
    _t("Explain why the sky is blue in one sentence.",
       "Air scatters blue sunlight more than red light, so blue reaches our eyes from all directions."),
    _t("Change the word to its plural form.", "Children.", "child"),
    _t("What is the next number in the sequence?", "16", "2, 4, 8"),
    _t("Recommend a book for someone who likes adventure stories.", "Treasure Island by Robert Louis Stevenson."),
    _t("Put the words in alphabetical order.", "apple, kiwi, mango, pear", "pear, apple, mango, kiwi"),
    _t("Write a question you could ask a new classmate.", "Which subject do you enjoy the most?"),
    _t("Identify the verb in the sentence.", "Jumped.", "The fox jumped over the fence."),
    _t("Give two reasons to learn a second language.", "It helps you travel and it opens new jobs."),
    _t("Multiply the two numbers.", "42", "6 and 7"),
)


def read_seeds(path) -> list[Task]:
    """Seed tasks from a .jsonl file, one ``{"instruction", "input" (optional), "output"}`` per line."""
    path = Path(path)
    if not path.is_file() or path.suffix != ".jsonl":
        raise UserError(f"--seeds {path} is not a .jsonl file",
                        'give one {"instruction": ..., "input": ..., "output": ...} per line')
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"--seeds {path} is not UTF-8 text") from None
    seeds = []
    for where, row in records(path, text):
        fields = {k: row.get(k, "") for k in FIELDS}
        if not all(isinstance(v, str) for v in fields.values()) or not fields["instruction"].strip() \
                or not fields["output"].strip():
            raise UserError(f"--seeds {path} {where}: a seed task needs a text instruction and output "
                            "(input optional)", 'write {"instruction": ..., "input": ..., "output": ...}')
        seeds.append(Task.trimmed(fields))
    if len(seeds) < 3:
        raise UserError(f"--seeds {path} holds {len(seeds)} task(s)", "give at least 3: each prompt shows 3")
    return seeds


def prompt(examples: list[Task]) -> str:
    """The few-shot prompt: a header, the examples numbered, and the next number's ``Instruction:``
    for the generator to continue (one pass proposes instruction, input and output, as Alpaca's)."""
    shown = "".join(f"Task {n}\nInstruction: {t.instruction}\nInput: {t.input or NO_INPUT}\nOutput: {t.output}\n\n"
                    for n, t in enumerate(examples, 1))
    return f"{HEADER}{shown}Task {len(examples) + 1}\nInstruction:"


# A task ends at a blank line (the prompt separates tasks with one) or where the next one starts.
STOPS = ("\n\n", "\nTask ")
_PROPOSAL = re.compile(r"^(?P<instruction>.*?)\nInput:(?P<input>.*?)\nOutput:(?P<output>.*)$", re.S)


def parse(continuation: str) -> Task | None:
    """The task in what the generator wrote after ``Instruction:``, or None when the instruction,
    input and output fields are not all there in that order."""
    text = continuation
    for stop in STOPS:
        text = text.split(stop)[0]
    match = _PROPOSAL.match(text)
    if match is None or "\nInstruction:" in text:
        return None
    task = Task.trimmed(match)
    return replace(task, input="") if task.input == NO_INPUT else task


def heuristic_reason(task: Task) -> str | None:
    """Why a parsed task is dropped before novelty is checked, or None (self-instruct 2.3; Alpaca)."""
    words = task.instruction.split()
    if len(words) < MIN_WORDS:
        return "instruction too short"
    if len(words) > MAX_WORDS:
        return "instruction too long"
    lowered = " ".join(re.findall(r"[a-z]+", task.instruction.lower()))
    if any(re.search(rf"\b{b}\b", lowered) for b in BANNED):
        return "banned word"
    if not task.instruction[0].isalnum():
        return "starts with punctuation"
    if not task.instruction.isascii():
        return "not ASCII"
    if not task.output:
        return "empty output"
    return None


class Novelty:
    """The highest ROUGE-L F-measure of an instruction against every instruction in the pool (the
    ``rouge-score`` package's, as self-instruct computes it)."""

    def __init__(self, instructions=()):
        try:
            from rouge_score import rouge_scorer
        except ImportError:
            raise UserError("self-instruct scores novelty with the rouge-score package, which is not installed",
                            "pip install 'lmlineage[alpaca]'") from None

        self.scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
        self.pool: list[str] = []
        for text in instructions:
            self.add(text)

    def add(self, instruction: str) -> None:
        self.pool.append(instruction)

    def most_similar(self, instruction: str) -> tuple[float, str | None]:
        best, nearest = 0.0, None
        for other in self.pool:
            score = self.scorer.score(other, instruction)["rougeL"].fmeasure
            if score > best or nearest is None:
                best, nearest = score, other
        return best, nearest


@dataclass
class Generated:
    kept: list[dict] = field(default_factory=list)  # task fields + rouge_l, most_similar, rouge_l_seed
    dropped: list[dict] = field(default_factory=list)  # reason + what was generated
    generated: int = 0
    new_tokens: int = 0

    def counts(self) -> dict:
        reasons = {r: 0 for r in REASONS}
        for d in self.dropped:
            reasons[d["reason"]] += 1
        return {"generated": self.generated, "kept": len(self.kept), "dropped": len(self.dropped),
                "dropped_by_reason": reasons}


def self_instruct(propose: Callable[[list[str], int], list[str]], seeds: list[Task], n: int, seed: int = 0,
                  per_prompt: int = 3, batch_size: int = 4, log: Callable[[str], None] | None = None) -> Generated:
    """Ask ``propose(prompts, sampling_seed) -> continuations`` for ``n`` new tasks, ``batch_size``
    prompts at a time, each prompt showing ``per_prompt`` seeds drawn at random (Alpaca draws its
    examples from the seed tasks); keep those that parse, pass the heuristics, are not an exact
    duplicate and whose instruction's ROUGE-L with every instruction kept so far (seeds included)
    is at most ROUGE_THRESHOLD."""
    if n < 1:
        raise UserError(f"--n {n}: ask for at least 1 instruction")
    if len(seeds) < per_prompt:
        raise UserError(f"{len(seeds)} seed task(s), fewer than the {per_prompt} each prompt shows",
                        "add seed tasks")
    rng = random.Random(seed)
    novelty, against_seeds = Novelty(t.instruction for t in seeds), Novelty(t.instruction for t in seeds)
    seen = {t.instruction.lower() for t in seeds}
    result = Generated()
    round_ = 0
    while result.generated < n:
        size = min(batch_size, n - result.generated)
        prompts = [prompt(rng.sample(seeds, per_prompt)) for _ in range(size)]
        for text in propose(prompts, seed * 1_000_003 + round_):
            result.generated += 1
            task = parse(text)
            reason = "unparsable" if task is None else heuristic_reason(task)
            score, nearest = (0.0, None)
            if reason is None and task.instruction.lower() in seen:
                reason = "duplicate"
            if reason is None:
                score, nearest = novelty.most_similar(task.instruction)
                if score > ROUGE_THRESHOLD:
                    reason = "too similar"
            if reason is not None:
                result.dropped.append({"reason": reason, "text": text,
                                       **({"rouge_l": score, "most_similar": nearest} if nearest else {})})
                continue
            novelty.add(task.instruction)
            seen.add(task.instruction.lower())
            result.kept.append({**asdict(task), "rouge_l": score, "most_similar": nearest,
                                "rouge_l_seed": against_seeds.most_similar(task.instruction)[0]})
        round_ += 1
        if log is not None:
            log(f"self-instruct: {result.generated}/{n} generated, {len(result.kept)} kept")
    return result


def write(out: Path, result: Generated, seeds: list[Task]) -> None:
    """``instructions.jsonl`` (each kept task as a conversation for `lmlineage finetune`, its fields
    beside), ``seeds.jsonl`` (the seeds the same way: a held-out set written by people),
    ``dropped.jsonl`` (each drop and its reason)."""
    with open(out / "instructions.jsonl", "w", encoding="utf-8") as f:
        for kept in result.kept:
            task = Task(kept["instruction"], kept["input"], kept["output"])
            f.write(json.dumps({"messages": task.messages(), **kept}) + "\n")
    with open(out / "seeds.jsonl", "w", encoding="utf-8") as f:
        for task in seeds:
            f.write(json.dumps({"messages": task.messages(), **asdict(task)}) + "\n")
    with open(out / "dropped.jsonl", "w", encoding="utf-8") as f:
        for dropped in result.dropped:
            f.write(json.dumps(dropped) + "\n")


def plot_rouge(result: Generated, path: Path) -> None:
    """Two histograms: each kept instruction's ROUGE-L with its most similar seed (self-instruct's
    figure 3), and every scored proposal's highest ROUGE-L against the pool when it was filtered,
    with the 0.7 threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [k["rouge_l"] for k in result.kept] + [d["rouge_l"] for d in result.dropped if "rouge_l" in d]
    bins = [i / 20 for i in range(21)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].hist([k["rouge_l_seed"] for k in result.kept], bins=bins, color="tab:blue")
    axes[0].set(title=f"kept ({len(result.kept)}): ROUGE-L with the most similar seed", xlabel="ROUGE-L",
                ylabel="instructions")
    axes[1].hist(scored, bins=bins, color="tab:gray")
    axes[1].axvline(ROUGE_THRESHOLD, color="tab:red", linestyle="--", label="threshold 0.7")
    axes[1].set(title=f"scored ({len(scored)}): highest ROUGE-L against the pool", xlabel="ROUGE-L")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
