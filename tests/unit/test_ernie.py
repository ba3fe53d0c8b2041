"""ERNIE (THU, Zhang et al. 2019): the knowledge graph read from the KJV's genealogy patterns, the
strict triple file, the entity linker, the aggregator (with no entity it is a BERT layer), the dEA
corruption's shares and candidates, and one training step from the CLI on a user's graph; a broken
entity file is one line and exit 2."""

import pytest
import torch

from lmlineage import cli
from lmlineage.blocks.aggregator import Aggregator
from lmlineage.blocks.block import Block
from lmlineage.core.errors import UserError
from lmlineage.core.registry import get_family
from lmlineage.data.knowledge_graph import EntityLinker, KnowledgeGraph, extract, read_triples, siblings
from lmlineage.models import build_model
from lmlineage.objectives.dea import DenoisingEntityAutoEncoder
from lmlineage.tokenizers import build_tokenizer

from test_bad_input import fails_cleanly

VERSES = [
    "And Terah begat Abram, Nahor, and Haran.",
    "And Seth lived an hundred and five years, and begat Enos:",
    "Which was the son of Cainan, which was the son of Arphaxad, which was the son of Sem,",
    "And the sons of Ham; Cush, and Mizraim, and Phut, and Canaan.",
    "And Sarai Abram's wife bare him no children.",
    "And Judah took a wife for Er his firstborn, whose name was Tamar.",
]


def test_the_genealogy_patterns_read_persons_and_relations():
    found = set(extract(VERSES))
    assert {("Abram", "child_of", "Terah"), ("Nahor", "child_of", "Terah"), ("Haran", "child_of", "Terah"),
            ("Enos", "child_of", "Seth"), ("Cainan", "child_of", "Arphaxad"), ("Arphaxad", "child_of", "Sem"),
            ("Cush", "child_of", "Ham"), ("Canaan", "child_of", "Ham"), ("Sarai", "wife_of", "Abram")} <= found
    assert not any("Which" in (h, t) or "And" in (h, t) for h, _, t in found)
    # siblings are ordered as the verses name them (Abram before Nahor), so read the list, not the set
    assert ("Nahor", "sibling_of", "Abram") in siblings(extract(VERSES))


def test_a_users_triples_are_read_and_a_broken_line_is_named(tmp_path):
    good = tmp_path / "kg.tsv"
    good.write_text("# persons\nAbram\tchild_of\tTerah\n\nIsaac\tchild_of\tAbram\n")
    graph = read_triples(good)
    assert graph.entities == ("Abram", "Terah", "Isaac") and graph.relations == ("child_of",)
    assert graph.triples == ((0, 0, 1), (2, 0, 0))
    for line, needle in (("Abram child_of Terah", "found 1 field"), ("Abram\tchild of\tTerah", "relation"),
                         ("Abram\tchild_of\t", "tail"), ("A\tb\tc\td", "found 4 field")):
        bad = tmp_path / "bad.tsv"
        bad.write_text(f"Isaac\tchild_of\tAbram\n{line}\n")
        with pytest.raises(UserError, match=f"bad.tsv:2: .*{needle}"):
            read_triples(bad)


def test_the_linker_takes_the_longest_name_on_word_boundaries():
    tok = build_tokenizer("wordpiece", ["abram abraham abrahamites terah the son of " * 50], 200)
    linker = EntityLinker(tok, ["Abram", "Abraham", "Terah", "Abraham Terah"])
    ids = tok.encode("abraham terah the son of abram abrahamites terah")
    linked = linker.link_row(ids)
    tokens = [tok.id_to_token(i) for i in ids]
    named = {tokens[i]: e for i, e in enumerate(linked) if e}
    assert linked[0] == 4  # "Abraham Terah", longer than "Abraham"
    assert named.get("abram") == 1
    assert sum(1 for e in linked if e) == 3  # abrahamites is no mention; its terah is one of its own
    assert linked[ids.index(tok.encode("abrahamites")[0])] == 0


def tiny_config(**extra):
    return get_family("ernie").config("tiny", vocab_size=64, max_positions=32, n_entities=5, dropout=0.0, **extra)


