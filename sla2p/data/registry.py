"""The dataset registry: the ONE place to add a dataset.

Paper datasets are the entries of :data:`PAPER_DATASETS` below. To add another dataset with
its own loader, append a :class:`DatasetSpec` there (its ``loader`` takes the absolute paths
of its ``files`` and returns a :class:`~sla2p.data.raw.RawData`). ODDS ``.mat`` and ADBench
``.npz`` files need no code at all: they are discovered in the data folder (and in the DVC
manifest, so they are listed before they are pulled).

Naming rule for discovered extras (lowercase, stable, no collisions between the two sources):

* ``data/odds/<stem>.mat`` -> ``odds_<slug(stem)>`` (``odds/arrhythmia.mat`` is the paper
  dataset ``arrhythmia`` and is not listed twice);
* ``data/adbench/Classical/<k>_<Name>.npz`` -> ``adbench_<slug(Name)>`` (the ADBench number
  ``<k>_`` dropped);
* ``data/adbench/<Folder>/<Name>.npz`` for any other folder -> ``adbench_<slug(Name)>_<tag>``
  where ``<tag>`` is ``slug`` of the part of the folder name after ``_by_`` (``resnet18``,
  ``bert``, ``roberta``), or of the whole folder name;
* ``slug``: lower case, every run of characters other than ``a-z0-9`` replaced by ``_``.

Examples: ``odds_thyroid``, ``adbench_thyroid``, ``odds_satimage_2``, ``adbench_magic_gamma``,
``adbench_cifar10_0_resnet18``, ``adbench_20news_3_bert``. If two files still map to one name
the first in sorted path order wins and a warning names the other. Extras are intrinsic
(labels as stored, 1 = outlier), modality ``tabular`` (the ADBench CV/NLP files are already
embeddings) and use the ``identity`` extractor.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

from . import images, paths, tabular, text
from .raw import RawData

__all__ = ["DatasetSpec", "PAPER_DATASETS", "list_datasets", "get_spec", "MAX_ROWS"]

MAX_ROWS = 12_000


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is and how the protocol treats it.

    ``outlier_mode``/``outlier_base`` (one-vs-rest only) give the outlier count for ratio p:
    ``("random", None)``: int(p * n_normal) drawn at random (CIFAR-10);
    ``("random", 100)``: int(100 p) drawn at random (Caltech-101);
    ``("first", 360)``: int(360 p), the first ones of the other classes in dataset order
    (20 Newsgroups, Reuters).
    """

    name: str
    modality: str  # 'tabular' | 'text' | 'image'
    protocol: str  # 'intrinsic' | 'one_vs_rest'
    classes: tuple[str, ...]
    default_extractor: str
    files: tuple[str, ...]
    paper: bool
    loader: Callable[..., RawData] = field(repr=False, compare=False, hash=False, default=None)
    extractors: tuple[str, ...] = ()
    extractor_params: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    outlier_mode: str | None = None
    outlier_base: int | None = None
    max_rows: int = MAX_ROWS
    loader_version: int = 1
    note: str = ""

    def load_raw(self, data_dir: str | Path | None = None) -> RawData:
        """Run the loader on the files (no DVC, no verification: see ``load_features``)."""
        d = paths.data_dir(data_dir)
        return self.loader(*[d / f for f in self.files])


_TAB = ("identity",)
_TXT = ("tfidf", "minilm")
_IMG = ("efficientnet-lite0", "resnet50")

