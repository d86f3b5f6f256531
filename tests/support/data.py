"""Small synthetic data sets the detector tests share."""

from __future__ import annotations

import numpy as np


def easy_set(seed=0, n=200, d=6, n_out=20):
    """Gaussian inliers around (3, ..., 3) and uniform outliers in a wide box: easy for all."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n - n_out, d)) + 3.0, rng.uniform(-4.0, 10.0, size=(n_out, d))])
    y = np.r_[np.zeros(n - n_out), np.ones(n_out)]
    return X, y
