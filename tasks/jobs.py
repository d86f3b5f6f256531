"""Jobs: a config (the mapping a YAML file in ``configs/`` holds) validated and expanded into its
cells BEFORE any work. Reading the YAML is the flows' job (:mod:`flows.config`); reports re-expand
the config a parent run stored, with this same function.

A table config::

    kind: table
    seeds: [0, 1, 2, 3, 4]
    ratios: [0.1, 0.3, 0.5, 0.01, 0.02, 0.03, 0.04, 0.05]   # one-vs-rest datasets only
    device: auto
    datasets:
      arrhythmia: {}                       # intrinsic: all rows (an extra: at most 12,000)
      20news: {classes: all}               # or a list of names/indices; optional ratios, extractor
    methods:
      sla2p: {paper_settings: true}        # the published per-dataset settings (method.md s5)
      iforest: {params: {n_estimators: 200}}
      goad: {per_dataset: {kddcup99: {depth: 5}}}
      sla2p_official:                      # a labelled variant of a registered detector:
        detector: sla2p                    #   the order audit of the reports (see README)
        paper_settings: true
        params: {compat: official}
        row_order: inliers_first           # the authors' loaders' order; default: shuffled
        scope: first                       # one point per dataset (below); default: full

``dataset_groups`` names groups of datasets instead of listing them (``tasks.datasets.registry``:
``paper``, ``odds``, ``adbench-classical``, ``adbench-cv-resnet18``, ``adbench-nlp-bert``,
``adbench-nlp-roberta``, ...), each with the options of a ``datasets`` entry; it expands to every
dataset of the group in the store, sorted by name, so a file added to the store joins the config::

    dataset_groups:
      adbench-classical: {}                # every data/adbench/Classical/*.npz
    datasets:
      adbench_wbc: {extractor: identity}   # listed too: one entry, these options win

A group's ``half: development`` (or ``confirmation``) keeps that half of it (:mod:`tasks.datasets.halves`:
sorted names, every other one from the first is development). A table's ``halves: true`` makes
its report add the development half, the confirmation half and how each ``sla2p_<word>`` variant
fares against ``sla2p`` on each (:mod:`tasks.report.build`).

The listed datasets come first, in their order, then each group's; ``datasets`` may be left out
when ``dataset_groups`` is given. A group's ``classes``/``ratios`` apply to its one-vs-rest
datasets (its intrinsic ones take none). An unknown group is refused naming the known ones, and
so is a group of which the store holds no file.

A table method's ``on_request: true`` lists it without running it by default: it runs when the
CLI names it (``--methods lunar,slad``) or asks for every listed method (``--methods all``). A
profile keeps its time budget this way and still holds the methods whose published settings would
break it (the successors on paper-quick, SLAD on ADBench classical); their cells share keys, and so
the cache, with a default run's, and the report of a ``--methods all`` run holds both.

A table method's ``scope`` says which of the config's cells it runs: ``full`` (the default) runs
every dataset x class x ratio x seed; ``first`` runs, per dataset, the first seed and the first
ratio (of the dataset's own ``ratios`` or the top-level list) with ALL its classes, which is what
the order audit needs to make its point at a fraction of the cost (configs/table.yaml). "First"
is taken after the CLI filters (``--seeds 3`` runs that method on seed 3). In a comparison table a
``first`` method shows ``not run`` at the other ratios and one seed's value (no spread).

An ablation config has ``kind: ablation``, one ``method``, its ``base`` (as a method entry
above) and a ``grid`` of parameter values; ``mode: separate`` (default) varies one parameter at a
time around the base, ``mode: product`` runs the full grid.

Parameter precedence: published settings (``paper_settings: true``, where the dataset has them)
< ``params`` < ``per_dataset[dataset]`` < the grid value (ablations).

Top-level keys: ``kind`` (table | ablation), ``name`` (default: the file's stem), ``description``
(free text for people; ignored), ``seeds``, ``ratios``, ``device``, ``datasets`` and/or
``dataset_groups``, and ``methods`` and ``halves``
(tables) or ``method``/``base``/``grid``/``mode`` (ablations).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Mapping

from baselines import CALL_PARAMS, ContractError, check_contract, check_params, detector_info, is_by_name

from .cells import DEFAULT_ROW_ORDER, ROW_ORDERS, Cell, canonical, make_cell, name_points
from .plan import distinct

SCOPES = ("full", "first")  # a table method's cells: all of them, or one seed and one ratio per dataset
DEFAULT_SCOPE = SCOPES[0]


class ConfigError(ValueError):
    """A config that cannot run; the message names the mistake."""


@dataclass(frozen=True)
class Job:
    """A config with its CLI filters, validated and expanded into its cells: the one value of a
    job that the CLI builds and everything below it reads (nothing re-reads the config file)."""

    kind: str
    name: str
    path: str
    raw: Mapping                          # the config as read, in its order (the parent run stores it)
    cells: tuple[Cell, ...]
    points: tuple[dict, ...] = ()         # ablation: the grid point of each cell
    filters: Mapping = field(default_factory=dict)  # the CLI filters that are set

    @cached_property
    def key(self) -> str:
        """The job's identity: its kind and its distinct cells (the run lock's name; the MLflow
        parent's key adds the data keys, known once the data are prepared)."""
        ids = sorted(canonical(c.identity()) for c in self.cells)
        return hashlib.sha256(canonical({"kind": self.kind, "cells": ids}).encode()).hexdigest()[:24]

    def summary(self) -> dict:
        """What names the job without its cells (what Prefect shows of a flow run's job)."""
        return {"kind": self.kind, "name": self.name, "path": self.path, "key": self.key, "cells": len(self.cells),
                "filters": dict(self.filters)}

    def distinct_cells(self) -> list[Cell]:
        """Each cell once: a 'separate' ablation repeats its base point on every curve."""
        return distinct(self.cells)


