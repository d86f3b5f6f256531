"""The local Dask cluster's workers keep glibc's malloc defaults (flows/runners.py)."""

from __future__ import annotations

import os

import dask
import distributed  # noqa: F401  (loads its defaults into dask.config)
import pytest

from flows.runners import keep_malloc_defaults, make_runner


@pytest.fixture
def dask_config():
    """The workers' environment in Dask's config as it was before the test (keep_malloc_defaults
    sets it for the whole process)."""
    key = "distributed.nanny.pre-spawn-environ"
    saved = dict(dask.config.get(key))
    yield
    dask.config.set({key: saved})


def _worker_env() -> dict:
    from distributed.nanny import _get_env_variables

    return _get_env_variables("distributed.nanny.pre-spawn-environ")


def test_a_local_dask_runner_spawns_workers_without_the_trim_threshold(dask_config):
    assert "MALLOC_TRIM_THRESHOLD_" in _worker_env()  # Dask's default, which halves GOAD's speed
    make_runner("dask", 2)
    env = _worker_env()
    assert "MALLOC_TRIM_THRESHOLD_" not in env
    assert env["OMP_NUM_THREADS"] == "1"  # the rest of Dask's worker environment stays


def test_a_worker_process_really_starts_without_it(dask_config):
    from distributed import Client, LocalCluster

    keep_malloc_defaults()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        seen = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert list(seen.values()) == [os.environ.get("MALLOC_TRIM_THRESHOLD_")]  # this process's, if any: not Dask's
