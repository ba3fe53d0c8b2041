"""GPT-2's own byte-level BPE (Radford et al., 2019), rebuilt offline.

The ``openai-whisper`` package ships GPT-2's vocabulary as tiktoken ranks
(``whisper/assets/gpt2.tiktoken``: ``base64(token bytes) rank`` per line; rank = token id).
A ranks file has no merge list, but it implies one: BPE builds each multi-byte token from two
earlier tokens, and which two is found by running BPE on the token's own bytes with only the
lower ranks allowed -- it stops at exactly the pair that was merged. Merge priority is the rank of
the result. With GPT-2's byte-to-unicode alphabet, its pre-tokenizer regex (ByteLevel with
``use_regex=True``) and ``<|endoftext|>`` = 50256 this is the tokenizer.json transformers uses.

Building takes a second or two, so the result is cached under ``~/.cache/lmlineage``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
from pathlib import Path

import tokenizers
from tokenizers import decoders, models, pre_tokenizers, processors

from lmlineage.core.errors import UserError
from lmlineage.tokenizers.base import atomic_write_text
from lmlineage.tokenizers.hf import ENDOFTEXT, HFTokenizer

GPT2_VOCAB_SIZE = 50257


def load_gpt2() -> HFTokenizer:
    """GPT-2's tokenizer, from the cache or built from whisper's ranks file."""
    ranks_file = gpt2_ranks_file()
    digest = hashlib.sha256(ranks_file.read_bytes()).hexdigest()[:16]
    cached = cache_dir() / f"gpt2-{digest}.tokenizer.json"
    if cached.is_file():
        try:
            return HFTokenizer(tokenizers.Tokenizer.from_file(str(cached)), "gpt2")
        except Exception:  # a damaged cache entry is rebuilt below
            pass
    hf = build_gpt2(read_ranks(ranks_file))
    try:
        atomic_write_text(cached, hf.to_str())
    except OSError:  # a read-only home only costs the rebuild next time
        pass
    return HFTokenizer(hf, "gpt2")


def gpt2_ranks_file() -> Path:
    """whisper/assets/gpt2.tiktoken, located without importing whisper (which needs torch+tiktoken)."""
    spec = importlib.util.find_spec("whisper")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the gpt2 tokenizer is built from openai-whisper's copy of GPT-2's BPE ranks, which is not installed",
            "pip install --no-deps openai-whisper",
        )
    file = Path(next(iter(spec.submodule_search_locations))) / "assets" / "gpt2.tiktoken"
    if not file.is_file():
        raise UserError(f"{file} is missing", "pip install --force-reinstall --no-deps openai-whisper")
    return file


def cache_dir() -> Path:
    """``$LMLINEAGE_CACHE``, else ``$XDG_CACHE_HOME/lmlineage``, else ``~/.cache/lmlineage``."""
    if os.environ.get("LMLINEAGE_CACHE"):
        return Path(os.environ["LMLINEAGE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lmlineage"


def read_ranks(file: Path) -> dict[bytes, int]:
    ranks = {}
    for number, line in enumerate(file.read_text(encoding="ascii").splitlines(), start=1):
        if line:
            try:
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
            except ValueError:
                raise UserError(f"{file} line {number} is not 'base64 rank'", "reinstall openai-whisper") from None
    return ranks


def byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map: the 188 printable Latin-1 bytes stand
    for themselves, the other 68 are shifted to U+0100 onwards, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {b: chr(b) for b in printable}
    shifted = (b for b in range(256) if b not in mapping)
    mapping.update({b: chr(256 + n) for n, b in enumerate(shifted)})
    return dict(sorted(mapping.items()))


def recover_merges(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """The merge list implied by tiktoken ranks, in priority order."""
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) < 2:
            continue
        parts = [token[i : i + 1] for i in range(len(token))]
        while len(parts) > 2:  # BPE on the token's bytes, lower ranks only
            best, at = rank, -1
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < best:
                    best, at = r, i
            if at < 0:
                break
            parts[at : at + 2] = [parts[at] + parts[at + 1]]
        if len(parts) != 2:
            raise ValueError(f"rank {rank} ({token!r}) is not a merge of two lower-ranked tokens")
        merges.append((parts[0], parts[1]))
    return merges


def build_gpt2(ranks: dict[bytes, int]) -> tokenizers.Tokenizer:
    """The tokenizers.Tokenizer equivalent of GPT-2's vocab.json + merges.txt."""
    alphabet = byte_to_unicode()

    def unicode(token: bytes) -> str:
        return "".join(alphabet[b] for b in token)

    vocab = {unicode(token): rank for token, rank in ranks.items()}
    merges = [(unicode(a), unicode(b)) for a, b in recover_merges(ranks)]
    hf = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=merges))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    hf.post_processor = processors.ByteLevel(trim_offsets=False)
    hf.add_special_tokens([tokenizers.AddedToken(ENDOFTEXT, special=True, normalized=False)])
    if hf.get_vocab_size() != GPT2_VOCAB_SIZE or hf.token_to_id(ENDOFTEXT) != GPT2_VOCAB_SIZE - 1:
        raise UserError("whisper's gpt2.tiktoken does not hold GPT-2's 50256 ranks", "reinstall openai-whisper")
    return hf
