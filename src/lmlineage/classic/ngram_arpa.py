"""ARPA back-off language-model files: write and read.

The format (as SRILM, KenLM and NLTK's documentation describe it)::

    \\data\\
    ngram 1=<count>
    ngram 2=<count>

    \\1-grams:
    <log10 p>\\t<w>\\t<log10 backoff>
    ...
    \\2-grams:
    <log10 p>\\t<w1> <w2>[\\t<log10 backoff>]
    ...
    \\end\\

Probabilities are base 10; a missing back-off means 0 (weight 1). A probability of zero
is written as -99, the customary stand-in. Tables here use natural logs and chained
integer keys (see ``ngram_counts``); this module converts both ways.
"""

from __future__ import annotations

import math
import re
from itertools import repeat
from pathlib import Path

import numpy as np

from lmlineage.classic.ngram_counts import SPECIALS, lookup_rows, ngram_words
from lmlineage.core.errors import UserError

LN10 = math.log(10.0)
ZERO_LOG10 = -99.0
MISSING_UNK_LOG10 = -100.0  # what KenLM substitutes when a file has no <unk>
_COUNT_LINE = re.compile(r"^ngram\s+(\d+)\s*=\s*(\d+)$")
_SECTION = re.compile(r"^\\(\d+)-grams:$")


def _fmt(values: np.ndarray) -> list[str]:
    v10 = values / LN10
    v10 = np.where(np.isfinite(v10), v10, ZERO_LOG10)
    v10 = np.maximum(v10, ZERO_LOG10)
    return [f"{x:.9g}" for x in v10.tolist()]


def write_arpa(path, vocab: list[str], keys: list[np.ndarray], logp: list[np.ndarray], logbo: list[np.ndarray]) -> None:
    """Write back-off tables (natural logs) as an ARPA file."""
    bad = [w for w in vocab if not w or any(ch.isspace() for ch in w)]
    if bad:
        raise UserError(f"cannot write ARPA: word {bad[0]!r} is empty or contains whitespace")
    order = len(keys)
    words_np = np.array(vocab, dtype=object)
    matrices = ngram_words(keys, len(vocab))
    with open(path, "w", encoding="utf-8") as f:
        f.write("\\data\\\n")
        for m in range(order):
            f.write(f"ngram {m + 1}={len(keys[m])}\n")
        for m in range(order):
            f.write(f"\n\\{m + 1}-grams:\n")
            mat = matrices[m]
            texts = words_np[mat[:, 0]]
            for j in range(1, m + 1):
                texts = texts + " " + words_np[mat[:, j]]
            probs = _fmt(logp[m])
            if m < order - 1:
                bos = _fmt(logbo[m])
                f.writelines(f"{p}\t{t}\t{b}\n" for p, t, b in zip(probs, texts.tolist(), bos))
            else:
                f.writelines(f"{p}\t{t}\n" for p, t in zip(probs, texts.tolist()))
        f.write("\n\\end\\\n")


_ASCII_WS = np.array([9, 10, 11, 12, 13, 32], dtype=np.uint8)  # what bytes.split() splits on
_MARKER = re.compile(rb"(?m)^[ \t]*(\\[^\s]*)[ \t\r]*$")


def _floats(strings: np.ndarray) -> np.ndarray | None:
    try:
        return strings.astype("S").astype(np.float64)
    except ValueError:
        return None


def _parse_section(chunk: bytes, m: int, first_lineno: int, fail):
    """Parse one ``\\m-grams:`` body at numpy speed: returns (fields, row offsets,
    fields per row, line number of each row). One Python object per field, none per line."""
    buf = np.frombuffer(chunk, dtype=np.uint8)
    is_ws = np.isin(buf, _ASCII_WS)
    is_nl = buf == 10
    field_start = ~is_ws
    field_start[1:] &= is_ws[:-1]
    line_of_byte = np.cumsum(is_nl) - is_nl
    n_lines = int(is_nl.sum()) + 1
    per_line = np.bincount(line_of_byte[field_start], minlength=n_lines)
    rows = np.flatnonzero(per_line)
    nf = per_line[rows]
    bad = np.flatnonzero((nf != m + 1) & (nf != m + 2))
    if bad.size:
        fail(
            first_lineno + int(rows[bad[0]]),
            f"a {m}-gram line needs a probability, {m} words and an optional back-off, got {int(nf[bad[0]])} fields",
        )
    fields = np.array(chunk.split(), dtype=object)
    offsets = np.cumsum(nf) - nf
    return fields, offsets, nf, first_lineno + rows


