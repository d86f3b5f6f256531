"""Image loaders: Caltech-101 (11 classes) and CIFAR-10 (60,000 JPEGs), as member lists.

Nothing is decoded here: a loader lists the JPEGs inside the archive in dataset order with
their class index; :mod:`tasks.embed.inference` decodes them while embedding.

* Caltech-101 (``caltech101/caltech101-11classes.tar``): the 11 classes with at least 100
  images (3,479 JPEGs, original resolution). Classes in Python ``sorted`` order of the folder
  names (upper case first): see :data:`CALTECH_CLASSES`. Dataset order: class, then file name.
* CIFAR-10 (``cifar10/cifar10-jpg.tar.gz``): all 60,000 images, train and test pooled.
  CAVEAT: these are JPEG re-encodings (quality about 75) of the 32x32 originals, not the
  original pixels; results on them must say "CIFAR-10 (JPEG-recompressed)". Classes in CIFAR
  label order (= sorted folder names). Dataset order: train then test, class, file name.

The original CIFAR python archives (optional datasets ``cifar10_python`` and ``cifar100``,
see :mod:`tasks.datasets.registry`) hold decoded pixels, returned as ``RawData.pixels``
(n, 32, 32, 3) uint8; every pickle inside is read with the restricted unpickler
(:mod:`tasks.datasets.safe_pickle`):

* ``cifar-10-python.tar.gz``: ``cifar-10-batches-py/data_batch_1`` ... ``data_batch_5``,
  ``test_batch`` (dicts with ``data`` (10000, 3072) uint8, rows = 1024 R, 1024 G, 1024 B of a
  32 x 32 image in row-major order, and ``labels``) and ``batches.meta`` (``label_names``).
  Dataset order: data_batch_1 ... data_batch_5, then test_batch, rows in file order (60,000
  images, 6,000 per class). Classes: :data:`CIFAR10_CLASSES` (checked against the meta).
* ``cifar-100-python.tar.gz``: ``cifar-100-python/train`` (50,000) and ``test`` (10,000),
  dicts with ``data``, ``fine_labels``, ``coarse_labels``; ``meta`` has
  ``coarse_label_names``. The class of a row is its COARSE label (the 20 superclasses,
  3,000 images each: 2,500 train + 500 test). Dataset order: train then test, file order.
  Classes: :data:`CIFAR100_SUPERCLASSES` (checked against the meta).
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from .raw import ImageRefs, RawData
from ..fetch.sources import DataError

__all__ = [
    "load_caltech101", "load_cifar10", "load_cifar10_python", "load_cifar100_python", "read_members",
    "CALTECH_CLASSES", "CIFAR10_CLASSES", "CIFAR100_SUPERCLASSES",
]  # fmt: skip

CALTECH_CLASSES = (
    "Faces", "Faces_easy", "Leopards", "Motorbikes", "airplanes", "bonsai", "car_side",
    "chandelier", "hawksbill", "ketch", "watch",
)  # fmt: skip
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_SUPERCLASSES = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes", "large_omnivores_and_herbivores",
    "medium_mammals", "non-insect_invertebrates", "people", "reptiles", "small_mammals", "trees",
    "vehicles_1", "vehicles_2",
)  # fmt: skip
_IMG_EXT = (".jpg", ".jpeg", ".png")


def _list(path: Path) -> list[str]:
    try:
        with tarfile.open(path, "r:*") as tf:
            return [m.name for m in tf.getmembers() if m.isfile() and m.name.lower().endswith(_IMG_EXT)]
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{path}: corrupt or unreadable archive: {type(e).__name__}: {e}") from e


def load_caltech101(path: str | Path) -> RawData:
    path = Path(path)
    rows = []
    for name in _list(path):
        bits = name.split("/")
        if len(bits) == 3 and bits[0] == "101_ObjectCategories":
            rows.append((bits[1], bits[2], name))
    classes = tuple(sorted({c for c, _, _ in rows}))
    if classes != CALTECH_CLASSES:
        raise DataError(f"{path}: expected the 11 Caltech-101 classes {CALTECH_CLASSES}, found {classes}")
    rows.sort()
    y = np.asarray([CALTECH_CLASSES.index(c) for c, _, _ in rows], dtype=np.int64)
    return RawData(y=y, class_names=CALTECH_CLASSES, images=ImageRefs(path, tuple(n for _, _, n in rows)))


def load_cifar10(path: str | Path) -> RawData:
    path = Path(path)
    rows = []
    for name in _list(path):
        bits = name.split("/")
        if len(bits) == 3 and bits[0] in ("train", "test"):
            rows.append((0 if bits[0] == "train" else 1, bits[1], bits[2], name))
    classes = tuple(sorted({c for _, c, _, _ in rows}))
    if classes != CIFAR10_CLASSES:
        raise DataError(f"{path}: expected the CIFAR-10 class folders {CIFAR10_CLASSES}, found {classes}")
    rows.sort()
    y = np.asarray([CIFAR10_CLASSES.index(c) for _, c, _, _ in rows], dtype=np.int64)
    return RawData(y=y, class_names=CIFAR10_CLASSES, images=ImageRefs(path, tuple(r[3] for r in rows)))


def read_members(archive: str | Path, members: list[str] | tuple[str, ...]) -> list[bytes]:
    """The bytes of these archive members, in the order given (one sequential pass)."""
    archive = Path(archive)
    want = set(members)
    got: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:*") as tf:
            for m in tf:
                if m.name in want and m.isfile():
                    got[m.name] = tf.extractfile(m).read()
                    if len(got) == len(want):
                        break
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{archive}: corrupt archive: {type(e).__name__}: {e}") from e
    missing = want - got.keys()
    if missing:
        raise DataError(f"{archive}: {len(missing)} image(s) not found, e.g. {sorted(missing)[:3]}")
    return [got[n] for n in members]


# ------------------------------------------------------------- the original CIFAR archives
def _pickles(path: Path, names: list[str]) -> dict[str, dict]:
    """Unpickle these archive members (restricted unpickler); keys normalised to str."""
    from .safe_pickle import safe_loads

    raw = dict(zip(names, read_members(path, names)))
    out = {}
    for n, b in raw.items():
        d = safe_loads(b, encoding="bytes", what=f"{path}:{n}")
        if not isinstance(d, dict):
            raise DataError(f"{path}:{n}: expected a pickled dict, found {type(d).__name__}")
        out[n] = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}
    return out


def _names(v) -> tuple[str, ...]:
    return tuple(x.decode("latin1") if isinstance(x, bytes) else str(x) for x in v)


def _cifar_pixels(d: dict, where: str) -> np.ndarray:
    data = d.get("data")
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        got = getattr(data, "shape", type(data).__name__), getattr(data, "dtype", "")
        raise DataError(f"{where}: 'data' must be a uint8 array (n, 3072), found {got}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # CHW rows -> NHWC


def _labels(d: dict, key: str, n: int, k: int, where: str) -> np.ndarray:
    if key not in d:
        raise DataError(f"{where}: no {key!r} in the pickle (keys: {sorted(map(str, d))})")
    y = np.asarray(d[key]).astype(np.int64).reshape(-1)
    if y.shape[0] != n or (y.size and (y.min() < 0 or y.max() >= k)):
        raise DataError(f"{where}: {key!r} must hold {n} labels in 0..{k - 1}")
    return y


def load_cifar10_python(path: str | Path) -> RawData:
    """CIFAR-10 from the authors' ``cifar-10-python.tar.gz`` (see the module docstring)."""
    path = Path(path)
    top = "cifar-10-batches-py"
    batches = [f"{top}/data_batch_{i}" for i in range(1, 6)] + [f"{top}/test_batch"]
    d = _pickles(path, [*batches, f"{top}/batches.meta"])
    names = _names(d[f"{top}/batches.meta"].get("label_names", ()))
    if names != CIFAR10_CLASSES:
        raise DataError(f"{path}: batches.meta label_names are {names}, expected {CIFAR10_CLASSES}")
    px, ys = [], []
    for b in batches:
        p = _cifar_pixels(d[b], f"{path}:{b}")
        px.append(p)
        ys.append(_labels(d[b], "labels", p.shape[0], 10, f"{path}:{b}"))
    y = np.concatenate(ys)
    missing = sorted(set(range(10)) - set(np.unique(y).tolist()))
    if missing:
        raise DataError(f"{path}: no image of class(es) {[CIFAR10_CLASSES[i] for i in missing]}")
    return RawData(y=y, class_names=CIFAR10_CLASSES, pixels=np.ascontiguousarray(np.concatenate(px)))


def load_cifar100_python(path: str | Path) -> RawData:
    """CIFAR-100 from ``cifar-100-python.tar.gz``, labelled by the 20 superclasses."""
    path = Path(path)
    top = "cifar-100-python"
    d = _pickles(path, [f"{top}/train", f"{top}/test", f"{top}/meta"])
    names = _names(d[f"{top}/meta"].get("coarse_label_names", ()))
    if names != CIFAR100_SUPERCLASSES:
        raise DataError(f"{path}: meta coarse_label_names are {names}, expected {CIFAR100_SUPERCLASSES}")
    px, ys = [], []
    for part in ("train", "test"):
        where = f"{path}:{top}/{part}"
        p = _cifar_pixels(d[f"{top}/{part}"], where)
        px.append(p)
        ys.append(_labels(d[f"{top}/{part}"], "coarse_labels", p.shape[0], 20, where))
    y = np.concatenate(ys)
    missing = sorted(set(range(20)) - set(np.unique(y).tolist()))
    if missing:
        raise DataError(f"{path}: no image of superclass(es) {[CIFAR100_SUPERCLASSES[i] for i in missing]}")
    return RawData(y=y, class_names=CIFAR100_SUPERCLASSES, pixels=np.ascontiguousarray(np.concatenate(px)))
