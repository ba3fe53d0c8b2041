"""The segment-pair head: a 2-way classifier on the pooled [CLS] vector.

BERT trains it for next sentence prediction (Devlin et al. 2019, section 3.1 "Task #2"), ALBERT
for sentence order prediction (Lan et al. 2020, section 3.1); the head is the same, only the
pairs differ. Class 0: B follows A in the text (the reference checkpoints' convention)."""

from __future__ import annotations

from torch import nn


class SegmentPairHead(nn.Linear):
    def __init__(self, dim: int, n_classes: int = 2):
        super().__init__(dim, n_classes)
