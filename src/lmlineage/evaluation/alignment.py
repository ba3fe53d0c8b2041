"""Where an attention model looked: the alignment weights alpha_ij of every generated target token
over the source tokens, drawn as a heatmap (Bahdanau et al. 2015, figure 3: one row per target
token, one column per source token, white for weight 1, black for 0).

The translation is decoded by the one generation engine (greedy or beam search); the weights
are then read from one teacher-forced pass over that translation, which computes exactly the
weights decoding used (the same states, the same inputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.errors import UserError


@dataclass
class Alignment:
    source: list[str]  # the source tokens as text
    target: list[str]  # the generated tokens, end-of-sequence included when it was generated
    weights: np.ndarray  # (len(target), len(source)): row i is target token i's weights; rows sum to 1
    translation: str

    def to_json(self) -> dict:
        return {"source": self.source, "target": self.target, "weights": self.weights.tolist(),
                "translation": self.translation}


def token_labels(tokenizer, ids: list[int]) -> list[str]:
    """Each token as text; a byte-level piece that is no whole character shows as its vocabulary entry."""
    labels = []
    for i in ids:
        text = tokenizer.decode([i])
        labels.append(text if text and "\ufffd" not in text else (tokenizer.id_to_token(i) or str(i)))
    return labels


@torch.no_grad()
def align(model, text: str, max_new_tokens: int = 100, num_beams: int = 1) -> Alignment:
    """Translate ``text`` with ``model`` (an encoder-decoder with attention weights and a
    tokenizer) and return the alignment of its translation."""
    from ..generation import generate

    if not getattr(model, "has_attention", False):
        family = getattr(getattr(model, "config", None), "family", type(model).__name__)
        raise UserError(f"a {family} model has no alignment weights to draw (its decoder reads the source "
                        "through one fixed vector)" if family == "seq2seq" else
                        f"a {family} model does not expose alignment weights",
                        "align a bahdanau checkpoint")
    tok = model.tokenizer
    if tok is None:
        raise UserError("the checkpoint has no tokenizer.json to read the source with",
                        "align a checkpoint written by `lmlineage train`")
    ids = tok.encode(text)
    if not ids:
        raise UserError("the source text is empty", "give at least one character to translate")
    device = next(model.parameters()).device
    source = torch.tensor([ids], device=device)
    mask = torch.ones_like(source)
    eos = tok.eos_id
    new = generate(model, source, mask, max_new_tokens=max_new_tokens, eos_id=eos, pad_id=eos,
                   num_beams=num_beams)[0].tolist()
    generated = new[: new.index(eos) + 1] if eos in new else new
    decoder_input = torch.tensor([[model.decoder_start_id, *generated[:-1]]], device=device)
    was_training = model.training
    model.eval()
    try:
        weights = model(decoder_input, input_ids=source, encoder_mask=mask).attentions[0].float().cpu().numpy()
    finally:
        model.train(was_training)
    words = [t for t in generated if t != eos]
    return Alignment(token_labels(tok, ids), token_labels(tok, generated), weights, tok.decode(words))


def draw(alignment: Alignment, path, title: str | None = None) -> Path:
    """The heatmap as a PNG at ``path``: source tokens across, target tokens down."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise UserError(f"{path}: the heatmap is written as PNG", "give a path ending in .png")
    labels, font = _drawable(alignment.source + alignment.target)
    text = {"fontfamily": font} if font else {}
    source, target = labels[: len(alignment.source)], labels[len(alignment.source):]
    rows, cols = alignment.weights.shape
    fig, ax = plt.subplots(figsize=(min(2 + 0.35 * cols, 30), min(1.5 + 0.35 * rows, 30)))
    image = ax.imshow(alignment.weights, cmap="gray", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(cols), source, rotation=90, **text)
    ax.set_yticks(range(rows), target, **text)
    ax.xaxis.tick_top()
    ax.set_xlabel("source")
    ax.set_ylabel("generated")
    fig.colorbar(image, ax=ax, fraction=0.04)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _drawable(labels: list[str]) -> tuple[list[str], str | None]:
    """Labels in a font that has their glyphs, and that font's family: matplotlib's default
    (None) where it covers them, else the installed font that covers most (e.g. a CJK font for
    Chinese); a character no font covers is written as its code point, U+XXXX, never as an empty
    box. Spaces (BPE word starts) show as '_'."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    labels = [label.replace(" ", "_") or "_" for label in labels]
    needed = {ord(c) for label in labels for c in label}
    covered = set(FT2Font(font_manager.findfont(font_manager.FontProperties())).get_charmap())
    family = None
    if needed - covered:
        for entry in font_manager.fontManager.ttflist:
            try:
                charmap = set(FT2Font(entry.fname).get_charmap())
            except (RuntimeError, OSError):  # a font file FreeType cannot read
                continue
            if len(needed - charmap) < len(needed - covered):
                covered, family = charmap, entry.name
                if not needed - covered:
                    break
    return ["".join(c if ord(c) in covered else f"U+{ord(c):04X}" for c in label) for label in labels], family
