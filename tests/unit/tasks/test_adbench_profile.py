"""The ADBench profile (issue 15): the 12,000-row cap of the intrinsic extras, dataset groups in
configs, configs/adbench*.yaml, and the splits AUROC cannot rank."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from flows.config import CONFIG_DIR, load_job
from tasks.datasets import get_spec, list_datasets, make_split, registry
from tasks.datasets.protocol import DegenerateSplitError, split_rng
from tasks.jobs import ConfigError, expand_job
from tasks.embed import load_labels


class _Labels:
    """Just the labels make_split reads (``features.y``): no file is loaded."""

    def __init__(self, y):
        self.y = np.asarray(y, dtype=np.int64)


def _intrinsic_labels(n: int, n_outliers: int, seed: int = 0) -> _Labels:
    y = np.zeros(n, np.int64)
    y[np.random.default_rng(seed).choice(n, n_outliers, replace=False)] = 1
    return _Labels(y)


# ------------------------------------------------------------------ the cap
def test_the_cap_is_a_property_of_the_extras_only():
    assert get_spec("adbench_wbc").caps_intrinsic and get_spec("odds_wbc").caps_intrinsic
    for paper in ("arrhythmia", "kddcup99", "cifar10", "20news"):  # the paper's protocol is untouched
        assert not get_spec(paper).caps_intrinsic
    s = get_spec("adbench_donors")
    assert s.max_rows == 12_000 and s.intrinsic_rows(619_326) == 12_000 and s.intrinsic_rows(223) == 223
    assert get_spec("kddcup99").intrinsic_rows(494_021) == 494_021


def test_a_large_extra_is_capped_at_12000_rows_drawn_per_seed():
    feats = _intrinsic_labels(30_000, 3_000)
    a = make_split("adbench_wbc", seed=0, features=feats)  # the real spec (an extra); 30,000 fake labels
    assert len(a) == 12_000 and len(np.unique(a.indices)) == 12_000 and a.indices.max() < 30_000
    assert np.array_equal(a.labels, feats.y[a.indices].astype(np.int8))
    assert a.n_outlier + a.n_normal == 12_000 and 1000 < a.n_outlier < 1400  # 10% in expectation
    assert not np.all(np.diff(a.indices) > 0)  # shuffled after the draw
    again = make_split("adbench_wbc", seed=0, features=feats)
    assert np.array_equal(a.indices, again.indices)  # same seed, same rows, same order
    b = make_split("adbench_wbc", seed=1, features=feats)
    assert set(a.indices.tolist()) != set(b.indices.tolist())  # another seed, other rows
    # the documented draws: the subsample (sorted), then the shuffle, from the split's generator
    rng = split_rng("adbench_wbc", None, None, 0)
    drawn = np.sort(rng.choice(30_000, size=12_000, replace=False))
    assert np.array_equal(a.indices, drawn[rng.permutation(12_000)])


@pytest.mark.parametrize("n", [223, 12_000])
def test_an_extra_of_at_most_12000_rows_keeps_the_split_it_had(n):
    # before the cap an intrinsic split was exactly split_rng(...).permutation(n)
    feats = _intrinsic_labels(n, 10)
    for seed in (0, 1, 5):
        s = make_split("adbench_wbc", seed=seed, features=feats)
        assert np.array_equal(s.indices, split_rng("adbench_wbc", None, None, seed).permutation(n))


def test_the_real_small_set_keeps_the_split_it_had():
    s = make_split("adbench_wbc", seed=2, y=load_labels("adbench_wbc")[0])  # 223 rows, its labels from the store
    assert np.array_equal(s.indices, split_rng("adbench_wbc", None, None, 2).permutation(223))
    assert s.n_outlier == 10


@pytest.mark.parametrize("name", ["kddcup99", "arrhythmia"])
def test_a_paper_intrinsic_set_is_never_capped(name):
    feats = _intrinsic_labels(30_000, 3_000)
    s = make_split(name, seed=0, features=feats)
    assert len(s) == 30_000
    assert np.array_equal(s.indices, split_rng(name, None, None, 0).permutation(30_000))


# ------------------------------------------------------------------ splits AUROC cannot rank
def test_too_few_outliers_or_no_inliers_are_refused_naming_dataset_and_seed():
    with pytest.raises(DegenerateSplitError, match=r"adbench_wbc, seed 3: the split has 1 outlier"):
        make_split("adbench_wbc", seed=3, features=_intrinsic_labels(500, 1))
    with pytest.raises(DegenerateSplitError, match=r"adbench_wbc, seed 0: the split has 0 outlier"):
        make_split("adbench_wbc", seed=0, features=_Labels(np.zeros(50)))
    with pytest.raises(DegenerateSplitError, match=r"0 inlier"):
        make_split("adbench_wbc", seed=0, features=_Labels(np.ones(50)))
    assert isinstance(DegenerateSplitError("x"), ValueError)
    assert make_split("adbench_wbc", seed=3, features=_intrinsic_labels(500, 2)).n_outlier == 2


def test_the_cap_can_leave_too_few_outliers_and_says_so():
    feats = _intrinsic_labels(100_000, 3)  # about 0.36 outliers expected in 12,000 rows
    refused = 0
    for seed in range(12):
        try:
            assert make_split("adbench_wbc", seed=seed, features=feats).n_outlier >= 2
        except DegenerateSplitError as exc:
            refused += 1
            assert f"seed {seed}" in str(exc) and "subsampled from 100,000 by the 12,000-row cap" in str(exc)
    assert refused >= 6


def test_one_vs_rest_needs_one_outlier_as_the_paper_has():
    y = _Labels(np.repeat(np.arange(11), 50))  # Caltech-101's 11 classes, 50 rows each
    assert make_split("caltech101", 0, 0.01, seed=0, features=y).n_outlier == 1  # int(100 p): the paper's
    with pytest.raises(DegenerateSplitError, match=r"caltech101 \(normal class .*ratio 0.005\), seed 0: .* 0 outlier"):
        make_split("caltech101", 0, 0.005, seed=0, features=y)


# ------------------------------------------------------------------ groups
def test_groups_come_from_the_file_location():
    g = registry._extra_group
    assert g("odds/wbc.mat") == "odds" and g("adbench/Classical/42_WBC.npz") == "adbench-classical"
    assert g("adbench/CV_by_ResNet18/SVHN_0.npz") == "adbench-cv-resnet18"
    assert g("adbench/NLP_by_RoBERTa/20news_3.npz") == "adbench-nlp-roberta"
    assert g("adbench/My Own_Folder/x.npz") == "adbench-my-own-folder"
    assert get_spec("arrhythmia").group == "paper" and get_spec("adbench_20news_3_bert").group == "adbench-nlp-bert"
    groups = registry.list_groups()
    assert set(registry.GROUPS) <= set(groups)
    for name in list_datasets():
        assert name in groups[get_spec(name).group]
    classical = sorted(n for n in list_datasets() if get_spec(n).files[0].startswith("adbench/Classical/"))
    assert groups["adbench-classical"] == classical and len(classical) >= 39


def _odds_methods() -> list[str]:
    """odds.yaml's methods without the order audit, the two SLA2P variants after SLA, and the
    self-supervised successors (too slow for the ODDS example) at the end."""
    raw = yaml.safe_load((CONFIG_DIR / "odds.yaml").read_text())
    methods = [m for m in raw["methods"] if m != "sla2p_official"]
    return (methods[:methods.index("sla") + 1] + ["sla2p_bigstep", "sla2p_rankavg"]
            + methods[methods.index("sla") + 1:] + ["neutral_ad", "slad", "dte"])


def test_adbench_yaml_is_every_classical_set_every_method_three_seeds():
    raw = yaml.safe_load((CONFIG_DIR / "adbench.yaml").read_text())
    assert "datasets" not in raw and raw["dataset_groups"] == {"adbench-classical": {}}
    job = load_job("adbench")
    assert job.name == "adbench" and job.kind == "table"
    datasets = list(dict.fromkeys(c.dataset for c in job.cells))
    assert datasets == registry.list_groups()["adbench-classical"]  # sorted, each once
    # on request: past the 3 h budget
    default = [m for m in _odds_methods() if m not in ("sla2p_rankavg", "neutral_ad", "slad", "dte")]
    assert list(dict.fromkeys(c.method for c in job.cells)) == default
    assert {c.seed for c in job.cells} == {0, 1, 2} and {c.row_order for c in job.cells} == {"shuffled"}
    assert len(job.cells) == len(datasets) * len(default) * 3
    assert list(dict.fromkeys(c.method for c in load_job("adbench", methods=["all"]).cells)) == _odds_methods()
    odds = load_job("odds", datasets=["odds_wbc"], methods=["sla2p"]).cells[0]
    mine = next(c for c in job.cells if c.method == "sla2p")
    assert mine.param_dict == odds.param_dict  # the Arrhythmia settings, as in odds.yaml
    variant = next(c for c in job.cells if c.method == "sla2p_bigstep")
    assert "epsilon" not in variant.param_dict  # the preset's step, at SLA2P's other settings
    assert {k: v for k, v in mine.param_dict.items() if k != "epsilon"} == variant.param_dict


def test_adbench_embeddings_yaml_is_the_embedding_groups():
    job = load_job("adbench-embeddings")
    groups = registry.list_groups()
    want = groups["adbench-cv-resnet18"] + groups["adbench-nlp-bert"] + groups["adbench-nlp-roberta"]
    assert job.name == "adbench-embeddings" and list(dict.fromkeys(c.dataset for c in job.cells)) == want
    assert list(dict.fromkeys(c.method for c in job.cells)) == _odds_methods()
    assert len(job.cells) == len(want) * len(_odds_methods()) * 3


def _table(**top):
    return {"kind": "table", "seeds": [0], "methods": {"iforest": {}}, **top}


def test_unknown_group_is_refused_listing_the_known_ones():
    with pytest.raises(ConfigError) as e:
        expand_job(_table(dataset_groups={"adbench-clasical": {}}))
    assert "unknown group 'adbench-clasical'" in str(e.value) and "adbench-classical" in str(e.value)


def test_a_group_the_store_lacks_is_refused(monkeypatch):
    monkeypatch.setattr(registry, "list_groups", lambda **kw: {"odds": [], "paper": ["arrhythmia"]})
    with pytest.raises(ConfigError, match=r"dataset_groups.odds: the data store holds no dataset"):
        expand_job(_table(dataset_groups={"odds": {}}))


@pytest.mark.parametrize("top, message", [
    ({}, "datasets must be a non-empty mapping"),
    ({"dataset_groups": {}}, "dataset_groups must be a non-empty mapping"),
    ({"dataset_groups": {"odds": {"colour": 1}}}, r"dataset_groups.odds: unknown key"),
    ({"datasets": {"odds_wbc": {"ratios": [0.1]}}}, "odds_wbc is intrinsic"),
])
def test_bad_group_configs_name_the_mistake(top, message):
    with pytest.raises(ConfigError, match=message):
        expand_job(_table(**top))


def test_listed_options_win_and_each_dataset_is_one_entry():
    job = expand_job(_table(dataset_groups={"paper": {"ratios": [0.5]}},
                            datasets={"20news": {"classes": [0], "ratios": [0.1]}}))
    ds = list(dict.fromkeys(c.dataset for c in job.cells))
    assert ds == ["20news"] + [n for n in registry.list_groups()["paper"] if n != "20news"]  # listed first, once
    news = [c for c in job.cells if c.dataset == "20news"]
    assert [(c.normal_class, c.ratio) for c in news] == [("alt.atheism", 0.1)]  # the listed options, once
    assert {c.ratio for c in job.cells if c.dataset == "reuters"} == {0.5}  # the group's options
    assert [c.ratio for c in job.cells if c.dataset == "kddcup99"] == [None]  # intrinsic: no ratios


def test_cli_filters_apply_after_the_expansion():
    job = load_job("adbench", datasets=["adbench_wbc"], seeds=[1], methods=["iforest"])
    assert [(c.dataset, c.seed, c.method) for c in job.cells] == [("adbench_wbc", 1, "iforest")]


def test_the_cap_draws_from_the_split_generator_only():
    # the cap must not touch numpy's global state (a run's other draws stay as they were)
    np.random.seed(7)
    before = np.random.random()
    np.random.seed(7)
    make_split("adbench_wbc", seed=0, features=_intrinsic_labels(20_000, 500))
    assert np.random.random() == before


# ------------------------------------------------------------------ halves
def test_a_group_half_is_every_other_sorted_set():
    from tasks.datasets.halves import halves

    every = registry.list_groups()["adbench-classical"]
    for half in ("development", "confirmation"):
        job = expand_job(_table(dataset_groups={"adbench-classical": {"half": half}}))
        assert list(dict.fromkeys(c.dataset for c in job.cells)) == halves(every)[half]
    dev = expand_job(_table(dataset_groups={"adbench-classical": {"half": "development"}}))
    assert dev.cells[0].dataset == every[0] and every[1] not in {c.dataset for c in dev.cells}


@pytest.mark.parametrize("top, message", [
    ({"dataset_groups": {"adbench-classical": {"half": "dev"}}}, r"half must be one of \('development'"),
    ({"datasets": {"odds_wbc": {}}, "halves": "yes"}, "halves must be true or false"),
])
def test_bad_halves_name_the_mistake(top, message):
    with pytest.raises(ConfigError, match=message):
        expand_job(_table(**top))


def test_adbench_yaml_asks_for_the_halves_in_its_report():
    assert load_job("adbench").raw["halves"] is True


def test_adbench_diagnosis_is_one_change_at_a_time_on_the_development_half_only():
    from tasks.datasets.halves import halves

    job = load_job("adbench-diagnosis")
    assert job.kind == "ablation"
    h = halves(registry.list_groups()["adbench-classical"])
    dev, confirm = h["development"], h["confirmation"]
    datasets = set(c.dataset for c in job.cells)
    assert datasets == set(dev) and not datasets & set(confirm)  # the confirmation half stays untouched
    base = {"normalize": "l2", "min_steps": 0, "aggregate": "mean", "epsilon": 7.8125}
    for cell, point in zip(job.cells, job.points):
        params = cell.param_dict
        changed = {k for k in base if params[k] != base[k]}
        assert changed <= set(point) and len(changed) <= 1  # each hypothesis alone, around the base
        assert (params["n_projections"], params["proj_dim"], params["acc_threshold"]) == (256, 256, 0.6)
    assert {p for pt in job.points for p in pt} == set(base)
