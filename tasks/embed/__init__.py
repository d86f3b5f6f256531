"""Embed: features of a whole dataset (TF-IDF, image models, identity), computed once and cached.

    from tasks.embed import load_features
    feats = load_features("cifar10")        # cached EfficientNet-Lite0 features

The cache key holds the source files' content hash, so one entry serves every class, ratio,
seed and method.
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
from .prepared import features_for, prepare_dataset

__all__ = ["load_features", "load_labels", "Features", "EXTRACTORS", "EXTRACTOR_CALLS", "CODE_VERSION",
           "ExtractorUnavailable", "CacheCorruptWarning", "features_for", "prepare_dataset"]
