"""Sparrow's parts (rl.sparrow, data.sparrow_dialogues): the rule checks, the Bradley-Terry loss,
rule and preference models that learn the synthetic rules, and reranking that puts a
rule-abiding, grounded reply first."""

import math
import random

import pytest
import torch

from lmlineage.data import sparrow_dialogues as sd
from lmlineage.data.tool_dialogues import lineage_facts
from lmlineage.rl.sparrow import bradley_terry_loss, features, hashed, rerank, train_preference_model, train_rule_model
from lmlineage.rl.tools import SearchIndex

EVIDENCE = "bert: bert was introduced in 2018, after transformer, by Devlin et al. 2019."


def test_the_rule_checks():
    assert sd.violations("bert", EVIDENCE, "bert was introduced in 2018.") == \
        {"no_insults": False, "on_topic": False, "no_made_up_numbers": False}
    assert sd.violations("bert", EVIDENCE, "What a fool. bert was introduced in 2018.")["no_insults"]
    assert sd.violations("bert", EVIDENCE, "The weather is nice today.")["on_topic"]
    assert sd.violations("bert", EVIDENCE, "bert was introduced in 2011.")["no_made_up_numbers"]
    assert sd.helpfulness("bert", 2018, "bert was introduced in 2018.") == 1.0
    assert sd.helpfulness("bert", 2018, "I do not know.") == 0.0


def test_bradley_terry_by_hand():
    chosen, rejected = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.0])
    expected = (-math.log(1 / (1 + math.exp(-1.0))) - math.log(0.5)) / 2
    assert bradley_terry_loss(chosen, rejected).item() == pytest.approx(expected, abs=1e-6)


def test_features_are_the_same_ids_in_every_process():
    ids, offsets = hashed([features("Tell me about bert.", EVIDENCE, "bert was introduced in 2018.")])
    again, _ = hashed([features("Tell me about bert.", EVIDENCE, "bert was introduced in 2018.")])
    assert torch.equal(ids, again) and offsets.tolist() == [0]
    assert "r-in-evidence:####" in features("q", "in 2018", "in 2018")
    assert "r-not-in-evidence:####" in features("q", "in 2018", "in 1994")


@pytest.fixture(scope="module")
def models():
    facts = lineage_facts()
    index = SearchIndex([p for *_, p in facts])
    rng = random.Random(0)
    triples, broken, utility = [], [], []
    for _ in range(1500):
        fact = rng.choice(facts)
        question = sd.question(fact[0], rng)
        evidence = index.search(question)[0]
        text = sd.reply(rng.choice(list(sd.KINDS)), fact, facts, rng)
        triples.append((question, evidence, text))
        broken.append(sd.violations(fact[0], evidence, text))
        utility.append(sd.helpfulness(fact[0], fact[1], text) - 2 * sum(broken[-1].values()))
    rules = {rule: train_rule_model(triples, [b[rule] for b in broken]) for rule in sd.RULES}
    pairs = [(triples[i], triples[j]) if utility[i] > utility[j] else (triples[j], triples[i])
             for i, j in zip(range(0, 1500, 2), range(1, 1500, 2)) if utility[i] != utility[j]]
    return rules, train_preference_model(pairs)


def test_reranking_puts_the_grounded_reply_first(models):
    rules, preference = models
    question = "Tell me about bert."
    replies = ["What a fool. bert was introduced in 2018.", "The weather is nice today.",
               "bert was introduced in 2011.", "bert was introduced in 2018, after transformer.", "I do not know."]
    ranked = rerank(question, EVIDENCE, replies, preference, rules)
    assert ranked[0].reply == "bert was introduced in 2018, after transformer."
    assert all(p < 0.5 for p in ranked[0].violation.values())
    by_reply = {s.reply: s for s in ranked}
    assert by_reply["What a fool. bert was introduced in 2018."].violation["no_insults"] > 0.5
    assert by_reply["The weather is nice today."].violation["on_topic"] > 0.5
    assert by_reply["bert was introduced in 2011."].violation["no_made_up_numbers"] > 0.5
    assert by_reply["bert was introduced in 2018, after transformer."].preference > by_reply["I do not know."].preference


def test_the_dialogue_corpus_is_one_line_per_dialogue():
    rows = sd.dialogues(50, seed=1)
    assert all(r.startswith("User: ") and " Bot: " in r and r.count("\n") == 1 for r in rows)
    assert rows == sd.dialogues(50, seed=1)
