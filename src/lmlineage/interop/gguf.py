"""GGUF files (llama.cpp's single-file format) as lmlineage models: ``from_gguf(path)``.

A GGUF file holds key/value metadata (the config, the tokenizer's vocabulary and merges, the chat
template) and tensors, most of them block-quantized: Q8_0 stores 32 int8 weights with one fp16
scale, Q4_1 32 four-bit weights with an fp16 scale and minimum. ``read`` parses the file per the
GGUF specification; the ``gguf`` package (ggml's own Python code) names the tensor types and
dequantizes them. Everything else is declared by the family, per architecture, in a ``GGUFSpec`` on its
``ReferenceSpec``:

* ``config``: which GGUF key gives which key of the reference ``config.json``;
* ``tensors``: which GGUF tensor is which reference tensor, so the family's own ``ReferenceSpec``
  (config fields and weight rules) then loads the model exactly as from a reference directory.

llama.cpp's converter stores the query and key projections with each head's rows reordered for
interleaved rotary pairs (2i, 2i+1); the rule ``RopePermute`` puts them back in the halves layout
(i, i+d/2) the reference, and our LLaMA, use.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.errors import UserError
from .rules import expand

REQUIRED = object()
MAGIC = b"GGUF"


@dataclass(frozen=True)
class Meta:
    """A reference config key (dotted: nested) read from a GGUF metadata key ("{arch}." prefixed)."""

    theirs: str
    key: str
    default: object = REQUIRED


@dataclass(frozen=True)
class GGUFSpec:
    """How llama.cpp's files of one ``general.architecture`` read as a family's reference checkpoint:
    the family declares it on that ``ReferenceSpec`` (``gguf=``)."""

    architecture: str  # GGUF's general.architecture, e.g. "llama"
    config: tuple[Meta, ...]
    tensors: tuple
    fixed: dict
    refuse: tuple[tuple[str, object, str], ...] = ()  # (key, allowed value(s), why), for what the family lacks


@dataclass(frozen=True)
class Tensor:
    name: str
    type: object  # gguf.GGMLQuantizationType
    shape: tuple[int, ...]  # PyTorch's order (rows first)
    data: np.ndarray  # the raw bytes, (rows, bytes per row), memory-mapped


# Scalar value types by their GGUF code (ggml's docs/gguf.md): numpy dtype, little-endian.
_SCALARS = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8", 11: "<i8",
            12: "<f8"}
_STRING, _ARRAY = 8, 9


class _Cursor:
    """Reads GGUF's little-endian header fields from a byte buffer."""

    def __init__(self, buffer):
        self.buffer, self.at = buffer, 0

    def take(self, dtype: str, count: int = 1) -> np.ndarray:
        dtype = np.dtype(dtype)
        end = self.at + dtype.itemsize * count
        if end > len(self.buffer):
            raise ValueError("the header runs past the end of the file")
        values = np.frombuffer(self.buffer, dtype, count, self.at)
        self.at = end
        return values

    def int(self, dtype="<u8") -> int:
        return int(self.take(dtype)[0])

    def string(self) -> str:
        return self.strings(1)[0]

    def strings(self, count: int) -> list[str]:
        out, at, buffer = [], self.at, self.buffer
        for _ in range(count):
            (n,) = struct.unpack_from("<Q", buffer, at)
            if at + 8 + n > len(buffer):
                raise ValueError("the header runs past the end of the file")
            out.append(buffer[at + 8: at + 8 + n].decode("utf-8"))
            at += 8 + n
        self.at = at
        return out

    def value(self, kind: int):
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item, count = self.int("<u4"), self.int()
            if item in _SCALARS:
                return self.take(_SCALARS[item], count).tolist()
            if item == _STRING:  # vocabularies: tens of thousands, read in one tight loop
                return self.strings(count)
            return [self.value(item) for _ in range(count)]
        if kind not in _SCALARS:
            raise ValueError(f"unknown metadata value type {kind}")
        return self.take(_SCALARS[kind]).item()


