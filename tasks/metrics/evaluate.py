"""Metrics from scores only (never from predicted labels): AUROC and AUPR by both definitions.

``aupr`` is the paper's: the trapezoidal area under the precision-recall curve
(``auc(recall, precision)``); ``ap`` is average precision (``average_precision_score``), the more
common definition. Outliers (label 1) are the positive class.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score


def evaluate(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(scores).all():
        raise ValueError(f"scores hold {int((~np.isfinite(scores)).sum())} non-finite values")
    if labels.min() == labels.max():
        raise ValueError("labels hold a single class: AUROC/AUPR are undefined")
    precision, recall, _ = precision_recall_curve(labels, scores)
    return {"auroc": float(roc_auc_score(labels, scores)),
            "aupr": float(auc(recall, precision)),
            "ap": float(average_precision_score(labels, scores))}
