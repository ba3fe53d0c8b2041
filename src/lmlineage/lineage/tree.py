"""The lineage as a tree: every registered family under its parent, with its year and what it
changed (the registry's ``parent``, ``year`` and ``changes`` fields), as text or as a drawing.

A family whose parent is not registered starts a tree of its own, so nothing is ever left out;
a family registered later joins by being registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import UserError
from ..core.registry import Family, families

DRAWING_FORMATS = (".png", ".svg")


@dataclass
class Node:
    family: Family
    children: list["Node"] = field(default_factory=list)


def lineage_tree(registered: list[Family] | None = None) -> list[Node]:
    """The roots (families with no registered parent), each holding its descendants; siblings in
    order of year, then name."""
    registered = families() if registered is None else registered
    nodes = {f.name: Node(f) for f in registered}
    roots = []
    for f in sorted(registered, key=lambda f: (f.year, f.name)):
        parent = nodes.get(f.parent) if f.parent else None
        (parent.children if parent is not None else roots).append(nodes[f.name])
    return roots


def walk(roots: list[Node], depth: int = 0):
    """(node, depth) in depth-first order, parents before their children."""
    for node in roots:
        yield node, depth
        yield from walk(node.children, depth + 1)


def render_tree(roots: list[Node] | None = None) -> str:
    """One line per family, drawn under its parent: ``name (year): what it changed``."""
    roots = lineage_tree() if roots is None else roots
    lines: list[str] = []

    def draw(nodes: list[Node], prefix: str, top: bool) -> None:
        for i, node in enumerate(nodes):
            last = i == len(nodes) - 1
            branch = "" if top else ("└── " if last else "├── ")
            f = node.family
            orphan = f" [parent {f.parent} not registered]" if top and f.parent else ""
            lines.append(f"{prefix}{branch}{f.name} ({f.year}){orphan}: {f.changes}")
            draw(node.children, prefix if top else prefix + ("    " if last else "│   "), False)

    draw(roots, "", True)
    return "\n".join(lines)


def check_drawing_path(out) -> Path:
    """The file the drawing goes to: a .png or .svg in a writable directory (checked before drawing)."""
    from ..train.run import check_out_dir

    out = Path(out)
    if out.suffix.lower() not in DRAWING_FORMATS:
        raise UserError(f"--out {out}: the tree is drawn as PNG or SVG", "give a path ending in .png or .svg")
    check_out_dir(out.parent)
    return out


def draw_tree(out, roots: list[Node] | None = None) -> Path:
    """Draw the lineage as a dendrogram: one row per family in depth-first order, indented by its
    generation, an elbow from its parent, its year and what it changed beside it; the format
    follows the suffix (.png or .svg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = check_drawing_path(out)
    roots = lineage_tree() if roots is None else roots
    order = list(walk(roots))
    row = {node.family.name: i for i, (node, _) in enumerate(order)}
    depth = {node.family.name: d for node, d in order}
    fig, ax = plt.subplots(figsize=(13, 0.3 * len(order) + 1.0))
    for node, d in order:
        for child in node.children:  # an elbow: down from the parent, then across to the child
            y0, y1 = row[node.family.name], row[child.family.name]
            ax.plot([d, d, d + 1], [y0, y1, y1], color="0.6", lw=1, zorder=1)
    ax.scatter([d for _, d in order], range(len(order)), s=24, color="tab:blue", zorder=2)
    for y, (node, d) in enumerate(order):
        f = node.family
        ax.annotate(f"{f.name} ({f.year})", (d, y), xytext=(6, 0), textcoords="offset points", va="center",
                    fontsize=9, fontweight="bold")
        ax.annotate(f.changes, (d, y), xytext=(6 + 7.5 * len(f"{f.name} ({f.year})"), 0),
                    textcoords="offset points", va="center", fontsize=7, color="0.35")
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.set_xlim(-0.3, max(depth.values(), default=0) + 9)
    ax.axis("off")
    ax.set_title("the language-model lineage: each family under its parent (year; what it changed)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110 if out.suffix.lower() == ".png" else None)
    plt.close(fig)
    return out
