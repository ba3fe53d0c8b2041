"""Images as data: the data side of the image families (ViT, CLIP, ...).

``images``: image sets (a folder, a manifest of images with labels or captions, NumPy arrays,
built-in sets that install offline) as (H, W, C) uint8 arrays; ``shapes``: generated scenes of
coloured shapes with boxes, masks and captions; ``processor``: resizing and normalization as the
reference image processors do, read from and written to ``preprocessor_config.json``.
"""
