"""Helpers shared by the tests (not tests themselves); ``tests/`` is on the path (pyproject)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the project
