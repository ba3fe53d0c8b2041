"""The word2vec training loop, compiled with numba (imported only when CPU training starts).

One call trains on a run of sentences with plain SGD, one (input, output) pair at a time, as
Mikolov et al. (2013a/b) describe. Calls release the GIL, so several threads share the weight
matrices without locks ("Hogwild", Recht et al. 2011): each thread takes its own run of sentences.
Weights are C-contiguous 2-D arrays indexed ``[row, k]``: LLVM vectorises those inner loops
(flat ``row * dim + k`` indexing is 4x slower: the signed index defeats the vectoriser).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# sigma(x) is read from a table over [-MAX_EXP, MAX_EXP] and saturates outside it (word2vec.c's
# choice: past |x| = 6 the gradient (label - sigma) is within 0.25% of its limit).
MAX_EXP = 6.0
SIGMOID_TABLE_SIZE = 1000
_SCALE = SIGMOID_TABLE_SIZE / (2.0 * MAX_EXP)

# xorshift64* (Vigna 2016): one stream per call; its high bits are used.
_XS_MUL = np.uint64(0x2545F4914F6CDD1D)
_S12, _S25, _S27, _S32, _S40 = (np.uint64(k) for k in (12, 25, 27, 32, 40))


def sigmoid_table() -> np.ndarray:
    """sigma at the centres of SIGMOID_TABLE_SIZE equal bins over [-MAX_EXP, MAX_EXP]."""
    x = (np.arange(SIGMOID_TABLE_SIZE) + 0.5) / _SCALE - MAX_EXP
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


@njit(nogil=True, cache=True, inline="always")
def _sigmoid(f, table):
    if f <= -MAX_EXP:
        return np.float32(0.0)
    if f >= MAX_EXP:
        return np.float32(1.0)
    return table[int((f + MAX_EXP) * _SCALE)]


@njit(nogil=True, cache=True, inline="always")
def _next(state):
    state ^= state >> _S12
    state ^= state << _S25
    state ^= state >> _S27
    return state


@njit(nogil=True, cache=True, inline="always")
def _below(state, n):
    """A draw in [0, n) from the state's high 32 bits (multiply-shift, no division)."""
    return np.int64((((state * _XS_MUL) >> _S32) * np.uint64(n)) >> _S32)


@njit(nogil=True, cache=True, inline="always")
def _uniform(state):
    """A draw in [0, 1) with 24 bits."""
    return np.float32(((state * _XS_MUL) >> _S40) * (1.0 / 16777216.0))


@njit(nogil=True, cache=True, inline="always")
def _noise_word(state, noise_prob, noise_alias):
    """A negative sample by Walker's alias method: a uniform column, then its word or its alias."""
    state = _next(state)
    sample = _below(state, noise_prob.shape[0])
    state = _next(state)
    if _uniform(state) >= noise_prob[sample]:
        sample = noise_alias[sample]
    return sample, state


@njit(nogil=True, fastmath=True, cache=True, inline="always")
def _learn(l1, l1_row, out, out_row, work, dim, label, alpha, table):
    """One logistic unit: input row l1[l1_row] against output row out[out_row], target ``label``.

    Adds the input's gradient to ``work`` and updates the output row in place.
    """
    f = np.float32(0.0)
    for k in range(dim):
        f += l1[l1_row, k] * out[out_row, k]
    g = (label - _sigmoid(f, table)) * alpha
    for k in range(dim):
        work[k] += g * out[out_row, k]
    for k in range(dim):
        out[out_row, k] += g * l1[l1_row, k]


