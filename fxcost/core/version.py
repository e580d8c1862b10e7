"""The package version (core: the JSON report records it)."""

__version__ = "0.1.0"
