"""Where SLA2P and SLA stopped training: each cell's ``stop_reason`` from its record's history.

Training stops when the running accuracy reaches ``acc_threshold`` or after ``max_epochs``
(``sla2p/training.py``; its ``max_steps``, for benchmarks only, shows as "other"). On tabular
data the threshold normally ends training after a few dozen batches; where it is not reached,
training runs to ``max_epochs``, and those cells are named here and marked in the tables. This
section shows it per method and dataset, and ``training.csv`` lists every cell. A cell's
history is what ``tasks/detect`` kept (steps, epochs, stop_reason, train_seconds); cells that
failed, are missing, or whose record has no history count as "not known", never as either reason.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

REASONS = ("acc_threshold", "max_epochs")  # the stop rules of sla2p/training.py
TRAINED = ("sla2p", "sla")  # detectors with a stop rule (their labelled variants included)
STOP_PARAMS = ("acc_threshold", "max_epochs")

CELL_COLUMNS = ["name", "method", "detector", "dataset", "normal_class", "ratio", "seed", "row_order", "status",
                "stop_reason", "steps", "epochs", "train_seconds", "acc_threshold", "max_epochs", "key"]


@lru_cache(maxsize=None)
def _default(detector: str, name: str):
    from baselines import make_detector

    return getattr(make_detector(detector), name, None)


def _param(cell, name: str):
    params = cell.param_dict
    return params[name] if name in params else _default(cell.detector_name, name)


def training_cells(run) -> pd.DataFrame:
    """One row per cell of a detector that trains to a stop rule (SLA2P, SLA and their variants,
    or any record whose history names a ``stop_reason``), in the run's cell order."""
    rows = []
    for key in run.cells.get("key", []):
        rec = run.records[key]
        c = rec.cell
        hist = rec.history if isinstance(rec.history, dict) else {}
        if c.detector_name not in TRAINED and not hist.get("stop_reason"):
            continue
        ok = rec.status == "ok"
        rows.append({"name": rec.name, "method": c.method, "detector": c.detector_name, "dataset": c.dataset,
                     "normal_class": c.normal_class if c.normal_class is not None else "-",
                     "ratio": c.ratio if c.ratio is not None else np.nan, "seed": c.seed,
                     "row_order": c.row_order, "status": rec.status,
                     "stop_reason": (hist.get("stop_reason") or "") if ok else "",
                     "steps": hist.get("steps", np.nan) if ok else np.nan,
                     "epochs": hist.get("epochs", np.nan) if ok else np.nan,
                     "train_seconds": hist.get("train_seconds", np.nan) if ok else np.nan,
                     **{p: _param(c, p) for p in STOP_PARAMS}, "key": key})
    return pd.DataFrame(rows, columns=CELL_COLUMNS)


def _values(col: pd.Series) -> str:
    vals = sorted({v for v in col if v is not None and not (isinstance(v, float) and np.isnan(v))}, key=float)
    return ", ".join(f"{v:g}" for v in vals) if vals else "-"


def training_summary(cells: pd.DataFrame) -> pd.DataFrame:
    """Per (method, dataset), in the order of the cells (so dataset by dataset): how many cells
    stopped at the threshold, at max_epochs, for another reason or not known, and the median
    steps and epochs of the ones that finished."""
    if cells.empty:
        return pd.DataFrame()
    out = []
    for (method, dataset), g in cells.groupby(["method", "dataset"], sort=False):
        reasons = g.stop_reason.fillna("")
        known = g[reasons != ""]
        row = {"method": method, "dataset": dataset, "acc_threshold": _values(g.acc_threshold),
               "max_epochs": _values(g.max_epochs), "cells": len(g)}
        for r in REASONS:
            row[f"stopped_{r}"] = int((reasons == r).sum())
        row["stopped_other"] = int(len(known) - sum(row[f"stopped_{r}"] for r in REASONS))
        row["not_known"] = int(len(g) - len(known))
        steps, epochs = pd.to_numeric(known.steps, errors="coerce"), pd.to_numeric(known.epochs, errors="coerce")
        row["median_steps"] = float(steps.median()) if steps.notna().any() else np.nan
        row["median_epochs"] = float(epochs.median()) if epochs.notna().any() else np.nan
        out.append(row)
    return pd.DataFrame(out)


#: At most this many cells that ran to ``max_epochs`` are named one by one (training.csv has all).
LISTED = 40


def bounded_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells whose training ran to ``max_epochs`` without reaching ``acc_threshold``."""
    if cells.empty:
        return cells
    return cells[cells.stop_reason == "max_epochs"]


def _bounded_lines(cells: pd.DataFrame) -> list[str]:
    hit = bounded_cells(cells)
    if hit.empty:
        return []
    lines = [f"Cells whose training ran to `max_epochs` without reaching `acc_threshold` ({len(hit)}; their "
             "table values are marked ‡):", ""]
    for r in hit.head(LISTED).itertuples():
        where = r.dataset + ("" if r.normal_class == "-" else f" / {r.normal_class}")
        ratio = "" if pd.isna(r.ratio) else f", p={r.ratio:g}"
        lines.append(f"- {r.method} on {where}{ratio}, seed {r.seed}: {r.steps:g} steps, {r.epochs:g} epochs "
                     f"(max_epochs {r.max_epochs}, acc_threshold {r.acc_threshold})")
    if len(hit) > LISTED:
        lines.append(f"- ... and {len(hit) - LISTED} more (training.csv)")
    return lines + [""]


def training_markdown(summary: pd.DataFrame, cells: pd.DataFrame | None = None) -> str:
    lines = ["## Training: where SLA2P and SLA stopped", "",
             "Training stops when the running accuracy reaches `acc_threshold` or after `max_epochs`. Per method "
             "and dataset, over every class, ratio and seed: how many cells stopped which way, and the median "
             "number of steps (batches) and epochs of those that finished. `training.csv` has each cell's "
             "`stop_reason`.", ""]
    if summary.empty:
        return "\n".join(lines + ["No SLA2P or SLA cells in this run.", ""])
    other = bool(summary.stopped_other.any())
    lines += ["| dataset | method | acc_threshold | max_epochs | cells | reached acc_threshold | ran to max_epochs | "
              + ("other | " if other else "") + "not known | median steps | median epochs |",
              "|---|---|---|---|---|---|---|" + ("---|" if other else "") + "---|---|---|"]

    def med(v):
        return "n/a" if pd.isna(v) else f"{v:g}"

    for r in summary.itertuples():
        lines.append(f"| {r.dataset} | {r.method} | {r.acc_threshold} | {r.max_epochs} | {r.cells} | "
                     f"{r.stopped_acc_threshold} | {r.stopped_max_epochs} | "
                     + (f"{r.stopped_other} | " if other else "")
                     + f"{r.not_known} | {med(r.median_steps)} | {med(r.median_epochs)} |")
    lines.append("")
    never = summary[(summary.stopped_max_epochs > 0) & (summary.stopped_acc_threshold == 0)
                    & (summary.stopped_other == 0)]
    for r in never.itertuples():
        lines.append(f"- **{r.method} on {r.dataset}**: `acc_threshold` {r.acc_threshold} was never reached; all "
                     f"{r.stopped_max_epochs} finished cell(s) ran to `max_epochs` {r.max_epochs}.")
    if len(never):
        lines.append("")
    if cells is not None:
        lines += _bounded_lines(cells)
    return "\n".join(lines) + "\n"
