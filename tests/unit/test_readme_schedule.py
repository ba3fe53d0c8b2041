"""benchmarks/readme_commands.py runs the README's commands side by side where nothing ties them:
the ties it finds in the README as it stands, and its lists of exceptions kept true."""

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "readme_commands.py"
spec = importlib.util.spec_from_file_location("readme_commands", SCRIPT)
rc = importlib.util.module_from_spec(spec)
sys.modules.setdefault("readme_commands", rc)  # its dataclass looks its module up there
spec.loader.exec_module(rc)

FOUND = rc.commands(rc.README.read_text())
AFTER = rc.dependencies(FOUND)


def index(text: str) -> int:
    return next(c.index for c in FOUND if c.text == text)


def test_no_exception_names_a_command_the_readme_no_longer_has():
    assert rc.check_lists(FOUND) == []


def test_a_command_waits_for_the_run_it_reads_or_continues():
    setup = index("lmlineage train gpt2")
    resume = index("lmlineage train gpt2 --out runs/gpt2 --steps 2200 --resume")
    assert AFTER[resume] == {setup}
    assert {setup, resume} <= AFTER[index("lmlineage eval runs/gpt2")]
    # the pickled checkpoint is made from runs/gpt2: its convert waits for every command that writes there
    assert {setup, resume} <= AFTER[index("lmlineage convert old-checkpoint/ safe/")]
    trained = index("lmlineage train bahdanau --data reverse:1-8 --steps 300 --lr 3e-3 --warmup 30")
    assert AFTER[index('lmlineage align runs/bahdanau "31415926" --out alignment.png')] == {trained}


def test_a_command_waits_for_the_variable_it_uses_even_in_another_block():
    assignment = next(c for c in FOUND if c.run and rc.ASSIGNMENT.fullmatch(c.run))
    users = [c for c in FOUND if c.run and "$G" in c.run]
    assert len(users) >= 4 and {c.block for c in users} != {assignment.block}
    assert all(assignment.index in AFTER[c.index] for c in users)
    # the reference directory is exported from $G's model, though its command does not name $G
    llama = next(c for c in FOUND if c.run and "path/to/llama-directory" in c.run)
    assert assignment.index in AFTER[llama.index]


def test_unrelated_commands_of_one_block_wait_for_nothing():
    for text in ("lmlineage train deberta --steps 50", "lmlineage train bert --steps 50",
                 "lmlineage train llama --lr 3e-3 --steps 100", "lmlineage train ngram --preset small"):
        assert AFTER[index(text)] == set(), text
    # the same path in another block's directory is another file
    other = index('lmlineage align runs/bahdanau "0123456789" --out alignment.png')
    assert AFTER[other] == {index("lmlineage train bahdanau --data reverse --steps 300 --lr 3e-3 --out runs/bahdanau")}


def test_paths_include_the_run_directory_train_and_finetune_write_by_default():
    by_text = {c.text: c for c in FOUND}
    assert "runs/deberta" in rc._paths(by_text["lmlineage train deberta --steps 50"])
    finetune = next(c for c in FOUND if c.run and c.run.startswith("lmlineage finetune path/to/all-MiniLM-L6-v2"))
    assert "runs/finetune-classify" in rc._paths(finetune)
