"""The BLAS adapters of PyOD's PCA and OC-SVM (baselines.pca, baselines.ocsvm) give PyOD's scores,
and PCA stays finite where PyOD's divides by a null axis's variance."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from pyod.models.ocsvm import OCSVM as PyODOCSVM
from pyod.models.pca import PCA as PyODPCA

from baselines import make_detector
from baselines.ocsvm import OCSVM
from baselines.pca import PCA


def _rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture
def tabular():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 12)) * rng.uniform(0.2, 3.0, size=12)
    X[:30] += 2.5
    return X, rng.normal(size=(40, 12))


def test_registry_gives_the_adapters():
    assert isinstance(make_detector("pca"), PCA) and isinstance(make_detector("ocsvm"), OCSVM)


@pytest.mark.parametrize("params", [{}, {"n_selected_components": 4}, {"weighted": False},
                                    {"standardization": False}])
def test_pca_scores_are_pyods_on_full_rank_data(tabular, params):
    X, Y = tabular
    ours, pyod = PCA(**params).fit(X), PyODPCA(**params).fit(X)
    assert ours.n_null_components_ == 0
    assert _rel(ours.decision_scores_, pyod.decision_scores_) < 1e-12
    assert _rel(ours.decision_function(Y), pyod.decision_function(Y)) < 1e-12


def test_pca_leaves_null_axes_out_and_stays_finite():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(200, 6))
    X = np.hstack([A, A[:, :2] @ rng.normal(size=(2, 3))])  # three dependent columns: rank 6 of 9
    ours = PCA().fit(X)
    assert ours.n_null_components_ == 3 and ours.selected_components_.shape == (6, 9)
    assert np.isfinite(ours.decision_scores_).all() and np.isfinite(ours.decision_function(X[:5])).all()
    # PyOD divides by those axes' variances, zero or rounding noise: inf scores (KDDCup99's failure).
    with np.errstate(divide="ignore", invalid="ignore"):
        pyod = PyODPCA().fit(X)
    assert pyod.w_components_[-3:].max() < 1e-15 and not np.isfinite(pyod.decision_scores_).all()
    # Fewer rows than dimensions (every text cell): the last axis is null after centring.
    wide = PCA().fit(rng.random((40, 100)))
    assert wide.n_null_components_ == 1 and np.isfinite(wide.decision_scores_).all()


def test_pca_refuses_constant_data():
    with pytest.raises(ValueError, match="zero variance"):
        PCA(standardization=False).fit(np.ones((20, 3)))


@pytest.mark.parametrize("gamma", ["auto", "scale", 0.05])
def test_ocsvm_scores_are_pyods(tabular, gamma):
    X, Y = tabular
    ours, pyod = OCSVM(gamma=gamma).fit(X), PyODOCSVM(gamma=gamma).fit(X)
    assert _rel(ours.decision_scores_, pyod.decision_scores_) < 1e-9
    assert _rel(ours.decision_function(Y), pyod.decision_function(Y)) < 1e-9
    np.testing.assert_array_equal(ours.support_, pyod.support_)
    np.testing.assert_allclose(ours.support_vectors_, pyod.support_vectors_)


def test_ocsvm_takes_sparse_rows_and_other_kernels_go_through_pyod(tabular):
    X, Y = tabular
    Xs = np.abs(X) * (np.random.default_rng(2).random(X.shape) < 0.3)
    dense, sparse = OCSVM().fit(Xs), OCSVM().fit(sp.csr_matrix(Xs))
    assert _rel(sparse.decision_scores_, dense.decision_scores_) < 1e-9
    assert _rel(sparse.decision_function(sp.csr_matrix(Y)), dense.decision_function(Y)) < 1e-9
    lin, pyod_lin = OCSVM(kernel="linear").fit(X), PyODOCSVM(kernel="linear").fit(X)
    np.testing.assert_array_equal(lin.decision_function(Y), pyod_lin.decision_function(Y))
