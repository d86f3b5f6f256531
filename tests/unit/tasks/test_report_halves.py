"""The development/confirmation halves (tasks.datasets.halves) and the report's section for them
(a config with ``halves: true``), on hand-made cells with real stored scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.cells import CellRecord, make_cell
from tasks.datasets.halves import half_of, halves
from tasks.metrics import cells_frame, evaluate
from tasks.report.build import build_report
from tasks.report.source import RunData
from tasks.store import save_result


def test_halves_alternate_in_sorted_order():
    names = ["delta", "alpha", "echo", "charlie", "bravo", "alpha"]
    h = halves(names)
    assert h == {"development": ["alpha", "charlie", "echo"], "confirmation": ["bravo", "delta"]}
    assert half_of("delta", names) == "confirmation" and half_of("alpha", names) == "development"
    with pytest.raises(ValueError, match="at least two"):
        halves(["alpha"])
    with pytest.raises(ValueError, match="not one of"):
        half_of("zulu", names)


def test_adbench_halves_are_disjoint_and_cover_the_store():
    from tasks.datasets import list_datasets

    classical = [d for d in list_datasets() if d.startswith("adbench_") and not d.endswith(
        ("_resnet18", "_bert", "_roberta"))]
    h = halves(classical)
    assert not set(h["development"]) & set(h["confirmation"])
    assert sorted(h["development"] + h["confirmation"]) == sorted(classical)
    assert len(h["development"]) - len(h["confirmation"]) in (0, 1)


def _run(tmp_path, config):
    """Four datasets; 'sla2p_plus' beats 'sla2p' on alpha, bravo, charlie, not on delta."""
    rng = np.random.default_rng(0)
    results = tmp_path / "results"
    recs = []
    strength = {"sla2p": 0.5, "sla2p_plus": 1.5, "iforest": 1.0}
    for ds in ("alpha", "bravo", "charlie", "delta"):
        for method, s in strength.items():
            if ds == "delta" and method == "sla2p_plus":
                s = 0.1
            for seed in (0, 1):
                cell = make_cell(ds, None, None, method, {}, seed, detector="sla2p" if method == "sla2p_plus" else None)
                n = 200
                labels = (rng.random(n) < 0.1).astype(int)
                scores = s * labels + rng.normal(0, 0.5, n)
                rec = CellRecord(f"{method}-{ds}-{seed}", cell, "ok", metrics=evaluate(labels, scores), fit_seconds=1.0,
                                 n_rows=n, n_outliers=int(labels.sum()), n_features=4, device="cpu")
                recs.append(save_result(results, rec, scores, labels, np.arange(n)))
    records = {r.key: r for r in recs}
    return RunData("parent", "test", "table", "sqlite://", results, cells_frame(recs), records, {}, config=config)


def test_report_has_both_halves_when_the_config_asks(tmp_path):
    files = build_report(_run(tmp_path, {"halves": True}), tmp_path / "report", metrics=["auroc"])
    text = files["report"].read_text()
    assert "## Development and confirmation halves" in text
    assert "### Development half (2 datasets)" in text and "### Confirmation half (2 datasets)" in text
    dev = pd.read_csv(files["development/table_auroc.csv"], index_col=0)
    conf = pd.read_csv(files["confirmation/table_auroc.csv"], index_col=0)
    assert set(dev.index) == {"alpha", "charlie"} and set(conf.index) == {"bravo", "delta"}
    # sla2p_plus wins on alpha and charlie (development), on bravo only (confirmation)
    # and its place among the three methods by average rank: first on both development sets;
    # on the confirmation half first on bravo, last on delta (2.0, behind iforest's 1.5)
    assert ("AUROC: sla2p_plus beats sla2p on 2 of 2 datasets (100%); its average rank is 1.00, place 1 of 3 "
            "methods (over the 2 datasets where every method has a value).") in text
    assert ("AUROC: sla2p_plus beats sla2p on 1 of 2 datasets (50%); its average rank is 2.00, place 2 of 3 "
            "methods (over the 2 datasets where every method has a value).") in text
    assert (tmp_path / "report" / "development" / "ranks_auroc.csv").is_file()
    # and over all four datasets, before the halves
    whole = text.split("## Development and confirmation halves")[0]
    assert "AUROC: sla2p_plus beats sla2p on 3 of 4 datasets (75%); its average rank is 1.50, place 1 of 3" in whole


def test_no_halves_section_by_default(tmp_path):
    files = build_report(_run(tmp_path, {}), tmp_path / "report", metrics=["auroc"])
    assert "## Development and confirmation halves" not in files["report"].read_text() and "development/table_auroc.csv" not in files
