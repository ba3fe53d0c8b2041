"""Image-text pre-training with captions: BLIP's three losses (Li et al. 2022, section 3.2) and
CoCa's two (Yu et al. 2022, section 3.2), each on batches of (pixel values, caption ids), the ids
``[CLS] caption [SEP]`` padded with [PAD] (``vision/captions.py``).

- Image-text contrast: the in-batch softmax over cosine similarities over a temperature, both
  ways (``objectives/contrastive.py`` with no margin), averaged over the two directions.
- Image-text matching (BLIP): the image-grounded encoder tells matched pairs from hard negatives,
  one per image and one per text, drawn with probability softmax(similarity) over the batch's other
  pairs (section 3.2, "hard negative mining"); pairs with the same caption are never negatives.
- Captioning: next-token cross-entropy of the caption after [DEC], padding ignored; BLIP's with
  label smoothing 0.1 (its released code, ``models/blip.py``).

Scored by the held-out losses; after training, by the share of held-out images whose greedy
caption names the right thing (the digit's word, each shape's colour and kind). A labelled image
is captioned as one sentence to learn ("a handwritten seven"), not CLIP's several prompts.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..core.errors import UserError
from ..objectives.contrastive import InBatchContrastive
from ..vision.captions import CAPTIONS
from .protocol import GENERIC_OPTIONS, Task, TrainResult

LABEL_SMOOTHING = 0.1


class CaptioningTask(Task):
    """What BLIP and CoCa share: the data, the contrastive loss, the captioning loss, the reports."""

    reads = "captions"
    options = GENERIC_OPTIONS - {"tokenizer", "vocab_size", "context"}  # the tokenizer is built on the captions
    special_tokens = ("[DEC]", "[ENC]")  # BLIP's decoder start and image-grounded encoder tokens, beside BERT's
    label_templates = CAPTIONS
    caption_vocab_size = 1000
    perplexity_of = "caption"
    label_smoothing = 0.0

    def __init__(self, model, tokenizer=None):
        super().__init__()
        self.model, self.tokenizer = model, tokenizer or model.tokenizer
        specials = self.tokenizer.special_ids
        self.pad = specials.get("[PAD]", model.config.decoder.pad_id or 0)
        self.dec = specials.get("[DEC]", model.config.decoder.start_id)
        self.enc = specials.get("[ENC]", specials.get("[CLS]"))
        self.cls = specials.get("[CLS]")
        self.contrast = InBatchContrastive(margin=0.0, scale=1 / model.config.temperature, directions="mean")

    @classmethod
    def image_processor(cls, side: int):
        from ..vision.processor import ImageProcessor

        return ImageProcessor.blip(side)

    @classmethod
    def caption_tokens(cls, tokenizer) -> tuple[int, int, int]:
        """BERT's ``[CLS] caption [SEP]``, padded with [PAD]; the losses put [ENC] or [DEC] first."""
        missing = [t for t in ("[CLS]", "[SEP]", "[PAD]") if t not in tokenizer.special_ids]
        if missing:
            raise UserError(f"the {tokenizer.kind} tokenizer lacks {', '.join(missing)}, which captions are read "
                            "between", "use a checkpoint of `lmlineage train blip` (or coca), whose WordPiece has them")
        return tuple(tokenizer.special_ids[t] for t in ("[CLS]", "[SEP]", "[PAD]"))

    @classmethod
    def check_inputs(cls, tokenizer, batch_size: int = 1) -> dict:
        """The decoder's ids: [DEC] starts every caption, [SEP] ends it, [PAD] fills."""
        _, sep, pad = cls.caption_tokens(tokenizer)
        return {"decoder": {"start_id": tokenizer.special_ids["[DEC]"], "eos_id": sep, "pad_id": pad}}

    @classmethod
    def caption_positions(cls, positions: int, longest: int) -> int:
        return max(longest + 2 + 8, 32)  # [CLS] and [SEP], and room for a caption a little longer than any seen

    @classmethod
    def for_tokenizer(cls, model, tokenizer, **checkpoints) -> "CaptioningTask":
        from ..vision.captions import ImageTextProcessor

        return cls(model, tokenizer.text if isinstance(tokenizer, ImageTextProcessor) else tokenizer)

    def contrastive_loss(self, image_features, text_features) -> torch.Tensor:
        return self.contrast.loss(image_features, text_features)

    def caption_loss(self, logits, ids) -> torch.Tensor:
        """Next-token cross-entropy: logits at places 0..T-2 predict ids 1..T-1; [PAD] ignored."""
        targets = ids[:, 1:].masked_fill(ids[:, 1:] == self.pad, -100)
        return F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                               ignore_index=-100, label_smoothing=self.label_smoothing if self.training else 0.0)

    def with_first(self, ids, token: int) -> torch.Tensor:
        return torch.cat([torch.full_like(ids[:, :1], token), ids[:, 1:]], dim=1)

    def losses(self, pixels, ids) -> dict:
        raise NotImplementedError

    def weights(self) -> dict:
        """Each loss's weight in the total (BLIP: all 1)."""
        return {}

    def total(self, losses: dict):
        return sum(self.weights().get(name, 1.0) * value for name, value in losses.items())

    def forward(self, batch):
        return self.total(self.losses(*batch))

    @torch.no_grad()
    def evaluate(self, batches, forward=None) -> dict:
        sums, count, tokens = {}, 0, 0
        for pixels, ids in batches:
            for name, value in self.losses(pixels, ids).items():
                sums[name] = sums.get(name, 0.0) + float(value) * len(ids)
            count += len(ids)
            tokens += int((ids[:, 1:] != self.pad).sum())
        means = {name: total / max(count, 1) for name, total in sums.items()}
        loss = self.total(means)
        return {"loss": loss, "nats": loss * count, "tokens": tokens, "images": count, **means}

    def held_out_scores(self, split, names, run=None, seed: int = 0) -> tuple[dict, str]:
        """The share of held-out images whose greedy caption (with the run's best weights) names
        what the image shows; the sample is the first image's caption. A model without the
        captioning decoder (a retrieval checkpoint) scores nothing here."""
        from ..evaluation.captions import caption_split

        model = self.model
        if not model.captions_images:
            return {}, ""
        if run is not None and (run / "best" / "model.safetensors").exists():
            from safetensors.torch import load_file

            model.load_state_dict(load_file(str(run / "best" / "model.safetensors")), strict=False)
        captions, named = caption_split(model, self.tokenizer, split)
        return {"named": named}, f"held-out image 0: {captions[0]!r} (reference: {split.captions[0]!r})"

    @classmethod
    def report(cls, result: TrainResult) -> str:
        m = result.metrics
        named = f" | captions naming it right {m['named']:.4f}" if "named" in m else ""
        caption = f" (caption {m['caption']:.4f})" if "caption" in m else ""
        return (f"val loss {result.val_loss:.4f}{caption}{named} on {m['images']} held-out "
                f"images | {result.steps} steps | checkpoints in {result.out}" +
                (f"\n{result.sample}" if result.sample else ""))

    @classmethod
    def evaluation_report(cls, metrics: dict) -> str:
        parts = " | ".join(f"{k} {metrics[k]:.4f}" for k in ("contrast", "matching", "caption") if k in metrics)
        named = f" | captions naming it right {metrics['named']:.4f}" if "named" in metrics else ""
        return f"loss {metrics['loss']:.4f} | {parts}{named} | {metrics['images']} images"


