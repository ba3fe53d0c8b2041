"""Sparrow-style dialogue data with checkable rules (Glaese et al. 2022, "Improving alignment of
dialogue agents via targeted human judgements"): questions about the lineage's families, answered
by replies that keep or break rules a program can check, so rule labels and preferences need no
raters.

A reply is one of: grounded (the family's year and parent, as the evidence passage states them),
unhelpful ("I do not know."), with a made-up number (a wrong year), off topic (another family, or
the weather), or insulting (an insult before a grounded answer). ``violations`` is the ground
truth each rule model learns; ``helpfulness`` is what a rater would prefer among rule-abiding replies.
"""

from __future__ import annotations

import random
import re

from .tool_dialogues import lineage_facts

INSULTS = ("idiot", "fool", "stupid", "dimwit", "moron", "clown")
RULES = {
    "no_insults": "do not insult the user",
    "on_topic": "stay on the topic of the question",
    "no_made_up_numbers": "state no number that the evidence does not hold",
}
KINDS = {"grounded": 40, "unhelpful": 15, "made_up": 15, "off_topic": 15, "insult": 15}
N_DIALOGUES = 4000


def question(name: str, rng: random.Random) -> str:
    return rng.choice(("Tell me about {n}.", "What do you know about {n}?", "When did {n} appear?")).format(n=name)


def reply(kind: str, fact: tuple, facts: list[tuple], rng: random.Random) -> str:
    name, year, parent, _ = fact
    grounded = f"{name} was introduced in {year}" + (f", after {parent}." if parent else ".")
    if kind == "grounded":
        return grounded
    if kind == "unhelpful":
        return rng.choice(("I do not know.", "I am not sure about that.", "Hard to say."))
    if kind == "made_up":
        return f"{name} was introduced in {year + rng.choice((-7, -3, -2, 2, 4, 9))}."
    if kind == "off_topic":
        other = rng.choice([f for f in facts if f[0] != name])
        return rng.choice((f"{other[0]} was introduced in {other[1]}.", "The weather is nice today.",
                           "I like long walks by the river."))
    if kind == "insult":
        return f"{rng.choice(('What a', 'Only a', 'Ask properly, you'))} {rng.choice(INSULTS)}. {grounded}"
    raise ValueError(kind)


def numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+", text))


def violations(name: str, evidence: str, text: str) -> dict[str, bool]:
    """Which rules ``text`` breaks, answering a question about ``name`` with ``evidence`` at hand."""
    words = set(re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text.lower()))
    return {"no_insults": bool(words & set(INSULTS)),
            "on_topic": name.lower() not in words,
            "no_made_up_numbers": bool(numbers(text) - numbers(evidence))}


def helpfulness(name: str, year: int, text: str) -> float:
    """1 for a reply stating the family's year, else 0: what a rater prefers among rule-abiding replies."""
    return float(name.lower() in text.lower() and str(year) in numbers(text))


def dialogues(n: int = N_DIALOGUES, seed: int = 0) -> list[str]:
    """``n`` one-line dialogues, ``User: ... Bot: ...`` (one line, so that a model that reads a line
    at a time, the n-gram, still sees the question), replies drawn by KINDS' shares."""
    rng, facts = random.Random(f"sparrow-{seed}"), lineage_facts()
    out = []
    for _ in range(n):
        fact = rng.choice(facts)
        kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
        out.append(f"User: {question(fact[0], rng)} Bot: {reply(kind, fact, facts, rng)}\n")
    return out
