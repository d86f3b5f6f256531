"""What each dataset holds, for ``sla2p-bench data list``: rows, dimensions, classes or
outliers, and whether its features are cached, so a user can see what a table will cost.

Nothing is pulled: a dataset whose files are not in the data folder is listed as such. Labels
are read from the cache (computed once, from the local files, when missing); features never
are computed here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..datasets import get_spec
from ..fetch import DataError
from ..fetch.sources import ensure_files
from .features import load_features, load_labels


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    modality: str
    paper: bool
    extractor: str
    status: str  # "cached" | "not cached" | "not pulled" | "error: ..."
    rows: int | None = None
    dims: int | None = None
    classes: int | None = None  # one-vs-rest datasets
    outliers: int | None = None  # intrinsic datasets
    group: str = ""
    split_rows: int | None = None  # rows a split takes, when the 12,000-row cap applies (extras)

    def line(self) -> str:
        num = lambda v: "?" if v is None else f"{v:,}"  # noqa: E731
        what = f"{self.classes} classes" if self.classes is not None else f"{num(self.outliers)} outliers"
        if self.rows is None:
            what = "?"
        rows = num(self.rows) if self.split_rows in (None, self.rows) else f"{num(self.rows)}->{num(self.split_rows)}"
        return _ROW.format(self.name, self.modality, rows, num(self.dims), what, self.extractor,
                           self.status, self.group or ("paper" if self.paper else "extra"))


_ROW = "{:<28} {:<8} {:>16} {:>7}  {:<16} {:<19} {:<11} {}"
HEADER = _ROW.format("dataset", "modality", "rows(->split)", "dims", "classes/outliers", "features", "status", "group")


def describe(name: str) -> DatasetInfo:
    spec = get_spec(name)
    base = dict(name=name, modality=spec.modality, paper=spec.paper, extractor=spec.default_extractor,
                group=spec.group)
    if not spec.external:
        try:
            ensure_files(spec.files, pull=False)
        except DataError as exc:
            missing = "not pulled" if isinstance(exc, FileNotFoundError) else f"error: {exc}"
            return DatasetInfo(status=missing, **base)
    try:
        y, classes, _ = load_labels(name)
        feats = load_features(name, only_if_cached=True)
    except Exception as exc:  # listed, not fatal: one broken file must not hide the others
        return DatasetInfo(status=f"error: {type(exc).__name__}: {exc}", **base)
    one_vs_rest = spec.protocol == "one_vs_rest"
    return DatasetInfo(status="cached" if feats is not None else "not cached", rows=len(y),
                       split_rows=None if one_vs_rest else spec.intrinsic_rows(len(y)),
                       dims=None if feats is None else int(feats.shape[1]),
                       classes=len(classes) if one_vs_rest else None,
                       outliers=None if one_vs_rest else int(np.sum(np.asarray(y) == 1)), **base)
