"""lmlineage: the language-model lineage, from n-grams to LLaMA, on one set of shared blocks."""

from .core.errors import UserError
from .core.version import __version__
from . import families as _families_package  # noqa: E402,F401  (see below)
from . import train as _train_package  # noqa: E402,F401  (see below)

__all__ = ["UserError", "__version__", "load", "train", "generate", "families"]


def train(family: str = "gpt2", **options):
    """Train a family; see :func:`lmlineage.api.train`. Defined here, not lazily, because the
    subpackage ``lmlineage.train`` would otherwise shadow it once anything imports it."""
    from .api import train as _train

    return _train(family, **options)


def generate(model, prompt="", max_new_tokens: int | None = None, **options):
    """Continue ``prompt`` with ``model``; see :func:`lmlineage.generation.text.generate`. Defined
    here, like ``train``, so the name cannot be confused with the subpackage ``lmlineage.generation``."""
    from .generation.text import generate as _generate

    return _generate(model, prompt, max_new_tokens, **options)


def families():
    """Every registered family, oldest first; defined here so the subpackage of the same name
    cannot shadow it."""
    from .core.registry import families as _families

    return _families()


def __getattr__(name):
    # The public API imports torch-heavy modules lazily, so `import lmlineage` stays cheap.
    if name in ("load",):
        from . import api

        return getattr(api, name)
    raise AttributeError(name)
