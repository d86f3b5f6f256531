"""The ablation flow: grids over SLA2P's epsilon, n_projections, proj_dim and acc_threshold
(configs/ablation.yaml), giving AUROC and AUPR against each parameter."""

from __future__ import annotations

import json

import pandas as pd
from prefect import flow

from tasks.cells import canonical

from .execute import execute


@flow(name="sla2p-ablation", log_prints=True)
def ablation_flow(config: str = "ablation", filters: dict | None = None, refresh: bool = False,
                  tracking_uri: str | None = None, results_dir: str | None = None, device: str | None = None,
                  progress: bool = False) -> dict:
    return execute(config, filters, refresh=refresh, tracking_uri=tracking_uri, results_dir=results_dir,
                   device=device, progress=progress)


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
            per_seed = g.groupby("seed")[m].mean()
            for param, value in pt.items():
                rows.append({"parameter": param if len(pt) == 1 else "+".join(sorted(pt)), "value": value,
                             "point": point, "dataset": ds, "metric": m, "mean": per_seed.mean(),
                             "std": per_seed.std(ddof=0), "n_seeds": len(per_seed)})
                if len(pt) > 1:
                    break
    return pd.DataFrame(rows)
