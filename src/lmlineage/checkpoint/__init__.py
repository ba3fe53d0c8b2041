"""Checkpoint I/O, below ``interop/`` and ``train/`` so that both use it and neither imports the other.

``files``: plain JSON and safetensors reading, and the refusal of pickles; ``directory``: atomic
checkpoint directories with a checksummed manifest, and recovery after a crash; ``model``: a
model's weights and config in and out of one of our directories.
"""
