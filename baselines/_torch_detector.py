"""What GOAD and RSRAE share: standardised float32 inputs on the fitted device, and PyOD's
``decision_function`` contract around each detector's own batched ``_score``."""

from __future__ import annotations

import numpy as np
import torch
from pyod.models.base import BaseDetector

from sla2p._utils import check_X


class TorchDetector(BaseDetector):
    """Base of our torch detectors. Subclasses set ``net_``, ``device_``, ``n_features_in_`` and,
    with ``standardize``, ``mean_``/``scale_`` in ``fit``, and implement ``_score(Xt)``."""

    def decision_function(self, X):
        """Anomaly score of each row (higher = more anomalous), in the form the subclass's module
        docstring gives. Independent of row order and batching (up to float rounding)."""
        if not hasattr(self, "net_"):
            raise RuntimeError(f"This {type(self).__name__} is not fitted yet: call fit(X) first")
        X = check_X(X, n_features=self.n_features_in_, min_samples=1)
        return self._score(self._prepare(X))

    def _prepare(self, X: np.ndarray) -> torch.Tensor:
        if self.standardize:
            X = (X - self.mean_) / self.scale_
        return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(self.device_)

    def _score(self, Xt: torch.Tensor) -> np.ndarray:
        raise NotImplementedError
