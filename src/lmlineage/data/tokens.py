"""Token files: a corpus tokenized once into a flat binary file, read back by memory mapping.

As in nanoGPT's ``prepare.py``: a raw array of uint16 ids (uint32 when the vocabulary has more
than 65536 entries), so training samples windows from disk without loading the corpus into RAM.
A JSON sidecar ``<file>.json`` records dtype, count, vocabulary size and tokenizer kind, and is
checked on opening. Files are written under a temporary name and renamed, so a crash never
leaves a file that looks complete.

``prepare_tokens`` is the one call a trainer needs: corpus -> ``train.bin`` + ``val.bin``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from lmlineage.core.errors import UserError
from lmlineage.data.corpora import DEFAULT_CHUNK_CHARS, corpus_fingerprint, corpus_size, iter_corpus_chunks
from lmlineage.tokenizers.base import Tokenizer

__all__ = [
    "open_token_file",
    "prepare_tokens",
    "read_token_sidecar",
    "split_index",
    "split_train_val",
    "token_dtype",
    "write_token_file",
]

FORMAT = "lmlineage-tokens/1"
# Chunks encoded per call: enough for `tokenizers` to use every core, few enough to keep RSS low.
BATCH_CHUNKS = max(2, os.cpu_count() or 1)
# Below this many bytes of text a progress bar is noise.
PROGRESS_MIN_BYTES = 16 << 20


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 holds ids 0..65535, so vocabularies up to 65536; larger ones need uint32."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


def write_token_file(
    chunks: Iterable[str],
    tokenizer: Tokenizer,
    path: str | os.PathLike,
    total_bytes: int | None = None,
    extra: dict | None = None,
) -> int:
    """Tokenize text chunks into ``path`` (+ ``path.json``); return the number of tokens.

    Chunks are encoded a batch at a time with ``tokenizer.encode_batch_arrays`` and appended, so
    memory holds one batch whatever the corpus size. Each chunk is encoded on its own: give chunk
    boundaries where the tokenizer splits anyway (``iter_corpus_chunks`` does). ``total_bytes``
    (of text) sizes the progress bar; ``extra`` is stored in the sidecar.
    """
    from ..train.progress import progress

    path = Path(path)
    dtype = token_dtype(tokenizer.vocab_size)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    show = total_bytes is None or total_bytes >= PROGRESS_MIN_BYTES
    try:
        with open(tmp, "wb") as out, progress(
            total_bytes, enabled=show, unit="B", unit_scale=True, desc=f"tokenizing {path.name}"
        ) as bar:
            for batch in _batches(chunks, BATCH_CHUNKS):
                for ids in tokenizer.encode_batch_arrays(batch):
                    out.write(ids.astype(dtype, copy=False).data)
                    count += len(ids)
                if show:
                    bar.update(sum(len(c.encode("utf-8")) for c in batch))
        meta = {"format": FORMAT, "dtype": dtype.name, "count": count}
        _install(tmp, path, {**meta, "vocab_size": tokenizer.vocab_size, "tokenizer": tokenizer.kind, **(extra or {})})
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _batches(chunks: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for chunk in chunks:
        batch.append(chunk)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _install(tmp: Path, path: Path, meta: dict) -> None:
    """Rename a finished token file into place, then write its sidecar. The old sidecar goes
    first, so a crash in between leaves a file without one, which is never taken as complete."""
    sidecar = _sidecar(path)
    sidecar.unlink(missing_ok=True)
    os.replace(tmp, path)
    tmp_sidecar = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
    tmp_sidecar.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp_sidecar, sidecar)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def read_token_sidecar(path: str | os.PathLike) -> dict:
    """The sidecar of a token file, checked against the file itself."""
    path = Path(path)
    sidecar = _sidecar(path)
    if not path.is_file():
        raise UserError(f"token file {path} does not exist", "prepare the data again")
    if not sidecar.is_file():
        raise UserError(f"token file {path} has no sidecar {sidecar.name}", "prepare the data again")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        dtype = np.dtype(meta["dtype"])
        count = int(meta["count"])
        ok = meta.get("format") == FORMAT and dtype in (np.uint16, np.uint32) and count >= 0
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise UserError(f"token sidecar {sidecar} is damaged or from another program", "prepare the data again")
    expected, actual = count * dtype.itemsize, path.stat().st_size
    if actual != expected:
        state = "truncated" if actual < expected else "longer than its sidecar says"
        raise UserError(
            f"token file {path} is {state} ({actual} bytes, {count} {dtype.name} tokens need {expected})",
            "prepare the data again",
        )
    return meta


def open_token_file(path: str | os.PathLike) -> np.ndarray:
    """The tokens of a token file as a read-only memory map (an empty array if it has none)."""
    meta = read_token_sidecar(path)
    dtype = np.dtype(meta["dtype"])
    if meta["count"] == 0:  # mmap cannot map an empty file
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=(meta["count"],))


def split_index(count: int, val_fraction: float) -> int:
    """Tokens before this index are training data: nanoGPT's ``int(n * 0.9)`` for 0.1."""
    return int(count * (1 - val_fraction))


