"""Attention masks as small composable functions.

Convention: boolean tensors where ``True`` means "may attend". The plain causal case
builds no tensor at all (SDPA's ``is_causal`` picks the flash kernel); a tensor is made
only when padding or a special pattern needs one, once per forward, shared by all layers.
"""

from __future__ import annotations

import torch


def causal(query_index: torch.Tensor, key_index: torch.Tensor) -> torch.Tensor:
    """(q_len, k_len): each query sees the keys at or before its place in the sequence.

    ``query_index`` (q_len,) and ``key_index`` (k_len,) are places in the sequence, padding
    counted (what a cache reports): device tensors, so a captured decoding step that reads them
    stays right at every later position."""
    return key_index[None, :] <= query_index[:, None]


def positions(mask: torch.Tensor) -> torch.Tensor:
    """(B, T) mask with 1 at real tokens -> position ids that skip left padding (0 on the pads)."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def padding(key_mask: torch.Tensor) -> torch.Tensor:
    """(B, k_len) with 1 for real tokens -> (B, 1, 1, k_len)."""
    return key_mask.bool()[:, None, None, :]


def sliding_window(query_index: torch.Tensor, key_index: torch.Tensor, window: int) -> torch.Tensor:
    """Causal and banded: each query sees itself and the ``window - 1`` keys before it (GPT-3's
    "locally banded" layers, Brown et al. 2020, section 2.1, after Child et al. 2019; Mistral's
    sliding window, Jiang et al. 2023, section 2). Indices as in ``causal``."""
    distance = query_index[:, None] - key_index[None, :]
    return (distance >= 0) & (distance < window)


def prefix(q_len: int, k_len: int, prefix_lengths: torch.Tensor) -> torch.Tensor:
    """(B, 1, q_len, k_len): every query sees the first ``prefix_lengths[b]`` keys of its row;
    OR-ed with ``causal`` it is the prefix-LM / partial-bidirectional mask (GLM's Part A attends
    both ways, Part B left to right; Du et al. 2021, figure 2(d))."""
    k = torch.arange(k_len, device=prefix_lengths.device)
    return (k[None, :] < prefix_lengths[:, None])[:, None, None, :].expand(-1, 1, q_len, -1)


def same_document(document_ids: torch.Tensor) -> torch.Tensor:
    """(B, 1, T, T): a query sees only keys of its own document, so examples packed into one row
    never attend to each other (``document_ids`` (B, T): which example each token belongs to)."""
    return (document_ids[:, :, None] == document_ids[:, None, :])[:, None]


def never_empty(mask: torch.Tensor) -> torch.Tensor:
    """Let fully masked rows (queries at padding) see everything, so softmax stays finite.

    Their outputs are never used; this only keeps NaN out of the batch."""
    return mask | ~mask.any(dim=-1, keepdim=True)


def build(
    q_len: int,
    k_len: int,
    *,
    is_causal: bool,
    key_mask: torch.Tensor | None = None,
    query_index: torch.Tensor | None = None,
    key_index: torch.Tensor | None = None,
    device=None,
    window: int | None = None,
    prefix_lengths: torch.Tensor | None = None,
    document_ids: torch.Tensor | None = None,
) -> tuple[torch.Tensor | None, bool]:
    """Return ``(mask_tensor_or_None, sdpa_is_causal)`` for one forward pass.

    ``key_mask`` (B, k_len) marks real keys (padding and unfilled static-cache slots are 0);
    ``query_index`` (q_len,) and ``key_index`` (k_len,) place queries and keys in the sequence
    (default: keys 0..k_len-1, the queries the last ``q_len`` of them); ``window`` bands the causal
    mask (``sliding_window``); ``prefix_lengths`` (B,) opens each row's prefix to every query (``prefix``);
    ``document_ids`` (B, T; no cache) keeps each packed example to itself (``same_document``)."""
    if key_mask is None and window is None and prefix_lengths is None and document_ids is None:
        if not is_causal or q_len == 1:
            return None, False
        if q_len == k_len:  # every cache starts at place 0: the queries are all the keys
            return None, True
    keep = None
    if is_causal and q_len == 1 and window is None:
        # One query sees every key there is (a cache holds only the past; a static cache's
        # unfilled slots are out of ``key_mask``): no causal tensor at all.
        is_causal = False
    if is_causal:
        if key_index is None:
            key_index = torch.arange(k_len, device=device)
        if query_index is None:
            query_index = key_index[k_len - q_len:]
        keep = causal(query_index, key_index) if window is None else sliding_window(query_index, key_index, window)
    if prefix_lengths is not None:
        opened = prefix(q_len, k_len, prefix_lengths)
        keep = opened if keep is None else keep | opened
    if key_mask is not None:
        keep = padding(key_mask) if keep is None else padding(key_mask) & keep
    if document_ids is not None:
        keep = same_document(document_ids) if keep is None else same_document(document_ids) & keep
    if keep is None:
        return None, False
    if keep.dim() == 2:
        keep = keep[None, None]
    return never_empty(keep.expand(-1, -1, q_len, -1) if keep.shape[-2] == 1 else keep), False
