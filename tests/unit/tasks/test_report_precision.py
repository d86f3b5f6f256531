"""The table's caption says when some of its cells were scored in bfloat16 (``precision: bf16``,
e.g. from ``--precision bf16``), naming those methods, and says nothing otherwise."""

from __future__ import annotations

from tasks.cells import CellRecord
from tasks.metrics import cells_frame
from tasks.report.tables import bf16_methods, caption, comparison, to_latex, to_markdown


def record(ds, method, seed, auroc, params=None):
    return {"key": f"{method}-{ds}-{seed}", "status": "ok", "error": "",
            "cell": {"dataset": ds, "normal_class": None, "ratio": None, "method": method, "params": params or {},
                     "seed": seed, "detector": method, "row_order": "shuffled"},
            "metrics": {"auroc": auroc, "aupr": auroc / 2, "ap": auroc / 3}}


def frame(precision=None):
    params = {"n_projections": 8} | ({"precision": precision} if precision else {})
    recs = [record(ds, m, s, 0.7 + 0.01 * s, params if m in ("sla2p", "sla") else {"n_estimators": 50})
            for ds in ("alpha", "beta") for m in ("sla2p", "sla", "iforest") for s in (0, 1)]
    return cells_frame([CellRecord.from_dict(r) for r in recs])


def test_the_caption_line():
    assert "bfloat16" not in caption("auroc")
    one = caption("auroc", bf16=["sla2p"])
    assert "sla2p scored in bfloat16 (precision bf16, as --precision bf16 sets" in one
    assert "sla2p and sla scored in bfloat16" in caption("auroc", bf16=["sla2p", "sla"])


def test_a_table_with_bf16_cells_says_so_and_one_without_does_not():
    for precision in (None, "float32"):
        comp = comparison(frame(precision), "auroc")
        assert bf16_methods(comp) == [] and "bfloat16" not in to_markdown(comp, "auroc")
    comp = comparison(frame("bf16"), "auroc")
    assert bf16_methods(comp) == ["sla2p", "sla"]
    assert "sla2p and sla scored in bfloat16" in to_markdown(comp, "auroc").splitlines()[0]
    assert "sla2p and sla scored in bfloat16" in to_latex(comp, "auroc")
