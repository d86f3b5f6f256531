"""Task runners: threads on this machine (default), a Dask cluster (local or existing), or Ray.

Every process that runs cells talks to ONE Prefect API. The CLI starts one for the run when
``PREFECT_API_URL`` is not set (:mod:`flows.prefect_server`) and exports its address, so the
workers of a local Dask cluster (they inherit the environment) use it too. For an existing Dask
cluster (``--address``), start one server (``prefect server start``) and export
``PREFECT_API_URL`` both in the shell that starts the workers and in the one that runs
``sla2p-bench table --runner dask --address tcp://...``.
"""

from __future__ import annotations

import os

from .options import RUNNERS

__all__ = ["RUNNERS", "make_runner", "default_workers"]


def make_runner(kind: str, workers: int, address: str | None = None):
    if kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if address:
            return DaskTaskRunner(address=address)
        # A local cluster of single-threaded worker processes; they inherit this environment
        # (PREFECT_API_URL, SLA2P_TORCH_THREADS, telemetry settings) and leave Ctrl-C to the CLI.
        return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                              cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None, "preload": ["flows.dask_worker"]})
    if kind == "ray":
        try:
            from prefect_ray import RayTaskRunner
        except ImportError as exc:
            raise RuntimeError("--runner ray needs the 'ray' extra: pip install -c constraints.txt -e '.[ray]'") from exc
        return RayTaskRunner(address=address) if address else RayTaskRunner()
    raise ValueError(f"unknown runner {kind!r}; choose one of {RUNNERS}")


def default_workers() -> int:
    return os.cpu_count() or 1
