"""RSRAE's processed files, the inputs the SLA2P authors fed their code for three datasets.

RSRAE (Lai, Zou, Lerman, ICLR 2020) distributes ``20news.data``, ``reuters.data`` and
``caltech101.data``: pickled dicts ``{"X": array, "y": array}`` (rows in the file's order).
They are read with the restricted unpickler (:mod:`tasks.datasets.safe_pickle`: numpy arrays,
plain containers and, for ``X`` only, a scipy CSR/CSC matrix rebuilt from its arrays;
anything else is refused before it runs).

* ``20news.data`` / ``reuters.data``: ``X`` is the TF-IDF matrix RSRAE prepared (the paper
  quotes 10,000-d for 20News and 26,147-d for Reuters), dense or sparse, used as it is (the
  ``identity`` extractor; sparse stays CSR float32). ``y``: the class of each row.
* ``caltech101.data``: ``X`` holds images (RSRAE's loaders scale them as pixels in 0..255):
  (n, H, W, 3) or (n, 3, H, W) or (n, H, W) greyscale, uint8 or float in 0..255 (float in
  0..1 is scaled by 255), or flat (n, 3*s*s) rows in CIFAR's channel-first layout. They are
  returned as ``RawData.pixels`` (n, H, W, 3) uint8 and embedded by an image extractor (the
  paper's ``resnet50``).

Labels: the distinct values of ``y``, sorted, become classes 0..k-1 (identity when ``y``
already holds 0..k-1), named ``"0"`` ... ``"k-1"`` (the files carry no names, and their label
order is not documented, so the store does not guess which class a number is).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .raw import RawData
from .safe_pickle import safe_load
from ..fetch.sources import DataError

__all__ = ["load_rsrae", "load_rsrae_text", "load_rsrae_images", "rsrae_classes"]


def rsrae_classes(k: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(k))


def load_rsrae(path: str | Path, *, allow_sparse: bool = True) -> tuple[object, np.ndarray]:
    """(X, y) from an RSRAE ``.data`` file, restricted unpickler, shapes checked."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            d = safe_load(f, encoding="latin1", allow_sparse=allow_sparse, what=str(path))
    except OSError as e:
        raise DataError(f"{path}: unreadable: {e}") from e
    if isinstance(d, dict):
        d = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}
    if not isinstance(d, dict) or "X" not in d or "y" not in d:
        raise DataError(f"{path}: an RSRAE .data file must be a pickled dict with keys 'X' and 'y'")
    X, y = d["X"], np.asarray(d["y"]).reshape(-1)
    if not (sp.issparse(X) or isinstance(X, np.ndarray)):
        X = np.asarray(X)
    if X.shape[0] != y.shape[0]:
        raise DataError(f"{path}: X has {X.shape[0]} rows but y has {y.shape[0]} labels")
    if y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and not np.all(y == np.round(y))):
        raise DataError(f"{path}: y must hold integer class labels, found dtype {y.dtype}")
    return X, y


def _classes(y: np.ndarray, k: int, path: Path) -> np.ndarray:
    u = np.unique(y)
    if u.size != k:
        raise DataError(f"{path}: expected {k} classes in y, found {u.size}: {u[:25].tolist()}")
    return np.searchsorted(u, y).astype(np.int64)


def load_rsrae_text(path: str | Path, n_classes: int) -> RawData:
    """20news.data / reuters.data: the stored TF-IDF as features (``RawData.X``)."""
    path = Path(path)
    X, y = load_rsrae(path)
    if X.ndim != 2:
        raise DataError(f"{path}: X must be 2-D (documents x terms), found shape {X.shape}")
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float32)
        X.sort_indices()
        finite = np.isfinite(X.data).all()
    else:
        X = np.ascontiguousarray(X, dtype=np.float32)
        finite = np.isfinite(X).all()
    if not finite:
        raise DataError(f"{path}: X contains NaN or infinite values")
    return RawData(y=_classes(y, n_classes, path), class_names=rsrae_classes(n_classes), X=X)


def _to_pixels(X: np.ndarray, path: Path) -> np.ndarray:
    if sp.issparse(X):
        raise DataError(f"{path}: image data must be dense")
    X = np.asarray(X)
    if X.ndim == 2:  # flat rows, channel-first (CIFAR layout) or greyscale
        s3, s1 = int(round(np.sqrt(X.shape[1] / 3))), int(round(np.sqrt(X.shape[1])))
        if 3 * s3 * s3 == X.shape[1]:
            X = X.reshape(-1, 3, s3, s3)
        elif s1 * s1 == X.shape[1]:
            X = X.reshape(-1, s1, s1)
        else:
            raise DataError(f"{path}: cannot read flat rows of {X.shape[1]} values as square images")
    if X.ndim == 4 and X.shape[1] in (1, 3) and X.shape[3] not in (1, 3):
        X = X.transpose(0, 2, 3, 1)  # NCHW -> NHWC
    if X.ndim == 4 and X.shape[3] == 1:
        X = X[..., 0]
    if X.ndim == 3:
        X = np.repeat(X[..., None], 3, axis=3)
    if X.ndim != 4 or X.shape[3] != 3:
        raise DataError(f"{path}: X must hold images (n, H, W, 3), (n, 3, H, W) or (n, H, W); found {X.shape}")
    if X.dtype != np.uint8:
        X = X.astype(np.float64)
        if not np.isfinite(X).all():
            raise DataError(f"{path}: image data contains NaN or infinite values")
        if X.size and X.max() <= 1.0 and X.min() >= 0.0:
            X = X * 255.0
        X = np.clip(np.rint(X), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(X)


def load_rsrae_images(path: str | Path, n_classes: int) -> RawData:
    """caltech101.data: the stored images as ``RawData.pixels`` (n, H, W, 3) uint8."""
    path = Path(path)
    X, y = load_rsrae(path, allow_sparse=False)
    return RawData(y=_classes(y, n_classes, path), class_names=rsrae_classes(n_classes), pixels=_to_pixels(X, path))
