"""One contract test over the whole registry, and the invariance check for every detector."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from baselines import check_invariance, detector_info, list_detectors, make_detector

# Small settings for the slow ones, so the whole module runs in well under a minute.
FAST = {
    "sla2p": dict(n_projections=16, proj_dim=16),
    "sla": dict(n_projections=16, proj_dim=16),
    "goad": dict(n_transforms=32),
    "rsrae": dict(epochs=20),
    "deepsvdd": dict(epochs=10),
    "autoencoder": dict(epoch_num=5),
    "lunar": dict(n_epochs=40),
    "dif": dict(n_ensemble=8),
    "neutral_ad": dict(n_epochs=30, hidden_sizes=(64, 64), latent_dim=32),
    "slad": dict(n_epochs=5),
    "dte": dict(n_epochs=20),
}
AUROC_FLOOR = {"sla2p": 0.7}  # SLA2P with 16 projections of width 16; every other: 0.8


def fast(name: str) -> dict:
    """The small settings of ``name``. An ``sla2p_<word>`` preset gets 64 projections of width 64:
    sla2p_bigstep's 10x step overshoots on the 16 x 16 model (AUROC 0.67 here, 0.95 at 64 x 64)."""
    return FAST.get(name, dict(n_projections=64, proj_dim=64) if name.startswith("sla2p_") else {})


def floor(name: str) -> float:
    return AUROC_FLOOR.get(name, AUROC_FLOOR["sla2p"] if name.startswith("sla2p_") else 0.8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fitted(data):
    X, _ = data
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = make_detector(name, random_state=0, device="cpu", **fast(name)).fit(X)
        return cache[name]

    return get


def test_registry_holds_the_issue_names():
    required = {"sla2p", "sla", "goad", "rsrae", "iforest", "ocsvm", "lof", "knn", "ecod", "copod",
                "pca", "hbos", "deepsvdd", "autoencoder"}
    assert required <= set(list_detectors())


@pytest.mark.parametrize("name", list_detectors())
def test_contract(name, data, fitted):
    X, y = data
    det = fitted(name)
    scores = det.decision_function(X)
    assert scores.shape == (X.shape[0],)
    assert np.all(np.isfinite(scores))
    assert det.decision_scores_.shape == (X.shape[0],)
    assert det.labels_.shape == (X.shape[0],) and np.isfinite(det.threshold_)
    assert roc_auc_score(y, scores) > floor(name)
    # clone gives an unfitted copy with the same parameters
    twin = clone(det)
    assert twin.get_params() == det.get_params()
    assert not hasattr(twin, "decision_scores_")


@pytest.mark.parametrize("name", list_detectors())
def test_same_seed_same_scores(name, data, fitted):
    X, _ = data
    again = make_detector(name, random_state=0, device="cpu", **fast(name)).fit(X)
    np.testing.assert_array_equal(again.decision_scores_, fitted(name).decision_scores_)


@pytest.mark.parametrize("name", list_detectors())
def test_invariance(name, data, fitted):
    X, _ = data
    res = check_invariance(name, X, detector=fitted(name), random_state=3)
    assert res.passed, res.line()
    info = detector_info(name)
    if info.deterministic:
        assert res.exact, res.line()


@pytest.mark.parametrize("name", ["ecod", "copod"])
def test_invariance_reports_batch_dependent_scores(name, data, fitted):
    # ECOD/COPOD score new rows with ECDFs over the training rows plus the scored batch.
    X, _ = data
    assert not check_invariance(name, X, detector=fitted(name)).batch_independent


@pytest.mark.parametrize("name", ["sla2p", "sla", "goad", "rsrae", "autoencoder", "deepsvdd"])
def test_scoring_before_fit_raises_not_fitted(name):
    det = make_detector(name, random_state=0, device="cpu")
    with pytest.raises(NotFittedError, match="not fitted"):
        det.decision_function(np.ones((3, 2)))


@pytest.mark.parametrize("name", list_detectors())
def test_fit_and_score_leave_global_rngs_alone(name, data):
    import random

    X, _ = data
    before = (random.getstate(), np.random.get_state()[1].copy(), torch.random.get_rng_state().clone())
    det = make_detector(name, random_state=0, device="cpu", **fast(name)).fit(X)
    det.decision_function(X)
    after = (random.getstate(), np.random.get_state()[1].copy(), torch.random.get_rng_state().clone())
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and torch.equal(before[2], after[2])


# -- what the registry declares is what the detectors do ------------------------------------------
SPARSE_TOL = {"lof": 1e-7, "ocsvm": 1e-9}  # sparse products sum in another order


@pytest.mark.parametrize("name", [n for n in list_detectors() if detector_info(n).accepts_sparse])
def test_declared_sparse_input_is_taken_and_scores_as_dense(name):
    import scipy.sparse as sp

    rng = np.random.default_rng(1)
    X = rng.random((120, 30)) * (rng.random((120, 30)) < 0.2)  # TF-IDF-like: mostly zeros
    X[:, 0] += 0.5  # no all-zero row
    det_s = make_detector(name, random_state=0, device="cpu", **fast(name)).fit(sp.csr_matrix(X))
    det_d = make_detector(name, random_state=0, device="cpu", **fast(name)).fit(X)
    tol = SPARSE_TOL.get(name, 1e-5)
    np.testing.assert_allclose(det_s.decision_scores_, det_d.decision_scores_, rtol=tol, atol=tol)


def test_undeclared_detectors_refuse_sparse_input():
    """The flag is not decoration: a detector without it really refuses sparse rows (so the cell
    runner must densify for it)."""
    import scipy.sparse as sp

    X = sp.csr_matrix(np.random.default_rng(0).random((40, 5)))
    for name in ("iforest", "knn", "pca"):
        assert not detector_info(name).accepts_sparse
        with pytest.raises((TypeError, ValueError)):
            make_detector(name, random_state=0).fit(X)
