"""Imports run downward (DESIGN.md, "Which way imports run"), checked on the source itself.

Every module under ``src/lmlineage`` is parsed with ``ast``. Every import statement counts, at
module level or inside a function (a lazy import is still a dependency, and still closes a
circle); relative imports are resolved; ``from a import b`` imports the module ``a.b`` where one
exists, else ``a``. ``importlib.import_module`` calls are not imports: that is how the registry
loads the families, which register themselves.

A room is ``lmlineage.<room>`` (a subpackage, or a top-level module such as ``models`` or ``cli``).
The rules, each the DESIGN sentence it enforces:

- core <- layers <- blocks <- families: ``core`` imports no other room; ``layers`` imports only
  ``core``; ``blocks`` only ``core`` and ``layers`` (blocks end at stacks: no heads, no
  ``generation``, no family).
- ``heads`` and ``objectives`` use ``core`` and ``layers`` only (so never a family).
- ``train`` and ``generation`` work on any model or task through small protocols and import no
  family (``generation`` may use ``core``, ``layers`` and the tokenizers' chat templates; nothing
  stricter is declared for it); neither does ``interop``, which reads each family's declared rules
  through the registry. ``lmlineage.models`` builds a model through the registry, so importing it
  is not importing a family.
- ``checkpoint`` sits below ``interop`` and ``train``: it imports only ``core``.
- A family file is a declaration: it imports no ``train`` and no ``data`` (fitting code lives in
  ``classic``).
- ``tokenizers`` import only ``core``; ``classic`` does not import the Transformer ``blocks``.
- ``cli`` is the only face: nothing imports it but ``lmlineage.__main__`` (``python -m lmlineage``).
- No import circle between modules.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "lmlineage"

# room -> the other rooms it may import (a room may always import itself)
ONLY = {
    "core": set(),
    "layers": {"core"},
    "blocks": {"core", "layers"},
    "heads": {"core", "layers"},
    "objectives": {"core", "layers"},
    "checkpoint": {"core"},
    "tokenizers": {"core"},
}
# room -> rooms it must not import
NEVER = {
    "families": {"train", "data"},
    "train": {"families"},
    "generation": {"families"},
    "interop": {"families"},
    "classic": {"blocks"},
}
FACE = "cli"
FACE_DOOR = f"{PACKAGE}.__main__"


def module_names(src: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's ``__init__``) for every module under ``src``."""
    modules = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def import_graph(src: Path) -> dict[str, set[str]]:
    """Each module of the package -> the modules of the package it imports, anywhere in its body."""
    modules = module_names(src)
    graph = {}
    for name, (path, is_package) in modules.items():
        here = name.split(".") if is_package else name.split(".")[:-1]  # what `from .` means
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module
                for alias in node.names:
                    submodule = f"{target}.{alias.name}"
                    imported.add(submodule if submodule in modules else target)
        graph[name] = {m for m in imported if m == PACKAGE or m.startswith(PACKAGE + ".")} - {name}
    return graph