def read_arpa(path):
    """Read an ARPA file into ``(vocab, keys, logp, logbo)`` (natural logs).

    The vocabulary puts ``<unk>``, ``<s>``, ``</s>`` first; a file without ``<unk>``
    gets one with log10 probability -100, as KenLM does. Every n-gram's context
    (its first ``m - 1`` words) must itself be listed; anything malformed raises
    ``UserError`` naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no ARPA file at {path}")
    data = path.read_bytes()

    def fail(lineno: int, problem: str):
        raise UserError(f"{path}:{lineno}: {problem}", "check that the file is a complete ARPA language model")

    # marker lines (\data\, \N-grams:, \end\) with their line numbers
    markers, counted, lineno = [], 0, 1
    for match in _MARKER.finditer(data):
        lineno += data.count(b"\n", counted, match.start())
        counted = match.start()
        markers.append((match.group(1).decode("ascii", "replace"), lineno, match.start(), match.end()))
    names = [mk[0] for mk in markers]
    if "\\data\\" not in names:
        raise UserError(f"{path}: no \\data\\ line; this is not an ARPA file")
    markers = markers[names.index("\\data\\") :]
    if "\\end\\" not in [mk[0] for mk in markers]:
        fail(data.count(b"\n") + 1, "the file ends without \\end\\ (truncated?)")

    expected: dict[int, int] = {}
    _, data_line, _, data_end = markers[0]
    header_end = markers[1][2]
    for i, raw in enumerate(data[data_end:header_end].split(b"\n")[1:]):
        line = raw.decode("utf-8", "replace").strip()
        if not line:
            continue
        count = _COUNT_LINE.match(line)
        if not count:
            fail(data_line + 1 + i, f"expected 'ngram N=COUNT' in \\data\\, got {line[:60]!r}")
        expected[int(count.group(1))] = int(count.group(2))
    order = max(expected) if expected else 0
    if order < 1 or sorted(expected) != list(range(1, order + 1)):
        fail(data_line, f"\\data\\ must list the counts of orders 1..N, got orders {sorted(expected)}")

    bodies: dict[int, tuple] = {}
    for (name, line, _, end), nxt in zip(markers[1:], markers[2:] + [None]):
        if name == "\\end\\":
            break
        section = _SECTION.match(name)
        if not section:
            fail(line, f"unexpected line {name!r}: expected \\N-grams: or \\end\\")
        m = int(section.group(1))
        if m not in expected:
            fail(line, f"section \\{m}-grams: has no 'ngram {m}=' line in \\data\\")
        if m in bodies:
            fail(line, f"section \\{m}-grams: appears twice")
        body = data[end : nxt[2]] if nxt else b""
        bodies[m] = (*_parse_section(body, m, line, fail), line)
    for m in range(1, order + 1):
        got = len(bodies[m][1]) if m in bodies else 0
        if got != expected[m]:
            where = bodies[m][4] if m in bodies else data_line
            fail(where, f"\\data\\ says ngram {m}={expected[m]} but the \\{m}-grams: section has {got} lines")

    def numbers(m: int, column: int) -> np.ndarray:
        fields, offsets, nf, linenos, _ = bodies[m]
        out = np.zeros(len(offsets))
        has = nf > column
        strings = fields[offsets[has] + column]
        values = _floats(strings)
        if values is None:
            for s, ln in zip(strings, linenos[has]):
                try:
                    float(s)
                except ValueError:
                    fail(int(ln), f"{s.decode('utf-8', 'replace')!r} is not a number")
        out[has] = values
        return out * LN10

    fields, offsets, _, linenos, _ = bodies[1]
    try:
        uni_words = [w.decode("utf-8") for w in fields[offsets + 1]]
    except UnicodeDecodeError:
        raise UserError(f"{path}: the 1-grams are not valid UTF-8") from None
    first_line: dict[str, int] = {}
    for w, ln in zip(uni_words, linenos.tolist()):
        if w in first_line:
            fail(ln, f"unigram {w!r} is listed twice")
        first_line[w] = ln
    for special in SPECIALS[1:]:
        if special not in first_line:
            raise UserError(f"{path}: the 1-grams have no {special}", "ARPA models must list <s> and </s>")
    vocab = list(SPECIALS) + [w for w in uni_words if w not in SPECIALS]
    V = len(vocab)
    word_id = {w.encode("utf-8"): i for i, w in enumerate(vocab)}
    ids1 = np.fromiter(map(word_id.__getitem__, fields[offsets + 1]), dtype=np.int64, count=len(offsets))
    logp = [np.full(V, MISSING_UNK_LOG10 * LN10)]
    logbo = [np.zeros(V)]
    logp[0][ids1] = numbers(1, 0)
    logbo[0][ids1] = numbers(1, 2)
    keys = [np.arange(V, dtype=np.int64)]
    for m in range(2, order + 1):
        fields, offsets, _, linenos, _ = bodies[m]
        ids = np.empty((len(offsets), m), dtype=np.int64)
        for j in range(m):
            col = fields[offsets + 1 + j]
            ids[:, j] = np.fromiter(map(word_id.get, col, repeat(-1)), dtype=np.int64, count=len(col))
            unknown = np.flatnonzero(ids[:, j] < 0)
            if unknown.size:
                i = int(unknown[0])
                fail(int(linenos[i]), f"word {col[i].decode('utf-8', 'replace')!r} is not among the 1-grams")
        prefix_rows = lookup_rows(keys, ids[:, :-1], V)
        missing = np.flatnonzero(prefix_rows < 0)
        if missing.size:
            i = int(missing[0])
            context = b" ".join(fields[offsets[i] + 1 : offsets[i] + m]).decode("utf-8", "replace")
            fail(int(linenos[i]), f"the context {context!r} of this {m}-gram is not listed among the {m - 1}-grams")
        key = prefix_rows * V + ids[:, -1]
        order_idx = np.argsort(key, kind="stable")
        sorted_key = key[order_idx]
        dup = np.flatnonzero(sorted_key[1:] == sorted_key[:-1])
        if dup.size:
            fail(int(linenos[order_idx[dup[0] + 1]]), f"this {m}-gram is listed twice")
        keys.append(sorted_key)
        logp.append(numbers(m, 0)[order_idx])
        logbo.append(numbers(m, m + 1)[order_idx])
    return vocab, keys, logp, logbo
