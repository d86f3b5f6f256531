"""PyOD's PCA detector, scored with BLAS, over the components that carry variance.

PyOD's score (pyod 3.6.x, ``pyod.models.pca.PCA``) of a standardized row ``x`` is
``sum_j ||x - c_j|| / w_j`` over the selected principal axes ``c_j`` (unit rows of
``components_``), with ``w_j`` their explained-variance ratios. Two things make it unusable on
the paper's data as PyOD computes it:

* Cost. ``scipy.spatial.distance.cdist`` computes the distances in scalar loops: on 20 Newsgroups
  (1,000 rows x 10,000 TF-IDF terms, 1,000 axes) fit+score takes about 35 s, on Reuters (2,400 x
  24,349) over 5 minutes. ``||x - c||^2 = ||x||^2 + 1 - 2 x.c`` (the axes are unit vectors) is one
  GEMM: the same score in well under a second. float64 throughout, so the difference is rounding.
* Null axes. When the data has fewer rows than dimensions (every text cell), or dependent columns
  (KDDCup99's one-hot columns), some axes have zero variance up to rounding. PyOD divides by that
  rounding-level ratio: on KDDCup99 the scores are inf/NaN, and with fewer rows than dimensions the
  score is dominated by one null axis with a weight near 1e30. Here the axes whose variance is
  below a numerical-rank tolerance (``var <= var.max() * max(n, d) * eps``) are left out of the
  sum; ``n_null_components_`` says how many.

* Fit time on wide data. With fewer rows than columns (every text cell) scikit-learn's "full"
  solver (what ``svd_solver="auto"`` picks when all components are kept) runs LAPACK's SVD on the
  centered n x d matrix: 27 s on a Reuters cell (2,398 x 24,349), 85-93 % of it in the SVD. Here that
  case takes the Gram-matrix route to the same decomposition (:func:`wide_pca`): eigenvectors U of
  the n x n matrix Xc Xc^T, then Y = U^T Xc, whose rows are s_j v_j; each axis is its row of Y
  normalised, its singular value that row's norm (not the square root of an eigenvalue, which would
  square the condition number), sorted and sign-fixed as scikit-learn does (``svd_flip``). Scores
  agree with the SVD's to 2e-14 relative on the text cells, the AUROC to every digit, 3x faster
  (docs/explanation/text-baselines-speed.md; ``bench/bench_rsrae_pca.py``); the tests allow 1e-9
  for condition numbers up to 1e5.

Everything else (standardization, which axes are selected, the weights) is PyOD's own code path.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from pyod.models.pca import PCA as _PyODPCA
from pyod.utils.utility import standardizer
from sklearn.decomposition import PCA as _SklearnPCA
from sklearn.utils import check_array
from sklearn.utils.extmath import svd_flip
from sklearn.utils.validation import check_is_fitted

_CHUNK = 8192  # rows scored per GEMM: bounds the (rows x axes) distance block


class PCA(_PyODPCA):
    """PyOD's PCA outlier score (same parameters), computed with GEMMs over the non-null axes."""

    def fit(self, X, y=None):
        X = check_array(X, dtype=np.float64)
        self._set_n_classes(y)
        if self.standardization:
            X, self.scaler_ = standardizer(X, keep_scalar=True)
        self.detector_ = _SklearnPCA(n_components=self.n_components, copy=self.copy, whiten=self.whiten,
                                     svd_solver=self.svd_solver, tol=self.tol,
                                     iterated_power=self.iterated_power, random_state=self.random_state)
        if self._wide_full(X.shape):
            _set_full_pca(self.detector_, X, *wide_pca(X))
        else:
            self.detector_.fit(X)
        self.n_components_ = self.detector_.n_components_
        self.components_ = self.detector_.components_
        self.n_selected_components_ = (self.n_components_ if self.n_selected_components is None
                                       else self.n_selected_components)
        if not 1 <= self.n_selected_components_ <= self.n_components_:
            raise ValueError(f"n_selected_components must be in [1, {self.n_components_}], "
                             f"got {self.n_selected_components_}")
        self.w_components_ = (self.detector_.explained_variance_ratio_ if self.weighted
                              else np.ones(self.n_components_))
        # Tolerance on the variances, not the singular values: scikit-learn's covariance_eigh solver
        # (many rows, few columns) gets a null axis's variance to rounding of the largest one.
        var = self.detector_.explained_variance_
        non_null = var > var.max() * max(X.shape) * np.finfo(np.float64).eps
        selected = np.zeros(self.n_components_, dtype=bool)
        selected[-self.n_selected_components_:] = True
        keep = selected & non_null
        if not keep.any():
            raise ValueError("PCA: every selected component has zero variance (constant data?)")
        self.n_null_components_ = int((selected & ~non_null).sum())
        self.selected_components_ = self.components_[keep]
        self.selected_w_components_ = self.w_components_[keep]
        self.decision_scores_ = self._score(X)
        self._process_decision_scores()
        return self

    # False: always scikit-learn's own fit (the reference; tests and bench/bench_rsrae_pca.py)
    _gram_route = True

    def _wide_full(self, shape: tuple[int, int]) -> bool:
        """Whether scikit-learn would run its "full" solver (an SVD keeping every axis, or an int
        number of them) on a matrix with fewer rows than columns: the case :func:`wide_pca` does."""
        n, d = shape
        k = min(n, d) if self.n_components is None else self.n_components
        if not self._gram_route or n >= d or isinstance(k, bool) or not isinstance(k, Integral) or not 0 < k <= n:
            return False
        if self.svd_solver == "full":
            return True
        # scikit-learn's "auto" choice (PCA._fit) for these shapes: full when small or nearly every axis is kept
        return self.svd_solver == "auto" and (d <= 500 or k >= 0.8 * n)

    def decision_function(self, X):
        check_is_fitted(self, ["components_", "w_components_"])
        X = check_array(X, dtype=np.float64)
        if self.standardization:
            X = self.scaler_.transform(X)
        return self._score(X)

    def _score(self, X: np.ndarray) -> np.ndarray:
        C, inv_w = self.selected_components_, 1.0 / self.selected_w_components_
        c_sq = np.einsum("ij,ij->i", C, C)
        out = np.empty(X.shape[0])
        for lo in range(0, X.shape[0], _CHUNK):
            x = X[lo:lo + _CHUNK]
            d2 = np.einsum("ij,ij->i", x, x)[:, None] + c_sq[None, :] - 2.0 * (x @ C.T)
            out[lo:lo + _CHUNK] = np.sqrt(np.maximum(d2, 0.0)) @ inv_w
        return out


