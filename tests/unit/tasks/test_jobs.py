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


# --- a table method's scope: the order audit at one point per dataset --------------------------

AUDIT = {"detector": "sla2p", "params": {"n_projections": 8, "compat": "official"}, "row_order": "inliers_first"}


def scoped(scope=None, **filters):
    audit = dict(AUDIT, **({} if scope is None else {"scope": scope}))
    raw = {"kind": "table", "seeds": [0, 1, 2], "ratios": [0.1, 0.3],
           "datasets": {"arrhythmia": {}, "20news": {"classes": [0, 1, 2]}, "reuters": {"ratios": [0.05, 0.5]}},
           "methods": {"sla2p": {"params": {"n_projections": 8}}, "audit": audit}}
    job = expand_job(raw, **filters)
    return ([c for c in job.cells if c.method == "sla2p"], [c for c in job.cells if c.method == "audit"])


def test_scope_first_runs_one_seed_and_one_ratio_per_dataset_with_every_class():
    plain, audit = scoped("first")
    by_ds = {}
    for c in audit:
        by_ds.setdefault(c.dataset, []).append(c)
    assert set(by_ds) == {"arrhythmia", "20news", "reuters"}
    for ds, cells in by_ds.items():
        assert {c.seed for c in cells} == {0}  # the first seed
        assert len({c.ratio for c in cells}) == 1  # one ratio
        assert {c.normal_class for c in cells} == {c.normal_class for c in plain if c.dataset == ds}  # every class
        assert len(cells) == len({c.normal_class for c in cells})  # one cell per class
    assert {c.ratio for c in by_ds["20news"]} == {0.1} and {c.ratio for c in by_ds["reuters"]} == {0.05}
    assert {c.ratio for c in by_ds["arrhythmia"]} == {None}
    assert len(audit) == 1 + 3 + 5  # arrhythmia, 3 chosen 20news classes, Reuters' 5 topics
    assert len(plain) == 3 * (1 + 3 * 2 + 5 * 2)  # the other methods keep every cell
    twins = {(c.dataset, c.normal_class, c.ratio, c.seed) for c in plain}
    assert all((c.dataset, c.normal_class, c.ratio, c.seed) in twins for c in audit)  # each has its pair


def test_scope_full_and_the_default_run_every_cell():
    plain, full = scoped("full")
    assert len(full) == len(plain)
    assert {(c.dataset, c.normal_class, c.ratio, c.seed) for c in full} == \
        {(c.dataset, c.normal_class, c.ratio, c.seed) for c in plain}
    assert [c.key("d") for c in scoped(None)[1]] == [c.key("d") for c in full]  # full is the default
    assert all(c.row_order == "inliers_first" for c in full)


def test_scope_first_follows_the_cli_filters():
    _, audit = scoped("first", seeds=[2], ratios=[0.3])
    assert {c.seed for c in audit} == {2}
    assert {c.ratio for c in audit if c.dataset == "20news"} == {0.3}
    assert {c.dataset for c in audit} == {"arrhythmia", "20news"}  # Reuters has no 0.3


@pytest.mark.parametrize("bad", ["some", "First", 1, ["first"], None, True])
def test_bad_scopes_are_refused_naming_the_key(bad):
    with pytest.raises(ConfigError) as e:
        expand_job({"kind": "table", "datasets": {"arrhythmia": {}},
                    "methods": {"audit": dict(AUDIT, scope=bad)}})
    msg = str(e.value)
    assert "methods.audit.scope" in msg and "'full'" in msg and "'first'" in msg and repr(bad) in msg


def test_an_ablation_base_takes_no_scope():
    with pytest.raises(ConfigError, match=r"base\.scope: only a table's methods take a scope"):
        expand_job({"kind": "ablation", "datasets": {"arrhythmia": {}}, "method": "sla2p",
                    "base": {"scope": "first"}, "grid": {"epsilon": [0.0, 1.0]}})


def _requesting(methods=None):
    raw = {"kind": "table", "datasets": {"arrhythmia": {}},
           "methods": {"iforest": {}, "lunar": {"on_request": True}, "knn": {"on_request": False}}}
    return [c.method for c in expand_job(raw, methods=methods).cells]


def test_on_request_methods_run_only_when_named_or_with_all():
    assert _requesting() == ["iforest", "knn"]                  # the default leaves lunar out
    assert _requesting(["lunar"]) == ["lunar"]                  # named: runs
    assert _requesting(["all"]) == ["iforest", "lunar", "knn"]  # every listed method, in order
    with pytest.raises(ConfigError, match=r"--methods: \['ecod'\] not in this config"):
        _requesting(["ecod"])


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_on_request_must_be_a_boolean(bad):
    with pytest.raises(ConfigError, match=r"methods\.lunar\.on_request must be true or false"):
        expand_job({"kind": "table", "datasets": {"arrhythmia": {}}, "methods": {"lunar": {"on_request": bad}}})


def test_an_ablation_base_takes_no_on_request():
    with pytest.raises(ConfigError, match=r"base\.on_request: only a table's methods take on_request"):
        expand_job({"kind": "ablation", "datasets": {"arrhythmia": {}}, "method": "sla2p",
                    "base": {"on_request": True}, "grid": {"epsilon": [0.0, 1.0]}})


def _shipped(name):
    from flows.config import load_job

    return load_job(name)


def test_table_yaml_runs_the_audit_at_one_point_per_dataset():
    from tasks.datasets import get_spec

    job = _shipped("table")
    audit = [c for c in job.cells if c.method == "sla2p_official"]
    sla2p = [c for c in job.cells if c.method == "sla2p"]
    datasets = job.raw["datasets"]
    n_classes = {d: (1 if get_spec(d).protocol == "intrinsic" else len(get_spec(d).classes)) for d in datasets}
    assert len(audit) == sum(n_classes.values()) == 48  # 20 + 5 + 11 + 10 classes + Arrhythmia + KDDCup99
    assert {c.seed for c in audit} == {0} and {c.ratio for c in audit} == {0.1, None}
    assert len(sla2p) == 5 * (8 * (20 + 5 + 11 + 10) + 2) == 1850  # what the audit ran on before
    methods = {c.method for c in job.cells}
    assert len(job.cells) == (len(methods) - 1) * 1850 + 48
    by = {(c.method, c.dataset, c.normal_class, c.ratio, c.seed): c for c in job.cells}
    for c in audit:  # each audit cell has its default twin at the same parameters
        twin = by[("sla2p", c.dataset, c.normal_class, c.ratio, c.seed)]
        assert {**twin.param_dict, "compat": "official"} == c.param_dict and twin.row_order == "shuffled"


def test_paper_quick_is_the_table_at_one_point():
    quick, table = _shipped("paper-quick"), _shipped("table")
    assert set(quick.raw["datasets"]) == {"cifar10", "caltech101", "20news", "reuters", "arrhythmia", "kddcup99"}
    methods = {c.method for c in quick.cells}
    assert methods == {c.method for c in table.cells}
    assert {c.seed for c in quick.cells} == {0} and {c.ratio for c in quick.cells} == {0.1, None}
    per_method = {m: sum(c.method == m for c in quick.cells) for m in methods}
    assert set(per_method.values()) == {48} and len(quick.cells) == 48 * len(methods)
    # every cell of paper-quick is a cell of the table (same parameters, same key)
    assert {c.key("d") for c in quick.cells} <= {c.key("d") for c in table.cells}
