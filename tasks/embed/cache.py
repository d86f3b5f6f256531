"""The on-disk embedding cache: one verified ``.npz`` entry per key, computed once.

An entry is ``<cache dir>/<key>.npz`` (default ``<project root>/.cache/embeddings``) with
``key = sha256(json({source_hash, dataset, loader_version, extractor, params, code_version}))``,
plus ``extractor_version`` for the extractors listed in :data:`EXTRACTOR_VERSIONS` (so that one
extractor's change invalidates its own entries only, not, say, hours of image embeddings): the
same entry serves every class, ratio, seed and method. It stores the raw features (the
paper's L2 normalisation is the detector's job), ``y``, the class names and a sha256 of all of
them. Writes go to a temporary file in the same folder, fsync'ed, then ``os.replace``-d, so an
interrupted run leaves no entry (at most a ``.*.tmp`` file, never read). On read the checksum
is recomputed; an entry that fails to load or to match is deleted with a
:class:`CacheCorruptWarning` and recomputed. A miss takes an exclusive ``flock`` on
``.<key>.lock`` in the cache folder while computing, so parallel workers that ask for the
same features wait for one computation instead of repeating it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import scipy.sparse as sp

from ..files import atomic_write, file_lock
from .extractors import RUNTIME_PARAMS

__all__ = ["CODE_VERSION", "EXTRACTOR_VERSIONS", "CacheCorruptWarning", "cache_key", "cached"]

CODE_VERSION = "1"  # bump when every extractor's or loader's output changes

#: Per-extractor output versions, in the key only for the extractors listed (the keys of the
#: others are unchanged). Bump one when that extractor (or the loader it reads) changes output.
#: tfidf 3: scikit-learn's TF-IDF defaults (stop words kept, IDF), 20News headers/quotes/footers
#: kept (docs/results/text-features/README.md); v2: raw term frequencies (no IDF), 20News stripped;
#: v1: English stop words removed, IDF.
EXTRACTOR_VERSIONS: dict[str, int] = {"tfidf": 3}


class CacheCorruptWarning(UserWarning):
    """A cache entry failed its checksum and was recomputed."""


def cache_key(source_hash_: str, dataset: str, loader_version: int, extractor: str, params: dict) -> str:
    """The entry's key; speed-only parameters (:data:`~.extractors.RUNTIME_PARAMS`) are left out."""
    doc = {
        "source_hash": source_hash_,
        "dataset": dataset,
        "loader_version": loader_version,
        "extractor": extractor,
        "params": {k: params[k] for k in sorted(params) if k not in RUNTIME_PARAMS},
        "code_version": CODE_VERSION,
    }
    if extractor in EXTRACTOR_VERSIONS:
        doc["extractor_version"] = EXTRACTOR_VERSIONS[extractor]
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _arrays(X, y: np.ndarray, class_names: tuple[str, ...]) -> dict[str, np.ndarray]:
    arrs: dict[str, np.ndarray] = {"y": np.ascontiguousarray(y, dtype=np.int64),
                                   "class_names": np.asarray(class_names, dtype=str)}  # fmt: skip
    if X is None:  # a labels-only entry
        pass
    elif sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float32)
        arrs.update(X_data=X.data, X_indices=X.indices, X_indptr=X.indptr,
                    X_shape=np.asarray(X.shape, dtype=np.int64))  # fmt: skip
    else:
        arrs["X"] = np.ascontiguousarray(X, dtype=np.float32)
    return arrs


def _checksum(arrs: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(arrs):
        a = np.ascontiguousarray(arrs[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes() if a.dtype.kind != "U" else "\x1f".join(a.tolist()).encode())
    return h.hexdigest()


def _write_entry(path: Path, X, y, class_names, meta: dict) -> None:
    arrs = _arrays(X, y, class_names)
    meta = {**meta, "checksum": _checksum(arrs)}
    atomic_write(path, lambda f: np.savez(f, meta=np.asarray(json.dumps(meta)), **arrs))


class _Corrupt(Exception):
    pass


def _read_entry(path: Path):
    try:
        with np.load(path, allow_pickle=False) as d:
            arrs = {k: d[k] for k in d.files}
        meta = json.loads(str(arrs.pop("meta")))
    except Exception as e:  # noqa: BLE001
        raise _Corrupt(f"unreadable: {type(e).__name__}: {e}") from e
    if _checksum(arrs) != meta.get("checksum"):
        raise _Corrupt("checksum mismatch")
    if "X_data" in arrs:
        X = sp.csr_matrix((arrs["X_data"], arrs["X_indices"], arrs["X_indptr"]), shape=tuple(arrs["X_shape"]))
    else:
        X = arrs.get("X")
    return X, arrs["y"], tuple(arrs["class_names"].tolist()), meta


def _try_read(path: Path):
    if not path.is_file():
        return None
    try:
        return _read_entry(path)
    except _Corrupt as e:
        # stacklevel 4: the warning points at the caller of load_features / load_labels
        warnings.warn(f"embedding cache entry {path} is corrupt ({e}); it is deleted and recomputed",
                      CacheCorruptWarning, stacklevel=4)  # fmt: skip
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def cached(path: Path, compute: Callable[[], tuple]):
    """``(X, y, class_names, meta)`` of the entry at ``path``, from disk, or from ``compute()``
    (returning the same four) written there first; parallel callers compute it once."""
    hit = _try_read(path)
    if hit is not None:
        return hit
    with file_lock(path.parent / f".{path.stem}.lock"):
        hit = _try_read(path)  # another process may have computed it while we waited
        if hit is not None:
            return hit
        X, y, class_names, meta = compute()
        _write_entry(path, X, y, class_names, meta)
    return _read_entry(path)
