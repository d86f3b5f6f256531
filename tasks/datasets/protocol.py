"""The paper's protocol (method.md section 4): splits as indices into a dataset.

One-vs-rest datasets, for a normal class c and a ratio p in (0, 1]:

* the normal rows: ALL rows of class c;
* the outliers, from the other classes (:class:`~tasks.datasets.registry.DatasetSpec`):
  CIFAR-10 ``int(p * n_normal)`` drawn at random; Caltech-101 ``int(100 p)`` drawn at random;
  20 Newsgroups and Reuters ``int(360 p)``: the FIRST rows of the other classes' pool in
  dataset order (the pool keeps dataset order; see :mod:`tasks.datasets.text` for that order).
  ``int(.)`` is computed as ``floor(p * base + 1e-9)`` so that float noise (0.57 * 100 =
  56.99999...) cannot drop one outlier; for the paper's ratios it equals Python's ``int``.
* a set larger than ``max_rows`` (12,000) is subsampled to 12,000 rows at random, without
  replacement (normals and outliers alike, so the ratio is kept only in expectation);
* finally the rows are shuffled.

Intrinsic datasets (Arrhythmia, KDDCup99, every ODDS/ADBench extra): ``normal_class`` and
``ratio`` must be None.

* the paper's (Arrhythmia, KDDCup99's 494,021 rows): ALL rows, shuffled;
* the extras (``DatasetSpec.paper`` False, i.e. ``DatasetSpec.caps_intrinsic``): all rows when
  there are at most ``max_rows`` (12,000), the very split that all rows gave before the cap
  existed; a larger set is subsampled to 12,000 rows at random without replacement (as the
  one-vs-rest cap: inliers and outliers alike, so the outlier count varies with the seed: smtp's
  30 outliers in 95,156 rows leave about 4), then shuffled.

A split that AUROC cannot rank is refused with :class:`DegenerateSplitError` naming the dataset
and seed, before any detector runs: no inliers, no outliers, or (intrinsic sets) fewer than 2
outliers (with one, AUROC is the rank of a single row; a capped set is where this happens). A
one-vs-rest split needs one: that is the paper's own Caltech-101 at p = 0.01 (int(100 p)).

Randomness: one ``numpy.random.Generator`` (PCG64 via ``np.random.default_rng``) per split,
seeded with ``SeedSequence`` entropy = the first 16 bytes of
``sha256("sla2p-split|v1|{dataset}|{class index}|{repr(float(ratio))}|{seed}")`` (``None``
for intrinsic class/ratio), as a big-endian integer. It is stable across processes and
platforms (Python's ``hash()`` is not). Draws in order: outliers (random modes), the 12,000
cap (one-vs-rest and capped intrinsic sets), the final shuffle. Same (dataset, class, ratio,
seed) -> same indices.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp

from .registry import DatasetSpec, get_spec

__all__ = ["Split", "make_split", "take_rows", "split_rng", "n_outliers", "split_size", "check_ratio", "resolve_class", "DegenerateSplitError"]


class DegenerateSplitError(ValueError):
    """A split whose labels AUROC cannot rank (no inliers, or too few outliers)."""


@dataclass(frozen=True, eq=False)
class Split:
    """Rows of one run: ``indices`` into ``Features.X`` (shuffled), ``labels`` (1 = outlier)."""

    indices: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    n_normal: int
    n_outlier: int
    dataset: str = ""
    normal_class: str | None = None
    ratio: float | None = None
    seed: int = 0

    def __len__(self) -> int:
        return int(self.indices.shape[0])


def split_rng(dataset: str, class_index: int | None, ratio: float | None, seed: int) -> np.random.Generator:
    r = None if ratio is None else repr(float(ratio))
    msg = f"sla2p-split|v1|{dataset}|{class_index}|{r}|{int(seed)}".encode()
    entropy = int.from_bytes(hashlib.sha256(msg).digest()[:16], "big")
    return np.random.default_rng(np.random.SeedSequence(entropy))


def n_outliers(spec: DatasetSpec, ratio: float, n_normal: int) -> int:
    base = n_normal if spec.outlier_base is None else spec.outlier_base
    return int(math.floor(ratio * base + 1e-9))


def split_size(spec: DatasetSpec, y, normal_class=None, ratio: float | None = None) -> int:
    """The rows of the split (``normal_class``, ``ratio``) of a dataset whose labels are ``y``,
    without drawing it: what :func:`make_split` gives (all normals plus :func:`n_outliers`, at
    most ``max_rows``; an intrinsic set's :meth:`DatasetSpec.intrinsic_rows`). The time estimate
    and the fit plan count rows with it."""
    y = np.asarray(y)
    if spec.protocol == "intrinsic":
        return spec.intrinsic_rows(int(y.shape[0]))
    n_norm = int(np.count_nonzero(y == resolve_class(spec, normal_class)))
    return min(spec.max_rows, n_norm + n_outliers(spec, check_ratio(ratio), n_norm))


def resolve_class(spec: DatasetSpec, normal_class) -> int:
    classes = spec.classes
    if isinstance(normal_class, str):
        if normal_class in classes:
            return classes.index(normal_class)
    elif isinstance(normal_class, Integral) and not isinstance(normal_class, bool):
        if 0 <= int(normal_class) < len(classes):
            return int(normal_class)
    listing = ", ".join(f"{i}={c}" for i, c in enumerate(classes))
    raise ValueError(f"unknown class {normal_class!r} for {spec.name}; classes (index=name): {listing}")


def check_ratio(ratio) -> float:
    """A contamination ratio as a float, or ValueError: the one range check (configs, CLI filters
    and splits all call it)."""
    if isinstance(ratio, bool) or not isinstance(ratio, Real) or not (0.0 < float(ratio) <= 1.0):
        raise ValueError(f"ratio must be a number in (0, 1], got {ratio!r}")
    return float(ratio)


def _check_rankable(what: str, seed, labels: np.ndarray, *, min_outliers: int, of: int | None) -> None:
    n_out = int(labels.sum())
    n_in = int(labels.size) - n_out
    if n_in >= 1 and n_out >= min_outliers:
        return
    rows = f"{labels.size:,} rows"
    if of and of > labels.size:
        rows += f" (subsampled from {of:,} by the {labels.size:,}-row cap)"
    raise DegenerateSplitError(
        f"{what}, seed {seed}: the split has {n_out} outlier(s) and {n_in} inlier(s) in {rows}; AUROC/AUPR need "
        f"at least {min_outliers} outlier(s) and 1 inlier. Use another seed or leave the dataset out of the config."
    )


def make_split(
    name: str, normal_class=None, ratio: float | None = None, seed: int = 0, *, features=None, y=None
) -> Split:
    """The rows of one (dataset, normal class, ratio, seed) run; see the module docstring.

    The caller supplies the dataset's labels (one per row, in dataset order), exactly one of:
    ``features``, anything with a ``.y`` (a :class:`~tasks.embed.Features`), or ``y``, the label
    array itself (e.g. ``tasks.embed.load_labels(name)[0]``, which computes no embedding). The
    data layer reads no file here: it sits below :mod:`tasks.embed` and never imports it.
    """
    spec = get_spec(name)
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if (features is None) == (y is None):
        raise TypeError(f"make_split({name!r}, ...) needs the dataset's labels: pass exactly one of features= "
                        f"(a tasks.embed.Features) or y= (e.g. tasks.embed.load_labels({name!r})[0])")
    y = np.asarray(features.y if features is not None else y)
    if spec.protocol == "intrinsic":
        return _intrinsic_split(spec, name, y, normal_class, ratio, seed)
    return _one_vs_rest_split(spec, name, y, normal_class, ratio, seed)


def _intrinsic_split(spec: DatasetSpec, name: str, y: np.ndarray, normal_class, ratio, seed) -> Split:
    """All rows shuffled, or (a capped extra) a subsample of ``max_rows`` shuffled; label 1 = outlier."""
    if normal_class is not None or ratio is not None:
        raise ValueError(f"{name} is an intrinsic dataset: pass normal_class=None and ratio=None")
    rng = split_rng(name, None, None, seed)
    n = int(y.shape[0])
    if n > spec.intrinsic_rows(n):  # the cap draws before the shuffle, as in one-vs-rest
        idx = np.sort(rng.choice(n, size=spec.intrinsic_rows(n), replace=False)).astype(np.int64)
        idx = idx[rng.permutation(idx.size)]
    else:  # all rows: the same draw as before the cap existed
        idx = rng.permutation(n).astype(np.int64)
    labels = (y[idx] == 1).astype(np.int8)
    n_out = int(labels.sum())
    _check_rankable(name, seed, labels, min_outliers=2, of=n)
    return Split(idx, labels, len(idx) - n_out, n_out, name, None, None, int(seed))


def _one_vs_rest_split(spec: DatasetSpec, name: str, y: np.ndarray, normal_class, ratio, seed) -> Split:
    """All rows of the normal class plus the outliers, capped at ``max_rows``, shuffled. One
    rng draws, in this order: the outliers (random mode), the cap, the shuffle."""
    if normal_class is None:
        raise ValueError(f"{name} is a one-vs-rest dataset: give normal_class (one of {spec.classes})")
    c = resolve_class(spec, normal_class)
    p = check_ratio(ratio)
    rng = split_rng(name, c, p, seed)
    normals = np.flatnonzero(y == c)
    others = np.flatnonzero(y != c)  # dataset order
    k = n_outliers(spec, p, normals.size)
    if k > others.size:
        raise ValueError(f"{name}: ratio {p} needs {k} outliers but only {others.size} rows are not class {spec.classes[c]}")
    if spec.outlier_mode == "first":
        outl = others[:k]
    elif spec.outlier_mode == "random":
        outl = np.sort(rng.choice(others, size=k, replace=False))
    else:
        raise ValueError(f"{name}: unknown outlier_mode {spec.outlier_mode!r}")
    idx = np.concatenate([normals, outl]).astype(np.int64)
    if idx.size > spec.max_rows:
        idx = np.sort(rng.choice(idx, size=spec.max_rows, replace=False))
    idx = idx[rng.permutation(idx.size)]
    labels = (y[idx] != c).astype(np.int8)
    n_out = int(labels.sum())
    _check_rankable(f"{name} (normal class {spec.classes[c]}, ratio {p})", seed, labels, min_outliers=1,
                    of=None)
    return Split(idx, labels, len(idx) - n_out, n_out, name, spec.classes[c], p, int(seed))


def authors_order(split: Split) -> Split:
    """The same rows in the order of the authors' loaders: inliers first, then outliers, each in
    dataset order. Only for auditing ``SLA2P(compat="official")``, whose scores depend on it
    (method.md s3); the suite's own runs keep the shuffled order."""
    order = np.lexsort((split.indices, split.labels))  # by label, then by dataset row
    return replace(split, indices=split.indices[order], labels=split.labels[order])


def take_rows(X, indices) -> np.ndarray:
    """Rows of X (ndarray or scipy sparse) as a dense C-contiguous float32 array."""
    indices = np.asarray(indices, dtype=np.int64)
    if sp.issparse(X):
        return np.ascontiguousarray(sp.csr_matrix(X)[indices].toarray(), dtype=np.float32)
    return np.ascontiguousarray(np.asarray(X)[indices], dtype=np.float32)
