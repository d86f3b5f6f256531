"""A development half and a confirmation half of a set of datasets (issue 15's honest selection).

A variant of a method is chosen on the development half and reported on the confirmation half,
which nobody looks at before the choice is frozen. The halves are fixed by the names alone, so
anyone gets the same split: the datasets sorted by name, every other one from the first
(indices 0, 2, 4, ...) is development, the rest (1, 3, 5, ...) confirmation. A dataset added to
the store moves the ones after it from one half to the other, so a report states the halves it
used (:func:`halves` gives them; the report lists both).
"""

from __future__ import annotations

HALVES = ("development", "confirmation")


def halves(names) -> dict[str, list[str]]:
    """``{"development": [...], "confirmation": [...]}`` for these dataset names (duplicates
    counted once). Fewer than two names cannot be halved: ValueError."""
    ordered = sorted(set(names))
    if len(ordered) < 2:
        raise ValueError(f"halves need at least two datasets, got {ordered}")
    return {HALVES[0]: ordered[0::2], HALVES[1]: ordered[1::2]}


def half_of(name: str, names) -> str:
    """Which half ``name`` belongs to among ``names``."""
    for half, members in halves(names).items():
        if name in members:
            return half
    raise ValueError(f"{name!r} is not one of the datasets being halved")