def wide_pca(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, singular values descending, unit axes as rows) of X (n x d, n < d), centered: the
    decomposition scikit-learn's "full" PCA takes from LAPACK's SVD of the centered matrix, by the
    n x n Gram matrix (n^2 d work, BLAS 3, instead of an SVD's bidiagonalisation of n x d).

    U from ``eigh(Xc Xc^T)``; the rows of Y = U^T Xc are s_j v_j (exactly, up to rounding), so each
    axis is its row normalised and s_j its norm: accurate to rounding times s_max / s_j, as the SVD
    (eigenvalues would give s_j^2 to rounding times s_max^2). A zero row (a null direction computed
    exactly) stays zero. Signs as scikit-learn's (``svd_flip`` on the axes)."""
    mean = X.mean(axis=0)
    Xc = X - mean
    _, U = np.linalg.eigh(Xc @ Xc.T)  # ascending eigenvalues; Xc @ Xc.T is one SYRK
    Y = np.ascontiguousarray(U[:, ::-1]).T @ Xc  # rows in descending order already, up to near-ties
    del Xc
    s = np.sqrt(np.einsum("ij,ij->i", Y, Y))
    order = np.argsort(-s, kind="stable")
    if np.any(order != np.arange(len(s))):  # a full-size copy only when near-ties swap
        Y, s = Y[order], s[order]
    Y /= np.where(s > 0, s, 1.0)[:, None]
    _, Y = svd_flip(None, Y, u_based_decision=False)
    return mean, s, Y


def _set_full_pca(pca: _SklearnPCA, X: np.ndarray, mean: np.ndarray, S: np.ndarray, Vt: np.ndarray) -> None:
    """The fitted attributes scikit-learn's ``PCA._fit_full`` ("full" solver, an int number of
    components or all) sets, from the decomposition of :func:`wide_pca`."""
    n, d = X.shape
    k = min(n, d) if pca.n_components is None else int(pca.n_components)
    var = S ** 2 / (n - 1)
    pca.n_features_in_, pca.n_samples_, pca._fit_svd_solver = d, n, "full"
    pca.mean_, pca.n_components_ = mean, k
    pca.components_ = np.ascontiguousarray(Vt[:k])
    pca.explained_variance_ = var[:k].copy()
    pca.explained_variance_ratio_ = (var / var.sum())[:k].copy()
    pca.singular_values_ = S[:k].copy()
    pca.noise_variance_ = float(var[k:].mean()) if k < min(n, d) else 0.0
