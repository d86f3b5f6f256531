"""Aggregate stage: per-cell records -> the comparison table (pandas).

The paper's reduction (method.md s4): for each (dataset, ratio, method), average the metric over
the normal classes within each seed, then report the mean and the standard deviation over seeds
of that class average. A group with any failed or missing cell is reported as failed, never as
a number.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..cells import DEFAULT_ROW_ORDER, CellRecord, canonical, same_value, value_text

METRICS = ("auroc", "aupr", "ap")


def cells_frame(records: list[CellRecord]) -> pd.DataFrame:
    rows = []
    for r in records:
        c = r.cell
        row = {"dataset": c.dataset, "normal_class": c.normal_class if c.normal_class is not None else "-",
               "ratio": c.ratio if c.ratio is not None else np.nan, "method": c.method,
               "seed": c.seed, "detector": c.detector_name, "row_order": c.row_order, "status": r.status,
               "error": r.error, "key": r.key, "fit_seconds": r.fit_seconds if r.fit_seconds is not None else np.nan,
               "cached": r.cached,
               "stop_reason": r.history.get("stop_reason", "") if isinstance(r.history, dict) else ""}
        for m in (*METRICS, "aupr_tie_gain"):
            row[m] = r.metrics.get(m, np.nan)
        for k, v in sorted(c.param_dict.items()):
            row[f"param.{k}"] = v
        rows.append(row)
    return pd.DataFrame(rows)


def comparable(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells that belong in a comparison: not the order-audit runs (rows in the authors'
    order, inliers first: that order tells the detector where the outliers are)."""
    if "row_order" not in cells:
        return cells
    return cells[cells.row_order.fillna(DEFAULT_ROW_ORDER) == DEFAULT_ROW_ORDER]


def over_seeds(cells: pd.DataFrame, column: str) -> tuple[float, float, int]:
    """The paper's reduction (method.md s4): average ``column`` over the normal classes within each
    seed, then (mean, standard deviation, number) over seeds of those averages."""
    per_seed = cells.groupby("seed")[column].mean()
    return float(per_seed.mean()), float(per_seed.std(ddof=0)), len(per_seed)


def row_label(dataset: str, ratio) -> str:
    """A table row's name: the dataset, with its contamination ratio when it has one."""
    return dataset if ratio is None or pd.isna(ratio) else f"{dataset} (p={ratio:g})"


#: Appended to a table value when training of some of its cells ran to ``max_epochs`` instead of
#: stopping by ``acc_threshold`` (the report's training section lists those cells).
BOUND_MARK = "‡"


def cell_text(row, digits: int = 3) -> str:
    """One summary row as the tables print it: 'mean ± std' over seeds, the mean alone when there
    is one seed (no spread to show), or why there is no number. A value some of whose cells trained
    to ``max_epochs`` ends in :data:`BOUND_MARK`."""
    if row.n_failed:
        return f"failed ({row.n_failed}/{row.n_cells})"
    if row.n_missing:
        return f"missing ({row.n_missing}/{row.n_cells})"
    mark = BOUND_MARK if row.get("n_max_epochs", 0) else ""
    if row.get("n_seeds", 0) == 1:
        return f"{row['mean']:.{digits}f}{mark}"
    return f"{row['mean']:.{digits}f} ± {row['std']:.{digits}f}{mark}"


def summary_frame(cells: pd.DataFrame, metric: str = "auroc") -> pd.DataFrame:
    """Long form: one row per (dataset, ratio, method) with mean, std, seeds, failed count.
    Order-audit cells are left out (see :func:`comparable`)."""
    cells = comparable(cells)
    out = []
    keys = ["dataset", "ratio", "method"]
    for (ds, ratio, method), g in cells.groupby(keys, dropna=False, sort=True):
        failed = g[g.status == "failed"]
        missing = g[~g.status.isin(["ok", "failed"])]  # e.g. "missing": never logged, or its scores are gone
        row = {"dataset": ds, "ratio": ratio, "method": method, "n_cells": len(g), "n_failed": len(failed),
               "n_missing": len(missing), "error": "; ".join(sorted(set(failed.error.astype(str))))[:500],
               # cells whose training ran to its max_epochs bound, not stopped by acc_threshold
               "n_max_epochs": int((g.stop_reason == "max_epochs").sum()) if "stop_reason" in g else 0}
        if len(failed) or len(missing):
            row.update(mean=np.nan, std=np.nan, n_seeds=0)
        else:
            mean, std, n = over_seeds(g, metric)
            row.update(mean=mean, std=std, n_seeds=n)
        out.append(row)
    return pd.DataFrame(out)