def split_train_val(
    source: str | os.PathLike, train_path: str | os.PathLike, val_path: str | os.PathLike, val_fraction: float = 0.1
) -> tuple[int, int]:
    """Split a token file: the last ``val_fraction`` of the stream becomes ``val_path``, the rest
    ``train_path``. The source is consumed: its tail is copied out, then it is truncated and
    renamed, so a corpus is never held twice on disk. Returns (train count, val count)."""
    source, train_path, val_path = Path(source), Path(train_path), Path(val_path)
    meta = read_token_sidecar(source)
    dtype, count = np.dtype(meta["dtype"]), meta["count"]
    cut = split_index(count, val_fraction)
    tokens = open_token_file(source)
    tmp_val = val_path.with_name(f".{val_path.name}.{os.getpid()}.tmp")
    with open(tmp_val, "wb") as out:
        step = 1 << 24  # copy 16M tokens at a time
        for start in range(cut, count, step):
            out.write(np.asarray(tokens[start : min(start + step, count)]).tobytes())
    del tokens  # release the map before truncating the file under it
    _install(tmp_val, val_path, {**meta, "count": count - cut})
    _sidecar(source).unlink()
    os.truncate(source, cut * dtype.itemsize)
    _install(source, train_path, {**meta, "count": cut})
    return cut, count - cut


def prepare_tokens(
    data: str | os.PathLike | None,
    tokenizer: Tokenizer,
    directory: str | os.PathLike,
    val_fraction: float = 0.1,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    control_code=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Tokenize a corpus into ``directory/train.bin`` and ``directory/val.bin``; return both maps.

    The corpus is streamed (``iter_corpus_chunks``), documents joined by the tokenizer's
    ``document_separator`` (``<|endoftext|>`` for GPT-2-style BPE, a blank line for char), and the
    token stream split at ``int(n * (1 - val_fraction))``: the last 10% is validation, as nanoGPT
    does. For a char tokenizer that is exactly nanoGPT's split of the text by characters; for
    subword tokenizers splitting the stream rather than the text lets a corpus of any size go
    through one path, and differs only in the one token that straddles the cut.

    ``control_code(source) -> text`` goes before every document (see ``iter_corpus_chunks``).
    Files prepared earlier from the same corpus (path, size, mtime), tokenizer, fraction and
    control codes are reused as they are.
    """
    if not 0 <= val_fraction < 1:
        raise UserError(f"val_fraction must be in [0, 1), got {val_fraction}")
    directory = Path(directory)
    train_path, val_path = directory / "train.bin", directory / "val.bin"
    source = _source_key(data, tokenizer, val_fraction)
    if control_code is not None:  # a code's text, from a name no corpus uses, identifies the scheme
        source["control_code"] = control_code("<source>")
    if _prepared(train_path, source) and _prepared(val_path, source):
        return open_token_file(train_path), open_token_file(val_path)
    chunks = iter_corpus_chunks(data, chunk_chars, separator=tokenizer.document_separator, control_code=control_code)
    all_path = directory / "all.bin"
    count = write_token_file(chunks, tokenizer, all_path, corpus_size(data), extra={"source": source})
    n_train = split_index(count, val_fraction)
    if n_train == 0 or (val_fraction > 0 and n_train == count):
        _sidecar(all_path).unlink()
        all_path.unlink()
        raise UserError(
            f"the corpus has only {count} tokens, too few to split {val_fraction:.0%} off for validation",
            "give a larger corpus or another val_fraction",
        )
    split_train_val(all_path, train_path, val_path, val_fraction)
    return open_token_file(train_path), open_token_file(val_path)


def _source_key(data: str | os.PathLike | None, tokenizer: Tokenizer, val_fraction: float) -> dict:
    """What the prepared files depend on, to tell whether they can be reused."""
    tokenizer_sha = hashlib.sha256(tokenizer.to_json().encode("utf-8")).hexdigest()
    return {**corpus_fingerprint(data), "tokenizer_sha256": tokenizer_sha, "val_fraction": val_fraction}


def _prepared(path: Path, source: dict) -> bool:
    try:
        return read_token_sidecar(path).get("source") == source
    except UserError:
        return False
