"""Image loaders: Caltech-101 (11 classes) and CIFAR-10 (60,000 JPEGs), as member lists.

Nothing is decoded here: a loader lists the JPEGs inside the archive in dataset order with
their class index; :mod:`sla2p.data.embed` decodes them while embedding.

* Caltech-101 (``caltech101/caltech101-11classes.tar``): the 11 classes with at least 100
  images (3,479 JPEGs, original resolution). Classes in Python ``sorted`` order of the folder
  names (upper case first): see :data:`CALTECH_CLASSES`. Dataset order: class, then file name.
* CIFAR-10 (``cifar10/cifar10-jpg.tar.gz``): all 60,000 images, train and test pooled.
  CAVEAT: these are JPEG re-encodings (quality about 75) of the 32x32 originals, not the
  original pixels; results on them must say "CIFAR-10 (JPEG-recompressed)". Classes in CIFAR
  label order (= sorted folder names). Dataset order: train then test, class, file name.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from .raw import ImageRefs, RawData
from .sources import DataError

__all__ = ["load_caltech101", "load_cifar10", "read_members", "CALTECH_CLASSES", "CIFAR10_CLASSES"]

CALTECH_CLASSES = (
    "Faces", "Faces_easy", "Leopards", "Motorbikes", "airplanes", "bonsai", "car_side",
    "chandelier", "hawksbill", "ketch", "watch",
)  # fmt: skip
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
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
