"""Detect: fit and score one cell, keep its scores, return a small record."""

from .fit_score import CellFailed, base_record, failure_record, fit_and_score

__all__ = ["fit_and_score", "CellFailed", "base_record", "failure_record"]
