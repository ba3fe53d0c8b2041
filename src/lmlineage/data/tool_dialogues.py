"""LaMDA-style tool-use dialogues generated from templates (Thoppilan et al. 2022, section 6.2:
the model learns, from annotated dialogues, when to address the toolset and how to use what it
returns). Here the annotations are made by rule, so the corpus is free and checkable.

Every dialogue is a few lines (the layout ``rl.tools`` runs)::

    User: What is 4821 * 37?
    Call: calculator 4821 * 37
    Result: 178377
    Bot: 4821 * 37 is 178377.

Kinds: multi-digit arithmetic through the calculator; questions about the lineage's families
through search (the passages are the registry's facts, the search tool's default index); short
English -> Chinese translations through the translator (a small glossary stands in for its
answers here); greetings that need no tool. Dialogues are drawn from a seeded generator. For a
chat model the same dialogues are conversations (:func:`as_messages`): the question is the user's
turn, the lines after it one assistant turn.
"""

from __future__ import annotations

import random

CALL, RESULT, BOT, USER = "Call:", "Result:", "Bot:", "User:"
OPERATORS = {"+": "plus", "-": "minus", "*": "times"}
GLOSSARY = {"hello": "你好", "thank you": "谢谢", "water": "水", "fire": "火", "mountain": "山", "river": "河",
            "book": "书", "friend": "朋友", "light": "光", "king": "王", "bread": "饼", "heaven": "天",
            "earth": "地", "love": "爱", "peace": "平安", "word": "道"}
GREETINGS = (("Hello!", "Hello! Ask me a sum, a fact or a word to translate."),
             ("Good morning.", "Good morning to you."), ("Who are you?", "I am a small dialogue model with tools."),
             ("Thanks!", "You are welcome."))
N_DIALOGUES = 6000


def arithmetic_question(rng: random.Random, low: int = 2, high: int = 4) -> tuple[str, str, int]:
    """(question, expression, value) of a multi-digit sum, difference or product."""
    a = rng.randint(10 ** (low - 1), 10 ** rng.randint(low, high) - 1)
    b = rng.randint(10 ** (low - 1), 10 ** rng.randint(low, high) - 1)
    op = rng.choice(list(OPERATORS))
    value = a + b if op == "+" else a - b if op == "-" else a * b
    expression = f"{a} {op} {b}"
    template = rng.choice(("What is {e}?", "Compute {e}.", "How much is {a} {w} {b}?", "{e} = ?"))
    return template.format(e=expression, a=a, b=b, w=OPERATORS[op]), expression, value


def _arithmetic(rng: random.Random) -> str:
    question, expression, value = arithmetic_question(rng)
    answer = rng.choice(("{e} is {v}.", "The answer is {v}.", "That makes {v}."))
    return (f"{USER} {question}\n{CALL} calculator {expression}\n{RESULT} {value}\n"
            f"{BOT} {answer.format(e=expression, v=value)}\n")


def _search(rng: random.Random, facts: list[tuple[str, int, str | None, str]]) -> str:
    name, year, parent, passage = rng.choice(facts)
    if parent and rng.random() < 0.4:
        question, answer = rng.choice(((f"What came before {name}?", f"{name} came after {parent}."),
                                       (f"What is {name} based on?", f"{name} builds on {parent}.")))
    else:
        question, answer = rng.choice(((f"When was {name} introduced?", f"{name} was introduced in {year}."),
                                       (f"What year is {name} from?", f"{name} is from {year}.")))
    return f"{USER} {question}\n{CALL} search {name}\n{RESULT} {passage}\n{BOT} {answer}\n"


def _translate(rng: random.Random) -> str:
    english, chinese = rng.choice(list(GLOSSARY.items()))
    question = rng.choice(("How do you say '{w}' in Chinese?", "Translate '{w}' into Chinese.")).format(w=english)
    return f"{USER} {question}\n{CALL} translate {english}\n{RESULT} {chinese}\n{BOT} '{english}' is {chinese}.\n"


def _greeting(rng: random.Random) -> str:
    question, answer = rng.choice(GREETINGS)
    return f"{USER} {question}\n{BOT} {answer}\n"


def lineage_facts() -> list[tuple[str, int, str | None, str]]:
    """(family, year, parent, passage) for every registered family: what the search tool finds."""
    from ..core.registry import families

    return [(f.name, f.year, f.parent, passage(f.name, f.year, f.parent, f.paper)) for f in families()]


def passage(name: str, year: int, parent: str | None, paper: str) -> str:
    """The family's name leads and recurs, so a search for it ranks its own passage above those
    of its children, which name it once as their parent."""
    return (f"{name}: {name} was introduced in {year}" + (f", after {parent}" if parent else "") +
            f", by {paper.split(',')[0]}.")


def dialogues(n: int = N_DIALOGUES, seed: int = 0) -> list[str]:
    """``n`` dialogues: 55% arithmetic, 25% search, 10% translation, 10% greetings."""
    rng, facts = random.Random(f"tool-dialogues-{seed}"), lineage_facts()
    kinds = (_arithmetic, lambda r: _search(r, facts), _translate, _greeting)
    return [rng.choices(kinds, weights=(55, 25, 10, 10))[0](rng) for _ in range(n)]


def as_messages(dialogue: str) -> list[dict]:
    """A dialogue as a conversation for chat fine-tuning: the ``User:`` line's question is the
    user's turn; every line after it (calls, results, the ``Bot:`` reply) is the assistant's turn,
    so the model learns to write results too, which is what it does when no tool answers."""
    question, _, rest = dialogue.partition("\n")
    if not question.startswith(USER) or not rest.strip():
        raise ValueError(f"a dialogue starts with a {USER!r} line and goes on: {dialogue[:60]!r}")
    return [{"role": "user", "content": question[len(USER):].strip()}, {"role": "assistant", "content": rest.strip()}]
