"""The hypothesis table of a 'separate' ablation: each one-parameter change against the base."""

import pandas as pd

from tasks.metrics import ablation_base, ablation_effects, effects_summary


def _curves(rows):
    return pd.DataFrame([{"parameter": p, "value": v, "point": "", "dataset": d, "metric": "auroc", "mean": m,
                          "std": 0.0, "n_seeds": 3} for p, v, d, m in rows])


def test_base_is_the_cell_named_by_every_curve():
    points = {"a": [{"normalize": "l2"}, {"aggregate": "mean"}], "b": [{"normalize": "none"}],
              "c": [{"aggregate": "median"}]}
    assert ablation_base(points) == {"normalize": "l2", "aggregate": "mean"}
    # a product grid (each point sets every parameter) has no base
    assert ablation_base({"a": [{"normalize": "l2", "aggregate": "mean"}]}) == {}


def test_effects_compare_each_change_with_the_base_per_dataset():
    curves = _curves([("normalize", "l2", "x", 0.70), ("normalize", "l2", "y", 0.80),
                      ("normalize", "zscore", "x", 0.90), ("normalize", "zscore", "y", 0.60),
                      ("aggregate", "mean", "x", 0.70), ("aggregate", "mean", "y", 0.80),
                      ("aggregate", "median", "x", 0.75),  # y failed at median: left out, not a loss
                      ("min_steps", 0, "x", 0.70), ("min_steps", 2000, "x", 0.65)])
    eff = ablation_effects(curves, {"normalize": "l2", "aggregate": "mean", "min_steps": 0})
    z = eff[eff.value == "zscore"].set_index("dataset")
    assert abs(z.loc["x", "delta"] - 0.20) < 1e-12 and abs(z.loc["y", "delta"] + 0.20) < 1e-12
    assert list(eff[eff.value == "median"].dataset) == ["x"]
    s = effects_summary(eff).set_index("value")
    assert (s.loc["zscore", "better"], s.loc["zscore", "worse"], s.loc["zscore", "n_datasets"]) == (1, 1, 2)
    assert s.loc["zscore", "worst_dataset"] == "y"
    assert (s.loc["median", "better"], s.loc["median", "n_datasets"]) == (1, 1)
    assert s.loc[2000, "worse"] == 1 and abs(s.loc[2000, "mean_delta"] + 0.05) < 1e-12
    # the base itself is never a row
    assert not (eff.value == "l2").any() and not (eff.value == "mean").any()


def test_numbers_compare_as_numbers():
    # a value column of ints and floats reads back as floats: the base 16 is the curve's 16.0
    curves = _curves([("n_projections", 16.0, "x", 0.7), ("n_projections", 8.0, "x", 0.6)])
    eff = ablation_effects(curves, {"n_projections": 16})
    assert list(eff.value) == [8.0] and abs(eff.delta.item() + 0.1) < 1e-12


def test_no_base_no_effects():
    curves = _curves([("normalize", "l2", "x", 0.7)])
    assert ablation_effects(curves, {}).empty
    assert effects_summary(ablation_effects(curves, {})).empty
