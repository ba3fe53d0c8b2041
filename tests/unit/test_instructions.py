"""Flan-T5's instruction mixture (data.instructions): several phrasings per task, zero-shot,
few-shot and chain-of-thought formats, per-task caps, a cluster held out, the no-template
baseline, and a validation split whose inputs training never saw."""

import random

import pytest

from lmlineage import cli
from lmlineage.core.errors import UserError
from lmlineage.data import instructions as ins
from lmlineage.data.pairs import default_tokenizer, is_builtin, load_pairs, target_language


def test_every_task_has_several_phrasings_and_a_cluster():
    assert len(ins.CLUSTERS) >= 6
    for task in ins.TASKS:
        assert len(set(task.templates)) >= 2, task.name
        assert task.cluster in ins.CLUSTERS


def test_answers_are_right():
    rng = random.Random(0)
    for name, check in {"reverse_digits": lambda x, y: y == x[::-1], "sort_letters": lambda x, y: y == "".join(sorted(x)),
                        "count_digits": lambda x, y: y == str(len(x)), "last_letter": lambda x, y: y == x[-1]}.items():
        task = next(t for t in ins.TASKS if t.name == name)
        for _ in range(20):
            example = task.draw(rng)
            assert check(example.input["x"], example.answer)
    add = next(t for t in ins.TASKS if t.name == "add")
    for _ in range(50):
        e = add.draw(rng)
        assert int(e.answer) == e.input["a"] + e.input["b"]
        assert e.steps.endswith(f"={int(e.answer) // 10}.")  # the tens with the carry: the answer's leading digits


def test_picking_by_kind_has_one_right_word_and_the_kinds_are_named_elsewhere():
    rng = random.Random(0)
    kind_of = {word: kind for kind, words in ins.KINDS.items() for word in words}
    for kind in ins.KINDS:
        task = next(t for t in ins.TASKS if t.name == f"pick_{kind}")
        assert task.cluster == f"pick_{kind}"
        for _ in range(30):
            example = task.draw(rng)
            words = example.input["x"].split(", ")
            assert len(words) == 3 and [kind_of[w] for w in words].count(kind) == 1
            assert kind_of[example.answer] == kind and len({kind_of[w] for w in words}) == 3
    named = next(t for t in ins.TASKS if t.name == "kind_of_word")
    assert all(kind_of[e.input["x"]] == e.answer for e in (named.draw(rng) for _ in range(30)))
    # Held out, picking a colour is asked of a model that picked the other kinds and named colours.
    train, _ = ins.mixture(without="pick_colour", cap=200, n_val=0)
    assert not any("colour:" in s or "the colour from" in s or "is a colour?" in s for s, _ in train)
    assert any(t == "colour" for _, t in train) and any(s.startswith("Pick the animal from") for s, _ in train)
    assert set(ins.KINDS["colour"]) <= {t for _, t in train}  # each colour is an answer somewhere (copy_word)


def test_held_out_options_are_the_listed_words_of_each_question_in_order():
    questions, options = ins.held_out("pick_month", 40), ins.held_out_options("pick_month", 40)
    assert list(options) == ["pick_month"] and len(options["pick_month"]) == 40
    for (source, answer), opts in zip(questions["pick_month"], options["pick_month"]):
        assert answer in opts and len(opts) == 3 and all(word in source for word in opts)
    assert len({opts for opts in options["pick_month"]}) > 30  # each question its own list, not one repeated
    # Closed sets elsewhere; tasks whose answers are open have none.
    assert ins.held_out_options("kind_of_word", 5)["kind_of_word"][0] == tuple(ins.KINDS)
    assert ins.held_out_options("reorder_letters", 5) == {}


def test_the_three_formats():
    task = next(t for t in ins.TASKS if t.name == "subtract")
    example, shots = task.draw(random.Random(1)), (task.draw(random.Random(2)),)
    template = task.templates[0]
    source, target = ins.render(task, example, template)
    assert source == template.format(**example.input) and target == example.answer
    source, target = ins.render(task, example, template, ins.FEW_SHOT, shots)
    assert source.startswith(f"Q: {template.format(**shots[0].input)}\nA: {shots[0].answer}\nQ: ")
    assert source.endswith("\nA:") and target == example.answer
    source, target = ins.render(task, example, template, ins.CHAIN_OF_THOUGHT)
    assert source.endswith(ins.COT_CUE) and target == f"{example.steps} So the answer is {example.answer}."


