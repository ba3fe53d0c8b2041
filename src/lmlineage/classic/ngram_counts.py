"""Vectorised n-gram counting for the statistical n-gram LM.

Sentences arrive as one flat array of word ids with the boundary symbols already in
place. Every n-gram of order ``m`` becomes one int64 key built from mixed radices:

    key_m = rank_{m-1}(prefix) * V + last_word

where ``rank_{m-1}`` is the n-gram's prefix position in the sorted table of order
``m - 1`` (for ``m = 1`` the key is the word id itself, and the unigram table is dense).
Because the ranks are lexicographic, sorted keys are the n-grams in lexicographic order,
the n-grams sharing a context are contiguous, and no order ever needs ``V ** m`` to fit
in 64 bits: only ``(number of (m-1)-grams) * V`` must, which is checked.
Counting one order is one ``np.unique``; there is no Python object per n-gram.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmlineage.core.errors import UserError

UNK, BOS, EOS = 0, 1, 2
SPECIALS = ("<unk>", "<s>", "</s>")
_KEY_LIMIT = np.iinfo(np.int64).max


@dataclass
class OrderCounts:
    """The distinct n-grams of one order, sorted, with what the smoothers need.

    ``keys``: sorted int64 keys (for order 1: the word ids ``0..V-1``, dense).
    ``counts``: raw occurrence counts (int64).
    ``prefix``: row of the context (first ``m-1`` words) in the order ``m-1`` table.
    ``suffix``: row of the last ``m-1`` words in the order ``m-1`` table.
    ``first``: id of the first word (to spot n-grams that start with ``<s>``).
    For order 1, ``prefix`` and ``suffix`` are empty.
    """

    keys: np.ndarray
    counts: np.ndarray
    prefix: np.ndarray
    suffix: np.ndarray
    first: np.ndarray


def pad_flat(ids: np.ndarray, lengths: np.ndarray, n_bos: int, n_eos: int) -> tuple[np.ndarray, np.ndarray]:
    """Insert ``n_bos`` ``<s>`` before and ``n_eos`` ``</s>`` after every sentence.

    ``ids`` holds the words of all sentences back to back, ``lengths`` their sizes.
    Returns the padded flat ids and, per padded sentence, its start offset.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    padded_len = lengths + n_bos + n_eos
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(padded_len[:-1], out=starts[1:])
    total = int(padded_len.sum())
    dtype = np.int32 if ids.size == 0 or int(ids.max(initial=0)) < 2**31 - 1 else np.int64
    out = np.full(total, EOS, dtype=dtype)
    is_word = np.ones(total, dtype=bool)
    for j in range(n_bos):
        out[starts + j] = BOS
        is_word[starts + j] = False
    for j in range(1, n_eos + 1):
        is_word[starts + padded_len - j] = False
    out[is_word] = ids
    return out, starts


def _restarting_count(starts: np.ndarray, total: int, first: str) -> np.ndarray:
    """Per position, a count that restarts at each sentence start (int32, cumsum-built):
    ``first="size"`` counts down from the sentence size, ``first="zero"`` up from 0."""
    sizes = np.diff(np.append(starts, total))
    keep = sizes > 0
    starts, sizes = starts[keep], sizes[keep].astype(np.int32)
    if first == "size":
        steps = np.full(total, -1, dtype=np.int32)
        steps[starts[1:]] = sizes[1:] - 1
        head = sizes[:1]
    else:
        steps = np.ones(total, dtype=np.int32)
        steps[starts[1:]] = 1 - sizes[:-1]
        head = 0
    if total:
        steps[0] = head[0] if first == "size" else head
    return np.cumsum(steps, out=steps)


def tokens_to_end(starts: np.ndarray, total: int) -> np.ndarray:
    """For each position, how many tokens remain in its sentence (itself included)."""
    return _restarting_count(starts, total, "size")


def positions_from_start(starts: np.ndarray, total: int) -> np.ndarray:
    """For each position, how many tokens of its sentence precede it."""
    return _restarting_count(starts, total, "zero")


def check_key_range(n_rows: int, vocab_size: int, order: int) -> None:
    if n_rows > 0 and n_rows > _KEY_LIMIT // max(vocab_size, 1):
        raise UserError(
            f"{order}-gram keys would overflow int64 ({n_rows} contexts x {vocab_size} words)",
            "lower the order or raise min_count to shrink the vocabulary",
        )


