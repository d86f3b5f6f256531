"""Aggregate stage: per-cell records -> the comparison table (pandas).

The paper's reduction (method.md s4): for each (dataset, ratio, method), average the metric over
the normal classes within each seed, then report the mean and the standard deviation over seeds
of that class average. A group with any failed or missing cell is reported as failed, never as
a number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METRICS = ("auroc", "aupr", "ap")


def cells_frame(records: list[dict]) -> pd.DataFrame:
    rows = []
    for r in records:
        c = r["cell"]
        row = {"dataset": c["dataset"], "normal_class": c["normal_class"] if c["normal_class"] is not None else "-",
               "ratio": c["ratio"] if c["ratio"] is not None else np.nan, "method": c["method"],
               "seed": c["seed"], "status": r["status"], "error": r.get("error", ""), "key": r["key"],
               "fit_seconds": r.get("fit_seconds", np.nan), "cached": r.get("cached", False)}
        for m in METRICS:
            row[m] = r.get("metrics", {}).get(m, np.nan)
        for k, v in sorted(c["params"].items()):
            row[f"param.{k}"] = v
        rows.append(row)
    return pd.DataFrame(rows)


def summary_frame(cells: pd.DataFrame, metric: str = "auroc") -> pd.DataFrame:
    """Long form: one row per (dataset, ratio, method) with mean, std, seeds, failed count."""
    out = []
    keys = ["dataset", "ratio", "method"]
    for (ds, ratio, method), g in cells.groupby(keys, dropna=False, sort=True):
        failed = g[g.status != "ok"]
        row = {"dataset": ds, "ratio": ratio, "method": method, "n_cells": len(g), "n_failed": len(failed),
               "error": "; ".join(sorted(set(failed.error)))[:500]}
        if len(failed):
            row.update(mean=np.nan, std=np.nan, n_seeds=0)
        else:
            per_seed = g.groupby("seed")[metric].mean()  # class average within each seed
            row.update(mean=float(per_seed.mean()), std=float(per_seed.std(ddof=0)), n_seeds=len(per_seed))
        out.append(row)
    return pd.DataFrame(out)


def table_frame(cells: pd.DataFrame, metric: str = "auroc", digits: int = 3) -> pd.DataFrame:
    """Datasets (and ratios) by methods, 'mean +- std' strings; failed groups say 'failed'."""
    s = summary_frame(cells, metric)
    s["row"] = [f"{d}" if pd.isna(r) else f"{d} (p={r:g})" for d, r in zip(s.dataset, s.ratio)]

    def fmt(r):
        if r.n_failed:
            return f"failed ({r.n_failed}/{r.n_cells})"
        return f"{r['mean']:.{digits}f} ± {r['std']:.{digits}f}"

    s["value"] = s.apply(fmt, axis=1)
    order = list(dict.fromkeys(s.row))
    t = s.pivot(index="row", columns="method", values="value").reindex(order)
    t.index.name = f"{metric} (mean ± std over seeds of the class average)"
    return t
