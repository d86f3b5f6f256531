"""PyOD's one-class SVM with its RBF kernel computed by BLAS.

PyOD's ``OCSVM`` (pyod 3.6.x) hands the rows to scikit-learn's ``OneClassSVM``, whose libsvm
computes every kernel value ``exp(-gamma (|x|^2 + |y|^2 - 2 x.y))`` in a scalar loop, once per
solver step that needs it (a 200 MB cache), and again for every (scored row, support vector)
pair. On CIFAR-10 features (6,667 x 1,280) that is about 55 s a cell here.

This adapter computes the same kernel matrix once with one GEMM (scikit-learn's ``rbf_kernel``,
float64, the same expansion libsvm uses), gives it to the same libsvm solver as a precomputed
kernel, and scores rows as ``sum_i alpha_i K(x, sv_i) - rho`` with GEMMs over the support vectors.
The parameters, the solver and the score (higher = more anomalous) are PyOD's; the kernel values
differ from libsvm's own by rounding only. Other kernels than ``"rbf"`` go through PyOD unchanged.
Memory: the fitted rows' kernel matrix, ``n^2`` float64 (1.2 GB at the suite's 12,000-row cap).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from pyod.models.ocsvm import OCSVM as _PyODOCSVM
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.svm import OneClassSVM
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

_CHUNK = 4096  # rows scored per GEMM: bounds the (rows x support vectors) kernel block


def _gamma(gamma, X) -> float:
    """scikit-learn's meaning of ``gamma`` ('scale', 'auto' or a number) for the rows ``X``."""
    if gamma == "auto":
        return 1.0 / X.shape[1]
    if gamma == "scale":
        var = (X.multiply(X).mean() - X.mean() ** 2) if sp.issparse(X) else X.var()
        return 1.0 / (X.shape[1] * var) if var != 0 else 1.0
    return float(gamma)


class OCSVM(_PyODOCSVM):
    """PyOD's OC-SVM (same parameters); for ``kernel="rbf"``, the kernel matrix comes from BLAS."""

    def fit(self, X, y=None, sample_weight=None, **params):
        if self.kernel != "rbf":
            return super().fit(X, y, sample_weight=sample_weight, **params)
        X = check_array(X, accept_sparse="csr", dtype=np.float64)
        self._set_n_classes(y)
        self.gamma_ = _gamma(self.gamma, X)
        K = rbf_kernel(X, X, gamma=self.gamma_)
        self.detector_ = OneClassSVM(kernel="precomputed", tol=self.tol, nu=self.nu, shrinking=self.shrinking,
                                     cache_size=self.cache_size, verbose=self.verbose, max_iter=self.max_iter)
        self.detector_.fit(K, sample_weight=sample_weight, **params)
        self.fit_support_vectors_ = X[self.detector_.support_]
        # The fitted rows' scores from the kernel matrix already in memory.
        self.decision_scores_ = -(K[:, self.detector_.support_] @ self._alpha() + self.detector_.intercept_[0])
        del K
        self._process_decision_scores()
        return self

    def _alpha(self) -> np.ndarray:
        return self.detector_.dual_coef_[0]

    def decision_function(self, X):
        check_is_fitted(self, ["decision_scores_", "threshold_", "labels_"])
        if self.kernel != "rbf":
            return super().decision_function(X)
        X = check_array(X, accept_sparse="csr", dtype=np.float64)
        out = np.empty(X.shape[0])
        alpha, b = self._alpha(), self.detector_.intercept_[0]
        for lo in range(0, X.shape[0], _CHUNK):
            out[lo:lo + _CHUNK] = -(rbf_kernel(X[lo:lo + _CHUNK], self.fit_support_vectors_, gamma=self.gamma_) @ alpha
                                    + b)
        return out

    @property
    def support_vectors_(self):
        """The support vectors (rows of the fitted data), as PyOD's property gives them."""
        return self.fit_support_vectors_ if self.kernel == "rbf" else super().support_vectors_
