"""Detectors by name, without editing the registry.

* ``pyod:<Class>``: any PyOD detector, e.g. ``pyod:LUNAR``, ``pyod:DIF``, ``pyod:INNE``;
* ``<module.path>:<Class>``: a class of your own, importable from where the suite runs;
* the entry-point group :data:`ENTRY_POINT_GROUP`: another package registers its detectors by
  declaring ``name = "package.module:Class"`` there (``[project.entry-points."sla2p_bench.detectors"]``).

A name is resolved on first use (:func:`resolve`, called by the registry's lookup) and registered
with :data:`DEFAULTS`: the class's own defaults, float32-level order tolerance, fitted on at most
``MAX_ROWS`` rows (the protocol's cap; unknown classes may grow faster than linearly). It gets its
own code version (its module's code: ``tasks.versions``), so adding one refits nothing else.

Before any work, a config that names one runs :func:`check_contract` on a small synthetic set:
``fit`` and ``decision_function`` exist and ``fit`` sets ``decision_scores_`` (PyOD's
``BaseDetector`` contract), the scores are finite, higher means more anomalous (planted outliers
score above the inliers on average), and scoring permuted rows permutes the scores within the
registered tolerance. A class that fails is refused with one line naming the failed check.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

import numpy as np

from sla2p.settings import MAX_ROWS

ENTRY_POINT_GROUP = "sla2p_bench.detectors"
DEFAULTS = {"order_tolerance": 1e-5, "max_fit_rows": MAX_ROWS,
            "fit_note": "a detector named by its class: its cost may grow faster than its rows"}


RESOLVED: set[str] = set()  # the names registered here: their contract is checked before a job runs


class ContractError(ValueError):
    """A detector named by its class does not keep the suite's detector contract."""


def is_by_name(name: str) -> bool:
    """Whether ``name`` was (or will be) registered here rather than by the suite's registry."""
    return name in RESOLVED or (isinstance(name, str) and ":" in name)


def _pyod_class(cls_name: str):
    """PyOD's detector class ``cls_name``: from ``pyod.models.<cls_name lower>``, else the first
    ``pyod.models`` module that defines it (modules that need absent optional packages are skipped)."""
    import pkgutil

    import pyod.models

    import contextlib
    import io

    candidates = [cls_name.lower()] + [m.name for m in pkgutil.iter_modules(pyod.models.__path__)]
    for mod in dict.fromkeys(candidates):
        try:  # some PyOD modules print an install hint for their optional packages when imported
            with contextlib.redirect_stdout(io.StringIO()):
                cls = getattr(importlib.import_module(f"pyod.models.{mod}"), cls_name, None)
        except Exception:  # noqa: BLE001 - an optional dependency of another model is missing
            continue
        if isinstance(cls, type):
            return cls
    raise ValueError(f"PyOD has no detector class {cls_name!r} (pyod:{cls_name}); see pyod.models, e.g. pyod:LUNAR")


def class_of(name: str):
    """The class a by-name detector names (ValueError naming what is wrong)."""
    module, _, cls_name = name.partition(":")
    if not module or not cls_name:
        raise ValueError(f"a detector named by its class is 'pyod:<Class>' or '<module.path>:<Class>', got {name!r}")
    if module == "pyod":
        return _pyod_class(cls_name)
    try:
        cls = getattr(importlib.import_module(module), cls_name)
    except ImportError as exc:
        raise ValueError(f"{name}: module {module!r} cannot be imported ({exc})") from None
    except AttributeError:
        raise ValueError(f"{name}: module {module!r} has no {cls_name!r}") from None
    if not isinstance(cls, type):
        raise ValueError(f"{name}: {cls_name!r} is not a class")
    return cls


@lru_cache(maxsize=1)
def _entry_points() -> dict:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def resolve(name: str):
    """Register ``name`` if it is a by-name detector or an entry point, and return its
    :class:`~baselines.registry.DetectorInfo`; None when it is neither."""
    from .registry import register

    if is_by_name(name):
        cls = class_of(name)
    elif name in _entry_points():
        cls = _entry_points()[name].load()
    else:
        return None
    RESOLVED.add(name)
    return register(name, cls, description=f"{cls.__module__}.{cls.__qualname__}, by name", **DEFAULTS)


def _contract_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """200 inliers from a standard normal in 6 dimensions and 10 planted outliers far away."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(200, 6)), rng.normal(loc=6.0, size=(10, 6))]).astype(np.float64)
    return X, np.r_[np.zeros(200), np.ones(10)].astype(bool)


def check_contract(name: str) -> None:
    """Fit ``name`` at its defaults on a small synthetic set and check the suite's contract;
    :class:`ContractError` names the first check that fails."""
    from .invariance import check_invariance
    from .registry import make_detector

    X, outlier = _contract_data()
    det = make_detector(name, random_state=0)
    for attr in ("fit", "decision_function"):
        if not callable(getattr(det, attr, None)):
            raise ContractError(f"{name}: no {attr}() (the PyOD BaseDetector contract)")
    try:
        det.fit(X)
    except Exception as exc:  # noqa: BLE001 - named in the one line
        raise ContractError(f"{name}: fit failed on a small synthetic set ({type(exc).__name__}: {exc})") from None
    scores = np.asarray(getattr(det, "decision_scores_", np.nan), dtype=np.float64)
    if scores.shape != (X.shape[0],) or not np.isfinite(scores).all():
        raise ContractError(f"{name}: fit must set decision_scores_, one finite score per row")
    if not scores[outlier].mean() > scores[~outlier].mean():
        raise ContractError(f"{name}: higher scores must mean more anomalous (planted outliers scored lower)")
    result = check_invariance(name, X, detector=det)
    if not result.passed:
        raise ContractError(f"{name}: scoring permuted rows changed the scores by {result.max_order_diff:.3g}, "
                            f"beyond the tolerance {result.tolerance:g} x {result.scale:.3g}")
