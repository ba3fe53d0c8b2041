"""Subword tokenizers over Hugging Face ``tokenizers``: train BPE, WordPiece and Unigram, or load
any tokenizer.json.

* ``bpe`` -- byte-level BPE as in GPT-2 (Radford et al., 2019, sec. 2.2): any byte sequence is
  encodable, no unknown token; ``<|endoftext|>`` ends documents.
* ``wordpiece`` -- as in BERT (Devlin et al., 2019): lowercased, accents stripped, split on
  whitespace and punctuation, ``##`` continuation pieces, [PAD] [UNK] [CLS] [SEP] [MASK].
* ``unigram`` -- the SentencePiece unigram model (Kudo, 2018) with its ``▁`` word-boundary marker
  (Metaspace), line breaks kept as their own pieces, with <unk> <s> </s> <pad> <mask>.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import tokenizers
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers

from lmlineage.core.errors import UserError
from lmlineage.tokenizers.base import Tokenizer, as_id_list, check_text

DEFAULT_VOCAB_SIZES = {"bpe": 4096, "wordpiece": 8192, "unigram": 4096}

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
UNIGRAM_SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<mask>"]  # SentencePiece's order, then pad, mask
ENDOFTEXT = "<|endoftext|>"

# Which special token plays which role, by the names the reference tokenizers use.
_EOS_NAMES = (ENDOFTEXT, "</s>", "<eos>", "<|eot_id|>", "<|end_of_text|>")
_BOS_NAMES = ("<s>", "<bos>", "<|begin_of_text|>", "<|startoftext|>")
_PAD_NAMES = ("[PAD]", "<pad>", "<|pad|>")

_MODEL_KINDS = {"BPE": "bpe", "WordPiece": "wordpiece", "Unigram": "unigram"}


class HFTokenizer(Tokenizer):
    """A ``tokenizers.Tokenizer`` behind the common interface."""

    def __init__(self, hf: tokenizers.Tokenizer, kind: str):
        self.hf = hf
        self.kind = kind
        self.special_ids = {
            added.content: id_ for id_, added in sorted(hf.get_added_tokens_decoder().items()) if added.special
        }
        self.eos_id = _first(self.special_ids, _EOS_NAMES)
        self.bos_id = _first(self.special_ids, _BOS_NAMES)
        if self.bos_id is None and ENDOFTEXT in self.special_ids:
            self.bos_id = self.eos_id  # GPT-2 starts and ends documents with the same token
        self.pad_id = _first(self.special_ids, _PAD_NAMES)

    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        return self.hf.encode(check_text(text), add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        texts = [check_text(t) for t in texts]
        # the fast variant skips offsets, which we never use; it runs in parallel threads
        return [e.ids for e in self.hf.encode_batch_fast(texts, add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        return self.hf.decode(as_id_list(ids), skip_special_tokens=False)

    def token_to_id(self, token: str) -> int | None:
        return self.hf.token_to_id(token)

    def id_to_token(self, id: int) -> str | None:
        return self.hf.id_to_token(id)

    def to_json(self) -> str:
        return self.hf.to_str(pretty=True)


def _first(special_ids: dict[str, int], names: Sequence[str]) -> int | None:
    return next((special_ids[n] for n in names if n in special_ids), None)


def kind_of(spec: dict) -> str:
    """Our name for a loaded tokenizer.json's model type ("file" for the ones we do not train)."""
    return _MODEL_KINDS.get(spec["model"].get("type"), "file")


def train(kind: str, texts: Iterable[str], vocab_size: int | None = None) -> HFTokenizer:
    """Train a ``bpe``, ``wordpiece`` or ``unigram`` tokenizer on ``texts``."""
    vocab_size = DEFAULT_VOCAB_SIZES[kind] if vocab_size is None else vocab_size
    show = sys.stderr.isatty()
    if kind == "bpe":
        if vocab_size < 257:
            raise UserError(
                f"vocab size {vocab_size} is too small for byte-level BPE",
                "use at least 257 (256 bytes + <|endoftext|>)",
            )
        hf = tokenizers.Tokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = decoders.ByteLevel()
        hf.post_processor = processors.ByteLevel(trim_offsets=False)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=[ENDOFTEXT],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=show,
        )
    elif kind == "wordpiece":
        _check_min(vocab_size, len(BERT_SPECIALS) + 1, kind)
        hf = tokenizers.Tokenizer(models.WordPiece(unk_token="[UNK]"))
        hf.normalizer = normalizers.BertNormalizer(lowercase=True)
        hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        hf.decoder = decoders.WordPiece(prefix="##")
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=BERT_SPECIALS, show_progress=show)
    elif kind == "unigram":
        _check_min(vocab_size, len(UNIGRAM_SPECIALS) + 1, kind)
        hf = tokenizers.Tokenizer(models.Unigram())
        # Pieces never span a line break: SentencePiece trains on lines, and training on whole
        # documents is several times slower when they can.
        hf.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"), pre_tokenizers.Split("\n", "isolated")]
        )
        hf.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size, special_tokens=UNIGRAM_SPECIALS, unk_token="<unk>", show_progress=show
        )
    else:
        raise ValueError(f"cannot train {kind!r}")
    hf.train_from_iterator((check_text(t) for t in texts), trainer=trainer)
    if kind == "wordpiece":  # BERT's sentence template, for transformers users; our encode skips it
        cls_id, sep_id = hf.token_to_id("[CLS]"), hf.token_to_id("[SEP]")
        hf.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
        )
    return HFTokenizer(hf, kind)


def _check_min(vocab_size: int, least: int, kind: str) -> None:
    if vocab_size < least:
        raise UserError(f"vocab size {vocab_size} is too small for {kind}", f"use at least {least}")


def from_json(text: str, file: Path, kind: str) -> HFTokenizer:
    """Load a tokenizer.json already read and checked as JSON."""
    try:
        hf = tokenizers.Tokenizer.from_str(text)
    except Exception as err:  # tokenizers raises a bare Exception for a malformed spec
        raise UserError(
            f"tokenizer file {file} cannot be loaded by Hugging Face tokenizers ({err})",
            "give a tokenizer.json written by lmlineage or Hugging Face tokenizers",
        ) from None
    # A reference tokenizer.json may pad and truncate every encoding (all-MiniLM-L6-v2's pads to
    # 128): token streams and callers that pad batches themselves want neither.
    hf.no_padding()
    hf.no_truncation()
    return HFTokenizer(hf, kind)
