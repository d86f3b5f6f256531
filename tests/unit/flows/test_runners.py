"""The local Dask cluster's workers keep glibc's malloc defaults and NumPy's BLAS threads, as the CLI's own
process has them (flows/runners.py)."""

from __future__ import annotations

import os

import dask
import distributed  # noqa: F401  (loads its defaults into dask.config)
import pytest

from flows.runners import UNSET_IN_WORKERS, keep_process_defaults, make_runner


@pytest.fixture
def dask_config():
    """The workers' environment in Dask's config as it was before the test (keep_process_defaults
    sets it for the whole process)."""
    key = "distributed.nanny.pre-spawn-environ"
    saved = dict(dask.config.get(key))
    yield
    dask.config.set({key: saved})


def _worker_env() -> dict:
    from distributed.nanny import _get_env_variables

    return _get_env_variables("distributed.nanny.pre-spawn-environ")


def test_a_local_dask_runner_spawns_workers_without_the_trim_threshold_or_one_blas_thread(dask_config):
    # Dask's defaults: the first halves GOAD's speed, the others change PCA's and OCSVM's last bits
    assert set(UNSET_IN_WORKERS) <= set(_worker_env())
    make_runner("dask", 2)
    env = _worker_env()
    assert not set(UNSET_IN_WORKERS) & set(env)


def test_a_worker_process_really_starts_without_it(dask_config):
    from distributed import Client, LocalCluster

    keep_process_defaults()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        seen = client.run(lambda: {k: os.environ.get(k) for k in UNSET_IN_WORKERS})
    assert list(seen.values()) == [{k: os.environ.get(k) for k in UNSET_IN_WORKERS}]  # this process's, not Dask's
