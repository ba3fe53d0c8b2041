"""`lmlineage models --tree`: every registered family once, under its parent, with its year and
what it changed; drawn as PNG or SVG with --out."""

import dataclasses

import pytest

from lmlineage import cli
from lmlineage.core.registry import families, get_family
from lmlineage.lineage.tree import lineage_tree, render_tree, walk


def parse(text: str) -> list[tuple[int, str, int]]:
    """(depth, name, year) per line of the drawn tree: each level indents by four columns."""
    rows = []
    for line in text.splitlines():
        stripped = line.lstrip("│ ├└─")
        depth = (len(line) - len(stripped)) // 4
        name, rest = stripped.split(" (", 1)
        rows.append((depth, name, int(rest[:4])))
    return rows


def test_every_family_once_under_its_parent(capsys):
    assert cli.main(["models", "--tree"]) == 0
    out = capsys.readouterr().out
    rows = parse(out)
    names = [name for _, name, _ in rows]
    registered = families()
    assert sorted(names) == sorted(f.name for f in registered)  # each exactly once
    stack: list[str] = []
    for depth, name, year in rows:
        stack[depth:] = [name]
        fam = get_family(name)
        assert year == fam.year
        assert (stack[depth - 1] if depth else None) == fam.parent, name  # drawn under its parent
    for fam in registered:  # what it changed, on its line
        assert f"{fam.name} ({fam.year}): {fam.changes}" in out
    assert "└── nnlm (2003)" in out and "├── gpt (2018)" in out and "│   └── gpt2 (2019)" in out


def test_a_later_family_joins_and_an_unknown_parent_starts_its_own_tree():
    registered = families()
    newcomer = dataclasses.replace(get_family("llama"), name="newcomer", year=2030, parent="llama")
    orphan = dataclasses.replace(get_family("gpt"), name="orphan", year=2031, parent="not-registered")
    roots = lineage_tree([*registered, newcomer, orphan])
    depth = {node.family.name: d for node, d in walk(roots)}
    parent = {child.family.name: node.family.name for node, _ in walk(roots) for child in node.children}
    assert parent["newcomer"] == "llama" and depth["newcomer"] == depth["llama"] + 1
    assert depth["orphan"] == 0 and "orphan (2031) [parent not-registered not registered]" in render_tree(roots)


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_out_draws_the_tree(capsys, tmp_path, suffix, magic):
    out = tmp_path / "sub" / f"tree{suffix}"
    assert cli.main(["models", "--tree", "--out", str(out)]) == 0
    assert f"drawn in {out}" in capsys.readouterr().out
    assert out.read_bytes()[:5].startswith(magic)
    if suffix == ".svg":
        assert "llama" in out.read_text()  # the labels are text in the SVG


@pytest.mark.parametrize("argv, needle", [
    (["models", "--tree", "--out", "tree.txt"], "PNG or SVG"),
    (["models", "--out", "tree.png"], "add --tree"),
])
def test_bad_out_is_refused_in_one_line(capsys, tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert not out and err.count("\n") == 1 and needle in err
    assert not list(tmp_path.iterdir())
