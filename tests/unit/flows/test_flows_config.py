"""Configs are validated and expanded before any work; every mistake is named."""

import pytest

from flows.config import ConfigError, load_job
from tasks.cells import make_cell


def write(tmp_path, text):
    p = tmp_path / "job.yaml"
    p.write_text(text)
    return p


BASE = """
kind: table
seeds: [0, 1]
ratios: [0.1, 0.3]
datasets:
  arrhythmia: {}
  20news: {classes: [alt.atheism, 3]}
methods:
  sla2p: {paper_settings: true}
  iforest: {params: {n_estimators: 50}}
"""


def test_expansion_and_paper_settings(tmp_path):
    job = load_job(write(tmp_path, BASE))
    # arrhythmia: 1 x 1 x 2 seeds; 20news: 2 classes x 2 ratios x 2 seeds; times 2 methods
    assert len(job.cells) == (2 + 8) * 2
    sla = [c for c in job.cells if c.method == "sla2p" and c.dataset == "20news"][0]
    assert sla.param_dict["acc_threshold"] == 0.75 and sla.param_dict["epsilon"] == 10 / 128
    assert {c.normal_class for c in job.cells if c.dataset == "20news"} == {"alt.atheism", "comp.sys.ibm.pc.hardware"}
    assert all(c.normal_class is None and c.ratio is None for c in job.cells if c.dataset == "arrhythmia")


def test_filters(tmp_path):
    job = load_job(write(tmp_path, BASE), datasets=["20news"], ratios=[0.3], seeds=[1], methods=["iforest"])
    assert len(job.cells) == 2 and all(c.ratio == 0.3 and c.seed == 1 for c in job.cells)
    with pytest.raises(ConfigError, match="--seeds"):
        load_job(write(tmp_path, BASE), seeds=[7])


@pytest.mark.parametrize("bad, message", [
    (BASE.replace("arrhythmia: {}", "arrythmia: {}"), "unknown dataset 'arrythmia'"),
    (BASE.replace("iforest:", "iforrest:"), "unknown method 'iforrest'"),
    (BASE.replace("n_estimators: 50", "n_trees: 50"), "unknown parameter 'n_trees'"),
    (BASE.replace("[0.1, 0.3]", "[0.1, 1.5]"), r"ratio 1.5 is outside \(0, 1\]"),
    (BASE.replace("[0.1, 0.3]", "[0.0]"), r"ratio 0.0 is outside \(0, 1\]"),
    (BASE.replace("alt.atheism", "alt.atheist"), "unknown class 'alt.atheist'"),
    (BASE.replace("seeds: [0, 1]", "seeds: [0, -1]"), "seed -1"),
    (BASE.replace("{paper_settings: true}", "{params: {epsilon: -1}}"), "epsilon"),
    (BASE.replace("{paper_settings: true}", "{params: {random_state: 3}}"), "set by the suite"),
    (BASE + "extra_key: 1\n", "unknown key"),
    ("kind: table\ndatasets: [unclosed\n", "malformed YAML"),
    ("- just\n- a list\n", "top level must be a mapping"),
    (BASE.replace("arrhythmia: {}", "arrhythmia: {ratios: [0.1]}"), "intrinsic"),
    (BASE.replace("{paper_settings: true}", "{paper_settings: true, scope: most}"),
     r"methods\.sla2p\.scope must be one of \['full', 'first'\]"),
])
def test_bad_configs_fail_naming_the_mistake(tmp_path, bad, message):
    with pytest.raises(ConfigError, match=message):
        load_job(write(tmp_path, bad))


def test_unknown_config_name():
    with pytest.raises(ConfigError, match="not found"):
        load_job("no-such-config")


def test_shipped_configs_are_valid():
    for name in ("smoke", "ablation", "ablation-smoke", "odds", "paper-quick"):
        assert load_job(name).cells
    table = load_job("table", datasets=["arrhythmia", "20news"])
    methods = {c.method for c in table.cells}
    from baselines import list_detectors

    # every registered detector + the order-audit variant; the SLA2P variants chosen on ADBench
    # are not in the paper table (each would add SLA2P's whole cost or more), nor the successors
    # (at their published settings they would add days)
    successors = {"lunar", "dif", "neutral_ad", "slad", "dte"}
    assert methods == set(list_detectors()) - {"sla2p_bigstep", "sla2p_rankavg"} - successors | {"sla2p_official"}
    # the three profiles hold every successor; those past a profile's budget run on request only
    default = {"paper-quick": set(), "adbench": {"lunar", "dif"}, "adbench-embeddings": successors}
    for profile, runs in default.items():
        assert successors & {c.method for c in load_job(profile).cells} == runs
        assert successors <= {c.method for c in load_job(profile, methods=["all"]).cells}
    assert {c.method for c in load_job("paper-quick", methods=["slad"]).cells} == {"slad"}
    by = {(c.method, c.dataset, c.normal_class, c.ratio, c.seed): c for c in table.cells}
    for (method, *rest), c in by.items():
        if method == "sla2p_official":
            twin = by[("sla2p", *rest)]
            assert c.detector_name == "sla2p" and c.row_order == "inliers_first" and twin.row_order == "shuffled"
            assert {**twin.param_dict, "compat": "official"} == c.param_dict
    # 20 classes x 8 ratios x 5 seeds per method on 20news, 5 seeds on arrhythmia; the audit
    # (scope: first) at seed 0 and p=0.1 only, every class
    assert len(table.cells) == (len(methods) - 1) * (20 * 8 * 5 + 5) + (20 + 1)