def test_the_mixture_caps_each_task_and_holds_a_cluster_out():
    train, val = ins.mixture(without="reorder_letters", cap=40, n_val=3)
    kept = [t for t in ins.TASKS if t.cluster != "reorder_letters"]
    assert len(train) == 40 * len(kept)
    letters = {tpl.split("{")[0] for t in ins.TASKS if t.cluster == "reorder_letters" for tpl in t.templates
               if "letters" in tpl}
    assert letters and not any(s.startswith(p) for s, _ in train for p in letters)
    assert any("Reverse the digits" in s for s, _ in train)
    formats = {"few-shot": sum(s.startswith("Q: ") for s, _ in train),
               "chain-of-thought": sum(s.endswith(ins.COT_CUE) for s, _ in train)}
    assert all(n > 0 for n in formats.values()), formats
    train_sources = {s for s, _ in train}
    assert not train_sources & {s for s, _ in val}


def test_plain_drops_the_templates():
    train, _ = ins.mixture(plain=True, cap=20, n_val=1)
    words = ("Reverse", "Sort", "Copy", "How many", "What", "Q:", "step")
    assert not any(w in s for s, _ in train for w in words)


def test_the_validation_split_never_repeats_a_training_input():
    task = next(t for t in ins.TASKS if t.name == "reverse_digits")
    train = ins.examples(task, 300, 0, formats={"zero-shot": 1.0})
    val = ins.examples(task, 50, "val-0", formats={"zero-shot": 1.0}, exclude=ins._inputs(task, 300, 0))
    strip = {s.split()[-1].strip(".?") for s, _ in train}
    assert len(val) == 50 and not any(s.split()[-1].strip(".?") in strip for s, _ in val if s.startswith("Reverse"))


def test_names_as_train_reads_them():
    assert ins.parse_name("flan") == {"without": None, "plain": False}
    assert ins.parse_name("flan:without=count:plain") == {"without": "count", "plain": True}
    assert ins.parse_name("reverse") is None
    assert is_builtin("flan:without=count") and default_tokenizer("flan:plain") == ("bpe", 257)
    assert target_language("flan") == "char"
    with pytest.raises(UserError, match="reorder_letters"):
        ins.parse_name("flan:without=nothing")
    with pytest.raises(UserError):
        load_pairs("flan:shuffled")


def test_a_bad_mixture_name_is_one_line_and_exit_2(tmp_path, capsys):
    code = cli.main(["train", "flan-t5", "--data", "flan:without=poetry", "--steps", "1", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "poetry" in err[0]


def test_train_and_eval_report_the_held_out_cluster_zero_shot(tmp_path, capsys):
    import lmlineage
    from lmlineage.api import evaluate

    run = lmlineage.train("flan-t5", preset="tiny", data="flan:without=pick_day", steps=20, batch_size=8,
                          vocab_size=1000, out=tmp_path / "r", progress=False, sample_tokens=0)
    trained = run.metrics
    assert trained["held_out_cluster"] == "pick_day" and trained["held_out_questions"] == 100
    assert trained["held_out_chance"] == pytest.approx(1 / 3)
    assert 0 <= trained["held_out_exact_match"] <= 1 and 0 <= trained["held_out_rank_classification"] <= 1
    assert cli.main(["eval", str(tmp_path / "r")]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("held-out cluster pick_day")]
    assert len(lines) == 1 and "rank classification" in lines[0]
    # `eval` reads the saved best checkpoint, `train` scored the live model with its weights: the same numbers
    evaluated = evaluate(tmp_path / "r")
    for key in ("held_out_exact_match", "held_out_rank_classification"):
        assert evaluated[key] == pytest.approx(trained[key])


def test_a_mixture_without_a_held_out_cluster_scores_nothing_zero_shot():
    from lmlineage.core.registry import get_family
    from lmlineage.models import build_model
    from lmlineage.tasks.instruction_tuning import InstructionTuningTask

    task = InstructionTuningTask(build_model(get_family("flan-t5").config("tiny", vocab_size=20)), pad_id=1)
    assert task.zero_shot_scores(None, "flan") == {} and task.zero_shot_scores(None, "bible-en-zh") == {}
