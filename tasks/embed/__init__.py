"""Embed: features of a whole dataset (TF-IDF, image models, identity), computed once and cached.

    from tasks.embed import load_features
    feats = load_features("cifar10")        # cached EfficientNet-Lite0 features

The cache key holds the source files' content hash, so one entry serves every class, ratio,
seed and method.

Modules, one job each: :mod:`.features` (the facade: load_features, load_labels),
:mod:`.extractors` (the extractor table), :mod:`.text` (TF-IDF, MiniLM), :mod:`.models`
(image networks and their weights), :mod:`.preprocess` (image decoding and resizing),
:mod:`.inference` (batched image embedding), :mod:`.cache` (the on-disk entries),
:mod:`.errors`, :mod:`.prepared` (a dataset made ready once per run).
"""

from .cache import CODE_VERSION, CacheCorruptWarning
from .errors import ExtractorUnavailable
from .extractors import EXTRACTOR_CALLS, EXTRACTORS
from .features import Features, load_features, load_labels
from .prepared import features_for, prepare_dataset

__all__ = ["load_features", "load_labels", "Features", "EXTRACTORS", "EXTRACTOR_CALLS", "CODE_VERSION",
           "ExtractorUnavailable", "CacheCorruptWarning", "features_for", "prepare_dataset"]
