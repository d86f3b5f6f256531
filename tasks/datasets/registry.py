"""The dataset registry: the ONE place to add a dataset.

Paper datasets are the entries of :data:`PAPER_DATASETS` below. To add another dataset with
its own loader, append a :class:`DatasetSpec` there (its ``loader`` takes the absolute paths
of its ``files`` and returns a :class:`~tasks.datasets.raw.RawData`). ODDS ``.mat`` and ADBench
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
embeddings) and use the ``identity`` extractor. They are not the paper's (``paper=False``), so
their splits are capped at ``max_rows`` (12,000) rows (:attr:`DatasetSpec.caps_intrinsic`; the
paper's intrinsic sets, Arrhythmia and KDDCup99's 494,021 rows, keep all their rows).

Groups (:attr:`DatasetSpec.group`; a config's ``dataset_groups`` names them, so a file added to
the store joins the configs that name its group) say where a dataset comes from:

* ``paper``: :data:`PAPER_DATASETS`; ``paper-formats``: :data:`OPTIONAL_DATASETS`;
* ``odds``: ``data/odds/*.mat``;
* ``adbench-classical``: ``data/adbench/Classical/*.npz``;
* ``adbench-<slug>``: any other ``data/adbench/<Folder>/``, ``<slug>`` its folder name in lower
  case with ``_by_`` and every other run of non-alphanumerics as ``-``: ``CV_by_ResNet18`` ->
  ``adbench-cv-resnet18``, ``NLP_by_BERT`` -> ``adbench-nlp-bert``, ``NLP_by_RoBERTa`` ->
  ``adbench-nlp-roberta``.

:func:`list_groups` maps each group to its datasets; :data:`GROUPS` are the groups the suite
names whether or not the store holds a file of them.

The paper's own formats (:data:`OPTIONAL_DATASETS`): files the store does not hold but a
researcher may have. Each is listed by :func:`list_datasets` only when its file is found: the
path in its environment variable (see :data:`OPTIONAL_LOCATIONS`; :func:`configure_paths` sets
them from a config), else the first of its usual places under the data folder:

* ``cifar100``: ``cifar-100-python.tar.gz`` from ``$SLA2P_CIFAR100_ARCHIVE``, else
  ``data/cifar100/``, else ``data/``;
* ``cifar10_python``: ``cifar-10-python.tar.gz`` from ``$SLA2P_CIFAR10_ARCHIVE``, else
  ``data/cifar10/``, else ``data/``;
* ``20news_rsrae``, ``reuters_rsrae``, ``caltech101_rsrae``: ``20news.data``,
  ``reuters.data``, ``caltech101.data`` from ``$SLA2P_RSRAE_20NEWS`` /
  ``$SLA2P_RSRAE_REUTERS`` / ``$SLA2P_RSRAE_CALTECH101`` (the file), else
  ``$SLA2P_RSRAE_DIR/`` (the folder), else ``data/rsrae/``.

An environment variable that is set is authoritative: if it names a missing file the data
folder is not searched.

They are ``paper=True``, ``external=True`` (not pinned by ``data.dvc``: verified by their own
content hash, which keys the cache, with an ``UntrackedDataWarning`` unless the file matches
the md5 its authors publish) and, except ``cifar100``, carry ``variant_of`` = the store's
dataset they stand in for (``cifar10``, ``20news``, ``reuters``, ``caltech101``). A config
opts in by naming the dataset. Asking for one whose file is absent raises
:class:`DatasetNotPresentError` (a ``DataMissingError`` and a ``ValueError``) that says where
to put the file. To add another such format, append to :data:`OPTIONAL_DATASETS` and
:data:`OPTIONAL_LOCATIONS`.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable

from sla2p.settings import MAX_ROWS

from ..fetch import paths
from . import images, rsrae, tabular, text
from .raw import RawData
from ..fetch.sources import DataMissingError

__all__ = [
    "DatasetSpec", "PAPER_DATASETS", "OPTIONAL_DATASETS", "OPTIONAL_LOCATIONS", "DatasetNotPresentError",
    "list_datasets", "get_spec", "configure_paths", "optional_status", "MAX_ROWS", "GROUPS", "list_groups",
]  # fmt: skip

# The groups named whether or not the store holds a file of them (a config naming one that is empty
# here is told so, not told the group does not exist); adbench-<folder> groups are discovered too.
GROUPS = ("paper", "paper-formats", "odds", "adbench-classical", "adbench-cv-resnet18", "adbench-nlp-bert",
          "adbench-nlp-roberta")  # fmt: skip


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is and how the protocol treats it.

    ``outlier_mode``/``outlier_base`` (one-vs-rest only) give the outlier count for ratio p:
    ``("random", None)``: int(p * n_normal) drawn at random (CIFAR-10);
    ``("random", 100)``: int(100 p) drawn at random (Caltech-101);
    ``("first", 360)``: int(360 p), the first ones of the other classes in dataset order
    (20 Newsgroups, Reuters).

    ``external``: ``files`` are found outside ``data.dvc`` (absolute paths, or paths under the
    data folder that DVC does not pin); they are verified by their own content hash and the
    cache key uses their file NAMES (not locations) with that hash. ``variant_of``: the
    store's dataset this one is another form of (e.g. ``cifar10_python`` -> ``cifar10``).

    ``group``: where the dataset comes from (module docstring: ``paper``, ``odds``,
    ``adbench-classical``, ...); a config's ``dataset_groups`` expands a group to its datasets.
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
    external: bool = False
    variant_of: str | None = None
    group: str = ""

    @property
    def caps_intrinsic(self) -> bool:
        """Whether an intrinsic split of this dataset is capped at ``max_rows`` rows: the extras
        (ODDS, ADBench) are, so that every method finishes on them in bounded time; the paper's
        own intrinsic sets (Arrhythmia, KDDCup99) keep all their rows, as the paper's protocol."""
        return self.protocol == "intrinsic" and not self.paper

    def intrinsic_rows(self, n_rows: int) -> int:
        """The rows of an intrinsic split of a dataset of ``n_rows`` rows (the cap applied)."""
        return min(int(n_rows), self.max_rows) if self.caps_intrinsic else int(n_rows)

    def load_raw(self, data_dir: str | Path | None = None) -> RawData:
        """Run the loader on the files (no DVC, no verification: see ``load_features``)."""
        d = paths.data_dir(data_dir)
        return self.loader(*[d / f for f in self.files])