def read(path) -> tuple[dict, list[Tensor]]:
    """The file's metadata (key -> Python value) and its tensors (raw, memory-mapped), read per the
    GGUF specification (versions 2 and 3; ggml's docs/gguf.md). The ``gguf`` package's own reader
    gives the same answer (tests/parity/test_gguf.py) but parses a 49k-token vocabulary an order of
    magnitude slower, one numpy view per string."""
    import gguf

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist" if not path.exists() else f"{path} is not a file",
                        "give the path of a .gguf file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != MAGIC:
        raise UserError(f"{path} is not a GGUF file (it starts with {magic!r}, not {MAGIC!r})",
                        "give a .gguf file written by llama.cpp or the gguf package")
    try:
        with open(path, "rb") as f:  # the map outlives the file handle; numpy views keep it alive
            buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        cursor = _Cursor(buffer)
        cursor.take("u1", 4)
        version = cursor.int("<u4")
        if version not in (2, 3):
            raise UserError(f"{path}: GGUF version {version} is not supported" + (
                " (a big-endian file?)" if version & 0xFFFF == 0 else ""), "use a little-endian GGUF v2 or v3 file")
        n_tensors, n_values = cursor.int(), cursor.int()
        metadata = {}
        for _ in range(n_values):
            key = cursor.string()
            metadata[key] = cursor.value(cursor.int("<u4"))
        infos = []
        for _ in range(n_tensors):
            name = cursor.string()
            dims = cursor.take("<u8", cursor.int("<u4")).tolist()
            infos.append((name, gguf.GGMLQuantizationType(cursor.int("<u4")), dims, cursor.int()))
        alignment = metadata.get("general.alignment", gguf.GGUF_DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or alignment < 1 or alignment & (alignment - 1):
            raise ValueError(f"general.alignment={alignment!r} is not a power of two")
        start = -(-cursor.at // alignment) * alignment  # tensor data begins at the next aligned offset
        tensors = []
        for name, kind, dims, offset in infos:
            block, size = gguf.GGML_QUANT_SIZES[kind]
            if dims[0] % block:
                raise ValueError(f"tensor {name}: row length {dims[0]} is not a multiple of {kind.name}'s {block}")
            rows, row_bytes = int(np.prod(dims[1:], dtype=np.int64)), dims[0] // block * size
            begin = start + offset
            if begin + rows * row_bytes > len(buffer):
                raise ValueError(f"tensor {name} runs past the end of the file")
            data = np.frombuffer(buffer, np.uint8, rows * row_bytes, begin).reshape(rows, row_bytes)
            tensors.append(Tensor(name, kind, tuple(int(d) for d in reversed(dims)), data))
    except (ValueError, KeyError, UnicodeDecodeError, OSError, struct.error) as e:  # bad enum values: ValueError
        raise UserError(f"{path} is not a readable GGUF file ({e})", "the file may be truncated; download it again") \
            from None
    return metadata, tensors


def dequantize(tensor: Tensor, where: str) -> torch.Tensor:
    """One GGUF tensor as float32, in PyTorch's (rows, columns) order."""
    import gguf

    try:
        values = gguf.quants.dequantize(tensor.data, tensor.type)
    except NotImplementedError:
        raise UserError(f"{where}: tensor {tensor.name} is stored as {tensor.type.name}, which the gguf "
                        "package cannot dequantize", "convert the file to Q8_0, Q4_1, F16 or F32") from None
    return torch.from_numpy(np.array(values, dtype=np.float32).reshape(tensor.shape))  # a copy: F32 views the map


def reference_config(reference, metadata: dict, tensor_names: set, where: str) -> dict:
    """The ``config.json`` a checkpoint of ``reference`` (a ``ReferenceSpec``) holding this model would carry."""
    spec, arch = reference.gguf, metadata["general.architecture"]
    for key, allowed, why in spec.refuse:
        value = metadata.get(key.format(arch=arch))
        if value not in (allowed if isinstance(allowed, tuple) else (allowed,)):
            raise UserError(f"{where}: {key.format(arch=arch)}={value!r}: {why}")
    config = {"model_type": reference.model_type, "architectures": [reference.architecture], **spec.fixed,
              "tie_word_embeddings": "output.weight" not in tensor_names}
    for meta in spec.config:
        key = meta.key.format(arch=arch)
        value = metadata.get(key, meta.default)
        if value is REQUIRED:
            raise UserError(f"{where} has no {key} in its metadata", "the file is incomplete or not a model")
        if value is not None:
            *parents, leaf = meta.theirs.split(".")
            node = config
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
    heads, width = config["num_attention_heads"], config["hidden_size"]
    if not (isinstance(heads, int) and isinstance(width, int) and heads > 0):  # per-layer lists (OpenELM)
        raise UserError(f"{where}: {arch}.attention.head_count={heads!r} is not one positive count for every layer")
    head_dim = config.get("head_dim") or width // heads
    rotary = metadata.get(f"{arch}.rope.dimension_count", head_dim)
    if rotary != head_dim:  # llama rotates every channel of a head; partial rotary is another family
        raise UserError(f"{where}: rotary dimension {rotary} differs from the head size {head_dim}",
                        "only full-head rotary LLaMA files are supported")
    return config


def from_gguf(path, family: str | None = None):
    """Load a LLaMA-architecture GGUF file: weights (dequantized to float32), config, tokenizer and
    chat template (``model.tokenizer.chat_template``)."""
    from ..core.registry import families
    from ..models import build_model
    from ..train.progress import progress
    from .rules import load_state

    where = str(path)
    metadata, records = read(path)
    arch = metadata.get("general.architecture")
    declared = [(f, ref) for f in families() for ref in f.references if ref.gguf is not None]
    matches = [(f, ref) for f, ref in declared if ref.gguf.architecture == arch]
    if not matches:
        raise UserError(f"{where}: GGUF architecture {arch!r} is not supported",
                        f"supported: {', '.join(sorted({ref.gguf.architecture for _, ref in declared}))}")
    if family is not None:
        matches = [m for m in matches if m[0].name == family] or matches
    fam, ref = matches[0]
    spec = ref.gguf
    names = {t.name for t in records}
    config = reference_config(ref, metadata, names, where)
    embed = next((t for t in records if t.name == "token_embd.weight"), None)
    if "vocab_size" not in config and embed is not None:
        config["vocab_size"] = embed.shape[0]
    cfg = fam.config(None, **ref.config_from_hf(config))
    tokenizer = gguf_tokenizer(metadata, where)  # before the slow part: a bad vocabulary is refused at once

    tensors = {t.name: dequantize(t, where)
               for t in progress(len(records), desc="dequantizing", unit="tensor", iterable=records, delay=2)}
    state, used = {}, set()
    for rule in expand(spec.tensors, cfg.n_layer):
        if all(k in tensors for k in rule.their_keys()):
            rule.load(tensors, state, used, cfg)
    if set(tensors) - used:
        extra = sorted(set(tensors) - used)
        raise UserError(f"{where}: GGUF tensors with no place in a {arch} model: {', '.join(extra[:8])}"
                        + (f" and {len(extra) - 8} more" if len(extra) > 8 else ""))
    model = build_model(cfg)
    model.load_state_dict(load_state(ref.rules, state, model.state_dict(), cfg, where), strict=False)
    model.tokenizer = tokenizer
    return model


# ---- the tokenizer -------------------------------------------------------------------------------

# GPT-2's split (Radford et al. 2019), which ``pre_tokenizers.ByteLevel(use_regex=True)`` applies.
# LLaMA 3's: letters with one leading non-letter, numbers in runs of at most three digits.
_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def _pre_tokenizer(name: str | None, where: str):
    """The text split a byte-level vocabulary was trained with, by llama.cpp's ``tokenizer.ggml.pre``
    name (llama-vocab.cpp's table): GPT-2's; GPT-2's after every digit is cut off on its own
    (StarCoder, SmolLM); or LLaMA 3's."""
    from tokenizers import Regex, pre_tokenizers

    gpt2 = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if name in (None, "gpt-2", "gpt2", "default"):  # no name: the converter's GPT-2 default
        return gpt2
    if name in ("smollm", "starcoder", "refact", "codeshell"):
        return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), gpt2])
    if name in ("llama-bpe", "llama3", "llama-v3"):
        return pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(_LLAMA3_SPLIT), behavior="isolated"),
                                        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    raise UserError(f"{where}: byte-level pre-tokenizer {name!r} is not supported",
                    "supported: gpt-2, smollm, starcoder, refact, codeshell, llama-bpe")


