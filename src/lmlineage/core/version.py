"""The lmlineage version, here at the bottom so that checkpoint writers can stamp it without
importing the package's public face."""

__version__ = "0.1.0"