def _in_group(group: str, specs: tuple[DatasetSpec, ...]) -> tuple[DatasetSpec, ...]:
    return tuple(replace(s, group=group) for s in specs)


_TAB = ("identity",)
_TXT = ("tfidf", "minilm")
_IMG = ("efficientnet-lite0", "resnet50")

PAPER_DATASETS: tuple[DatasetSpec, ...] = _in_group("paper", (
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
        loader_version=2,  # 2: headers, quotes and footers kept (1 stripped them)
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
))  # fmt: skip


# ------------------------------------------------------------ the paper's own formats
class DatasetNotPresentError(DataMissingError, ValueError):
    """An optional dataset (the paper's own format) whose file is not found."""


def _rsrae_text(k: int):
    return partial(rsrae.load_rsrae_text, n_classes=k)


def _rsrae_images(k: int):
    return partial(rsrae.load_rsrae_images, n_classes=k)


# ``files`` holds the file NAME; the location is resolved by _locate() from OPTIONAL_LOCATIONS.
OPTIONAL_DATASETS: tuple[DatasetSpec, ...] = _in_group("paper-formats", (
    DatasetSpec(
        "cifar100", "image", "one_vs_rest", images.CIFAR100_SUPERCLASSES, "efficientnet-lite0",
        ("cifar-100-python.tar.gz",), True, images.load_cifar100_python, _IMG, {}, "random", None,
        note="CIFAR-100 original archive, 20 superclasses (coarse labels), 3,000 images each, train+test pooled",
        external=True,
    ),
    DatasetSpec(
        "cifar10_python", "image", "one_vs_rest", images.CIFAR10_CLASSES, "efficientnet-lite0",
        ("cifar-10-python.tar.gz",), True, images.load_cifar10_python, _IMG, {}, "random", None,
        note="CIFAR-10 original archive (original pixels), 60,000 images, train+test pooled",
        external=True, variant_of="cifar10",
    ),
    DatasetSpec(
        "20news_rsrae", "text", "one_vs_rest", rsrae.rsrae_classes(20), "identity", ("20news.data",), True,
        _rsrae_text(20), ("identity",), {}, "first", 360,
        note="RSRAE's processed 20 Newsgroups (its TF-IDF), rows in the file's order", external=True,
        variant_of="20news",
    ),
    DatasetSpec(
        "reuters_rsrae", "text", "one_vs_rest", rsrae.rsrae_classes(5), "identity", ("reuters.data",), True,
        _rsrae_text(5), ("identity",), {}, "first", 360,
        note="RSRAE's processed Reuters-21578 (its TF-IDF), rows in the file's order", external=True,
        variant_of="reuters",
    ),
    DatasetSpec(
        "caltech101_rsrae", "image", "one_vs_rest", rsrae.rsrae_classes(11), "efficientnet-lite0",
        ("caltech101.data",), True, _rsrae_images(11), _IMG, {}, "random", 100,
        note="RSRAE's processed Caltech-101 (11 classes, images as arrays)", external=True,
        variant_of="caltech101",
    ),
))  # fmt: skip

