"""sla2p.data: benchmark datasets (DVC-fetched, verified), the paper's protocol, cached embeddings.

    from sla2p.data import list_datasets, get_spec, load_features, make_split, take_rows
    feats = load_features("cifar10")                 # cached EfficientNet-Lite0 features
    split = make_split("cifar10", "cat", 0.1, seed=0, features=feats)
    X = take_rows(feats.X, split.indices)            # dense float32, split.labels: 1 = outlier

Plain library: no Prefect or MLflow. Modules: ``paths`` (where data and cache live),
``sources`` (DVC pull + verification against data.dvc), ``registry`` (the one place to add a
dataset; ODDS/ADBench files are discovered), ``tabular``/``text``/``images`` (loaders),
``protocol`` (splits), ``embed`` (extractors and the cache).
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
from .protocol import Split, make_split, take_rows
from .registry import PAPER_DATASETS, DatasetSpec, get_spec, list_datasets
from .sources import DataError, DataIntegrityError, DataMissingError, UntrackedDataWarning

__all__ = [
    "list_datasets", "get_spec", "load_features", "load_labels", "make_split", "take_rows",
    "DatasetSpec", "Features", "Split", "PAPER_DATASETS", "EXTRACTORS", "EXTRACTOR_CALLS", "CODE_VERSION",
    "DataError", "DataMissingError", "DataIntegrityError", "UntrackedDataWarning",
    "ExtractorUnavailable", "CacheCorruptWarning",
]  # fmt: skip
