"""Config validation before any work: bad values for baseline parameters are refused up front."""

from __future__ import annotations

import pytest

from tasks.jobs import ConfigError, expand_job


def job(method: str, params: dict):
    return expand_job({"kind": "table", "datasets": {"arrhythmia": {}}, "methods": {method: {"params": params}}})


@pytest.mark.parametrize("method,params,word", [
    ("iforest", {"n_estimators": "lots"}, "n_estimators"),
    ("knn", {"n_neighbors": "five"}, "n_neighbors"),
    ("lof", {"novelty": "yes"}, None),
    ("goad", {"translation_scale": -1.0}, "translation_scale"),
    ("sla2p", {"epsilon": -1.0}, "epsilon"),
])
def test_bad_parameter_values_are_config_errors(method, params, word):
    with pytest.raises(ConfigError) as e:
        job(method, params)
    if word:
        assert word in str(e.value)


@pytest.mark.parametrize("method,params", [
    ("iforest", {"max_samples": "auto"}), ("iforest", {"max_features": 1}), ("knn", {"n_neighbors": 5000}),
    ("ocsvm", {"kernel": "linear"}), ("pca", {"n_components": 3}),
])
def test_valid_or_data_dependent_values_pass(method, params):
    assert job(method, params).cells  # knn with 5000 neighbours fails on a small set, in the cell, not here
