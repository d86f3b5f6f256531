"""Metrics from scores only (never from predicted labels): AUROC and AUPR by both definitions.

``aupr`` is the paper's: the trapezoidal area under the precision-recall curve
(``auc(recall, precision)``); ``ap`` is average precision (``average_precision_score``), the more
common definition. Outliers (label 1) are the positive class.

The trapezoid rewards ties: a block of tied scores becomes one straight segment of the PR curve,
so a detector that gives most rows the same score can get a high ``aupr`` with a low ``ap``.
``aupr_tie_gain`` measures it: ``aupr`` minus the same area with the ties broken in a fixed random
order (0 when no scores tie). Reports flag cells where it exceeds :data:`TIE_GAIN_FLAG`.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

TIE_GAIN_FLAG = 0.01


def _trapezoid_aupr(labels: np.ndarray, scores: np.ndarray) -> float:
    precision, recall, _ = precision_recall_curve(labels, scores)
    return float(auc(recall, precision))


def _untied(scores: np.ndarray) -> np.ndarray:
    """The same ranking with ties broken in a fixed random order (distinct ranks)."""
    jitter = np.random.default_rng(0).permutation(len(scores))
    order = np.lexsort((jitter, scores))
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(len(scores))
    return ranks


def evaluate(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(scores).all():
        raise ValueError(f"scores hold {int((~np.isfinite(scores)).sum())} non-finite values")
    if labels.min() == labels.max():
        raise ValueError("labels hold a single class: AUROC/AUPR are undefined")
    aupr = _trapezoid_aupr(labels, scores)
    tied = len(np.unique(scores)) < len(scores)
    return {"auroc": float(roc_auc_score(labels, scores)),
            "aupr": aupr,
            "ap": float(average_precision_score(labels, scores)),
            "aupr_tie_gain": aupr - _trapezoid_aupr(labels, _untied(scores)) if tied else 0.0}
