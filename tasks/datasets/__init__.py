"""Datasets and the paper's protocol: what each dataset is, how its raw rows load, and the splits.

    from tasks.datasets import get_spec, list_datasets, make_split, take_rows
    split = make_split("cifar10", "cat", 0.1, seed=0, features=feats)

``registry`` (the one place to add a dataset; ODDS/ADBench files are discovered),
``tabular``/``text``/``images``/``rsrae`` (loaders), ``raw`` (what a loader returns),
``safe_pickle`` (the restricted unpickler), ``protocol`` (splits). The paper's own formats
(original CIFAR archives, RSRAE's ``.data`` files) are the optional datasets ``cifar10_python``,
``cifar100``, ``20news_rsrae``, ``reuters_rsrae``, ``caltech101_rsrae``, listed when their files
are found (see :func:`configure_paths`).
"""

from .halves import halves
from .protocol import DegenerateSplitError, Split, authors_order, check_ratio, make_split, n_outliers, split_size, take_rows
from .raw import ImageRefs, RawData
from .registry import (
    GROUPS,
    MAX_ROWS,
    OPTIONAL_DATASETS,
    PAPER_DATASETS,
    DatasetNotPresentError,
    DatasetSpec,
    configure_paths,
    get_spec,
    list_datasets,
    list_groups,
    optional_status,
)
from .safe_pickle import UnsafePickleError

__all__ = [
    "list_datasets", "get_spec", "make_split", "take_rows", "authors_order", "n_outliers", "split_size", "check_ratio", "Split", "DatasetSpec",
    "PAPER_DATASETS", "OPTIONAL_DATASETS", "MAX_ROWS", "DatasetNotPresentError", "configure_paths", "optional_status",
    "UnsafePickleError", "RawData", "ImageRefs", "DegenerateSplitError", "GROUPS", "list_groups", "halves",
]  # fmt: skip
