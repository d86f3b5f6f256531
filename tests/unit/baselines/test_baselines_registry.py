"""The registry API the orchestration is built against."""

import dataclasses

import numpy as np
import pytest
from pyod.models.base import BaseDetector

from baselines import (DetectorInfo, detector_info, list_detectors, make_detector, register,
                       unregister)


def test_list_is_sorted():
    names = list_detectors()
    assert names == sorted(names) and len(names) == len(set(names))


def test_every_entry_is_an_unfitted_pyod_detector():
    for name in list_detectors():
        det = make_detector(name, random_state=0)
        assert isinstance(det, BaseDetector), name
        assert not hasattr(det, "decision_scores_"), name


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(ValueError, match="unknown detector 'nope'.*goad.*rsrae"):
        make_detector("nope")
    with pytest.raises(ValueError, match="registered detectors"):
        detector_info("nope")


def test_unknown_parameter_is_named_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) 'n_neighbours'.*valid parameters:.*n_neighbors"):
        make_detector("knn", n_neighbours=3)


def test_random_state_and_device_reach_only_those_that_accept_them():
    assert detector_info("iforest").accepts_random_state and not detector_info("iforest").accepts_device
    assert not detector_info("knn").accepts_random_state
    assert detector_info("goad").accepts_device and detector_info("sla2p").accepts_device
    assert make_detector("knn", random_state=3, device="cpu").get_params()["n_neighbors"] == 5
    assert make_detector("iforest", random_state=3).random_state == 3
    assert make_detector("goad", random_state=3, device="cpu").device == "cpu"
    assert make_detector("goad").device == "auto"  # device=None keeps the detector's default


def test_unseeded_detectors_get_a_fresh_recorded_seed():
    a, b = make_detector("iforest").random_state, make_detector("iforest").random_state
    assert isinstance(a, int) and 0 <= a < 2 ** 32 and a != b
    with pytest.raises(ValueError, match="random_state"):
        make_detector("iforest", random_state=-1)


def test_info_is_frozen_and_consistent():
    info = detector_info("goad")
    assert isinstance(info, DetectorInfo)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.name = "x"
    for name in list_detectors():
        i = detector_info(name)
        assert i.name == name and i.description
        assert i.deterministic == (i.order_tolerance == 0.0)


def test_adding_a_detector_is_one_line():
    from pyod.models.mad import MAD

    register("my_mad", MAD, description="median absolute deviation, univariate")
    try:
        assert "my_mad" in list_detectors()
        X = np.random.default_rng(0).normal(size=(50, 1))
        assert make_detector("my_mad", random_state=1).fit(X).decision_scores_.shape == (50,)
        with pytest.raises(ValueError, match="already registered"):
            register("my_mad", MAD, description="again")
    finally:
        unregister("my_mad")
    assert "my_mad" not in list_detectors()


# -- fit subsample and sparse input: declared here, applied by tasks.detect -----------------------
def test_superlinear_methods_declare_a_fit_subsample():
    for name in ("ocsvm", "lof", "knn"):
        info = detector_info(name)
        assert info.max_fit_rows == 12_000 and info.complexity == "quadratic"
        assert "12,000" in info.fit_rule() and "seed" in info.fit_rule()
    for name in ("goad", "rsrae", "deepsvdd", "autoencoder"):  # trained networks: epochs x rows
        info = detector_info(name)
        assert info.max_fit_rows == 12_000 and info.complexity == "linear" and "epoch" in info.fit_rule()
    for name in list_detectors():
        info = detector_info(name)
        assert (info.fit_rule() is None) == (info.max_fit_rows is None)
    assert detector_info("lof").accepts_sparse and detector_info("sla2p").accepts_sparse
    assert not detector_info("iforest").accepts_sparse


def test_fit_indices_are_seeded_deterministic_and_bounded():
    info = detector_info("knn")
    assert info.fit_indices(12_000, 0) is None and info.fit_rows(12_000) == 12_000
    a, b = info.fit_indices(30_000, 3), info.fit_indices(30_000, 3)
    np.testing.assert_array_equal(a, b)
    assert a.size == 12_000 == np.unique(a).size and a.min() >= 0 and a.max() < 30_000
    assert np.all(np.diff(a) > 0)  # sorted
    assert not np.array_equal(a, info.fit_indices(30_000, 4))  # the seed matters
    # pinned: the draw must not change silently (sha256 of the rule, numpy's PCG64)
    assert a[:5].tolist() == [1, 4, 5, 6, 11] and int(a.sum()) == 179456911


def test_register_validates_the_subsample_rule():
    from pyod.models.mad import MAD

    with pytest.raises(ValueError, match="max_fit_rows"):
        register("bad_rows", MAD, description="x", max_fit_rows=1)
    with pytest.raises(ValueError, match="complexity"):
        register("bad_cx", MAD, description="x", complexity="cubic")
    assert "bad_rows" not in list_detectors() and "bad_cx" not in list_detectors()


def test_fit_detector_subsamples_fits_and_scores_every_row():
    from pyod.models.knn import KNN

    from tasks.detect.fit_score import fit_detector

    register("knn_small", KNN, description="kNN with a 50-row fit cap (test)", max_fit_rows=50,
             complexity="quadratic", order_tolerance=1e-9)
    try:
        rng = np.random.default_rng(0)
        X = np.vstack([rng.normal(size=(190, 3)), rng.normal(size=(10, 3)) + 6.0])
        y = np.r_[np.zeros(190), np.ones(10)]
        timings = {}
        s1, k1 = fit_detector(make_detector("knn_small"), "knn_small", X, 7, timings)
        s2, k2 = fit_detector(make_detector("knn_small"), "knn_small", X, 7)
        assert k1 == k2 == 50 and s1.shape == (200,) and np.all(np.isfinite(s1))
        np.testing.assert_array_equal(s1, s2)  # seeded: the same rows, the same scores
        assert set(timings) >= {"fit", "score", "fit_cpu", "score_cpu"}
        idx = detector_info("knn_small").fit_indices(200, 7)
        ref = make_detector("knn_small").fit(X[idx])
        np.testing.assert_allclose(s1[idx], ref.decision_scores_)  # fitted rows: their fitted score
        rest = np.setdiff1d(np.arange(200), idx)
        np.testing.assert_allclose(s1[rest], ref.decision_function(X[rest]))  # the others: scored
        from sklearn.metrics import roc_auc_score

        assert roc_auc_score(y, s1) > 0.95
        s3, k3 = fit_detector(make_detector("knn_small"), "knn_small", X[:40], 7)  # under the cap: all rows
        assert k3 == 40
        np.testing.assert_array_equal(s3, make_detector("knn_small").fit(X[:40]).decision_scores_)
    finally:
        unregister("knn_small")


def test_cell_rows_keep_sparse_rows_only_for_detectors_that_take_them():
    import scipy.sparse as sp

    from tasks.detect.fit_score import cell_rows

    X = sp.random(50, 20, density=0.1, format="csr", random_state=0, dtype=np.float64)
    idx = np.array([4, 1, 30])
    got = cell_rows("lof", X, idx)
    assert sp.issparse(got) and got.dtype == np.float32
    np.testing.assert_array_equal(got.toarray(), X[idx].toarray().astype(np.float32))
    dense = cell_rows("iforest", X, idx)
    assert isinstance(dense, np.ndarray) and dense.flags.c_contiguous and dense.dtype == np.float32
    np.testing.assert_array_equal(dense, got.toarray())
    assert isinstance(cell_rows("lof", X.toarray(), idx), np.ndarray)  # dense features stay dense