UNKNOWN, CONTROL, USER_DEFINED = 2, 3, 4  # llama.cpp's token types


def gguf_tokenizer(metadata: dict, where: str):
    """The tokenizer the metadata describes (``tokenizer.ggml.model``: "gpt2", byte-level BPE, or
    "llama", SentencePiece BPE), with the file's special-token roles and chat template; None when
    the file carries no tokenizer."""
    from tokenizers import AddedToken

    from ..tokenizers.hf import HFTokenizer

    kind = metadata.get("tokenizer.ggml.model")
    if kind is None:
        return None
    if kind not in TOKENIZERS:
        raise UserError(f"{where}: tokenizer model {kind!r} is not supported (supported: {', '.join(TOKENIZERS)})",
                        "pass token ids to the Python API, or give a tokenizer.json with --tokenizer")
    tokens = metadata.get("tokenizer.ggml.tokens")
    if not tokens:
        raise UserError(f"{where}: the tokenizer has no tokens", "the file is incomplete")
    types = metadata.get("tokenizer.ggml.token_type") or [1] * len(tokens)
    hf, spelled = TOKENIZERS[kind](metadata, tokens, where)
    # Control tokens (<|im_start|>, <s>) match whole wherever the text holds them, as in llama.cpp.
    hf.add_special_tokens([AddedToken(t, normalized=False, special=True)
                           for t, k in zip(tokens, types) if k in (UNKNOWN, CONTROL) and spelled(t)])
    hf.add_tokens([AddedToken(t, normalized=False, special=False)
                   for t, k in zip(tokens, types) if k == USER_DEFINED and spelled(t)])
    tok = HFTokenizer(hf, "bpe")
    for role, key in (("bos_id", "bos_token_id"), ("eos_id", "eos_token_id"), ("pad_id", "padding_token_id")):
        value = metadata.get(f"tokenizer.ggml.{key}")
        if value is not None and 0 <= value < len(tokens):
            setattr(tok, role, int(value))
    tok.chat_template = metadata.get("tokenizer.chat_template")
    return tok