# name -> (environment variables holding the file's path or, for *_DIR, its folder; folders
# under the data folder to look in)
OPTIONAL_LOCATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "cifar100": (("SLA2P_CIFAR100_ARCHIVE",), ("cifar100", ".")),
    "cifar10_python": (("SLA2P_CIFAR10_ARCHIVE",), ("cifar10", ".")),
    "20news_rsrae": (("SLA2P_RSRAE_20NEWS", "SLA2P_RSRAE_DIR"), ("rsrae",)),
    "reuters_rsrae": (("SLA2P_RSRAE_REUTERS", "SLA2P_RSRAE_DIR"), ("rsrae",)),
    "caltech101_rsrae": (("SLA2P_RSRAE_CALTECH101", "SLA2P_RSRAE_DIR"), ("rsrae",)),
}
_CONFIG_KEYS = {"rsrae_dir": "SLA2P_RSRAE_DIR", "resnet50_weights": "SLA2P_RESNET50_WEIGHTS"}


def configure_paths(paths_: dict | None = None, **kw) -> dict[str, str]:
    """Point the suite at the paper's own files from Python (the environment variables below do
    the same from a shell; configs have no key for paths).

    Keys: an optional dataset name (``cifar100``, ``cifar10_python``, ``20news_rsrae``,
    ``reuters_rsrae``, ``caltech101_rsrae``: the file's path), ``rsrae_dir`` (the folder with
    RSRAE's ``.data`` files) or ``resnet50_weights`` (a ``resnet50-*.pth``). Each sets its
    environment variable (so worker processes started afterwards see it too); ``None`` unsets
    it. Returns ``{env var: value}`` as set. Relative paths are made absolute.
    """
    items = {**(paths_ or {}), **kw}
    out: dict[str, str] = {}
    for k, v in items.items():
        var = _CONFIG_KEYS.get(k) or (OPTIONAL_LOCATIONS[k][0][0] if k in OPTIONAL_LOCATIONS else None)
        if var is None:
            known = sorted([*OPTIONAL_LOCATIONS, *_CONFIG_KEYS])
            raise ValueError(f"unknown path key {k!r}; known keys: {', '.join(known)}")
        if v is None:
            os.environ.pop(var, None)
            continue
        os.environ[var] = out[var] = str(Path(v).expanduser().resolve())
    return out


def _candidates(spec: DatasetSpec, d: Path) -> list[Path]:
    envs, folders = OPTIONAL_LOCATIONS[spec.name]
    fname = spec.files[0]
    found: list[Path] = []
    for var in envs:
        v = os.environ.get(var)
        if v:
            p = Path(v).expanduser()
            found.append(p / fname if var.endswith("_DIR") else p)
    found += [d / f / fname for f in folders]
    return found


def _locate(spec: DatasetSpec, d: Path) -> Path | None:
    """The file of an optional dataset: the first candidate that exists (an env var that is set
    is authoritative: if it names a missing file, the data folder is not searched)."""
    envs, _ = OPTIONAL_LOCATIONS[spec.name]
    cands = _candidates(spec, d)
    n_env = sum(1 for v in envs if os.environ.get(v))
    if n_env:
        hit = next((p for p in cands[:n_env] if p.is_file()), None)
        return hit.resolve() if hit is not None else None
    hit = next((p for p in cands if p.is_file()), None)
    return hit.resolve() if hit is not None else None