def sort_with_positions(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(perm, keys[perm])`` with ``perm`` a stable argsort of non-negative int64 keys.

    ``np.argsort`` on int64 is several times slower than ``np.sort`` (which has SIMD
    kernels on common CPUs), so each key is packed with its position into one int64
    and sorted by value: ``key << p | position``. Keys too wide for that are first split
    into at most 256 buckets by their high bits (a stable radix argsort on uint8), and
    each bucket is packed and sorted on its own; wider still falls back to argsort.
    """
    n = keys.size
    pos_bits = max(1, (n - 1).bit_length())
    key_bits = int(keys.max(initial=0)).bit_length()
    spare = 63 - pos_bits
    if key_bits - spare > 8 or spare < 1:
        perm = np.argsort(keys, kind="stable")
        return perm, keys[perm]
    pos_mask = (1 << pos_bits) - 1
    if key_bits <= spare:
        packed = keys << pos_bits
        packed |= np.arange(n, dtype=np.int64)
        packed.sort()
        perm = packed & pos_mask
        packed >>= pos_bits
        return perm, packed
    bucket = (keys >> spare).astype(np.uint8)
    by_bucket = np.argsort(bucket, kind="stable")
    sizes = np.bincount(bucket, minlength=256)
    del bucket
    perm = np.empty(n, dtype=np.int64)
    sorted_keys = np.empty(n, dtype=np.int64)
    low_mask = (1 << spare) - 1
    lo = 0
    for b, size in enumerate(sizes.tolist()):
        if size == 0:
            continue
        idx = by_bucket[lo : lo + size]
        packed = keys[idx] & low_mask
        packed <<= pos_bits
        packed |= np.arange(size, dtype=np.int64)
        packed.sort()
        perm[lo : lo + size] = idx[packed & pos_mask]
        packed >>= pos_bits
        packed |= b << spare
        sorted_keys[lo : lo + size] = packed
        lo += size
    return perm, sorted_keys


def count_ngrams(padded: np.ndarray, remaining: np.ndarray, vocab_size: int, order: int) -> list[OrderCounts]:
    """Count all n-grams of orders ``1..order`` lying inside one sentence.

    ``padded``: flat ids with boundary symbols; ``remaining[i]``: tokens left in the
    sentence of position ``i`` (itself included), so the window ``[i, i+m)`` is inside
    its sentence iff ``remaining[i] >= m``.
    """
    V = vocab_size
    small = padded.size < 2**31 - 1  # positions, ranks and counts fit in int32
    idx_dtype = np.int32 if small else np.int64
    arange_v = np.arange(V, dtype=np.int64)
    tables = [
        OrderCounts(
            keys=arange_v,
            counts=np.bincount(padded, minlength=V).astype(idx_dtype),
            prefix=np.empty(0, idx_dtype),
            suffix=np.empty(0, idx_dtype),
            first=arange_v.astype(idx_dtype),
        )
    ]
    rank_prev = padded  # row of the (m-1)-gram starting at each position
    for m in range(2, order + 1):
        check_key_range(len(tables[-1].keys), V, m)
        pos = np.flatnonzero(remaining >= m).astype(idx_dtype)
        if pos.size == 0:
            empty = np.empty(0, idx_dtype)
            tables.append(OrderCounts(np.empty(0, np.int64), empty, empty, empty, empty))
            rank_prev = np.full(padded.size, -1, dtype=idx_dtype)
            continue
        keys = rank_prev[pos].astype(np.int64)
        keys *= V
        keys += padded[pos + (m - 1)]
        perm, sorted_keys = sort_with_positions(keys)
        del keys
        is_new = np.empty(sorted_keys.size, dtype=bool)
        is_new[0] = True
        np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=is_new[1:])
        group_starts = np.flatnonzero(is_new)
        uniq = sorted_keys[group_starts]
        del sorted_keys
        counts = np.diff(np.append(group_starts, perm.size)).astype(idx_dtype)
        group = np.cumsum(is_new, dtype=idx_dtype)
        group -= 1
        del is_new
        # suffix of the m-gram at p is the (m-1)-gram at p+1; take it at the first occurrence
        first_pos = pos[perm[group_starts]]
        del group_starts
        suffix = rank_prev[first_pos + 1].astype(idx_dtype)
        del first_pos
        rank = np.full(padded.size, -1, dtype=idx_dtype)
        rank[pos[perm]] = group
        del perm, group, pos
        prefix = (uniq // V).astype(idx_dtype)
        tables.append(
            OrderCounts(
                keys=uniq,
                counts=counts,
                prefix=prefix,
                suffix=suffix,
                first=tables[-1].first[prefix],
            )
        )
        rank_prev = rank
    return tables


def continuation_counts(tables: list[OrderCounts]) -> list[np.ndarray]:
    """``N1+(. g)`` for every n-gram ``g`` below the top order: distinct left extensions."""
    out = []
    for m in range(len(tables) - 1):
        out.append(np.bincount(tables[m + 1].suffix, minlength=len(tables[m].keys)).astype(np.int64))
    return out


def ngram_words(keys_per_order: list[np.ndarray], vocab_size: int) -> list[np.ndarray]:
    """Rebuild the ``(rows, m)`` word-id matrix of each order from the chained keys."""
    out = [keys_per_order[0].reshape(-1, 1)]
    for keys in keys_per_order[1:]:
        prefix = keys // vocab_size
        out.append(np.concatenate([out[-1][prefix], (keys % vocab_size).reshape(-1, 1)], axis=1))
    return out


def lookup_rows(keys_per_order: list[np.ndarray], words: np.ndarray, vocab_size: int) -> np.ndarray:
    """Rows of the n-grams in ``words`` (shape ``(N, m)``) in the order-``m`` table; -1 if absent.

    Follows the prefix chain: an n-gram whose prefix is absent is absent too.
    """
    rows = words[:, 0].astype(np.int64)
    found = (rows >= 0) & (rows < len(keys_per_order[0]))
    for j in range(1, words.shape[1]):
        keys_j = keys_per_order[j]
        key = np.where(found, rows, 0) * vocab_size + words[:, j]
        idx = np.searchsorted(keys_j, key)
        idx_c = np.minimum(idx, max(len(keys_j) - 1, 0))
        found &= (idx < len(keys_j)) & (keys_j[idx_c] == key if len(keys_j) else False)
        rows = np.where(found, idx, -1)
    return np.where(found, rows, -1)