def _byte_level(metadata: dict, tokens: list[str], where: str):
    """GPT-2-style byte-level BPE from the file's tokens and merges."""
    import tokenizers
    from tokenizers import decoders, models

    from ..tokenizers.gpt2 import byte_to_unicode

    merges = metadata.get("tokenizer.ggml.merges")
    if merges is None:
        raise UserError(f"{where}: the byte-level tokenizer has no merges", "the file is incomplete")
    # Vocabulary entries are spelled in GPT-2's byte alphabet; one that is not (an added token holding
    # a space) is respelled byte by byte, as its bytes are what the text holds.
    spelling = byte_to_unicode()
    alphabet = set(spelling.values())
    vocab = {}
    for i, token in enumerate(tokens):
        spelled = token if set(token) <= alphabet else "".join(spelling[b] for b in token.encode("utf-8"))
        vocab.setdefault(spelled, i)
    pairs = [tuple(m.split(" ")) for m in merges]
    if any(len(p) != 2 for p in pairs):
        raise UserError(f"{where}: a tokenizer merge is not two tokens separated by one space")
    hf = tokenizers.Tokenizer(models.BPE(vocab, pairs, fuse_unk=False, byte_fallback=False))
    hf.pre_tokenizer = _pre_tokenizer(metadata.get("tokenizer.ggml.pre"), where)
    hf.decoder = decoders.ByteLevel()
    return hf, lambda t: set(t) <= alphabet  # a control token outside the alphabet is a mislabel: skipped


def _sentencepiece(metadata: dict, tokens: list[str], where: str):
    """SentencePiece BPE (LLaMA 1 and 2, Mistral): words carry a "▁" for the space before them,
    characters outside the vocabulary fall back to byte tokens <0x00>..<0xFF>, and a pair merges
    before another when the piece it makes scores higher (Kudo & Richardson 2018). Files without
    merges give them through the scores."""
    import tokenizers
    from tokenizers import decoders, models, pre_tokenizers

    vocab = {}
    for i, token in enumerate(tokens):
        vocab.setdefault(token, i)
    merges = metadata.get("tokenizer.ggml.merges")
    if merges is not None:
        pairs = [tuple(m.split(" ")) for m in merges]
    else:
        scores = metadata.get("tokenizer.ggml.scores")
        if scores is None or len(scores) != len(tokens):
            raise UserError(f"{where}: the SentencePiece tokenizer has neither merges nor a score per token",
                            "the file is incomplete")
        pairs = _merges_from_scores(vocab, dict(zip(tokens, scores)))
    hf = tokenizers.Tokenizer(models.BPE(vocab, pairs, fuse_unk=True, byte_fallback=True))
    # A "▁" before the first word, as SentencePiece's add_dummy_prefix; llama.cpp's add_space_prefix.
    prefix = metadata.get("tokenizer.ggml.add_space_prefix", True)
    hf.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first" if prefix else "never",
                                                split=False)
    steps = [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    hf.decoder = decoders.Sequence(steps + ([decoders.Strip(content=" ", left=1)] if prefix else []))
    return hf, lambda t: True


def _merges_from_scores(vocab: dict[str, int], scores: dict[str, float]) -> list[tuple[str, str]]:
    """BPE merges implied by SentencePiece scores: every way to cut a piece into two pieces of the
    vocabulary is a merge, ranked by the piece's score (ties: longer left part first, then the
    parts' ids), the ranking transformers derives for the same files."""
    ranked = []
    for piece, score in scores.items():
        cuts = [(piece[:k], piece[k:]) for k in range(1, len(piece)) if piece[:k] in vocab and piece[k:] in vocab]
        cuts.sort(key=lambda cut: (vocab[cut[0]], vocab[cut[1]]))
        ranked += [(score, len(left), len(right), left, right) for left, right in cuts]
    ranked.sort(key=lambda m: m[:3], reverse=True)  # stable: equal keys keep the order above
    return [(left, right) for *_, left, right in ranked]


TOKENIZERS = {"gpt2": _byte_level, "llama": _sentencepiece}
