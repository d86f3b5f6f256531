"""The facade: a dataset's features (:func:`load_features`) or labels (:func:`load_labels`),
from verified source files, through the cache (:mod:`.cache`) and the extractor table
(:mod:`.extractors`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..datasets.registry import get_spec
from ..fetch import paths
from ..fetch.sources import ensure_files, source_hash, verify_external
from .cache import CODE_VERSION, cache_key, cached
from .extractors import DESCRIPTIVE_PARAMS, EXTRACTOR_CALLS, EXTRACTORS, RUNTIME_PARAMS

__all__ = ["Features", "load_features", "load_labels"]


@dataclass(frozen=True, eq=False)
class Features:
    """Features of a whole dataset (rows in dataset order) and their provenance."""

    X: np.ndarray | sp.csr_matrix = field(repr=False)
    y: np.ndarray = field(repr=False)
    class_names: tuple[str, ...]
    source_hash: str
    extractor: str
    key: str

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.X.shape)


def _verified_source(name, data_dir, cache_dir):
    """(spec, source hash, cache folder): tracked files pulled if missing and verified against
    ``data.dvc``; external files (the paper's own formats) hashed by content."""
    spec = get_spec(name, data_dir=data_dir)
    if spec.external:
        d = paths.data_dir(data_dir)
        md5s = verify_external([d / f for f in spec.files], cache_dir=cache_dir)
    else:
        md5s = ensure_files(spec.files, data_dir=data_dir, cache_dir=cache_dir)
    return spec, source_hash(md5s), paths.cache_dir(cache_dir)


def load_features(
    name: str,
    extractor: str | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    only_if_cached: bool = False,
    **options,
) -> Features | None:
    """Features of a whole dataset, from the cache or computed once and cached.

    With ``only_if_cached=True`` nothing is computed: ``None`` when the entry is not cached
    (the CLI's time estimate uses this to know whether embedding is still to be paid).

    Pulls the dataset's files with DVC if they are missing, verifies them against
    ``data.dvc``, then returns the cached features for ``(source hash, extractor, params,
    CODE_VERSION)``. ``options`` are the extractor's parameters (they change the output and
    the cache key, e.g. ``precision="bf16"`` for images) or speed-only options for image
    extractors (``batch_size``, ``threads``, ``mode``, ``device``, ``progress``: not in the key).
    """
    spec = get_spec(name, data_dir=data_dir)
    ext_name, ext = _extractor(spec, name, extractor)
    rt_names, runtime = _runtime_options(ext_name, ext, options)
    if ext.check:
        ext.check()  # a missing extra fails here, before any file is pulled
    key_extra: dict = {}
    if ext.resolve_runtime:
        key_extra, runtime = ext.resolve_runtime(runtime)
    spec, shash, cdir = _verified_source(name, data_dir, cache_dir)
    params = {**ext.defaults, **spec.extractor_params.get(ext_name, {}),
              **{k: v for k, v in options.items() if k not in rt_names}, **key_extra}  # fmt: skip
    key = cache_key(shash, spec.name, spec.loader_version, ext_name, params)
    if only_if_cached and not (cdir / f"{key}.npz").exists():
        return None

    def compute():
        return _extract(spec, data_dir, ext_name, ext, params, key_extra, runtime, shash)

    X, y, class_names, _ = cached(cdir / f"{key}.npz", compute)
    return Features(X=X, y=y, class_names=class_names, source_hash=shash, extractor=ext_name, key=key)


def _extractor(spec, name: str, extractor: str | None):
    """(name, extractor) asked for, or the dataset's default; refused if unknown or not for
    this dataset's modality."""
    ext_name = extractor or spec.default_extractor
    if ext_name not in EXTRACTORS:
        raise ValueError(f"unknown extractor {ext_name!r}; known extractors: {', '.join(sorted(EXTRACTORS))}")
    if ext_name not in spec.extractors:
        raise ValueError(f"extractor {ext_name!r} does not apply to {name} ({spec.modality}); use one of {spec.extractors}")
    return ext_name, EXTRACTORS[ext_name]


def _runtime_options(ext_name: str, ext, options: dict) -> tuple[set, dict]:
    """(names of the speed-only options, those given): they stay out of the cache key. Any
    option that is neither one nor a parameter of the extractor is refused."""
    rt_names = (RUNTIME_PARAMS if ext.modality == "image" else set()) | set(ext.runtime)
    allowed = rt_names | (set(ext.defaults) - DESCRIPTIVE_PARAMS)
    bad = set(options) - allowed
    if bad:
        raise TypeError(f"unexpected options {sorted(bad)} for {ext_name}; allowed: {sorted(allowed)}")
    return rt_names, {k: v for k, v in options.items() if k in rt_names}


def _extract(spec, data_dir, ext_name: str, ext, params: dict, key_extra: dict, runtime: dict, shash: str):
    """(X, y, class_names, meta) computed from the raw dataset: what the cache stores."""
    raw = spec.load_raw(data_dir)
    EXTRACTOR_CALLS[ext_name] += 1
    call = {k: v for k, v in params.items() if k not in DESCRIPTIVE_PARAMS and k not in key_extra}
    X = ext.fn(raw, **call, **runtime)
    if X.shape[0] != len(raw):
        raise RuntimeError(f"{ext_name} returned {X.shape[0]} rows for {len(raw)} inputs")
    meta = {"dataset": spec.name, "extractor": ext_name, "params": {k: params[k] for k in sorted(params)},
            "source_hash": shash, "code_version": CODE_VERSION}  # fmt: skip
    return X, raw.y, raw.class_names, meta


def load_labels(
    name: str, *, data_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None
) -> tuple[np.ndarray, tuple[str, ...], str]:
    """(y, class_names, source_hash) without computing features (cached like them)."""
    spec, shash, cdir = _verified_source(name, data_dir, cache_dir)
    key = cache_key(shash, spec.name, spec.loader_version, "labels", {})

    def compute():
        raw = spec.load_raw(data_dir)
        return None, raw.y, raw.class_names, {"dataset": spec.name, "extractor": "labels", "source_hash": shash}

    _, y, class_names, _ = cached(cdir / f"{key}.npz", compute)
    return y, class_names, shash
