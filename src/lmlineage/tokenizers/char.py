"""Character-level tokenizer, as in nanoGPT's shakespeare_char: one id per character.

The vocabulary is the sorted set of characters of the training text (tinyshakespeare: 65).
A character outside it is an error (UserError naming it) rather than an unknown id: a char model
is trained on the very text it encodes, so an unseen character means the wrong text was given.

It saves as a Hugging Face ``tokenizer.json`` (a WordLevel model over single characters, a
pre-tokenizer that splits every character, a Fuse decoder) rather than a file of its own: then
every checkpoint has the one tokenizer file, which ``tokenizers`` and ``transformers`` load and
which gives the same ids. ``load_tokenizer`` recognises that layout and comes back here, where
encoding is a numpy table lookup (1 MB of text: 16 ms, against 4 s through ``tokenizers``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from lmlineage.core.errors import UserError
from lmlineage.tokenizers.base import Tokenizer, as_id_list, check_text

# Every character is its own pre-token; [\s\S] also matches newlines, unlike ".".
CHAR_SPLIT_PATTERN = r"[\s\S]"


class CharTokenizer(Tokenizer):
    kind = "char"

    def __init__(self, chars: Sequence[str]):
        if not chars or any(len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise ValueError("chars must be one or more distinct single characters")
        self.chars = list(chars)  # id -> character
        self.special_ids = {}
        self._ids = {c: i for i, c in enumerate(self.chars)}
        self._codepoints = np.array([ord(c) for c in self.chars], dtype=np.uint32)
        # code point -> id, -1 where unknown; the last entry stands for every larger code point.
        # At most 4.4 MB (all of Unicode), and a lookup is several times faster than a search.
        self._lookup = np.full(int(self._codepoints.max()) + 2, -1, dtype=np.int32)
        self._lookup[self._codepoints] = np.arange(len(self.chars), dtype=np.int32)

    @classmethod
    def train(cls, texts: Iterable[str]) -> CharTokenizer:
        """Vocabulary = sorted set of characters in ``texts``, plus a newline when there are
        several texts, since documents are then joined by a blank line."""
        chars: set[str] = set()
        count = 0
        for text in texts:
            chars.update(check_text(text))
            count += 1
        if not chars:
            raise UserError("no text to build the char tokenizer from", "give a non-empty corpus")
        if count > 1:
            chars.add("\n")
        return cls(sorted(chars))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        return self.encode_array(text).tolist()

    def encode_array(self, text: str) -> np.ndarray:
        """Ids as an int32 array, by table lookup of each code point."""
        codepoints = np.frombuffer(check_text(text).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        ids = self._lookup[np.minimum(codepoints, len(self._lookup) - 1)]
        if ids.size and ids.min() < 0:
            first = chr(int(codepoints[np.argmax(ids < 0)]))
            raise UserError(
                f"character {first!r} is not in the char tokenizer's vocabulary of {self.vocab_size}",
                "build the tokenizer from text that contains it",
            )
        return ids

    def encode_batch_arrays(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self.encode_array(t) for t in texts]

    def decode(self, ids: Iterable[int]) -> str:
        ids = np.asarray(as_id_list(ids), dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"token id out of range for a vocabulary of {self.vocab_size}")
        return self._codepoints[ids].tobytes().decode("utf-32-le", "surrogatepass")

    def token_to_id(self, token: str) -> int | None:
        return self._ids.get(token)

    def id_to_token(self, id: int) -> str | None:
        return self.chars[id] if 0 <= id < len(self.chars) else None

    def to_hf(self):
        """The same tokenizer as a ``tokenizers.Tokenizer`` (what ``save`` writes)."""
        from tokenizers import Regex, decoders, models, pre_tokenizers
        from tokenizers import Tokenizer as HFTokenizer

        hf = HFTokenizer(models.WordLevel({c: i for i, c in enumerate(self.chars)}, unk_token=None))
        hf.pre_tokenizer = pre_tokenizers.Split(Regex(CHAR_SPLIT_PATTERN), behavior="isolated")
        hf.decoder = decoders.Fuse()
        return hf

    def to_json(self) -> str:
        return self.to_hf().to_str(pretty=True)

    @classmethod
    def from_hf_spec(cls, spec: dict) -> CharTokenizer | None:
        """The char tokenizer a tokenizer.json describes, or None if it is not one of ours."""
        model, pre = spec.get("model", {}), spec.get("pre_tokenizer") or {}
        vocab = model.get("vocab")
        if (
            model.get("type") != "WordLevel"
            or pre.get("type") != "Split"
            or pre.get("pattern") != {"Regex": CHAR_SPLIT_PATTERN}
            or pre.get("behavior") != "Isolated"
            or pre.get("invert")
            or spec.get("normalizer")
            or spec.get("added_tokens")
            or not isinstance(vocab, dict)
            or sorted(vocab.values()) != list(range(len(vocab)))
            or any(len(c) != 1 for c in vocab)
        ):
            return None
        return cls(sorted(vocab, key=vocab.__getitem__))
