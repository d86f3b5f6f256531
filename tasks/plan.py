"""The fit plan of a job: which of its cells are fitted, and how every other one gets its record.

One plan serves both ends: the dry run costs it (:func:`tasks.estimate.estimate`) and the flow
executes it (:mod:`flows.run`), so the two cannot disagree on what a job does. A :class:`Plan`
holds the job's distinct cells in their order, the rows of each cell's split (from the labels,
by the protocol's own rule) and, by index into those cells:

* ``reuses``: one fit per split (:func:`tasks.cells.reuse_plan`, tables only: an ablation varies
  parameters, not seeds): a derived cell -> the cell (lowest seed of its split) whose fit it
  reuses. A derived cell has no files and is never looked up;
* ``cached``: cells whose records are in the results folder (never a derived one; nothing for a
  dry run, which costs the job as if nothing were cached);
* ``rides``: shared fits (:func:`tasks.cells.shared_fit_plan`) among the cells still to fit: a
  riding cell -> the cell whose fit gives its scores. A cell whose only source is cached is fitted
  on its own;
* ``fits``: the cells submitted, each one fit: neither cached, nor derived, nor riding.

The module is pure: the caller reads the labels (:func:`split_rows`) and the results folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Mapping

from .cells import Cell, KeyedCell, canonical, reuse_plan, shared_fit_plan, shared_pairs_text


@dataclass(frozen=True)
class Plan:
    kind: str                              # "table" | "ablation"
    cells: tuple[Cell, ...]                # distinct, in the job's order
    rows: tuple[int, ...]                  # rows of each cell's split
    reuses: Mapping[int, int]              # derived cell -> the cell whose fit it reuses
    rides: Mapping[int, int]               # riding cell -> the cell whose fit it shares
    cached: frozenset[int] = frozenset()   # cells whose records are already stored
    keys: tuple[str, ...] | None = None    # each cell's key (None in a dry run: no data keys yet)
    data_keys: tuple[str, ...] | None = None

    @property
    def fits(self) -> tuple[int, ...]:
        """The cells fitted by this run, in the job's order."""
        return tuple(i for i in range(len(self.cells))
                     if i not in self.cached and i not in self.reuses and i not in self.rides)

    def riders_of(self, i: int) -> tuple[int, ...]:
        return self._riders.get(i, ())

    def reusers_of(self, i: int) -> tuple[int, ...]:
        return self._reusers.get(i, ())

    @cached_property
    def _riders(self) -> dict[int, tuple[int, ...]]:
        return _inverse(self.rides)

    @cached_property
    def _reusers(self) -> dict[int, tuple[int, ...]]:
        return _inverse(self.reuses)

    def keyed(self, i: int) -> KeyedCell:
        if self.keys is None:
            raise ValueError("a plan without data keys (a dry run's) has no keyed cells")
        return KeyedCell(self.cells[i], self.data_keys[i], self.keys[i])

    @property
    def counts(self) -> dict[str, int]:
        """cells; cached (including the cells derived from a cached fit); fits; riders (cells that
        share a fit of this run); reuses (cells derived from a fit of this run)."""
        n_cached_derived = sum(1 for i, j in self.reuses.items() if j in self.cached)
        return {"cells": len(self.cells), "cached": len(self.cached) + n_cached_derived, "fits": len(self.fits),
                "riders": len(self.rides), "reuses": len(self.reuses) - n_cached_derived}

    def shared_pairs(self) -> list[str]:
        """Which methods share whose fit (e.g. "SLA from SLA2P")."""
        return shared_pairs_text((self.cells[i], self.cells[j]) for i, j in self.rides.items())

    @cached_property
    def position(self) -> dict[str, int]:
        """key -> the cell's index (a plan with data keys)."""
        return {k: i for i, k in enumerate(self.keys or ())}

    def key_of(self, cell: Cell) -> str:
        """The key of one of the plan's cells, or of a repeat of one (an ablation's base point)."""
        return self._key_by_cell[canonical(cell.identity())]

    @cached_property
    def _key_by_cell(self) -> dict[str, str]:
        return {canonical(c.identity()): k for c, k in zip(self.cells, self.keys or ())}


