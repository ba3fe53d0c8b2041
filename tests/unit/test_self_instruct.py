"""Self-instruct, Alpaca's data (`lmlineage self-instruct --generator PATH`): what the generator writes
is parsed into instruction, input and output; each filter drops what it should, and is counted
under its reason; ROUGE-L novelty is the `rouge-score` package's, against everything kept so far;
the kept tasks are conversations that chat SFT reads; a seeded run with a tiny random model as the
generator is reproducible; a seed file that does not parse and --n < 1 are refused in one line."""

import json
import string

import pytest
import torch

from lmlineage.checkpoint.directory import atomic_directory
from lmlineage.checkpoint.model import save_model_files
from lmlineage.cli import main
from lmlineage.core.errors import UserError
from lmlineage.core.registry import get_family
from lmlineage.data import self_instruct as si
from lmlineage.data.conversations import encode, read_conversations
from lmlineage.models import build_model
from lmlineage.tokenizers.char import CharTokenizer
from lmlineage.tokenizers.chat import PLAIN_TEMPLATE

rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")

SEEDS = list(si.SEED_TASKS)


def written(instruction, output, input="<noinput>"):
    """What a generator writes after ``Instruction:`` for one task."""
    return f" {instruction}\nInput: {input}\nOutput: {output}\n\nTask 5\nInstruction: more"


def test_the_seed_tasks_are_ours_and_varied():
    assert 30 <= len(SEEDS) <= 60
    assert len({t.instruction for t in SEEDS}) == len(SEEDS)
    assert 10 <= sum(bool(t.input) for t in SEEDS) < len(SEEDS)  # with and without input
    assert all(si.heuristic_reason(t) is None for t in SEEDS)


def test_the_prompt_shows_the_examples_and_asks_for_the_next():
    text = si.prompt(SEEDS[:3])
    assert text.endswith("Task 4\nInstruction:") and text.count("\nOutput: ") == 3
    assert f"Input: {si.NO_INPUT}\n" in text and f"Input: {SEEDS[1].input}\n" in text


def test_parsing_generated_tasks():
    task = si.parse(written("Name a fruit that is yellow.", "A banana."))
    assert task == si.Task("Name a fruit that is yellow.", "", "A banana.")  # <noinput>: no input; ends at the blank line
    assert si.parse(" Double it.\nInput: 21\nOutput: 42\nTask 5\nInstruction: x").input == "21"
    assert si.parse(" Write a poem.\nInput: roses\nOutput: line one\nline two").output == "line one\nline two"
    for broken in (" Write a poem.\nOutput: roses", " Write a poem.\nInput: roses", " just rambling on",
                   " Write a poem.\n\nInput: x\nOutput: y"):
        assert si.parse(broken) is None, broken


def scripted(texts):
    """A generator that writes ``texts`` in order, whatever the prompt."""
    queue = list(texts)

    def propose(prompts, seed):
        assert all(p.endswith("Instruction:") for p in prompts)
        return [queue.pop(0) for _ in prompts]

    return propose


def test_each_filter_drops_with_its_reason():
    cases = {
        "unparsable": " Tell me a joke.",
        "instruction too short": written("Sing.", "La la."),
        "instruction too long": written(" ".join(["word"] * 151), "Done."),
        "banned word": written("Describe the image in detail.", "A cat."),
        "starts with punctuation": written('"Echo" the word back to me.', "Echo."),
        "not ASCII": written("Translate café into English please.", "Coffee."),
        "empty output": written("Say nothing at all now.", ""),
        "duplicate": written(SEEDS[3].instruction, "Tokyo."),
        "too similar": written("Give three tips for staying very healthy.", "Sleep."),
    }
    assert set(cases) == set(si.REASONS)
    good = written("Name a fruit that is yellow.", "A banana.")
    result = si.self_instruct(scripted([good, *cases.values()]), SEEDS, n=len(cases) + 1, batch_size=3)
    assert [d["reason"] for d in result.dropped] == list(cases)
    assert [k["instruction"] for k in result.kept] == ["Name a fruit that is yellow."]
    counts = result.counts()
    assert counts["generated"] == 10 and counts["kept"] == 1
    assert counts["dropped_by_reason"] == {reason: 1 for reason in si.REASONS}
    similar = result.dropped[-1]
    assert similar["rouge_l"] > 0.7 and similar["most_similar"] == "Give three tips for staying healthy."


