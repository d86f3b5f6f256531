"""The comparison table flow (configs/table.yaml by default; configs/smoke.yaml for a first look)."""

from __future__ import annotations

from prefect import flow

from .execute import execute


@flow(name="sla2p-table", log_prints=True)
def table_flow(config: str = "table", filters: dict | None = None, refresh: bool = False,
               tracking_uri: str | None = None, results_dir: str | None = None, device: str | None = None,
               progress: bool = False) -> dict:
    return execute(config, filters, refresh=refresh, tracking_uri=tracking_uri, results_dir=results_dir,
                   device=device, progress=progress)
