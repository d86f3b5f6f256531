"""Task runners: threads on this machine (default), an existing Dask cluster, or Ray.

Dask workers need ONE Prefect server: each worker process without ``PREFECT_API_URL`` starts a
temporary server of its own (slow, and one timed out here). Start one server
(``prefect server start``), export ``PREFECT_API_URL`` in the shell that starts the workers and in
the one that runs ``sla2p-bench table --runner dask --address tcp://...``.
"""

from __future__ import annotations

import os

RUNNERS = ("threads", "dask", "ray")


def make_runner(kind: str, workers: int, address: str | None = None):
    if kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if address:
            return DaskTaskRunner(address=address)
        # A local cluster of single-threaded worker processes; they inherit this environment
        # (PREFECT_API_URL, SLA2P_TORCH_THREADS, telemetry settings).
        return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                              cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None})
    if kind == "ray":
        try:
            from prefect_ray import RayTaskRunner
        except ImportError as exc:
            raise RuntimeError("--runner ray needs the 'ray' extra: pip install -c constraints.txt -e '.[ray]'") from exc
        return RayTaskRunner(address=address) if address else RayTaskRunner()
    raise ValueError(f"unknown runner {kind!r}; choose one of {RUNNERS}")


def default_workers() -> int:
    return os.cpu_count() or 1