def _expect(cond, msg):
    if not cond:
        raise ConfigError(msg)


def _check_keys(where: str, d: dict, allowed: set[str]) -> None:
    _expect(isinstance(d, dict), f"{where} must be a mapping, got {d!r}")
    extra = set(d) - allowed
    _expect(not extra, f"{where}: unknown key(s) {sorted(extra)}; allowed: {sorted(allowed)}")


def _check_ratios(where: str, ratios) -> list[float]:
    _expect(isinstance(ratios, list) and ratios, f"{where}: ratios must be a non-empty list")
    from .datasets import check_ratio

    out = []
    for r in ratios:
        try:
            out.append(check_ratio(r))
        except ValueError:
            raise ConfigError(f"{where}: ratio {r!r} is outside (0, 1]") from None
    return out


def _check_seeds(seeds) -> list[int]:
    _expect(isinstance(seeds, list) and seeds, "seeds must be a non-empty list of ints >= 0")
    for s in seeds:
        _expect(isinstance(s, int) and not isinstance(s, bool) and s >= 0, f"seed {s!r} is not an int >= 0")
    return seeds


def _resolve_classes(dataset: str, spec, wanted) -> list[str]:
    if wanted in (None, "all"):
        return list(spec.classes)
    _expect(isinstance(wanted, list) and wanted, f"datasets.{dataset}.classes must be 'all' or a list")
    out = []
    for c in wanted:
        if isinstance(c, int) and not isinstance(c, bool) and 0 <= c < len(spec.classes):
            out.append(spec.classes[c])
        elif isinstance(c, str) and c in spec.classes:
            out.append(c)
        else:
            raise ConfigError(f"datasets.{dataset}: unknown class {c!r}; classes: {list(spec.classes)}")
    return out


def _detector_of(method: str, entry: dict) -> str:
    """The registered detector behind a method entry (a labelled variant names it)."""
    return entry.get("detector", method)


def _method_params(method: str, entry: dict, dataset: str) -> dict:
    from sla2p.settings import PAPER_SETTINGS, paper_params

    params: dict = {}
    if entry.get("paper_settings") and dataset in PAPER_SETTINGS:
        params.update(paper_params(dataset))
        if _detector_of(method, entry) == "sla":  # SLA is SLA2P without the perturbation
            params.pop("epsilon", None)
    params.update(entry.get("params") or {})
    params.update((entry.get("per_dataset") or {}).get(dataset) or {})
    return params


