"""The error an extractor raises when it cannot run here (its own module: the text and image
extractors both raise it, and the extractor table imports them)."""

from __future__ import annotations

__all__ = ["ExtractorUnavailable"]


class ExtractorUnavailable(RuntimeError):
    """An extractor's code or weights are not installed here."""