@njit(nogil=True, fastmath=True, cache=True)
def _output_layer(l1, l1_row, target, work, syn1neg, syn1, noise_prob, noise_alias, codes, points, lengths,
                  hs, negative, dim, alpha, table, state):
    """Hierarchical softmax and/or negative sampling for one (input, target word) pair."""
    if hs:
        for d in range(lengths[target]):
            # the path bit is the label of the "go left" unit: predict 1 - code (word2vec's convention)
            _learn(l1, l1_row, syn1, points[target, d], work, dim,
                   np.float32(1.0 - codes[target, d]), alpha, table)
    if negative > 0:
        for d in range(negative + 1):
            if d == 0:
                sample = target
                label = np.float32(1.0)
            else:
                sample, state = _noise_word(state, noise_prob, noise_alias)
                if sample == target:
                    continue
                label = np.float32(0.0)
            _learn(l1, l1_row, syn1neg, sample, work, dim, label, alpha, table)
    return state


@njit(nogil=True, fastmath=True, cache=True)
def train_sentences(corpus, bounds, first, last, syn0, syn1neg, syn1, keep, noise_prob, noise_alias, codes, points,
                    lengths, skipgram, hs, negative, window, dim, alpha, min_alpha, done, total, seed, table):
    """Train on sentences ``first:last`` (token spans ``bounds[s]:bounds[s+1]`` of ``corpus``).

    The learning rate falls linearly from ``alpha`` to ``min_alpha`` over ``total`` words, this
    call starting ``done`` words in. Returns (words trained after subsampling, words read).
    """
    longest = 1
    for s in range(first, last):
        longest = max(longest, bounds[s + 1] - bounds[s])
    sentence = np.empty(longest, np.int64)
    neu1 = np.zeros((1, dim), np.float32)
    work = np.zeros(dim, np.float32)
    state = np.uint64(seed) | np.uint64(1)  # xorshift needs a non-zero state
    trained = 0
    read = 0
    for s in range(first, last):
        lr = np.float32(alpha - (alpha - min_alpha) * min(1.0, (done + read) / total))
        n = 0
        for p in range(bounds[s], bounds[s + 1]):  # subsampling of frequent words (2013b, Sec. 2.3)
            word = corpus[p]
            if keep[word] < 1.0:
                state = _next(state)
                if keep[word] <= _uniform(state):
                    continue
            sentence[n] = word
            n += 1
        read += bounds[s + 1] - bounds[s]
        trained += n
        for i in range(n):
            # dynamic window: the window is shrunk uniformly to 1..window words each side
            state = _next(state)
            reach = window - _below(state, window)
            lo = max(0, i - reach)
            hi = min(n, i + reach + 1)
            center = sentence[i]
            if skipgram:
                # each context word's input vector predicts the centre word
                for j in range(lo, hi):
                    if j == i:
                        continue
                    row = sentence[j]
                    work[:] = 0.0
                    state = _output_layer(syn0, row, center, work, syn1neg, syn1, noise_prob, noise_alias, codes,
                                          points, lengths, hs, negative, dim, lr, table, state)
                    for k in range(dim):
                        syn0[row, k] += work[k]
            else:
                # CBOW: the mean of the context input vectors predicts the centre word
                neu1[:] = 0.0
                count = 0
                for j in range(lo, hi):
                    if j != i:
                        row = sentence[j]
                        for k in range(dim):
                            neu1[0, k] += syn0[row, k]
                        count += 1
                if count == 0:
                    continue
                inv = np.float32(1.0 / count)
                for k in range(dim):
                    neu1[0, k] *= inv
                work[:] = 0.0
                state = _output_layer(neu1, 0, center, work, syn1neg, syn1, noise_prob, noise_alias, codes,
                                      points, lengths, hs, negative, dim, lr, table, state)
                for j in range(lo, hi):
                    if j != i:
                        row = sentence[j]
                        for k in range(dim):
                            syn0[row, k] += work[k]
    return trained, read


@njit(nogil=True, cache=True)
def draw_noise(noise_prob, noise_alias, count, seed):
    """``count`` negative samples drawn exactly as the training loop draws them (for tests)."""
    out = np.empty(count, np.int64)
    state = np.uint64(seed) | np.uint64(1)
    for i in range(count):
        out[i], state = _noise_word(state, noise_prob, noise_alias)
    return out