def _validate_method(method: str, entry: dict, where: str, *, table: bool = True) -> None:
    keys = {"params", "paper_settings", "per_dataset", "detector", "row_order"} | ({"scope", "on_request"} if table else set())
    for key, what in (("scope", "a scope"), ("on_request", "on_request")):
        if not table and isinstance(entry, dict) and key in entry:
            raise ConfigError(f"{where}.{key}: only a table's methods take {what} (an ablation runs its whole grid)")
    _check_keys(f"{where}.{method}", entry, keys)
    _expect(isinstance(entry.get("on_request", False), bool),
            f"{where}.{method}.on_request must be true or false, got {entry.get('on_request')!r}")
    detector = _detector_of(method, entry)
    _check_detector(detector, method, where)
    if entry.get("row_order", DEFAULT_ROW_ORDER) not in ROW_ORDERS:
        raise ConfigError(f"{where}.{method}.row_order must be one of {list(ROW_ORDERS)}, got {entry['row_order']!r}")
    if entry.get("scope", DEFAULT_SCOPE) not in SCOPES:
        raise ConfigError(f"{where}.{method}.scope must be one of {list(SCOPES)} (full: every cell; first: the "
                          f"first seed and ratio of each dataset, all classes), got {entry['scope']!r}")
    # the values (names included) are the detector's own check's, once the blocks are merged per dataset
    for label, block in [("params", entry.get("params") or {}),
                         *((f"per_dataset.{d}", p or {}) for d, p in (entry.get("per_dataset") or {}).items())]:
        _expect(isinstance(block, dict), f"{where}.{method}.{label} must be a mapping")


def _check_detector(detector: str, method: str, where: str) -> None:
    """The detector exists: registered, or named by its class (``pyod:LUNAR``, ``my.module:MyDetector``)
    or by an entry point, which must then keep the detector contract (:func:`baselines.check_contract`)."""
    what = "method" if detector == method else f"detector of {method!r}"
    try:
        detector_info(detector)
        if is_by_name(detector):
            check_contract(detector)
    except ContractError as exc:
        raise ConfigError(f"{where}.{method}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{where}: unknown {what} {detector!r} ({exc})") from None