def _optional(data_dir: str | Path | None = None) -> dict[str, DatasetSpec]:
    d = paths.data_dir(data_dir)
    out = {}
    for s in OPTIONAL_DATASETS:
        p = _locate(s, d)
        if p is not None:
            out[s.name] = replace(s, files=(str(p),))
    return out


def optional_status(*, data_dir: str | Path | None = None) -> dict[str, dict]:
    """For each optional dataset: ``{"present", "path", "looked_in", "env"}`` (for a CLI/README)."""
    d = paths.data_dir(data_dir)
    out = {}
    for s in OPTIONAL_DATASETS:
        p = _locate(s, d)
        out[s.name] = {"present": p is not None, "path": str(p) if p else None,
                       "looked_in": [str(c) for c in _candidates(s, d)], "env": list(OPTIONAL_LOCATIONS[s.name][0])}  # fmt: skip
    return out


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


def _extra_group(rel: str) -> str:
    """The group of an extra's file (module docstring): ``odds``, ``adbench-classical``, ..."""
    parts = Path(rel).parts
    if parts[0] == "odds":
        return "odds"
    return "adbench-" + re.sub(r"[^a-z0-9]+", "-", parts[1].lower().replace("_by_", "-")).strip("-")


def _candidate_files(data_dir: Path) -> set[str]:
    """Extras' paths relative to data/: tracked in the DVC manifest and/or present on disk."""
    from ..fetch.sources import DataError, manifest

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
        out[name] = DatasetSpec(name, "tabular", "intrinsic", (), "identity", (rel,), False, loader, _TAB,
                                group=_extra_group(rel))
    return out


def _all(data_dir: str | Path | None = None) -> dict[str, DatasetSpec]:
    specs = {s.name: s for s in PAPER_DATASETS}
    specs.update(_optional(data_dir))
    specs.update(_extras(data_dir))
    return specs


def list_datasets(*, data_dir: str | Path | None = None) -> list[str]:
    """Paper datasets, the paper's own formats whose files are found, and every discovered
    ODDS ``.mat`` / ADBench ``.npz``, sorted."""
    return sorted(_all(data_dir))


def list_groups(*, data_dir: str | Path | None = None) -> dict[str, list[str]]:
    """Every group (:data:`GROUPS` and the discovered ``adbench-<folder>`` ones, sorted) -> its
    datasets, sorted by name; a group of which the store holds no file maps to ``[]``."""
    out: dict[str, list[str]] = {g: [] for g in GROUPS}
    for name, spec in sorted(_all(data_dir).items()):
        out.setdefault(spec.group, []).append(name)
    return dict(sorted(out.items()))


def get_spec(name: str, *, data_dir: str | Path | None = None) -> DatasetSpec:
    """The :class:`DatasetSpec` of a dataset; ValueError listing the known names if unknown."""
    for s in PAPER_DATASETS:
        if s.name == name:
            return s
    for s in OPTIONAL_DATASETS:
        if s.name == name:
            p = _locate(s, paths.data_dir(data_dir))
            if p is None:
                where = ", ".join(str(c) for c in _candidates(s, paths.data_dir(data_dir)))
                envs = " or ".join(OPTIONAL_LOCATIONS[name][0])
                raise DatasetNotPresentError(
                    f"{name} needs the file {s.files[0]}, found in none of: {where}; put it there, or set "
                    f"{envs} (or configure_paths({{{name!r}: <path>}})) to its location"
                )
            return replace(s, files=(str(p),))
    specs = _all(data_dir)
    if name not in specs:
        raise ValueError(unknown_dataset(name, specs))
    return specs[name]


def unknown_dataset(name: str, known) -> str:
    """The one short line for a dataset name that is not known: the closest known names, and where
    the full list is (all of them would be a 1,300-character line)."""
    from difflib import get_close_matches

    close = get_close_matches(str(name), sorted(known), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
    return f"unknown dataset {name!r}; {hint}`sla2p-bench data list` lists the {len(known)} known ones"
