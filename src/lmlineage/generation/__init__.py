from .engine import generate, generate_text

__all__ = ["generate", "generate_text"]
