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
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import tokenizers
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers

from lmlineage.core.errors import UserError
from lmlineage.tokenizers.base import Tokenizer, as_id_list, check_text, chunk_end

PIECE_CHARS = 1 << 16  # what a trainer reads at a time (it holds up to 256 of them in flight)
PLAIN_EVERY_S = 30.0  # off a terminal, a progress line at most this often (as a run's)
LONG_CHARS = 10 << 20  # from about here learning a vocabulary takes tens of seconds on a CPU

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


def with_specials(tok, names: Sequence[str]):
    """``tok`` with the special tokens ``names`` it lacks appended after its vocabulary (BLIP's
    [DEC] and [ENC] beside a trained WordPiece's own); ``tok`` itself where it has them all."""
    missing = [name for name in names if name not in tok.special_ids]
    if not missing:
        return tok
    tok.hf.add_special_tokens(missing)
    return HFTokenizer(tok.hf, tok.kind)


def _first(special_ids: dict[str, int], names: Sequence[str]) -> int | None:
    return next((special_ids[n] for n in names if n in special_ids), None)


def kind_of(spec: dict) -> str:
    """Our name for a loaded tokenizer.json's model type ("file" for the ones we do not train)."""
    return _MODEL_KINDS.get(spec["model"].get("type"), "file")


def train(kind: str, texts: Iterable[str], vocab_size: int | None = None,
          bpe_specials: Sequence[str] = ()) -> HFTokenizer:
    """Train a ``bpe``, ``wordpiece`` or ``unigram`` tokenizer on ``texts``. ``bpe_specials``: special
    tokens a BPE gets before its <|endoftext|> (ids 0, 1, ...: what a masked LM reads, which a GPT-2
    style BPE lacks); wordpiece and unigram have their own."""
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
            special_tokens=[*bpe_specials, ENDOFTEXT],
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
    hf.train_from_iterator(_pieces(texts, cut=kind != "unigram", show=not show), trainer=trainer)
    if kind == "wordpiece":  # BERT's sentence template, for transformers users; our encode skips it
        cls_id, sep_id = hf.token_to_id("[CLS]"), hf.token_to_id("[SEP]")
        hf.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
        )
    return HFTokenizer(hf, kind)


def _pieces(texts: Iterable[str], cut: bool, show: bool) -> Iterator[str]:
    """What a trainer reads: with ``cut``, each text in pieces of about ``PIECE_CHARS`` characters ended at
    line breaks its pre-tokenizer splits at anyway, so it counts the same words and learns the same
    vocabulary. Handed a 52 MB text whole, the BPE trainer peaked at 5.4 GB and its progress bar
    stood at 0/1 until it was done (336 MB and a moving bar in pieces). (Unigram's Metaspace marks the start of every piece as a word
    start, so its texts stay whole.) With ``show`` (off a terminal, where the trainer's own bar is
    not drawn), a line on stderr every ``PLAIN_EVERY_S`` seconds while reading and one when done
    if it took that long or learning will (``LONG_CHARS``)."""
    read, last, reported, size = 0, time.monotonic(), False, PIECE_CHARS
    for text in texts:
        text = check_text(text)
        start = 0
        while cut and len(text) - start > size:
            width = size
            while not (end := chunk_end(text[start : start + width], width, exact=True)) and start + width < len(text):
                width *= 2  # no clean line break yet: a longer piece
            end = end or len(text) - start
            yield text[start : start + end]
            start += end
            read += end
            if show and time.monotonic() - last >= PLAIN_EVERY_S:
                last, reported = time.monotonic(), True
                print(f"tokenizer: read {read:,} characters", file=sys.stderr, flush=True)
        yield text[start:] if start else text
        read += len(text) - start
    if show and (reported or read >= LONG_CHARS):
        print(f"tokenizer: read {read:,} characters; learning the vocabulary", file=sys.stderr, flush=True)


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
