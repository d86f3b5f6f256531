"""The dry run's estimate against a finished run, per dataset and per method: how far off it is.

    .venv/bin/python bench/bench_estimate_error.py --cells results/tables/<run>/cells.csv \
        --config paper-quick [--datasets ...] [--workers 2] [--threads 1] [--markdown]

What is compared, for the cells the run fitted (``cached`` false, status ok):

* measured: the sum of the cells' ``fit_seconds`` (cells.csv, each cell's own fit as the flow
  timed it) divided by the run's ``--workers`` (cells in flight at once), the wall time those fits
  took when the workers were always busy;
* estimated: the same cells' seconds in :func:`tasks.estimate.estimate` of the job's plan on the
  run's threads a cell (``--threads``), divided by ``--workers`` as the dry run divides them, on
  this machine now.

Run it on the machine the run ran on, after it (the estimate reads ``bench/measured_costs.json``
and this machine's GEMM probe). A cell the plan did not fit (a rider, a reused fit) costs nothing
in either column. The error is estimated / measured - 1; the issue's target is within +-25% for
every dataset with more than 5 minutes of measured cells.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import pandas as pd

_ID = ("dataset", "normal_class", "ratio", "method", "seed")


def _cell_id(dataset, normal_class, ratio, method, seed) -> tuple:
    """A cell's identity as cells.csv writes it (no class: "-"; no ratio: empty)."""
    ratio = "" if ratio in (None, "") or (isinstance(ratio, float) and ratio != ratio) else f"{float(ratio):g}"
    return str(dataset), str(normal_class or "-"), ratio, str(method), int(seed)


def estimated_seconds(config: str, filters: dict, threads: int, workers: int = 1) -> dict[tuple, float]:
    """Each cell's seconds in the dry run's estimate on ``threads`` torch threads (the run's
    threads a cell) with ``workers`` cells at once (which calibration of this machine applies), by
    cell identity."""
    from flows.config import load_job
    from tasks.estimate import estimate
    from tasks.plan import plan_job

    plan = plan_job(load_job(config, **filters))
    est = estimate(plan, workers=workers, threads=threads)
    return {_cell_id(c.dataset, c.normal_class, c.ratio, c.method, c.seed): s
            for c, s in zip(plan.cells, est.per_cell)}


def compare(cells: pd.DataFrame, estimated: dict[tuple, float], workers: int, by: str) -> pd.DataFrame:
    """Per ``by`` (dataset or method): cells, measured and estimated minutes, error."""
    run = cells[(cells["status"] == "ok") & (~cells["cached"].astype(str).str.lower().eq("true"))]
    measured: dict[str, float] = defaultdict(float)
    est: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    missing = 0
    for r in run.itertuples(index=False):
        if str(r.fit_seconds) == "":  # a cell that shared another's fit: no fit of its own
            continue
        cid = _cell_id(r.dataset, r.normal_class, r.ratio, r.method, r.seed)
        if cid not in estimated:
            missing += 1
            continue
        g = getattr(r, by)
        # both as wall time with ``workers`` cells in flight (the estimate's per_cell is a cell's own)
        measured[g] += float(r.fit_seconds) / workers
        est[g] += estimated[cid] / workers
        count[g] += 1
    if missing:
        print(f"# {missing} fitted cells of the run are not in the job's plan (another config or filter?)")
    rows = [{by: g, "cells": count[g], "measured_min": measured[g] / 60, "estimated_min": est[g] / 60,
             "error": est[g] / measured[g] - 1 if measured[g] > 0 else float("nan")} for g in measured]
    out = pd.DataFrame(rows).sort_values("measured_min", ascending=False)
    total = {by: "all", "cells": out["cells"].sum(), "measured_min": out["measured_min"].sum(),
             "estimated_min": out["estimated_min"].sum()}
    total["error"] = total["estimated_min"] / total["measured_min"] - 1
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)


def cells_from_records(results_dir: str) -> pd.DataFrame:
    """The cells a run has finished so far, from its records (``<results>/cells/*.json``): for a
    run still going or stopped, which has no cells.csv yet."""
    import json

    rows = []
    for f in Path(results_dir, "cells").rglob("*.json"):
        if f.name.endswith(".failed.json"):
            continue
        r = json.loads(f.read_text())
        c = r["cell"]
        rows.append({"dataset": c["dataset"], "normal_class": c["normal_class"] or "-",
                     "ratio": "" if c["ratio"] is None else f"{float(c['ratio']):g}", "method": r["name"].split("/")[0],
                     "seed": int(c["seed"]), "status": r["status"], "cached": False,
                     "fit_seconds": "" if r.get("fit_seconds") is None else r["fit_seconds"]})
    return pd.DataFrame(rows)


def _print(df: pd.DataFrame, markdown: bool) -> None:
    fmt = df.copy()
    fmt["measured_min"] = fmt["measured_min"].map(lambda v: f"{v:.1f}")
    fmt["estimated_min"] = fmt["estimated_min"].map(lambda v: f"{v:.1f}")
    fmt["error"] = fmt["error"].map(lambda v: f"{v:+.0%}")
    print(fmt.to_markdown(index=False) if markdown else fmt.to_string(index=False))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--cells", help="a finished run's cells.csv")
    src.add_argument("--records", help="a results folder: the cells finished so far (a run still going or stopped)")
    ap.add_argument("--config", required=True, help="the config (or profile) the run ran")
    ap.add_argument("--datasets", default="", help="the run's --datasets filter, if any")
    ap.add_argument("--methods", default="", help="the run's --methods filter, if any")
    ap.add_argument("--workers", type=int, default=1, help="the run's --workers (cells in flight at once)")
    ap.add_argument("--threads", type=int, default=None,
                    help="the run's torch threads a cell (default: as a run resolves it, the cores / --workers)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    from flows.options import Filters, default_threads

    filters = Filters.parse(datasets=args.datasets or None, methods=args.methods or None).as_dict()
    if args.cells:
        cells = pd.read_csv(args.cells, dtype={"normal_class": str, "ratio": str}, keep_default_na=False)
        cells["seed"] = cells["seed"].astype(int)
    else:
        cells = cells_from_records(args.records)
    threads = args.threads or default_threads(args.workers)
    estimated = estimated_seconds(args.config, filters, threads, args.workers)
    for by in ("dataset", "method"):
        _print(compare(cells, estimated, args.workers, by), args.markdown)
        print()


if __name__ == "__main__":
    main()
