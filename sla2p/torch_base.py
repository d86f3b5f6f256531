"""What GOAD and RSRAE share: the start of ``fit`` (validation, device, seed, standardisation),
standardised float32 inputs on the fitted device, and PyOD's ``decision_function`` contract
around each detector's own batched ``_score``."""

from __future__ import annotations

import numpy as np
import torch
from pyod.models.base import BaseDetector

from sla2p.validation import check_X, make_generator, resolve_device, resolve_seed


class TorchDetector(BaseDetector):
    """Base of our torch detectors. Subclasses start ``fit`` with :meth:`_begin_fit`, set
    ``net_``, and implement ``_check_params()`` and ``_score(Xt)``."""

    def _begin_fit(self, X, y) -> tuple[np.ndarray, torch.Generator]:
        """Check the parameters and X; set ``n_features_in_``, ``device_``, ``seed_`` and (with
        ``standardize``) ``mean_``/``scale_``; return the checked X and the local generator."""
        self._check_params()
        X = check_X(X)
        self._set_n_classes(y)
        self.n_features_in_ = X.shape[1]
        self.device_ = resolve_device(self.device)
        self.seed_ = resolve_seed(self.random_state)
        if self.standardize:
            self.mean_ = X.mean(0, dtype=np.float64).astype(np.float32)
            std = X.std(0, dtype=np.float64)
            std[std == 0] = 1.0  # a constant column stays as it is
            self.scale_ = std.astype(np.float32)
        return X, make_generator(self.seed_)

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
