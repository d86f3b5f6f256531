"""Detect: fit and score one cell, keep its scores, return its record."""

from .fit_score import CellFailed, fit_and_score

__all__ = ["fit_and_score", "CellFailed"]