def _check_param_values(detector: str, params: dict, where: str) -> None:
    """The detector's own parameter checks (:func:`baselines.check_params`), so that bad values fail
    now, not hours into a run. Values of data-dependent validity (``n_neighbors`` larger than a
    dataset) are left to the cell, which fails with its error."""
    try:
        check_params(detector, params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {detector} with {params}: {exc}") from exc


DATASET_OPTIONS = {"classes", "ratios", "extractor"}
GROUP_OPTIONS = DATASET_OPTIONS | {"half"}  # half: one of tasks.datasets.halves.HALVES


def _dataset_entries(raw: dict) -> dict[str, tuple[dict, str]]:
    """``datasets`` merged with every dataset of each of ``dataset_groups``: name -> (options,
    where they come from). The listed datasets first, in their order, then each group's datasets
    sorted by name; a dataset both listed and in a group is one entry with its listed options."""
    from .datasets.halves import HALVES, halves
    from .datasets.registry import list_groups

    ds = raw.get("datasets")
    groups = raw.get("dataset_groups")
    _expect(ds is not None or groups is not None,
            "datasets must be a non-empty mapping of dataset name -> options (or give dataset_groups)")
    _expect(ds is None or isinstance(ds, dict), "datasets must be a mapping of dataset name -> options")
    entries = {name: (opts or {}, f"datasets.{name}") for name, opts in (ds or {}).items()}
    if groups is not None:
        _expect(isinstance(groups, dict) and groups, "dataset_groups must be a non-empty mapping of group -> options")
        known = list_groups()
        for group, opts in groups.items():
            if group not in known:
                raise ConfigError(f"dataset_groups: unknown group {group!r}; known groups: {', '.join(known)}")
            opts = dict(opts or {})
            _check_keys(f"dataset_groups.{group}", opts, GROUP_OPTIONS)
            _expect(known[group], f"dataset_groups.{group}: the data store holds no dataset of this group")
            members = known[group]
            if "half" in opts:
                half = opts.pop("half")
                _expect(half in HALVES, f"dataset_groups.{group}.half must be one of {HALVES}, got {half!r}")
                _expect(len(members) >= 2, f"dataset_groups.{group}: one dataset cannot be halved")
                members = halves(members)[half]
            for name in members:
                entries.setdefault(name, (opts, f"dataset_groups.{group}"))
    _expect(entries, "datasets must be a non-empty mapping of dataset name -> options")
    return entries


def _datasets(raw: dict, default_ratios: list[float]) -> list[tuple[str, object, list, list[float], str | None]]:
    from .datasets import get_spec

    out = []
    for name, (opts, where) in _dataset_entries(raw).items():
        _check_keys(where, opts, DATASET_OPTIONS)
        try:
            spec = get_spec(name)
        except ValueError as exc:
            raise ConfigError(f"datasets: {exc}") from None
        extractor = opts.get("extractor")
        if extractor is not None and spec.extractors and extractor not in spec.extractors:
            raise ConfigError(f"{where}: unknown extractor {extractor!r} for {name}; "
                              f"available: {list(spec.extractors)}")
        if spec.protocol == "intrinsic":
            # a group's classes/ratios are for its one-vs-rest members; a listed dataset's are a mistake
            _expect(where.startswith("dataset_groups.") or ("classes" not in opts and "ratios" not in opts),
                    f"datasets.{name} is intrinsic (its labels say which rows are outliers): "
                    "it takes no classes or ratios")
            out.append((name, spec, [None], [None], extractor))
        else:
            classes = _resolve_classes(name, spec, opts.get("classes", "all"))
            ratios = _check_ratios(where, opts["ratios"]) if "ratios" in opts else default_ratios
            out.append((name, spec, classes, ratios, extractor))
    return out


def _apply_filter(where: str, values: list, wanted: list | None, conv=str) -> list:
    if not wanted:
        return values
    conv_wanted = [conv(w) for w in wanted]
    present = {conv(v) for v in values if v is not None}
    missing = [w for w in conv_wanted if w not in present]
    _expect(not missing, f"--{where}: {missing} not in this config ({sorted(present, key=str)})")
    return [v for v in values if v is None or conv(v) in conv_wanted]


def expand_job(raw: dict, path: str | Path = "<config>", *, datasets=None, classes=None, ratios=None, seeds=None,
               methods=None, device: str | None = None) -> Job:
    """Validate a config (the mapping its YAML holds) plus CLI filters and expand it into its
    cells. Raises ConfigError naming the mistake; nothing else runs before it is known valid."""
    kind = _check_top(raw, path)
    seeds_all = _check_seeds(raw.get("seeds", [0]))
    ds = _datasets(raw, _check_ratios("ratios", raw.get("ratios", [0.1])))
    variants = _table_variants(raw) if kind == "table" else _ablation_variants(raw)
    # CLI filters
    ds = [d for d in ds if d[0] in _apply_filter("datasets", [d[0] for d in ds], datasets)]
    seeds_run = _apply_filter("seeds", seeds_all, seeds, int)
    variants = _requested(variants, methods)
    cells, points = _cells(ds, variants, seeds_run, classes, ratios, device or raw.get("device", "auto"))
    _expect(cells, "the config and filters select no cells")
    if kind == "ablation":  # each cell named by its grid point (naming only: keys unchanged)
        cells = name_points(cells, points)
    elif len(distinct(cells)) != len(cells):  # a 'separate' ablation repeats its base point; a table never
        raise ConfigError("the config lists the same cell twice (same dataset, class, ratio, method, params, seed): "
                          "look for a class, ratio or seed listed twice")
    filters = {k: v for k, v in dict(datasets=datasets, classes=classes, ratios=ratios, seeds=seeds,
                                        methods=methods).items() if v}
    return Job(kind, raw.get("name", Path(path).stem), str(path), raw, tuple(cells), tuple(points), filters)


def _requested(variants: list, methods: list | None) -> list:
    """The variants a run executes: without ``--methods`` those not ``on_request``; ``--methods all``
    every one; else the named ones (each must be listed)."""
    if not methods:
        return [v for v in variants if not v[1].get("on_request")]
    if list(methods) == ["all"]:
        return variants
    keep = _apply_filter("methods", [v[0] for v in variants], methods)
    return [v for v in variants if v[0] in keep]


def _check_top(raw, path) -> str:
    """The config's kind, once its top-level keys are known valid."""
    _expect(isinstance(raw, dict), f"{path}: the top level must be a mapping, got {type(raw).__name__}")
    kind = raw.get("kind", "table")
    _expect(kind in ("table", "ablation"), f"kind must be 'table' or 'ablation', got {kind!r}")
    common = {"kind", "name", "description", "seeds", "ratios", "device", "datasets", "dataset_groups"}
    allowed = common | ({"methods", "halves"} if kind == "table" else {"method", "base", "grid", "mode"})
    _check_keys(str(path), raw, allowed)
    _expect(isinstance(raw.get("halves", False), bool), f"halves must be true or false, got {raw.get('halves')!r}")
    return kind


def _table_variants(raw: dict) -> list[tuple[str, dict, dict]]:
    """(method, its entry, no grid point) for each method of a table."""
    m = raw.get("methods")
    _expect(isinstance(m, dict) and m, "methods must be a non-empty mapping of method -> options")
    entries = {name: (e or {}) for name, e in m.items()}
    for name, e in entries.items():
        _validate_method(name, e, "methods")
    return [(name, e, {}) for name, e in entries.items()]


def _ablation_variants(raw: dict) -> list[tuple[str, dict, dict]]:
    """(the method, its base entry, a grid point) for each point of an ablation's grid."""
    method = raw.get("method", "sla2p")
    base = raw.get("base") or {}
    _validate_method(method, base, "base", table=False)
    grid = raw.get("grid")
    _expect(isinstance(grid, dict) and grid, "grid must map parameter -> list of values")
    valid = [p for p in detector_info(_detector_of(method, base)).param_names if p not in CALL_PARAMS]
    for p, vals in grid.items():
        _expect(p in valid, f"grid: unknown parameter {p!r} for {method}; valid: {', '.join(valid)}")
        _expect(isinstance(vals, list) and vals, f"grid.{p} must be a non-empty list")
    mode = raw.get("mode", "separate")
    _expect(mode in ("separate", "product"), f"mode must be 'separate' or 'product', got {mode!r}")
    if mode == "separate":
        points = [{p: v} for p, vals in grid.items() for v in vals]
    else:
        points = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]
    return [(method, base, pt) for pt in points]


