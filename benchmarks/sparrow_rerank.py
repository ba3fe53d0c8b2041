"""Sparrow's reranking at toy scale (Glaese et al. 2022, section 2.5): among N sampled replies, the
one with the highest preference minus rule-violation score breaks fewer rules than one sample,
at an equal or better preference score.

Set-up, all generated (``data.sparrow_dialogues``), so every rule is checked by a program:
questions about the lineage's families; evidence for each question retrieved by BM25 from the
lineage's built-in facts (``rl.tools.SearchIndex``); three rule classifiers (no insults, on topic,
no made-up numbers) and a preference reward model (Bradley-Terry), the small models of
``rl.sparrow``, trained on labelled replies of one seed and scored on another; the policy is a
word 5-gram fitted (`lmlineage train ngram --preset base`) on the ``sparrow-dialogues`` corpus,
whose replies break a rule about 45% of the time. For each held-out question the policy samples
8 replies: "1 sample" answers with the first, "rerank 8" with the best by the score.

    python benchmarks/sparrow_rerank.py --json benchmarks/results/sparrow_rerank.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import footer  # noqa: E402

import lmlineage  # noqa: E402
from lmlineage.data import sparrow_dialogues as sd  # noqa: E402
from lmlineage.data.tool_dialogues import lineage_facts  # noqa: E402
from lmlineage.rl.sparrow import rerank, train_preference_model, train_rule_model  # noqa: E402
from lmlineage.rl.tools import SearchIndex  # noqa: E402


def labelled(n: int, seed: str, index: SearchIndex, facts):
    """(triples, true violations, true utilities) of replies of every kind."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        fact = rng.choice(facts)
        question = sd.question(fact[0], rng)
        evidence = index.search(question)[0]
        kind = rng.choices(list(sd.KINDS), weights=list(sd.KINDS.values()))[0]
        text = sd.reply(kind, fact, facts, rng)
        broken = sd.violations(fact[0], evidence, text)
        rows.append(((question, evidence, text), broken, sd.helpfulness(fact[0], fact[1], text) - 2 * sum(broken.values())))
    return rows


def pairs_of(rows, seed: str):
    """(better, worse) pairs of replies to the same question, by true utility."""
    rng, by_question = random.Random(seed), {}
    for triple, _, utility in rows:
        by_question.setdefault(triple[0], []).append((triple, utility))
    pairs = []
    for answers in by_question.values():
        for _ in range(len(answers)):
            (a, ua), (b, ub) = rng.sample(answers, 2) if len(answers) > 1 else (answers[0], answers[0])
            if ua != ub:
                pairs.append((a, b) if ua > ub else (b, a))
    return pairs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--train-replies", type=int, default=4000)
    p.add_argument("--weight", type=float, default=3.0, help="of the summed rule-violation probabilities")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()

    facts = lineage_facts()
    index = SearchIndex([passage for *_, passage in facts])
    train, held = labelled(args.train_replies, "rules-train", index, facts), labelled(1000, "rules-held", index, facts)
    rules, rule_accuracy = {}, {}
    for rule in sd.RULES:
        rules[rule] = train_rule_model([t for t, _, _ in train], [b[rule] for _, b, _ in train])
        with torch.no_grad():
            guess = rules[rule]([t for t, _, _ in held]) > 0
        rule_accuracy[rule] = float((guess == torch.tensor([b[rule] for _, b, _ in held])).float().mean())
    preference = train_preference_model(pairs_of(train, "pairs-train"))
    held_pairs = pairs_of(held, "pairs-held")
    with torch.no_grad():
        pair_accuracy = float((preference([a for a, _ in held_pairs]) > preference([b for _, b in held_pairs]))
                              .float().mean())
    print(f"held-out rule accuracy {rule_accuracy}; preference pairwise accuracy {pair_accuracy:.3f} "
          f"on {len(held_pairs)} pairs", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        lmlineage.train("ngram", preset="base", data="sparrow-dialogues", out=Path(tmp) / "policy", progress=False)
        policy = lmlineage.load(str(Path(tmp) / "policy" / "best"))
    rng = random.Random("sparrow-questions")
    arms = {"1 sample": [], f"rerank {args.samples}": []}
    examples = []
    for q in range(args.questions):
        fact = rng.choice(facts)
        question = sd.question(fact[0], rng)
        evidence = index.search(question)[0]
        prompt = f"User: {question} Bot:"
        replies = []
        for s in range(args.samples):
            text = lmlineage.generate(policy, prompt, max_new_tokens=24, seed=1000 * q + s)
            replies.append(text[len(prompt):].split("\n")[0].strip())
        ranked = rerank(question, evidence, replies, preference, rules, weight=args.weight)
        for arm, chosen in (("1 sample", replies[0]), (f"rerank {args.samples}", ranked[0].reply)):
            broken = sd.violations(fact[0], evidence, chosen)
            with torch.no_grad():
                reward = float(preference([(question, evidence, chosen)])[0])
            arms[arm].append({"broken": broken, "preference": reward,
                              "helpful": sd.helpfulness(fact[0], fact[1], chosen)})
        if q < 4:
            examples.append({"question": question, "evidence": evidence, "replies": replies,
                             "chosen": ranked[0].reply})
    summary = {}
    for arm, rows in arms.items():
        summary[arm] = {"violation_rate": sum(any(r["broken"].values()) for r in rows) / len(rows),
                        "per_rule": {rule: sum(r["broken"][rule] for r in rows) / len(rows) for rule in sd.RULES},
                        "preference": sum(r["preference"] for r in rows) / len(rows),
                        "helpful": sum(r["helpful"] for r in rows) / len(rows)}
        print(f"{arm:10s} {json.dumps(summary[arm])}", flush=True)
    out = {"claim": "reranking among 8 samples lowers the rule-violation rate against 1 sample, at equal or better "
                    "preference score", "args": vars(args), "rule_accuracy_held_out": rule_accuracy,
           "preference_pairwise_accuracy_held_out": pair_accuracy, "held_out_pairs": len(held_pairs),
           "summary": summary, "examples": examples, "wall_s": round(time.perf_counter() - start, 1),
           "footer": footer()}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
