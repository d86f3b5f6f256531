"""The ablation flow: grids over SLA2P's epsilon, n_projections, proj_dim and acc_threshold
(configs/ablation.yaml), giving AUROC and AUPR against each parameter."""

from __future__ import annotations

from prefect import flow

from .execute import execute


@flow(name="sla2p-ablation", log_prints=True)
def ablation_flow(config: str = "ablation", filters: dict | None = None, refresh: bool = False,
                  tracking_uri: str | None = None, results_dir: str | None = None, device: str | None = None,
                  progress: bool = False) -> dict:
    return execute(config, filters, refresh=refresh, tracking_uri=tracking_uri, results_dir=results_dir,
                   device=device, progress=progress)
