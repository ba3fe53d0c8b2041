"""Raw text to sentences of words, and the word-level tokenizer over them.

:func:`sentences_from_text` is how the classic count- and window-based models (the n-gram LM,
word2vec) read text: one non-blank line is one sentence; a word is a run of letters and digits,
with inner apostrophes kept (``'tis`` -> ``tis``, ``don't`` -> ``don't``), lowercased; punctuation
is dropped. No tokenizer to train, no punctuation tokens.

:class:`WordTokenizer` gives the classic neural LMs (NNLM, ELMo) the n-gram model's tokens, as ids:
each sentence is its words followed by ``</s>``; a word seen fewer than ``min_count``
times in the training text is ``<unk>``. So a word-level neural LM predicts exactly the tokens the
n-gram LM predicts (words plus one ``</s>`` per sentence, ``<s>`` never), over the same
vocabulary, and the two perplexities compare directly.

It saves as a Hugging Face ``tokenizer.json`` holding a WordLevel model (the vocabulary and ids);
the line and word splitting above is lmlineage's, recognised on load by the pre-tokenizer pattern.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from lmlineage.core.errors import UserError
from lmlineage.tokenizers.base import Tokenizer, as_id_list, check_text

# Letters and digits (any script), joined by an apostrophe inside a word.
WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")


def words_from_line(line: str, lowercase: bool = True) -> list[str]:
    """The words of one line, lowercased unless ``lowercase=False``."""
    return WORD.findall(line.lower() if lowercase else line)


def sentences_from_text(text: str, lowercase: bool = True) -> list[list[str]]:
    """One sentence per non-blank line of ``text``; lines with no word are dropped."""
    sentences = (words_from_line(line, lowercase) for line in text.splitlines())
    return [words for words in sentences if words]


SPECIALS = ("<unk>", "<s>", "</s>")  # the n-gram LM's ids 0, 1, 2
UNK, BOS, EOS = 0, 1, 2


class WordTokenizer(Tokenizer):
    kind = "word"

    def __init__(self, words: list[str]):
        if tuple(words[:3]) != SPECIALS or len(set(words)) != len(words):
            raise ValueError(f"a word vocabulary starts with {SPECIALS} and has no repeats")
        self.words = list(words)
        self._ids = {w: i for i, w in enumerate(self.words)}
        self.special_ids = {w: i for i, w in enumerate(SPECIALS)}
        self.eos_id, self.bos_id, self.unk_id = EOS, BOS, UNK

    @classmethod
    def train(cls, text: str, min_count: int = 1) -> WordTokenizer:
        """Vocabulary: the specials, then words seen ``min_count`` times or more, most frequent
        first, ties alphabetical (the order ``NGramLM.fit`` gives the same words)."""
        counts = Counter(w for sentence in sentences_from_text(check_text(text)) for w in sentence)
        kept = sorted((w for w, c in counts.items() if c >= min_count and w not in SPECIALS),
                      key=lambda w: (-counts[w], w))
        if not kept:
            raise UserError(f"no word occurs {min_count} times or more in the training text",
                            "give a larger corpus or a lower min_count")
        return cls(list(SPECIALS) + kept)

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> list[int]:
        get = self._ids.get
        ids: list[int] = []
        for sentence in sentences_from_text(check_text(text)):
            ids.extend(get(w, UNK) for w in sentence)
            ids.append(EOS)
        return ids

    def encode_words(self, text: str) -> list[int]:
        """The words of ``text`` without sentence ends (a prompt to continue)."""
        return [i for i in self.encode(text) if i != EOS]

    def decode(self, ids: Iterable[int]) -> str:
        out: list[str] = []
        for i in as_id_list(ids):
            if not 0 <= i < len(self.words):
                raise ValueError(f"token id {i} out of range for a vocabulary of {len(self.words)}")
            if i == EOS:
                out.append("\n")
            elif i != BOS:
                out.append(self.words[i] if not out or out[-1] == "\n" else " " + self.words[i])
        return "".join(out)

    def token_to_id(self, token: str) -> int | None:
        return self._ids.get(token)

    def id_to_token(self, id: int) -> str | None:
        return self.words[id] if 0 <= id < len(self.words) else None

    def to_json(self) -> str:
        from tokenizers import Regex, models, normalizers, pre_tokenizers
        from tokenizers import Tokenizer as HFTokenizer

        hf = HFTokenizer(models.WordLevel(dict(self._ids), unk_token="<unk>"))
        hf.normalizer = normalizers.Lowercase()
        hf.pre_tokenizer = pre_tokenizers.Split(Regex(WORD.pattern), behavior="isolated")
        return hf.to_str(pretty=True)

    @classmethod
    def from_hf_spec(cls, spec: dict) -> WordTokenizer | None:
        """The word tokenizer a tokenizer.json describes, or None if it is not one of ours."""
        model, pre = spec.get("model", {}), spec.get("pre_tokenizer") or {}
        vocab = model.get("vocab")
        if (model.get("type") != "WordLevel" or pre.get("type") != "Split"
                or pre.get("pattern") != {"Regex": WORD.pattern} or not isinstance(vocab, dict)
                or sorted(vocab.values()) != list(range(len(vocab)))):
            return None
        words = sorted(vocab, key=vocab.__getitem__)
        return cls(words) if tuple(words[:3]) == SPECIALS else None
