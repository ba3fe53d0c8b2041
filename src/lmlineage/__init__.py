"""lmlineage: the language-model lineage, from n-grams to LLaMA, on one set of shared blocks."""

__version__ = "0.1.0"

from .core.errors import UserError  # noqa: E402

__all__ = ["UserError", "__version__", "load", "train", "families"]


def __getattr__(name):
    # The public API imports torch-heavy modules lazily, so `import lmlineage` stays cheap.
    if name in ("load", "train", "families"):
        from . import api

        return getattr(api, name)
    raise AttributeError(name)