def distinct(cells) -> list[Cell]:
    """Each cell once, in order (the device does not count: it does not change what is computed).
    A tuple key where the parameters hash, their canonical JSON otherwise (a list-valued one)."""
    seen: dict = {}
    for c in cells:
        key = (c.dataset, c.normal_class, c.ratio, c.method, c.seed, c.extractor, c.detector, c.row_order)
        try:
            key = (*key, hash(c.params) and c.params)
        except TypeError:
            key = (*key, canonical(c.param_dict))
        seen.setdefault(key, c)
    return list(seen.values())


def make_plan(kind: str, cells, split_rows: Mapping[tuple, int], dataset_rows: Mapping[str, int],
              data_keys: Mapping[tuple, str] | None = None, cached_keys=()) -> Plan:
    """The plan of a job's ``cells`` (repeats are run once).

    ``split_rows``: (dataset, class, ratio) -> rows of that split; ``dataset_rows``: dataset ->
    its rows (what one fit per split asks); ``data_keys``: (dataset, extractor) -> the data key
    its cells run on (a run's; None for a dry run); ``cached_keys``: the keys whose records are
    stored (ignored for a derived cell, which has no files of its own)."""
    cells = tuple(distinct(cells))
    reuses = reuse_plan(list(cells), lambda c: dataset_rows[c.dataset]) if kind == "table" else {}
    keys = dks = None
    cached: frozenset[int] = frozenset()
    if data_keys is not None:
        dks = tuple(data_keys[(c.dataset, c.extractor)] for c in cells)
        keys = tuple(c.key(dk) for c, dk in zip(cells, dks))
        stored = set(cached_keys)
        cached = frozenset(i for i, k in enumerate(keys) if k in stored and i not in reuses)
    open_ = [i for i in range(len(cells)) if i not in cached and i not in reuses]
    rides = {open_[i]: open_[j] for i, j in shared_fit_plan([cells[i] for i in open_]).items()}
    return Plan(kind, cells, tuple(split_rows[(c.dataset, c.normal_class, c.ratio)] for c in cells),
                MappingProxyType(reuses), MappingProxyType(rides), cached, keys, dks)


def _inverse(plan: Mapping[int, int]) -> dict[int, tuple[int, ...]]:
    out: dict[int, list[int]] = {}
    for i, j in plan.items():
        out.setdefault(j, []).append(i)
    return {j: tuple(sorted(v)) for j, v in out.items()}


def split_rows(cells) -> tuple[dict[tuple, int], dict[str, int]]:
    """(rows of each (dataset, class, ratio) split of ``cells``, rows of each dataset), from the
    labels alone (no embedding), by the protocol's rule (:func:`tasks.datasets.split_size`)."""
    from .datasets import get_spec, split_size
    from .embed import load_labels

    splits: dict[tuple, int] = {}
    totals: dict[str, int] = {}
    for ds in dict.fromkeys(c.dataset for c in cells):
        spec = get_spec(ds)
        y, classes, _ = load_labels(ds)
        totals[ds] = len(y)
        for c in cells:
            if c.dataset == ds and (ds, c.normal_class, c.ratio) not in splits:
                splits[(ds, c.normal_class, c.ratio)] = split_size(spec, y, c.normal_class, c.ratio)
    return splits, totals


def plan_job(job, data_keys: Mapping[tuple, str] | None = None, cached_keys=()) -> Plan:
    """:func:`make_plan` of a job's cells, with their row counts read from the labels."""
    splits, totals = split_rows(job.cells)
    return make_plan(job.kind, job.cells, splits, totals, data_keys, cached_keys)