def _cells(ds, variants, seeds_run, classes, ratios, dev) -> tuple[list[Cell], list[dict]]:
    """Every (dataset, class, ratio, method, seed) cell of the filtered job, with its grid point;
    each detector's parameters checked once per distinct set."""
    cells: list[Cell] = []
    points: list[dict] = []
    checked: set = set()
    for name, spec, cls_list, ratio_list, extractor in ds:
        if classes:
            cls_list = [c for c in cls_list if c is None or c in _resolve_classes(name, spec, list(classes))]
        if ratios:
            ratio_list = [r for r in ratio_list if r is None or any(abs(r - float(w)) < 1e-12 for w in ratios)]
        for method, entry, point in variants:
            detector = _detector_of(method, entry)
            params = {**_method_params(method, entry, name), **point}
            sig = (detector, repr(sorted(params.items())))
            if sig not in checked:
                _check_param_values(detector, params, f"{method} on {name}")
                checked.add(sig)
            first = entry.get("scope", DEFAULT_SCOPE) == "first"  # one seed and one ratio, every class
            combos = itertools.product(cls_list, ratio_list[:1] if first else ratio_list,
                                       seeds_run[:1] if first else seeds_run)
            for c, r, s in combos:
                cells.append(make_cell(name, c, r, method, params, s, extractor, dev, detector,
                                       entry.get("row_order", DEFAULT_ROW_ORDER)))
                points.append(point)
    return cells, points
