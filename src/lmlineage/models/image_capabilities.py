"""What an image model does, declared: one flag per verb that needs more than reading images
(``lmlineage.api`` asks the flag; nothing probes a model's parts or type). Each image model
inherits these and sets the ones it has."""

from __future__ import annotations

from .capabilities import ModelCapabilities


class ImageCapabilities(ModelCapabilities):
    what = "an image model"  # what it is, in refusals of the verbs it lacks
    one_image_vector = False  # `embed --image`: one vector per image (``embed_images``)
    detects_objects = False  # `detect`: labelled boxes per image
    segments_images = False  # `segment`: a mask from point or box prompts
    captions_images = False  # `caption`: text from the image (the encoder-decoder generation protocol)
    classifies_zero_shot = False  # `classify IMAGE --labels`: a text tower to read labels with