def hard_negatives(similarity: torch.Tensor, ids: torch.Tensor, sample: bool = True):
    """BLIP's hard negatives (section 3.2): for each image a text, for each text an image, drawn
    with probability softmax(similarity) over the pairs whose caption differs (a batch of digits
    repeats captions: an equal caption is no negative), or the likeliest where ``sample`` is off.
    Returns (the rows that have a differing caption, their negative texts, their negative images)."""
    same = (ids[:, None, :] == ids[None, :, :]).all(-1)
    weights = similarity.masked_fill(same, float("-inf"))
    rows = torch.where(~same.all(1))[0]
    if not len(rows):
        return rows, rows, rows
    pick = (lambda w: torch.multinomial(w.softmax(1), 1)[:, 0]) if sample else (lambda w: w.argmax(1))  # noqa: E731
    return rows, pick(weights[rows]), pick(weights.T[rows])


class BlipTask(CaptioningTask):
    label_smoothing = LABEL_SMOOTHING

    def losses(self, pixels, ids) -> dict:
        """The losses of the parts the model has (a reference checkpoint holds one side)."""
        model, mask = self.model, (ids != self.pad).long()
        image = model.encode(pixels)
        out = {}
        if model.text_decoder is not None:
            decoder_ids = self.with_first(ids, self.dec)
            logits = model(decoder_ids, encoder_out=image, decoder_attention_mask=mask).logits
            out["caption"] = self.caption_loss(logits, decoder_ids)
        if model.vision_proj is None:
            return out
        image_features, text_features = model.image_features(image), model.text_features(ids, mask)
        out["contrast"] = self.contrastive_loss(image_features, text_features)
        if model.itm_head is None:
            return out
        with torch.no_grad():
            similarity = (image_features @ text_features.T).float() / model.config.temperature
            rows, negative_text, negative_image = hard_negatives(similarity, ids, sample=self.training)
        grounded = self.with_first(ids, self.enc)
        positive = model.match(grounded, image, mask)
        wrong_text = model.match(grounded[negative_text], image[rows], mask[negative_text])
        wrong_image = model.match(grounded[rows], image[negative_image], mask[rows])
        logits = torch.cat([positive, wrong_text, wrong_image]).float()
        truth = torch.cat([torch.ones(len(positive)), torch.zeros(2 * len(rows))]).long().to(logits.device)
        out["matching"] = F.cross_entropy(logits, truth)
        return out


class CocaTask(CaptioningTask):
    """CoCa's loss (Yu et al. 2022, eq. 4): lambda_Con * contrast + lambda_Cap * caption, the text
    embedding read from a [CLS] appended after the caption (``models/coca.py``)."""

    def weights(self) -> dict:
        return {"contrast": self.model.config.contrast_weight, "caption": self.model.config.caption_weight}

    def losses(self, pixels, ids) -> dict:
        model, mask = self.model, (ids != self.pad).long()
        tokens = model.vision(pixels).last_hidden_state
        text = self.with_first(ids, self.dec)  # the decoder's input: [DEC] caption [SEP]
        contrast = self.contrastive_loss(model.image_features(tokens), model.text_features(text, mask, self.cls))
        logits = model(text, encoder_out=model.caption_pool(tokens), decoder_attention_mask=mask).logits
        return {"contrast": contrast, "caption": self.caption_loss(logits, text)}