PAPER_DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        "arrhythmia", "tabular", "intrinsic", (), "identity", ("odds/arrhythmia.mat",), True,
        tabular.load_odds_mat, _TAB, note="ODDS; 452 x 274, 66 outliers",
    ),
    DatasetSpec(
        "kddcup99", "tabular", "intrinsic", (), "identity",
        ("kddcup99/kddcup.data_10_percent.gz", "kddcup99/kddcup.names"), True,
        tabular.load_kddcup99, _TAB,
        note="10% file, GOAD preprocessing; 'normal.' traffic (97,278) is the outlier class",
    ),
    DatasetSpec(
        "20news", "text", "one_vs_rest", text.NEWSGROUPS, "tfidf", ("20newsgroups/20news-bydate.tar.gz",), True,
        text.load_20newsgroups, _TXT, {"tfidf": {"max_features": 10_000}}, "first", 360,
    ),
    DatasetSpec(
        "reuters", "text", "one_vs_rest", text.REUTERS_CLASSES, "tfidf", ("reuters21578/reuters21578-sgm.tar.gz",),
        True, text.load_reuters, _TXT, {"tfidf": {"max_features": None}}, "first", 360,
    ),
    DatasetSpec(
        "caltech101", "image", "one_vs_rest", images.CALTECH_CLASSES, "efficientnet-lite0",
        ("caltech101/caltech101-11classes.tar",), True, images.load_caltech101, _IMG, {}, "random", 100,
    ),
    DatasetSpec(
        "cifar10", "image", "one_vs_rest", images.CIFAR10_CLASSES, "efficientnet-lite0",
        ("cifar10/cifar10-jpg.tar.gz",), True, images.load_cifar10, _IMG, {}, "random", None,
        note="JPEG-recompressed copy of CIFAR-10 (quality ~75): say so wherever results are shown",
    ),
)  # fmt: skip


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")


def _extra_name(rel: str) -> str | None:
    p = Path(rel)
    parts = p.parts
    if len(parts) == 2 and parts[0] == "odds" and p.suffix == ".mat":
        return None if p.stem == "arrhythmia" else f"odds_{_slug(p.stem)}"
    if len(parts) == 3 and parts[0] == "adbench" and p.suffix == ".npz":
        folder = parts[1]
        if folder == "Classical":
            return f"adbench_{_slug(re.sub(r'^[0-9]+_', '', p.stem))}"
        tag = folder.split("_by_", 1)[1] if "_by_" in folder else folder
        return f"adbench_{_slug(p.stem)}_{_slug(tag)}"
    return None


def _candidate_files(data_dir: Path) -> set[str]:
    """Extras' paths relative to data/: tracked in the DVC manifest and/or present on disk."""
    from .sources import DataError, manifest

    found: set[str] = set()
    try:
        man = manifest() or {}
        found.update(man)
    except (DataError, FileNotFoundError):
        pass
    if data_dir.is_dir():
        found.update(p.relative_to(data_dir).as_posix() for p in data_dir.glob("odds/*.mat"))
        found.update(p.relative_to(data_dir).as_posix() for p in data_dir.glob("adbench/*/*.npz"))
    return found


def _extras(data_dir: str | Path | None = None) -> dict[str, DatasetSpec]:
    d = paths.data_dir(data_dir)
    out: dict[str, DatasetSpec] = {}
    paper = {s.name for s in PAPER_DATASETS}
    for rel in sorted(_candidate_files(d)):
        name = _extra_name(rel)
        if name is None:
            continue
        if name in out or name in paper:
            warnings.warn(f"data/{rel} maps to the dataset name {name!r}, which is taken; it is ignored", stacklevel=3)
            continue
        loader = tabular.load_odds_mat if rel.endswith(".mat") else tabular.load_adbench_npz
        out[name] = DatasetSpec(name, "tabular", "intrinsic", (), "identity", (rel,), False, loader, _TAB)
    return out


def _all(data_dir: str | Path | None = None) -> dict[str, DatasetSpec]:
    specs = {s.name: s for s in PAPER_DATASETS}
    specs.update(_extras(data_dir))
    return specs


def list_datasets(*, data_dir: str | Path | None = None) -> list[str]:
    """Paper datasets plus every discovered ODDS ``.mat`` / ADBench ``.npz``, sorted."""
    return sorted(_all(data_dir))


def get_spec(name: str, *, data_dir: str | Path | None = None) -> DatasetSpec:
    """The :class:`DatasetSpec` of a dataset; ValueError listing the known names if unknown."""
    for s in PAPER_DATASETS:
        if s.name == name:
            return s
    specs = _all(data_dir)
    if name not in specs:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(specs))}")
    return specs[name]