def room(module: str) -> str:
    """``lmlineage.layers.attention`` -> ``layers``; ``lmlineage.models`` -> ``models``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def rule_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks a rule of the module docstring, as ``importer -> imported: why``."""
    found = []
    for importer in sorted(graph):
        here = room(importer)
        for imported in sorted(graph[importer]):
            there = room(imported)
            if there == here:
                continue
            if here in ONLY and there not in ONLY[here]:
                allowed = ", ".join(sorted(ONLY[here])) or "nothing outside itself"
                found.append(f"{importer} -> {imported}: {here} may import only {allowed}")
            elif there in NEVER.get(here, ()):
                found.append(f"{importer} -> {imported}: {here} must not import {there}")
            if there == FACE and importer != FACE_DOOR:
                found.append(f"{importer} -> {imported}: nothing imports the {FACE}")
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The circles of the graph: its strongly connected components (Tarjan), each shown as the
    shortest circle through each of its edges, deduplicated (``[a, b, a]``: a imports b imports a)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def connect(start: str) -> None:  # iterative Tarjan: no recursion limit on long chains
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in graph:
                    continue
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph[node]:
                        components.append(set(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)

    cycles, seen = [], set()
    for component in components:
        for a in sorted(component):
            for b in sorted(graph[a] & component):
                path = _shortest_path(graph, b, a, component)  # b ... a, then a -> b closes it
                cycle = [a, *path]
                start = cycle[:-1].index(min(cycle[:-1]))  # one rotation per circle
                key = tuple(cycle[start:-1] + cycle[:start])
                if key not in seen:
                    seen.add(key)
                    cycles.append([*key, key[0]])
    return cycles


def _shortest_path(graph, source: str, target: str, within: set[str]) -> list[str]:
    previous, queue = {source: None}, deque([source])
    while queue:
        node = queue.popleft()
        if node == target:
            path = []
            while node is not None:
                path.append(node)
                node = previous[node]
            return path[::-1]
        for succ in sorted(graph[node] & within):
            if succ not in previous:
                previous[succ] = node
                queue.append(succ)
    raise AssertionError(f"{source} and {target} are in one component but not connected")


def report(graph: dict[str, set[str]]) -> list[str]:
    return rule_violations(graph) + [" -> ".join(c) + ": import circle" for c in import_cycles(graph)]


def test_the_source_keeps_the_import_rules():
    graph = import_graph(SRC)
    assert f"{PACKAGE}.core.config" in graph and f"{PACKAGE}.cli" in graph  # the walk found the source
    problems = report(graph)
    assert not problems, "imports that break DESIGN.md's rules:\n" + "\n".join(problems)


def test_each_rule_reports_a_planted_violation():
    clean = {
        "lmlineage.core.config": set(),
        "lmlineage.layers.attention": {"lmlineage.core.config"},
        "lmlineage.blocks.block": {"lmlineage.layers.attention"},
        "lmlineage.families.gpt2": {"lmlineage.blocks.block", "lmlineage.interop.reference"},
        "lmlineage.generation.engine": {"lmlineage.core.config"},
        "lmlineage.checkpoint.files": {"lmlineage.core.config"},
        "lmlineage.interop.reference": {"lmlineage.checkpoint.files"},
        "lmlineage.train.trainer": {"lmlineage.checkpoint.files"},
        "lmlineage.heads.lm": {"lmlineage.layers.attention"},
        "lmlineage.objectives.clm": set(),
        "lmlineage.tokenizers.word": {"lmlineage.core.config"},
        "lmlineage.classic.ngram": {"lmlineage.tokenizers.word"},
        "lmlineage.data.corpora": {"lmlineage.core.config"},
        "lmlineage.cli": {"lmlineage.train.trainer"},
        "lmlineage.__main__": {"lmlineage.cli"},
    }
    assert report(clean) == []
    planted = {
        ("lmlineage.core.config", "lmlineage.layers.attention"): "core may import only nothing outside itself",
        ("lmlineage.layers.attention", "lmlineage.blocks.block"): "layers may import only core",
        ("lmlineage.blocks.block", "lmlineage.families.gpt2"): "blocks may import only core, layers",
        ("lmlineage.blocks.block", "lmlineage.generation.engine"): "blocks may import only core, layers",
        ("lmlineage.heads.lm", "lmlineage.families.gpt2"): "heads may import only core, layers",
        ("lmlineage.objectives.clm", "lmlineage.families.gpt2"): "objectives may import only core, layers",
        ("lmlineage.train.trainer", "lmlineage.families.gpt2"): "train must not import families",
        ("lmlineage.generation.engine", "lmlineage.families.gpt2"): "generation must not import families",
        ("lmlineage.checkpoint.files", "lmlineage.interop.reference"): "checkpoint may import only core",
        ("lmlineage.checkpoint.files", "lmlineage.train.trainer"): "checkpoint may import only core",
        ("lmlineage.tokenizers.word", "lmlineage.classic.ngram"): "tokenizers may import only core",
        ("lmlineage.classic.ngram", "lmlineage.blocks.block"): "classic must not import blocks",
        ("lmlineage.families.gpt2", "lmlineage.train.trainer"): "families must not import train",
        ("lmlineage.families.gpt2", "lmlineage.data.corpora"): "families must not import data",
        ("lmlineage.train.trainer", "lmlineage.cli"): "nothing imports the cli",
    }
    for (importer, imported), why in planted.items():
        graph = {k: set(v) for k, v in clean.items()}
        graph[importer].add(imported)
        assert any(p.startswith(f"{importer} -> {imported}: {why}") for p in report(graph)), (importer, imported)


def test_circles_are_found_and_printed():
    graph = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x", "a.w"}, "a.w": set(), "a.s": {"a.s", "a.w"},
             "a.p": {"a.q"}, "a.q": {"a.p", "a.y"}}
    assert sorted(import_cycles(graph)) == [["a.p", "a.q", "a.p"], ["a.s", "a.s"], ["a.x", "a.y", "a.z", "a.x"]]
    assert import_cycles({"a.x": {"a.y"}, "a.y": set()}) == []


def test_lazy_and_relative_imports_count(tmp_path):
    """A planted module whose only offence is an import inside a function, written relatively."""
    package = tmp_path / PACKAGE
    for room_name in ("core", "train", "checkpoint", "families"):
        (package / room_name).mkdir(parents=True)
        (package / room_name / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text("")
    (package / "core" / "config.py").write_text("")
    (package / "families" / "gpt2.py").write_text("from ..core import config\n")
    (package / "train" / "trainer.py").write_text("from ..checkpoint import files\n")
    (package / "checkpoint" / "files.py").write_text(
        "from ..core.config import x\n\ndef load():\n    from ..train.trainer import Trainer\n    from .. import cli\n")
    graph = import_graph(tmp_path)
    assert graph[f"{PACKAGE}.checkpoint.files"] == {f"{PACKAGE}.core.config", f"{PACKAGE}.train.trainer", f"{PACKAGE}.cli"}
    problems = report(graph)
    assert f"{PACKAGE}.checkpoint.files -> {PACKAGE}.train.trainer: checkpoint may import only core" in problems
    assert f"{PACKAGE}.checkpoint.files -> {PACKAGE}.cli: checkpoint may import only core" in problems
    assert f"{PACKAGE}.checkpoint.files -> {PACKAGE}.cli: nothing imports the cli" in problems
    assert (f"{PACKAGE}.checkpoint.files -> {PACKAGE}.train.trainer -> {PACKAGE}.checkpoint.files: import circle"
            in problems)