def test_ablation_grid_separate(tmp_path):
    job = load_job(write(tmp_path, """
kind: ablation
seeds: [0]
datasets: {arrhythmia: {}}
method: sla2p
base: {paper_settings: true}
grid: {epsilon: [0.0, 1.0], n_projections: [8, 16, 32]}
"""))
    assert len(job.cells) == 5
    assert job.points[0] == {"epsilon": 0.0} and job.points[-1] == {"n_projections": 32}
    assert job.cells[-1].param_dict["n_projections"] == 32 and job.cells[-1].param_dict["epsilon"] == 1000 / 128


def test_cell_key_is_exactly_the_cell_data_and_code():
    a = make_cell("arrhythmia", None, None, "sla2p", {"epsilon": 1.0}, 0)
    assert a.key("d1") == make_cell("arrhythmia", None, None, "sla2p", {"epsilon": 1.0}, 0, device="cpu").key("d1")
    assert a.key("d1") != a.key("d2")
    assert a.key("d1") != make_cell("arrhythmia", None, None, "sla2p", {"epsilon": 2.0}, 0).key("d1")
    assert a.key("d1") != make_cell("arrhythmia", None, None, "sla2p", {"epsilon": 1.0}, 1).key("d1")
    assert a.key("d1") != make_cell("arrhythmia", None, None, "sla", {"epsilon": 1.0}, 0).key("d1")


def test_labelled_variants_and_their_mistakes(tmp_path):
    base = """
kind: table
datasets: {arrhythmia: {}}
methods:
  sla2p: {params: {n_projections: 8}}
  audit: {detector: sla2p, params: {n_projections: 8, compat: official}, row_order: inliers_first}
"""
    job = load_job(write(tmp_path, base))
    plain, audit = job.cells
    assert audit.method == "audit" and audit.detector_name == "sla2p" and audit.row_order == "inliers_first"
    assert plain.key("d") != audit.key("d")
    # the defaults leave a cell's key as it was before variants existed
    assert "detector" not in plain.identity() and "row_order" not in plain.identity()
    with pytest.raises(ConfigError, match="unknown detector of 'audit' 'slaa2p'"):
        load_job(write(tmp_path, base.replace("detector: sla2p", "detector: slaa2p")))
    with pytest.raises(ConfigError, match="row_order must be one of"):
        load_job(write(tmp_path, base.replace("row_order: inliers_first", "row_order: sorted")))
    with pytest.raises(ConfigError, match="unknown parameter 'bogus' for sla2p"):
        load_job(write(tmp_path, base.replace("compat: official", "bogus: 1")))


def test_ablation_table_shows_each_grid_point_and_one_seed_no_spread():
    """The console table and table_*.csv never average different configurations together, and a
    single seed prints no spread (no '± 0.000')."""
    from tasks.cells import CellRecord
    from tasks.metrics import cells_frame
    from tasks.report.tables import comparison, wide

    def table_frame(cells):  # the report's table, as the flow prints and logs it
        return wide(comparison(cells, "auroc")).drop(columns="best")

    def rec(ds, method, params, seed, auroc):
        cell = make_cell(ds, None, None, method, params, seed)
        return CellRecord(f"{ds}{method}{sorted(params.items())}{seed}", cell, "ok",
                          metrics={"auroc": auroc, "aupr": auroc, "ap": auroc})

    grid = [rec("arrhythmia", "sla2p", {"epsilon": e, "n_projections": k}, 0, a)
            for e, k, a in [(0.78, 16, 0.80), (1.0, 16, 0.81), (1.0, 8, 0.70)]]
    t = table_frame(cells_frame(grid))
    assert sorted(t.columns) == ["sla2p epsilon=0.78 n_projections=16", "sla2p epsilon=1 n_projections=16",
                                 "sla2p epsilon=1 n_projections=8"]
    assert t.loc["arrhythmia", "sla2p epsilon=1 n_projections=8"] == "0.700"
    # a table: per-dataset parameters (published settings) differ across datasets, not within one
    table = [rec(ds, m, {"epsilon": e}, s, 0.8 + 0.01 * s) for ds, e in [("arrhythmia", 1.0), ("odds_wbc", 2.0)]
             for m in ("sla2p",) for s in (0, 1)]
    t = table_frame(cells_frame(table))
    assert list(t.columns) == ["sla2p"] and t.loc["arrhythmia", "sla2p"] == "0.805 ± 0.005"


def test_an_unknown_dataset_is_one_short_line_with_the_closest_names():
    from tasks.datasets import get_spec

    with pytest.raises(ValueError) as err:
        get_spec("arrythmia")
    msg = str(err.value)
    assert msg.count("unknown dataset") == 1 and len(msg) < 200 and "\n" not in msg, msg
    assert "did you mean 'arrhythmia'" in msg and "sla2p-bench data list" in msg
    with pytest.raises(ValueError, match=r"^unknown dataset 'nosuch'; `sla2p-bench data list` lists the \d+ known"):
        get_spec("nosuch")


def test_a_config_naming_an_unknown_dataset_says_it_once(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_job(write(tmp_path, BASE.replace("arrhythmia: {}", "nosuch: {}")))
    msg = str(err.value)
    assert msg.count("unknown dataset") == 1 and len(msg) < 200, msg
