"""`--help` says the defaults, family options have readable placeholders, `lmlineage models` lists
each family's presets, `--version` exists, and a bare `lmlineage` prints the help (exit 2, as
argparse does for a missing command)."""

import pytest

from lmlineage import cli
from lmlineage.core.registry import families
from lmlineage.core.version import __version__


def help_of(*verb, capsys) -> str:
    with pytest.raises(SystemExit) as done:
        cli.main([*verb, "--help"])
    assert done.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines where it likes


def test_help_shows_the_defaults(capsys):
    train = help_of("train", capsys=capsys)
    for option, default in (("--steps N", "2000"), ("--batch-size N", "12"), ("--lr LR", "0.001"),
                            ("--warmup STEPS", "100"), ("--seed SEED", "1337"), ("--preset PRESET", "tiny")):
        assert option in train and f"(default: {default})" in train.rsplit(option, 1)[1].split(" --")[0], option
    generate = help_of("generate", capsys=capsys)
    for option, default in (("--max-new-tokens N", "200"), ("--temperature TEMPERATURE", "0.8"),
                            ("--top-k K", "all"), ("--seed SEED", "a fresh one")):
        assert option in generate and f"default: {default}" in generate.rsplit(option, 1)[1].split(" --")[0], option
    assert "(default: None)" not in train + generate and "(default: False)" not in train + generate


def test_family_options_have_readable_placeholders(capsys):
    train = help_of("train", capsys=capsys)
    assert "FAMILY_OPTION" not in train and "--order ORDER" in train and "--teacher PATH" in train


def test_models_lists_each_familys_presets(capsys):
    assert cli.main(["models"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    for family in families():
        assert ",".join(family.presets) in rows[family.name].split(), family.name


def test_version_and_a_bare_command(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"lmlineage {__version__}"
    assert cli.main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: lmlineage") and "train" in err and "predict" in err


def test_the_readme_names_every_command_and_every_train_option():
    """What `--help` lists, the README mentions (issue 14, item 11: `similar`, `--vocab-size`,
    `--no-progress` and distilbert's `--teacher` were missing)."""
    import argparse
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert not [name for name in commands if f"lmlineage {name}" not in readme]
    train = {flag for flag in commands["train"]._option_string_actions if flag.startswith("--") and flag != "--help"}
    assert not sorted(flag for flag in train if f"`{flag}" not in readme)
    assert "`distilbert` needs" in readme and "`--teacher" in readme
