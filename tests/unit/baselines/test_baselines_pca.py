"""PCA (baselines.pca): the Gram-matrix route on wide data gives scikit-learn's SVD's scores, and
every other case is scikit-learn's own fit."""

import numpy as np
import pytest

from baselines.pca import PCA, wide_pca


class _SvdPCA(PCA):
    _gram_route = False  # the reference: scikit-learn's "full" solver (LAPACK's SVD)


def _rel(a, b):
    return float(np.max(np.abs(a - b) / np.abs(b)))


def _wide(n=60, d=300, seed=0, decay=1.0):
    """Rows with a decaying spectrum (``decay``: the smallest singular value relative to the largest)."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.normal(size=(n, n)))
    V, _ = np.linalg.qr(rng.normal(size=(d, n)))
    s = np.geomspace(1.0, decay, n)
    return (U * s) @ V.T + 0.01 * rng.normal(size=(1, d))


@pytest.mark.parametrize("decay", [1e-1, 1e-3, 1e-5])
def test_wide_scores_are_the_svd_scores(decay):
    X = _wide(decay=decay)
    new, ref = PCA().fit(X), _SvdPCA().fit(X)
    assert new.detector_._fit_svd_solver == ref.detector_._fit_svd_solver == "full"
    assert new.n_null_components_ == ref.n_null_components_
    assert len(new.selected_w_components_) == len(ref.selected_w_components_)
    assert _rel(new.decision_scores_, ref.decision_scores_) < 1e-9
    Xn = np.random.default_rng(9).normal(size=(5, X.shape[1]))
    assert _rel(new.decision_function(Xn), ref.decision_function(Xn)) < 1e-9
    # the axes themselves: same sign convention, same variances
    keep = ref.detector_.explained_variance_ > 1e-12 * ref.detector_.explained_variance_[0]
    np.testing.assert_allclose(new.detector_.explained_variance_[keep], ref.detector_.explained_variance_[keep],
                               rtol=1e-9)
    np.testing.assert_allclose(new.detector_.components_[keep], ref.detector_.components_[keep],
                               atol=1e-6 / decay * 1e-3)


def test_wide_rank_deficient_rows_give_the_same_null_axes_and_scores():
    X = _wide(n=40, d=200, seed=1)
    X = np.vstack([X, X[:6]])  # duplicated rows: rank 40 of 46 rows, 6 null axes after centering
    new, ref = PCA().fit(X), _SvdPCA().fit(X)
    assert new.n_null_components_ == ref.n_null_components_ >= 6
    assert _rel(new.decision_scores_, ref.decision_scores_) < 1e-9
    # a duplicated row scores as its twin (up to rounding: the AUROC of tied rows may differ)
    np.testing.assert_allclose(new.decision_scores_[40:], new.decision_scores_[:6], rtol=1e-9)


@pytest.mark.parametrize("kw", [{"n_components": 50}, {"svd_solver": "full", "n_components": 20},
                                {"n_selected_components": 10}, {"weighted": False}])
def test_wide_parameters_keep_their_meaning(kw):
    X = _wide(seed=2)
    new, ref = PCA(**kw).fit(X), _SvdPCA(**kw).fit(X)
    assert new.n_components_ == ref.n_components_
    assert new.detector_.noise_variance_ == pytest.approx(ref.detector_.noise_variance_, rel=1e-9)
    np.testing.assert_allclose(new.detector_.explained_variance_ratio_, ref.detector_.explained_variance_ratio_,
                               rtol=1e-9, atol=1e-15)
    assert _rel(new.decision_scores_, ref.decision_scores_) < 1e-9


@pytest.mark.parametrize("shape,kw", [((300, 20), {}),                           # tall: scikit-learn's solver
                                      ((60, 600), {"n_components": 5}),           # randomized (few axes, d > 500)
                                      ((60, 300), {"n_components": 0.9}),         # a variance fraction
                                      ((60, 300), {"svd_solver": "arpack", "n_components": 30})])
def test_other_cases_are_scikit_learns_fit_to_the_bit(shape, kw):
    X = np.random.default_rng(3).normal(size=shape)
    new, ref = PCA(random_state=0, **kw).fit(X), _SvdPCA(random_state=0, **kw).fit(X)
    assert new.detector_._fit_svd_solver == ref.detector_._fit_svd_solver
    assert np.array_equal(new.decision_scores_, ref.decision_scores_)


def test_wide_pca_is_a_decomposition_of_the_centered_rows():
    X = _wide(n=30, d=120, seed=4)
    mean, s, Vt = wide_pca(X)
    np.testing.assert_allclose(mean, X.mean(0))
    assert np.all(np.diff(s) <= 0)
    Xc = X - mean
    assert s[-1] < 1e-12 * s[0]  # 30 centered rows: rank 29, one null axis (left out of the score)
    V = Vt[:29]
    np.testing.assert_allclose(V @ V.T, np.eye(29), atol=1e-8)
    np.testing.assert_allclose((Xc @ V.T) @ V, Xc, atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(Xc @ V.T, axis=0), s[:29], rtol=1e-8)


def test_deterministic():
    X = _wide(seed=5)
    assert np.array_equal(PCA().fit(X).decision_scores_, PCA().fit(X).decision_scores_)
