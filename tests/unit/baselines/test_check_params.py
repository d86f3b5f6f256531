"""``baselines.check_params``: a configuration's parameters checked before any work, by each
detector's own rules (scikit-learn's ``_parameter_constraints`` for the suite's detectors, PyOD's
checks for PyOD's classes and the suite's adapters of them), never by guesses from defaults."""

from __future__ import annotations

import re

import numpy as np
import pytest

from baselines import GOAD, RSRAE, check_params, list_detectors
from sla2p import SLA, SLA2P


def refused(name: str, params: dict, *words: str) -> str:
    """check_params(name, params)'s ValueError, which names each of ``words``."""
    with pytest.raises(ValueError) as e:
        check_params(name, params)
    msg = str(e.value)
    for w in words:
        assert w in msg, msg
    return msg


# -- the suite's detectors: scikit-learn's declarative constraints ------------------------------

@pytest.mark.parametrize("cls", [SLA2P, SLA, GOAD, RSRAE])
def test_every_parameter_has_a_constraint(cls):
    assert set(cls._parameter_constraints) == set(cls().get_params(deep=False))


# (detector, parameter, bad value, what the message says is accepted)
CONSTRAINED = [
    # a bad type
    ("sla2p", "n_projections", "lots", "an int in the range [2, inf)"),
    ("sla2p", "n_projections", True, "an int in the range [2, inf)"),  # True is no number of projections
    ("sla", "acc_threshold", "high", "a float in the range [0.0, 1.0]"),
    ("goad", "n_transforms", 2.5, "an int in the range [2, inf)"),
    ("goad", "standardize", "yes", "an instance of 'bool'"),
    ("rsrae", "epochs", "many", "an int in the range [1, inf)"),
    # a value out of range
    ("sla2p", "epsilon", -1.0, "a float in the range [0.0, inf)"),
    ("sla2p", "lr", 0.0, "a float in the range (0.0, inf)"),
    ("sla2p_bigstep", "acc_threshold", float("nan"), "a float in the range [0.0, 1.0]"),
    ("sla", "min_steps", -1, "an int in the range [0, inf)"),
    ("goad", "translation_scale", -1.0, "a float in the range [0.0, inf)"),
    ("goad", "lr", float("inf"), "a float in the range (0.0, inf)"),
    ("rsrae", "lambda1", -0.1, "a float in the range [0.0, inf)"),
    # a bad string option
    ("sla2p", "normalize", "l1", "'zscore_l2'"),
    ("sla2p", "compat", "paper", "'official'"),
    ("sla2p", "score_batch_size", "max", "'auto'"),
    ("sla", "aggregate", "max", "'median'"),
    ("rsrae", "activation", "sigmoid", "'leaky_relu'"),
    ("rsrae", "optimization", "sgd", "'alternating'"),
    ("rsrae", "score", "l1", "'cosine'"),
]


@pytest.mark.parametrize("name, param, value, accepted", CONSTRAINED,
                         ids=[f"{n}-{p}-{v!r}" for n, p, v, _ in CONSTRAINED])
def test_a_constrained_detector_refuses_a_bad_value_naming_it(name, param, value, accepted):
    refused(name, {param: value}, f"'{param}'", repr(value), accepted, f"detector '{name}'")


@pytest.mark.parametrize("name, params, message", [
    ("sla2p", {"extra_epsilons": (-1.0,)}, r"extra_epsilons must be in \[0.0, inf\], got -1.0"),
    ("sla2p", {"extra_epsilons": "78.125"}, r"'extra_epsilons' parameter .* must be an array-like"),
    ("goad", {"betas": (0.5,)}, r"betas must be a pair of floats in \[0, 1\), got \(0.5,\)"),
    ("goad", {"betas": (0.5, 1.0)}, r"betas must be in \[0.0, 1.0\), got 1.0"),
    ("rsrae", {"hidden_sizes": (32, 0)}, "hidden_sizes must be an int >= 1, got 0"),
    ("rsrae", {"hidden_sizes": ()}, "hidden_sizes must hold at least one width"),
])
def test_what_no_constraint_says_is_checked_too(name, params, message):
    with pytest.raises(ValueError, match=message):
        check_params(name, params)


def test_fit_refuses_what_check_params_refuses_with_the_same_words():
    msg = refused("sla2p", {"epsilon": -1.0}, "epsilon")
    with pytest.raises(ValueError) as e:
        SLA2P(epsilon=-1.0).fit(np.zeros((10, 3)))
    assert re.sub(r" \(detector 'sla2p'\)", "", msg) == str(e.value)


# -- PyOD's classes and the suite's adapters: what PyOD checks ---------------------------------

