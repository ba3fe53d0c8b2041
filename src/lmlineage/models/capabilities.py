"""What every model declares of itself for the verbs that take any checkpoint: what its inputs are
(``reads``) and, where it writes no text, what it is instead (``text_refusal``). ``generate``, the
CLI and the API ask these; nothing probes a model's type or parts. Image models add their verbs'
flags (``image_capabilities.py``); classic models declare the same."""

from __future__ import annotations


class ModelCapabilities:
    # What its inputs are: "text"; "images"; "image_questions" (a prompt about an image); "captions" (it draws them)
    reads = "text"
    tokenizer = None  # the checkpoint's tokenizer, which ``lmlineage.load`` sets where it has one
    # Whether it decodes from a source it encodes apart (the Transformer, T5, BART, the RNN seq2seq, captioners)
    is_encoder_decoder = False
    # A decoder-only LM over token ids with a cache for the engine's steps: what `serve` batches and
    # chat fine-tuning trains
    causal_lm = False
    # Whether it writes text by a rule of its own, not the engine's steps: a classic checkpoint's
    # ``sample_text(prompt, max_new_tokens=None, seed=None, **options) -> str`` (the n-gram's
    # counts, a word-level LM's sentences; None means its own default length)
    samples_by_own_rule = False
    # Word vectors of its own (word2vec): `similar` asks ``most_similar``, `embed` averages them per text
    word_vectors = False
    # A text encoder whose pooled summary is a sentence vector: what `embed` and `serve`'s /v1/embeddings read
    sentence_encoder = False
    # Text and images embedded in one joint space (CLIP): `embed` reads its text tower, `--rerank` scores with it
    joint_image_text_space = False

    def text_refusal(self) -> tuple[str, str] | None:
        """Where it writes no text: (what it is, ending `generate`'s refusal "RUN is a FAMILY ...",
        what to do with it instead); None where it writes text."""
        return None


def encoder_refusal(model) -> tuple[str, str]:
    """An encoder's ``text_refusal``: it reads its inputs into vectors, its uses instead."""
    return (f"encoder: it reads {model.reads} but does not generate text",
            "use it with lmlineage " + ", ".join(model.uses()))