def test_rouge_l_novelty_is_the_packages_against_all_kept():
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    novelty = si.Novelty(["Add the two numbers.", "Name three animals that live in the ocean."])
    score, nearest = novelty.most_similar("Add the three numbers together.")
    assert nearest == "Add the two numbers."
    assert score == pytest.approx(scorer.score("Add the two numbers.", "Add the three numbers together.")["rougeL"].fmeasure)
    assert novelty.most_similar("Add the two numbers.")[0] == 1.0
    assert novelty.most_similar("Compose a limerick")[0] == 0.0
    # A kept instruction joins the pool: its near-copy later is too similar, though no seed is close.
    first = written("Compose a limerick about a sleepy green frog.", "There once was a frog.")
    near = written("Compose a limerick about a sleepy green toad.", "There once was a toad.")
    result = si.self_instruct(scripted([first, near]), SEEDS, n=2, batch_size=1)
    assert len(result.kept) == 1 and result.dropped[0]["reason"] == "too similar"
    assert result.dropped[0]["most_similar"] == "Compose a limerick about a sleepy green frog."
    assert result.kept[0]["rouge_l"] <= si.ROUGE_THRESHOLD


def tiny_generator(root):
    torch.manual_seed(0)
    tok = CharTokenizer(sorted(set(string.printable)))
    model = build_model(get_family("alpaca").config("tiny", vocab_size=tok.vocab_size, max_positions=1024))
    model.tokenizer = tok
    with atomic_directory(root / "generator") as tmp:
        save_model_files(tmp, model, tok)
    return root / "generator"


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    return tiny_generator(tmp_path_factory.mktemp("self-instruct"))


def test_the_kept_tasks_are_conversations_chat_sft_reads(generator, tmp_path, capsys):
    tasks = [written("Name a red fruit.", "A cherry."), written("Count to five slowly.", "One, two, three, four, five."),
             written("Repeat the word twice.", "hi hi", input="hi")]
    result = si.self_instruct(scripted(tasks), SEEDS, n=3)
    assert len(result.kept) == 3
    si.write(tmp_path, result, SEEDS[:4])
    conversations = read_conversations(tmp_path / "instructions.jsonl")
    assert conversations[-1] == [{"role": "user", "content": "Repeat the word twice.\n\nhi"},
                                 {"role": "assistant", "content": "hi hi"}]
    example = encode(CharTokenizer(sorted(set(string.printable))), conversations[-1], PLAIN_TEMPLATE)
    assert sum(example.trained) == len("hi hi\n")  # the output alone is learnt
    assert read_conversations(tmp_path / "seeds.jsonl")[0] == SEEDS[0].messages()
    code = main(["finetune", str(generator), "--data", str(tmp_path / "instructions.jsonl"), "--val",
                 str(tmp_path / "seeds.jsonl"), "--epochs", "1", "--out", str(tmp_path / "student"), "--no-progress",
                 "--json"])
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["val_loss"] > 0


def test_a_seeded_run_with_a_tiny_generator_is_reproducible(generator, tmp_path, capsys):
    runs = []
    for name in ("a", "b", "c"):
        seed = "2" if name == "c" else "1"
        code = main(["self-instruct", "--generator", str(generator), "--n", "3", "--batch-size", "3",
                     "--max-new-tokens", "16", "--temperature", "1.0", "--seed", seed, "--out", str(tmp_path / name),
                     "--json"])
        assert code == 0, capsys.readouterr().err
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["generated"] == 3 and summary["kept"] + summary["dropped"] == 3
        assert sum(summary["dropped_by_reason"].values()) == summary["dropped"]
        runs.append({f: (tmp_path / name / f).read_text() for f in ("instructions.jsonl", "dropped.jsonl")})
        assert (tmp_path / name / "rouge_l.png").stat().st_size > 0
    assert runs[0] == runs[1] and runs[0] != runs[2]


@pytest.mark.parametrize("lines, message", [
    (['{"instruction": "Add them.", "input": "1 2", "output": "3"}', "not json"], "line 2 is not valid JSON"),
    (['{"instruction": "Add them.", "input": "1 2"}'], "line 1: a seed task needs"),
    (['{"instruction": "Add them.", "output": "3"}'] * 2, "holds 2 task(s)"),
])
def test_a_seed_file_that_does_not_parse_is_refused(generator, tmp_path, capsys, lines, message):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("\n".join(lines) + "\n")
    code = main(["self-instruct", "--generator", str(generator), "--seeds", str(seeds), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("n", ["0", "-3"])
def test_n_below_one_is_refused(generator, tmp_path, capsys, n):
    code = main(["self-instruct", "--generator", str(generator), "--n", n, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--n" in err[0], err
    with pytest.raises(UserError, match="at least 1"):
        si.self_instruct(scripted([]), SEEDS, n=0)