def test_an_aggregator_without_entities_is_a_bert_layer():
    cfg = tiny_config()
    torch.manual_seed(0)
    aggregator, block = Aggregator(cfg, 0, cfg.entity_dim, cfg.entity_heads), Block(cfg, 0)
    for ours, theirs in (("attn", "attn"), ("attn_norm", "attn_norm"), ("token_in", "mlp.fc_in"),
                         ("token_out", "mlp.fc_out"), ("token_norm", "mlp_norm")):
        block.get_submodule(theirs).load_state_dict(aggregator.get_submodule(ours).state_dict())
    x = torch.randn(2, 7, cfg.d_model)
    entities = torch.zeros(2, 7, cfg.entity_dim)
    tokens, entity_stream = aggregator(x, entities, torch.zeros(2, 7, dtype=torch.bool))
    torch.testing.assert_close(tokens, block(x), atol=1e-6, rtol=0)
    assert not entity_stream.any()


def test_an_aligned_entity_changes_the_tokens_and_only_aligned_positions_keep_an_entity_stream():
    torch.manual_seed(0)
    model = build_model(tiny_config()).eval()
    model.set_entity_vectors(torch.nn.functional.normalize(torch.randn(5, 32), dim=-1))
    ids = torch.randint(5, 64, (1, 9))
    entity_ids = torch.zeros_like(ids)
    entity_ids[0, 3] = 2
    plain = model(ids).last_hidden_state
    fused = model(ids, entity_ids=entity_ids).last_hidden_state
    assert (fused[0, 3] - plain[0, 3]).abs().max() > 1e-3
    assert not model.entity_embed.weight.requires_grad and not model.entity_embed.weight[0].any()
    torch.testing.assert_close(model(ids, entity_ids=torch.zeros_like(ids)).last_hidden_state, plain)


def test_dea_replaces_5_masks_15_and_keeps_80_percent_of_alignments():
    dea = DenoisingEntityAutoEncoder(n_entities=1000)
    entity_ids = torch.randint(1, 1001, (200, 500))
    entity_ids[:, ::2] = 0  # half the tokens align to nothing and stay so
    out = dea.prepare(entity_ids, torch.Generator().manual_seed(0))
    aligned = entity_ids > 0
    assert not out[~aligned].any()
    masked = (out == 0) & aligned
    replaced = (out != entity_ids) & (out != 0)
    assert abs(masked[aligned].float().mean().item() - 0.15) < 0.005
    assert abs(replaced[aligned].float().mean().item() - 0.05) < 0.005  # less the 1/1000 drawn as themselves


def test_dea_chooses_among_its_own_sequences_entities():
    entity_ids = torch.tensor([[0, 3, 0, 5], [2, 0, 3, 0]])
    table = torch.randn(7, 4)
    aligned = entity_ids > 0
    rows = aligned.nonzero()[:, 0]
    vectors = torch.randn(int(aligned.sum()), 4)
    scores, candidates = DenoisingEntityAutoEncoder.scores(vectors, rows, entity_ids, table)
    assert candidates.tolist() == [2, 3, 5]
    assert torch.isinf(scores[0, 0]) and torch.isfinite(scores[0, 1:]).all()  # row 0 has no entity 2
    assert torch.isinf(scores[2, 2]) and torch.isfinite(scores[2, :2]).all()  # row 1 has no entity 5
    loss = DenoisingEntityAutoEncoder.loss(scores, candidates, entity_ids[aligned])
    assert torch.isfinite(loss)


@pytest.fixture
def bible_text(tmp_path):
    path = tmp_path / "verses.txt"
    path.write_text("\n".join(VERSES * 40) + "\n")
    return path


def test_ernie_trains_on_a_users_graph_and_eval_scores_dea(tmp_path, capsys, bible_text):
    graph = tmp_path / "kg.tsv"
    KnowledgeGraph.from_named(extract(VERSES)).write(graph)
    out = tmp_path / "run"
    argv = ["train", "ernie", "--data", bible_text, "--entities", graph, "--out", out, "--steps", "2",
            "--context", "24", "--batch-size", "4", "--eval-batches", "2", "--no-progress"]
    assert cli.main([str(a) for a in argv]) == 0
    report = capsys.readouterr().out
    assert "dEA accuracy" in report and "| 2 steps |" in report
    assert cli.main(["eval", str(out)]) == 0
    assert "dEA accuracy" in capsys.readouterr().out


def test_a_broken_entity_file_is_one_line_and_exit_2(tmp_path, capsys, bible_text):
    graph = tmp_path / "kg.tsv"
    graph.write_text("Abram\tchild_of\tTerah\nIsaac child_of Abram\n")
    fails_cleanly(capsys, ["train", "ernie", "--data", bible_text, "--entities", graph, "--out", tmp_path / "run",
                           "--steps", "2", "--no-progress"], "kg.tsv:2", "head<TAB>relation<TAB>tail")
    assert not (tmp_path / "run").exists()
