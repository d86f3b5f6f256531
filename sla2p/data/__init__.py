"""sla2p.data: benchmark datasets (DVC-fetched, verified), the paper's protocol, cached embeddings.

    from sla2p.data import list_datasets, get_spec, load_features, make_split, take_rows
    feats = load_features("cifar10")                 # cached EfficientNet-Lite0 features
    split = make_split("cifar10", "cat", 0.1, seed=0, features=feats)
    X = take_rows(feats.X, split.indices)            # dense float32, split.labels: 1 = outlier

Plain library: no Prefect or MLflow. Modules: ``paths`` (where data and cache live),
``sources`` (DVC pull + verification against data.dvc), ``registry`` (the one place to add a
dataset; ODDS/ADBench files are discovered), ``tabular``/``text``/``images`` (loaders),
``protocol`` (splits), ``embed`` (extractors and the cache), ``safe_pickle`` (the restricted
unpickler), ``rsrae`` (RSRAE's processed files).

The paper's own formats (original CIFAR-10/CIFAR-100 archives, RSRAE's ``.data`` files) are
the optional datasets ``cifar10_python``, ``cifar100``, ``20news_rsrae``, ``reuters_rsrae``,
``caltech101_rsrae``, listed when their files are found (see :mod:`sla2p.data.registry` and
:func:`configure_paths`).
"""

from .embed import (
    CODE_VERSION,
    EXTRACTOR_CALLS,
    EXTRACTORS,
    CacheCorruptWarning,
    ExtractorUnavailable,
    Features,
    load_features,
    load_labels,
)
from .protocol import Split, authors_order, make_split, take_rows
from .registry import (
    OPTIONAL_DATASETS,
    PAPER_DATASETS,
    DatasetNotPresentError,
    DatasetSpec,
    configure_paths,
    get_spec,
    list_datasets,
    optional_status,
)
from .safe_pickle import UnsafePickleError
from .sources import DataError, DataIntegrityError, DataMissingError, UntrackedDataWarning

__all__ = [
    "list_datasets", "get_spec", "load_features", "load_labels", "make_split", "take_rows", "authors_order",
    "DatasetSpec", "Features", "Split", "PAPER_DATASETS", "EXTRACTORS", "EXTRACTOR_CALLS", "CODE_VERSION",
    "DataError", "DataMissingError", "DataIntegrityError", "UntrackedDataWarning",
    "ExtractorUnavailable", "CacheCorruptWarning",
    "OPTIONAL_DATASETS", "DatasetNotPresentError", "configure_paths", "optional_status", "UnsafePickleError",
]  # fmt: skip
