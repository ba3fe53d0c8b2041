"""Next sentence prediction (Devlin et al. 2019, section 3.1 "Task #2").

"When choosing the sentences A and B for each pre-training example, 50% of the time B is the
actual next sentence that follows A (labeled as IsNext), and 50% of the time it is a random
sentence from the corpus (labeled as NotNext)." As in the released code, the random sentence
comes from another document. Data-side and parameter-free: ``prepare`` builds the pairs,
``collate`` packs them as ``[CLS] A [SEP] B [SEP]`` with segment ids, ``loss`` scores the
segment-pair head.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from torch.nn import functional as F

IS_NEXT, NOT_NEXT = 0, 1  # the reference checkpoints' label convention


class NextSentencePrediction:
    def __init__(self, random_rate: float = 0.5):
        self.random_rate = random_rate

    def prepare(self, documents: Sequence[Sequence[list[int]]], rng: random.Random) -> list[tuple]:
        """One ``(a, b, label)`` per sentence with a successor in its document; ``documents`` are
        lists of sentences, each a list of token ids."""
        if sum(1 for d in documents if d) < 2:
            raise ValueError("next sentence prediction needs at least two non-empty documents")
        pairs = []
        for index, document in enumerate(documents):
            for a, b in zip(document, document[1:]):
                if rng.random() < self.random_rate:
                    pairs.append((a, self._random_sentence(documents, index, rng), NOT_NEXT))
                else:
                    pairs.append((a, b, IS_NEXT))
        return pairs

    @staticmethod
    def _random_sentence(documents, avoid: int, rng: random.Random):
        while True:
            index = rng.randrange(len(documents))
            if index != avoid and documents[index]:
                return rng.choice(documents[index])

    @staticmethod
    def collate(pairs, cls_id: int, sep_id: int, pad_id: int, max_length: int) -> dict:
        """Pairs -> padded tensors: ``input_ids``, ``token_type_ids`` (0 for A, 1 for B),
        ``attention_mask``, ``next_sentence_label``. Over-long pairs lose tokens from the end
        of the longer segment first, as in the released code."""
        rows, segments = [], []
        for a, b, _ in pairs:
            a, b = list(a), list(b)
            while len(a) + len(b) > max_length - 3:
                (a if len(a) > len(b) else b).pop()
            rows.append([cls_id, *a, sep_id, *b, sep_id])
            segments.append([0] * (len(a) + 2) + [1] * (len(b) + 1))
        width = max(map(len, rows))
        pad = lambda row, value: row + [value] * (width - len(row))  # noqa: E731
        return {
            "input_ids": torch.tensor([pad(r, pad_id) for r in rows]),
            "token_type_ids": torch.tensor([pad(s, 0) for s in segments]),
            "attention_mask": torch.tensor([pad([1] * len(r), 0) for r in rows]),
            "next_sentence_label": torch.tensor([label for _, _, label in pairs]),
        }

    @staticmethod
    def loss(pair_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(pair_logits.float(), labels)
