from .engine import generate

__all__ = ["generate"]
