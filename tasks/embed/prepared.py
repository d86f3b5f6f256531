"""A dataset made ready once per run of a flow: fetched (DVC, verified) and embedded (cached).

The embedding cache (:mod:`tasks.embed.cache`) does the real caching (shared by every class, ratio,
seed and method); this stage only makes sure it is warm before cells start, and reports the
data key that goes into every cell key.
"""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

from ..datasets import get_spec
from .extractors import EXTRACTORS
from .features import load_features

_MEMO: OrderedDict = OrderedDict()
_MEMO_LOCK = Lock()
_MEMO_SIZE = 2  # one process keeps at most two datasets' features in memory


def prepare_dataset(name: str, extractor: str | None = None, progress=None, threads: int | None = None) -> dict:
    """Fetch, verify and embed ``name``; return its data key, source hash and shape.

    ``progress(done, total)`` is called as images are embedded, on ``threads`` torch threads
    (default: the process's); image extractors only (neither is in the embedding's key)."""
    spec = get_spec(name)
    ex = extractor or spec.default_extractor
    options = {}
    if EXTRACTORS[ex].modality == "image":
        options = {k: v for k, v in (("progress", progress), ("threads", threads)) if v is not None}
    feats = load_features(name, ex, **options)
    return {"dataset": name, "extractor": feats.extractor, "data_key": feats.key,
            "source_hash": feats.source_hash, "n_rows": int(feats.shape[0]), "n_features": int(feats.shape[1])}


def features_for(name: str, extractor: str | None):
    """Features of a dataset, memoised per process (workers reuse them across cells)."""
    memo_key = (name, extractor)
    with _MEMO_LOCK:
        if memo_key in _MEMO:
            _MEMO.move_to_end(memo_key)
            return _MEMO[memo_key]
    feats = load_features(name, extractor or get_spec(name).default_extractor)
    with _MEMO_LOCK:
        _MEMO[memo_key] = feats
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return feats

