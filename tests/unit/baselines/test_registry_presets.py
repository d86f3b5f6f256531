"""The registry's presets (a documented parameter set of an existing class under its own name) and
its ``seed_invariant`` declarations, each verified by the invariance check's refits."""

from __future__ import annotations

import numpy as np
import pytest
from pyod.models.iforest import IForest
from pyod.models.knn import KNN
from pyod.models.lof import LOF

from baselines import (check_invariance, check_params, detector_info, list_detectors, make_detector, register,
                       unregister)
from baselines.ocsvm import OCSVM

# What the registry declares seed_invariant, each verified below (LOF, OC-SVM and PCA are not:
# baselines/registry.py says what a refit on permuted rows changed for each).
SEED_INVARIANT = {"copod", "ecod", "hbos", "knn"}


@pytest.fixture
def registered():
    """register(...) under test names, unregistered afterwards whatever the test did."""
    names = []

    def reg(name, factory, **kw):
        info = register(name, factory, description=kw.pop("description", "test only"), **kw)
        names.append(name)
        return info

    yield reg
    for n in names:
        if n in list_detectors():
            unregister(n)


def continuous(n=200, d=5, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def tied(n=200, d=5, seed=0):
    """Small integer values: many tied distances and duplicate rows, as in breastw's 1-10 scales."""
    return np.random.default_rng(seed).integers(1, 6, size=(n, d)).astype(np.float64)


# -- presets -------------------------------------------------------------------------------------
def test_a_preset_is_the_same_class_with_its_values_and_explicit_params_win(registered):
    info = registered("knn_k3", KNN, order_tolerance=1e-9, preset={"n_neighbors": 3, "method": "mean"})
    det = make_detector("knn_k3", random_state=0)
    assert type(det) is KNN and info.factory is KNN
    assert det.get_params()["n_neighbors"] == 3 and det.get_params()["method"] == "mean"
    over = make_detector("knn_k3", random_state=0, n_neighbors=7)
    assert over.get_params()["n_neighbors"] == 7 and over.get_params()["method"] == "mean"
    # the plain name is untouched
    assert make_detector("knn", random_state=0).get_params()["n_neighbors"] == 5
    # what reads a detector's defaults sees the preset's
    assert info.defaults["n_neighbors"] == 3 and info.defaults["method"] == "mean"
    assert info.defaults["radius"] == 1.0  # the constructor's where the preset says nothing
    assert detector_info("knn").defaults["n_neighbors"] == 5 and detector_info("knn").preset == {}


def test_a_preset_is_a_read_only_copy(registered):
    values = {"n_neighbors": 3, "metric_params": {"p": 2}}
    info = registered("knn_copy", KNN, preset=values)
    values["n_neighbors"] = 99
    values["metric_params"]["p"] = 1
    assert info.preset == {"n_neighbors": 3, "metric_params": {"p": 2}}
    with pytest.raises(TypeError):
        info.preset["n_neighbors"] = 4
    det = make_detector("knn_copy")
    det.metric_params["p"] = 7  # a detector changing its own list/dict does not reach the preset
    assert detector_info("knn_copy").preset["metric_params"] == {"p": 2}
    assert info.defaults["metric_params"] == {"p": 2}


@pytest.mark.parametrize("preset, message", [
    ({"n_neighbours": 3}, r"unknown parameter\(s\) 'n_neighbours'.*valid parameters: .*n_neighbors"),
    ({"random_state": 3}, r"'random_state' is set by make_detector"),
    ([("n_neighbors", 3)], r"must be a mapping"),
])
def test_a_bad_preset_is_refused_at_register_time_naming_it(registered, preset, message):
    with pytest.raises(ValueError, match=message):
        registered("knn_bad", KNN, preset=preset)
    assert "knn_bad" not in list_detectors()


def test_seed_invariant_must_be_a_bool(registered):
    with pytest.raises(ValueError, match="seed_invariant must be True or False"):
        registered("knn_si", KNN, seed_invariant="yes")


# -- seed_invariant: declared where true, verified by refits ------------------------------------
def test_the_builtins_declare_seed_invariance_where_it_was_measured():
    assert {d for d in list_detectors() if detector_info(d).seed_invariant} == SEED_INVARIANT
    for d in ("iforest", "lof", "ocsvm", "pca", "sla2p", "sla", "goad", "rsrae", "deepsvdd", "autoencoder"):
        assert not detector_info(d).seed_invariant, d


@pytest.mark.parametrize("name", sorted(SEED_INVARIANT))
@pytest.mark.parametrize("data", [continuous, tied], ids=["continuous", "tied"])
def test_each_declared_builtin_passes_the_seed_refits(name, data):
    res = check_invariance(name, data(), random_state=4)
    assert res.max_seed_diff is not None and res.max_refit_order_diff is not None
    assert res.seed_invariant and res.passed, res.line()


def test_a_detector_not_declared_is_not_refitted():
    res = check_invariance("iforest", continuous(), random_state=0)
    assert res.max_seed_diff is None and res.seed_invariant is None and res.passed


@pytest.mark.parametrize("factory, tol, data", [
    (IForest, 0.0, continuous),  # draws its trees from the seed
    (LOF, 1e-9, tied),           # which of several tied neighbours it keeps follows the row order
    (OCSVM, 1e-9, continuous),   # libsvm's solver path follows the row order
], ids=["iforest", "lof", "ocsvm"])
def test_a_false_declaration_fails_the_check(registered, factory, tol, data):
    registered("false_claim", factory, order_tolerance=tol, seed_invariant=True)
    res = check_invariance("false_claim", data(), random_state=0)
    assert not res.passed and res.seed_invariant is False, res.line()
    assert "declared seed_invariant: it is not" in res.line()
    if factory is IForest:
        assert res.max_seed_diff > 0  # the seed alone changes it
    else:
        assert res.max_seed_diff == 0 and res.max_refit_order_diff > 1e-6  # the fit's row order does


def test_a_config_is_checked_against_the_presets_defaults(registered):
    from baselines.pca import PCA
    from tasks.jobs import ConfigError, expand_job

    registered("pca_k3", PCA, order_tolerance=1e-9, preset={"n_components": 3})

    def job(params):
        return expand_job({"kind": "table", "datasets": {"arrhythmia": {}},
                           "methods": {"pca_k3": {"params": params}}})

    assert job({"n_components": 5}).cells[0].param_dict == {"n_components": 5}
    # the preset's value is checked too (baselines.check_params checks the detector as built)
    with pytest.raises(ValueError, match=r"'n_components' parameter of PCA \(detector 'pca_bad'\).*'three'"):
        registered("pca_bad", PCA, order_tolerance=1e-9, preset={"n_components": "three"})
        check_params("pca_bad", {})
    # checked by the rules of the class behind the name (PyOD hands n_components to scikit-learn's PCA)
    with pytest.raises(ConfigError, match=r"'n_components' parameter of PCA \(detector 'pca_k3'\) must be .*"
                                          r"Got 'lots' instead"):
        job({"n_components": "lots"})


def test_the_time_estimate_costs_a_preset_at_its_values(registered):
    import tasks.estimate as est
    from tasks.plan import plan_job
    from sla2p import SLA2P
    from tasks.cells import make_cell

    registered("sla2p_small", SLA2P, order_tolerance=1e-5, preset={"n_projections": 16, "proj_dim": 16})

    class Job:
        kind = "table"
        cells = [make_cell("arrhythmia", None, None, "sla2p", {}, 0),
                 make_cell("arrhythmia", None, None, "sla2p_small", {}, 0),
                 make_cell("arrhythmia", None, None, "sla2p_k16", {"n_projections": 16, "proj_dim": 16}, 0,
                           detector="sla2p")]

    e = est.estimate(plan_job(Job()), costs=est.load_costs(), rate_gflops=80.0, same_cpu=True)
    by = e.by_method
    # the SLA2P cost model at the preset's settings: what SLA2P costs with them passed explicitly
    assert by["sla2p_small"] == pytest.approx(by["sla2p_k16"]) and 0 < by["sla2p_small"] < by["sla2p"] / 20, by
    assert "sla2p_small/arrhythmia" not in e.unmeasured