def variants(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells with each method relabelled by the parameters that differ within one of its
    (dataset, ratio) groups, e.g. ``sla2p epsilon=0.078125 n_projections=16``: an ablation's
    grid points, which no reduction may average together. A table's cells (one configuration per
    method and dataset) come back unchanged."""
    params = [c for c in cells.columns if c.startswith("param.")]
    if cells.empty or not params:
        return cells
    out = cells.copy()
    for method, g in cells.groupby("method", sort=False):
        per_group = g.groupby(["dataset", "ratio"], dropna=False)[params].nunique(dropna=False)
        varying = [c for c in params if (per_group[c] > 1).any()]
        if varying:
            out.loc[g.index, "method"] = [
                f"{method} " + " ".join(f"{c[len('param.'):]}={value_text(v)}" for c, v in zip(varying, vals))
                for vals in g[varying].itertuples(index=False, name=None)]
    return out


def ablation_curves(cells: pd.DataFrame, points: list[dict], metrics=("auroc", "aupr")) -> pd.DataFrame:
    """One row per (grid point, dataset, metric): mean and std over seeds of the class-averaged
    metric. In ``separate`` mode each point varies one parameter, so the rows of a parameter are
    its curve; in ``product`` mode every point sets every grid parameter."""
    df = cells.copy()
    df["point"] = [canonical(p) for p in points]
    rows = []
    for (point, ds), g in df[df.status == "ok"].groupby(["point", "dataset"], sort=False):
        pt = json.loads(point)
        for m in metrics:
            mean, std, n = over_seeds(g, m)
            for param, value in pt.items():
                rows.append({"parameter": param if len(pt) == 1 else "+".join(sorted(pt)), "value": value,
                             "point": point, "dataset": ds, "metric": m, "mean": mean, "std": std, "n_seeds": n})
                if len(pt) > 1:
                    break
    return pd.DataFrame(rows)


def ablation_base(points: dict[str, list]) -> dict:
    """The base values of a 'separate' ablation: the grid point shared by every curve is one
    cell named by all of them (``points``: key -> the grid points it stands for). {} when no
    cell stands for every parameter (a 'product' grid, or a base that failed to derive)."""
    params = {k for pts in points.values() for pt in pts for k in pt}
    for pts in points.values():
        merged = {k: v for pt in pts for k, v in pt.items()}
        if len(params) > 1 and set(merged) == params and all(len(pt) == 1 for pt in pts):
            return merged
    return {}


def ablation_effects(curves: pd.DataFrame, base: dict) -> pd.DataFrame:
    """Each one-parameter change of a 'separate' ablation against its base point, per dataset
    and metric: the change's mean over seeds, the base's, and their difference ``delta``.
    A dataset where either side has no finished cell is left out of that change (never a NaN
    counted as a loss). Empty when ``base`` is empty."""
    cols = ["parameter", "value", "dataset", "metric", "mean", "base_mean", "delta", "n_seeds"]
    if not base or curves.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    single = curves[curves.parameter.isin(list(base))]
    for (param, metric), g in single.groupby(["parameter", "metric"], sort=False):
        # a column of ints and floats reads back as floats: the base 16 is the curve's 16.0
        is_base = g.value.map(lambda v: same_value(v, base[param]))
        at_base = g[is_base].set_index("dataset")["mean"]
        for r in g[~is_base].itertuples():
            if r.dataset in at_base.index and pd.notna(r.mean) and pd.notna(at_base[r.dataset]):
                rows.append({"parameter": param, "value": r.value, "dataset": r.dataset, "metric": metric,
                             "mean": r.mean, "base_mean": at_base[r.dataset],
                             "delta": r.mean - at_base[r.dataset], "n_seeds": r.n_seeds})
    return pd.DataFrame(rows, columns=cols)


def effects_summary(effects: pd.DataFrame) -> pd.DataFrame:
    """One row per (change, metric): on how many datasets it beats the base (delta > 0) and
    loses (delta < 0), of how many, and the mean, median and worst delta."""
    cols = ["parameter", "value", "metric", "better", "worse", "n_datasets", "mean_delta", "median_delta",
            "worst_delta", "worst_dataset"]
    rows = []
    for (param, value, metric), g in effects.groupby(["parameter", effects.value.map(canonical), "metric"],
                                                     sort=False):
        worst = g.loc[g.delta.idxmin()]
        rows.append({"parameter": param, "value": g.value.iloc[0], "metric": metric,
                     "better": int((g.delta > 0).sum()), "worse": int((g.delta < 0).sum()),
                     "n_datasets": len(g), "mean_delta": g.delta.mean(), "median_delta": g.delta.median(),
                     "worst_delta": worst.delta, "worst_dataset": worst.dataset})
    return pd.DataFrame(rows, columns=cols)