PYOD = [
    # handed to scikit-learn's estimator in fit, whose constraints apply
    ("iforest", "n_estimators", "lots", "an int in the range [1, inf)"),
    ("iforest", "max_samples", "most", "'auto'"),
    ("iforest", "max_features", 1.5, "a float in the range (0.0, 1.0]"),
    ("knn", "n_neighbors", "five", "an int in the range [1, inf)"),
    ("knn", "leaf_size", 0, "an int in the range [1, inf)"),
    ("lof", "novelty", "yes", "an instance of 'bool'"),
    ("lof", "n_neighbors", 0, "an int in the range [1, inf)"),
    ("ocsvm", "nu", 1.5, "a float in the range (0.0, 1.0]"),
    ("ocsvm", "kernel", "quadratic", "'rbf'"),
    ("ocsvm", "gamma", "wide", "'scale'"),
    ("pca", "n_components", "lots", "'mle'"),
    ("pca", "svd_solver", "exact", "'randomized'"),
    # PyOD's own code
    ("hbos", "n_bins", 2, "Not in the range of (2, inf)"),
    ("hbos", "n_bins", "many", "Not numerical"),
    ("deepsvdd", "dropout_rate", 1.0, "Not in the range of [0, 1)"),
    ("deepsvdd", "hidden_activation", "swish", "not a valid activation"),
    ("deepsvdd", "optimizer", "momentum", "'adam'"),
    ("autoencoder", "hidden_activation_name", "swish", "not a valid activation"),
    ("autoencoder", "optimizer_name", "lbfgs", "not a valid optimizer"),
]


@pytest.mark.parametrize("name, param, value, said", PYOD, ids=[f"{n}-{p}-{v!r}" for n, p, v, _ in PYOD])
def test_a_pyod_detector_refuses_what_pyod_refuses(name, param, value, said):
    refused(name, {param: value}, f"'{param}'", repr(value), said)


@pytest.mark.parametrize("name, params, said", [
    ("ecod", {"contamination": 0.7}, "contamination must be in (0, 0.5]"),
    ("hbos", {"alpha": 2.0}, "alpha is set to 2.0"),
    ("hbos", {"tol": "half"}, "tol is set to half"),
])
def test_a_constructor_check_is_refused_as_a_value_error(name, params, said):
    refused(name, params, said)


@pytest.mark.parametrize("name, params", [
    ("iforest", {"max_samples": "auto"}), ("iforest", {"max_features": 1}), ("iforest", {"max_features": 0.5}),
    ("knn", {"n_neighbors": 5000}),  # too many for a small set: the cell says so, not the config
    ("knn", {"method": "mean"}), ("lof", {"novelty": False, "n_neighbors": 35}),
    ("ocsvm", {"kernel": "linear"}), ("ocsvm", {"gamma": 0.1, "nu": 0.2}),
    ("pca", {"n_components": 3}), ("pca", {"n_components": 0.9, "n_selected_components": 2}),
    ("hbos", {"n_bins": "auto"}), ("hbos", {"n_bins": 20, "alpha": 0.2}), ("ecod", {"n_jobs": 2}),
    ("deepsvdd", {"dropout_rate": 0.0, "optimizer": "sgd"}), ("autoencoder", {"optimizer_name": "sgd"}),
    ("sla2p", {"n_projections": 8, "proj_dim": 8, "epsilon": 0, "score_batch_size": 64, "extra_epsilons": [1.0]}),
    ("sla2p", {"n_projections": np.int64(8), "acc_threshold": np.float32(0.5), "lr": 1}),
    ("sla2p_bigstep", {"normalize": "zscore_l2"}), ("sla", {"aggregate": "median", "min_steps": 0}),
    ("goad", {"betas": [0.9, 0.99], "translation_scale": 0, "standardize": False}),
    ("rsrae", {"hidden_sizes": [16], "activation": "tanh", "renormalize": False}),
    ("sla2p", {"contamination": 0.5}),
])
def test_good_values_pass(name, params):
    check_params(name, params)


@pytest.mark.parametrize("name", list_detectors())
def test_every_detector_passes_at_its_defaults(name):
    check_params(name, {})


# -- names ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("param, value", [("random_state", 3), ("device", "cpu")])
@pytest.mark.parametrize("name", ["sla2p", "iforest", "ecod"])
def test_the_suite_s_own_parameters_are_refused(name, param, value):
    refused(name, {param: value}, f"'{param}'", "set by the suite", f"{param}={value!r}")


def test_an_unknown_name_is_refused_listing_the_valid_ones():
    msg = refused("sla2p", {"bogus": 1}, "unknown parameter 'bogus' for sla2p", "valid: ", "n_projections")
    assert "random_state" not in msg.split("valid: ")[1]  # the suite's own are not for a config
    refused("iforest", {"n_trees": 50, "depth": 3}, "unknown parameters 'depth', 'n_trees' for iforest")
    refused("sla", {"epsilon": 1.0}, "unknown parameter 'epsilon' for sla")  # SLA has no step
    refused("nope", {}, "unknown detector 'nope'")
    refused("sla2p", [("epsilon", 1.0)], "must be a mapping")
