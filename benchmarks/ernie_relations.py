"""ERNIE's claim (Zhang et al. 2019, section 4): fusing knowledge-graph entities into the encoder helps
knowledge-driven tasks. Measured here on a held-out relation task read from the KJV's graph: who is
the father of the person named in this verse?

Both models are the ernie family's tiny preset (1 T-encoder layer + 1 aggregator, d = 128; 8,192
WordPiece tokens built on the KJV), pre-trained on the same KJV text, with the same seed, windows
and masks, for the same steps:
- ERNIE: mentions linked to the built-in graph (data/knowledge_graph.py), frozen TransE vectors
  fused by the aggregator, MLM + dEA;
- BERT: the same model with no mention linked, so every aggregator is a plain BERT layer (the
  entity side is never read) and the loss is the MLM alone: a 2-layer BERT of the same width.

The task: every ``child_of`` triple whose child is named in some verse that does not name its
father. Children are split by a hash of their name, 80% to fit a probe, 20% held out. An example is
that verse ([CLS] verse [SEP], 128 tokens at most, linked for ERNIE) and 10 candidate fathers (the
true one and 9 others drawn from all fathers), each encoded alone as [CLS] name [SEP]. The frozen
encoder's output at the first token of each mention (u for the child, v for a candidate) feeds a
probe, score = -||Pu + b - Pv||^2 (P: d x 32, a translation as TransE's), fitted on the probe split
(cross-entropy over the 10, Adam, 300 steps); the number is its top-1 accuracy on
the held-out children (chance: 0.1). The graph's facts reach ERNIE through TransE (trained on the
whole graph, as the paper's Wikidata holds the facts of its tasks); the genealogy verses reach both
models through the text.

    PYTHONPATH=src python benchmarks/ernie_relations.py --seeds 5 --steps 200

Writes benchmarks/results/ernie_relations.json (every seed's numbers, mean and std).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import statistics
import time
from pathlib import Path

import torch

from lmlineage.core.registry import get_family
from lmlineage.data.knowledge_graph import EntityLinker, kjv_graph
from lmlineage.data.translation import kjv_verses
from lmlineage.models import build_model
from lmlineage.tasks.ernie import KnowledgeMaskedLMTask, entity_vectors
from lmlineage.tokenizers import build_tokenizer

RESULTS = Path(__file__).parent / "results" / "ernie_relations.json"
CANDIDATES = 10
PROBE_DIM = 32
MAX_TOKENS = 128


def relation_examples(graph, verses, seed: int = 0):
    """(probe-fitting, held-out) lists of (verse, child, father, candidates)."""
    fathers = {}
    for h, r, t in graph.named():
        if r == "child_of":
            fathers.setdefault(h, t)  # a name with two fathers (two persons) keeps the first
    all_fathers = sorted(set(fathers.values()))
    rng = random.Random(seed)
    naming: dict[str, list[int]] = {}  # name -> the verses that name it, in order
    for i, verse in enumerate(verses):
        for word in set(re.findall(r"[A-Z][a-z]+(?:-[a-z]+)?", verse)):
            naming.setdefault(word, []).append(i)
    fit, held_out = [], []
    for child, father in sorted(fathers.items()):
        without_father = set(naming.get(child, ())) - set(naming.get(father, ()))
        if not without_father:
            continue
        verse = verses[min(without_father)]
        others = rng.sample([f for f in all_fathers if f != father], CANDIDATES - 1)
        example = (verse, child, father, [father, *others])
        digest = hashlib.sha256(child.encode()).digest()[0]
        (held_out if digest < 0.2 * 256 else fit).append(example)
    return fit, held_out


def pretrain(task, tokens: torch.Tensor, steps: int, batch_size: int, context: int, seed: int, lr: float = 1e-3):
    """AdamW with a linear warmup (10%) and linear decay, random windows of the token stream."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    params = [p for p in task.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / (steps - warmup)))
    task.train()
    for _ in range(steps):
        starts = torch.randint(0, len(tokens) - context, (batch_size,), generator=generator)
        windows = torch.stack([tokens[s:s + context] for s in starts.tolist()])
        loss = task((windows, None), generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
    return loss.item()


@torch.no_grad()
def mention_vectors(task, tokenizer, texts, names):
    """The encoder's output at the first token of ``names[i]``'s mention in ``texts[i]``."""
    model = task.model.eval()
    out = []
    cls_id, sep_id = task.cls_id, task.sep_id
    name_linker = EntityLinker(tokenizer, sorted(set(names)))
    for text, name in zip(texts, names):
        ids = [cls_id, *tokenizer.encode(text)[: MAX_TOKENS - 2], sep_id]
        ids_t = torch.tensor([ids])
        where = name_linker.link(ids_t)[0]
        index = sorted(set(names)).index(name) + 1
        position = int((where == index).nonzero()[0, 0]) if (where == index).any() else 1
        hidden = model(ids_t, entity_ids=task.link(ids_t)).last_hidden_state[0, position]
        out.append(hidden)
    return torch.stack(out)


def probe_accuracy(task, tokenizer, fit, held_out, seed: int, steps: int = 300) -> dict:
    """Fit the bilinear probe on ``fit``, score ``held_out``."""
    names = sorted({c for ex in fit + held_out for c in ex[3]})
    name_vectors = mention_vectors(task, tokenizer, names, names)
    row = {n: i for i, n in enumerate(names)}

    def features(examples):
        queries = mention_vectors(task, tokenizer, [e[0] for e in examples], [e[1] for e in examples])
        candidates = torch.tensor([[row[c] for c in e[3]] for e in examples])
        return queries, candidates

    (fit_q, fit_c), (test_q, test_c) = features(fit), features(held_out)
    torch.manual_seed(seed)
    projection = (torch.randn(fit_q.shape[1], PROBE_DIM) / fit_q.shape[1] ** 0.5).requires_grad_()
    offset = torch.zeros(PROBE_DIM, requires_grad=True)
    optimizer = torch.optim.Adam([projection, offset], lr=1e-2, weight_decay=1e-3)

    def scores(q, c):  # -||P q + b - P v||^2, a translation in a learned projection, as TransE's
        return -((q @ projection + offset)[:, None, :] - name_vectors[c] @ projection).pow(2).sum(-1)

    target = torch.zeros(len(fit_q), dtype=torch.long)  # the true father is listed first; the scores see no order
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(scores(fit_q, fit_c), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        test_scores = scores(test_q, test_c)
        # Ties (an untrained probe) count as misses: rank the true father strictly above all others.
        correct = (test_scores[:, 0:1] > test_scores[:, 1:]).all(dim=1).float().mean().item()
        fit_correct = (scores(fit_q, fit_c)[:, 0:1] > scores(fit_q, fit_c)[:, 1:]).all(dim=1).float().mean().item()
    return {"held_out_accuracy": correct, "probe_fit_accuracy": fit_correct}


def transe_oracle(graph, examples, dim: int) -> float:
    """The graph alone: the share of ``examples`` whose father TransE ranks first among the
    candidates, by d(child + r_child_of, candidate) with the task's own TransE fit (what ERNIE reads)."""
    from lmlineage.classic.transe import train_transe
    from lmlineage.tasks.ernie import TRANSE

    model = train_transe(graph.triples, len(graph.entities), len(graph.relations), dim=dim, **TRANSE)
    index = {name: i for i, name in enumerate(graph.entities)}
    relation = model.relations.weight[graph.relations.index("child_of")]
    with torch.no_grad():
        query = model.entities.weight[[index[e[1]] for e in examples]] + relation
        candidates = model.entities.weight[[[index[c] for c in e[3]] for e in examples]]
        distance = (query[:, None, :] - candidates).abs().sum(-1)
    return (distance[:, 0:1] < distance[:, 1:]).all(dim=1).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--oracle", action="store_true", help="only score TransE itself on the task "
                        "(writes results/ernie_relations_transe_oracle.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    verses = list(kjv_verses().values())
    graph = kjv_graph()
    fit, held_out = relation_examples(graph, verses)
    dim = get_family("ernie").config("tiny").entity_dim
    if args.oracle:
        oracle = {"benchmark": "ernie_relations TransE oracle", "probe_fitting": transe_oracle(graph, fit, dim),
                  "held_out": transe_oracle(graph, held_out, dim), "candidates": CANDIDATES}
        (RESULTS.parent / "ernie_relations_transe_oracle.json").write_text(json.dumps(oracle, indent=1) + "\n")
        print(json.dumps(oracle))
        return
    tokenizer = build_tokenizer("wordpiece", ["\n".join(verses)], 8192)
    tokens = torch.tensor(tokenizer.encode("\n".join(verses)), dtype=torch.long)
    family = get_family("ernie")
    cfg = family.config("tiny", vocab_size=tokenizer.vocab_size, max_positions=512, n_entities=len(graph.entities),
                        entity_names=list(graph.entities))
    vectors = entity_vectors(graph, cfg.entity_dim)
    print(f"graph: {graph.describe()}; relation task: {len(fit)} probe-fitting, {len(held_out)} held-out children; "
          f"{len(tokens):,} training tokens", flush=True)

    runs = []
    for seed in range(args.seeds):
        for name, link in (("ernie", True), ("bert", False)):
            started = time.time()
            torch.manual_seed(seed)
            model = build_model(cfg)
            model.set_entity_vectors(vectors)
            task = KnowledgeMaskedLMTask.for_filled_model(model, tokenizer, link)
            last_loss = pretrain(task, tokens, args.steps, args.batch_size, args.context, seed)
            result = probe_accuracy(task, tokenizer, fit, held_out, seed)
            runs.append({"model": name, "seed": seed, "final_train_loss": last_loss, **result,
                         "seconds": round(time.time() - started, 1)})
            print(json.dumps(runs[-1]), flush=True)

    summary = {}
    for name in ("ernie", "bert"):
        accuracies = [r["held_out_accuracy"] for r in runs if r["model"] == name]
        summary[name] = {"mean": statistics.mean(accuracies),
                         "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0}
    report = {"benchmark": "ernie_relations", "device": "2-core CPU, shared with other work",
              "settings": {**vars(args), "out": str(args.out), "preset": "tiny", "candidates": CANDIDATES,
                           "probe_fitting_children": len(fit), "held_out_children": len(held_out),
                           "graph": graph.describe(), "chance": 1 / CANDIDATES},
              "summary": summary, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
