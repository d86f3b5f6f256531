"""Task runners: threads on this machine (default), a Dask cluster (local or existing), or Ray.

Every process that runs cells talks to ONE Prefect API. The CLI starts one for the run when
``PREFECT_API_URL`` is not set (:mod:`flows.prefect_server`) and exports its address, so the
workers of a local Dask cluster (they inherit the environment) use it too. For an existing Dask
cluster (``--address``), run one server (``prefect server start``) that every worker can reach
and export its ``PREFECT_API_URL`` in the shells of the workers and of the CLI.

An existing cluster is checked before any work (:func:`check_cluster`): a scheduler answers, a
worker has joined, and every worker runs this code version with the same ``data.dvc``, reaches
the Prefect API and sees the results folder at the same path. Each failure is one
:class:`ClusterError` line naming the workers and the fix.

A team server started with credentials (:mod:`flows.team_server`) needs them in the same
shells: ``PREFECT_API_AUTH_STRING`` for the Prefect API (the workers report their task runs
there) and ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` for MLflow (the flow's
process logs). Each client reads its own variables; the workers of a local cluster inherit them,
and an existing cluster's workers are checked for a 401 from the API.

A lost worker (killed, out of memory, its machine gone) costs only the cells it had not
finished: the Dask scheduler gives them to the other workers, and the flow, which waits on the
Dask futures, sees each cell finish once and logs it once. A cell's result is let go on the
cluster as soon as the flow has it, so a lost worker never makes a logged cell run again. A cell
computed twice (its worker lost after it wrote its files) writes the same scores, atomically. A
cell whose workers die more than ``distributed.scheduler.allowed-failures`` times (the
scheduler's setting, default 3) fails with ``KilledWorker`` and is recorded as failed; rerunning
the command runs it again. With no worker left, the run waits until one joins.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from functools import lru_cache
from pathlib import Path

from .options import RUNNERS, default_workers

__all__ = ["RUNNERS", "ClusterError", "check_cluster", "make_runner", "default_workers"]

CONNECT_TIMEOUT_S = 30.0   # a scheduler that does not answer in this time is not there
WORKER_WAIT_S = 60.0       # how long a run waits for the first worker to join


class ClusterError(RuntimeError):
    """An existing Dask cluster that cannot run this job; the message names the problem and the fix."""


def make_runner(kind: str, workers: int, address: str | None = None, *, results_dir: str | None = None):
    """``results_dir``: with an existing Dask cluster, the folder every worker must see (checked)."""
    if kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        runner = _dask_runner_class()
        if address:
            check_cluster(address, results_dir=results_dir, api_url=os.environ.get("PREFECT_API_URL"))
            return runner(address=address)
        # A local cluster of single-threaded worker processes; they inherit this environment
        # (PREFECT_API_URL and PREFECT_API_AUTH_STRING, telemetry settings; each cell gets its torch
        # threads as an argument) and leave Ctrl-C to the CLI.
        keep_process_defaults()
        return runner(cluster_class="distributed.LocalCluster",
                      cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                      "dashboard_address": None, "preload": ["flows.dask_worker"]})
    if kind == "ray":
        try:
            from prefect_ray import RayTaskRunner
        except ImportError as exc:
            raise RuntimeError("--runner ray needs the 'ray' extra: pip install -c constraints.txt -e '.[ray]'") from exc
        return RayTaskRunner(address=address) if address else RayTaskRunner()
    raise ValueError(f"unknown runner {kind!r}; choose one of {RUNNERS}")


# What Dask's nannies set in a worker's environment and a cell's worker must not have (Dask's
# config `distributed.nanny.pre-spawn-environ`; None there means "not set").
UNSET_IN_WORKERS = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def keep_process_defaults() -> None:
    """Spawn this process's Dask workers without the variables Dask sets for them
    (:data:`UNSET_IN_WORKERS`), so that a cell runs there as it runs in the CLI's own process.

    - ``MALLOC_TRIM_THRESHOLD_=65536``: setting it at all turns off glibc's dynamic mmap
      threshold, so every large tensor a fit frees goes back to the kernel and the next one
      page-faults in again: GOAD on a 4,207-row set took 24.6 s a fit with it and 12.7 s without
      (one thread, idle), and ran 2x slower in a local Dask cluster than on the threads runner.
    - ``OMP/MKL/OPENBLAS_NUM_THREADS=1``: NumPy's BLAS then sums on one thread, in another order
      than on the threads runner, and PCA's and OCSVM's scores differed in their last bits between
      the two runners (same AUROC). Torch's threads are set per cell either way.

    Process-wide Dask config, read when a nanny starts.
    """
    import dask

    dask.config.set({f"distributed.nanny.pre-spawn-environ.{k}": None for k in UNSET_IN_WORKERS})


# -- an existing cluster, checked before any work ---------------------------------------------
def check_cluster(address: str, *, results_dir: str | os.PathLike | None = None, api_url: str | None = None,
                  connect_timeout: float = CONNECT_TIMEOUT_S, worker_wait: float = WORKER_WAIT_S) -> dict:
    """Check that the Dask cluster at ``address`` can run cells of this checkout; return
    ``{worker address: its identity}`` (:func:`flows.dask_worker.identity`). Raises
    :class:`ClusterError` (one line) otherwise. Workers that join later are not checked."""
    import distributed

    from .dask_worker import identity

    try:
        client = distributed.Client(address, timeout=connect_timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"--address: no Dask scheduler answers at {address} ({type(exc).__name__}: {exc}); "
                           f"start one with `dask scheduler --port PORT`, or check the address") from None
    probe = None
    try:
        try:
            client.wait_for_workers(1, timeout=worker_wait)
        except TimeoutError:
            raise ClusterError(f"--address: the Dask scheduler at {address} has no worker after {worker_wait:g} s; "
                               f"start one with `dask worker {address} --nthreads 1 --preload flows.dask_worker` "
                               "from the project's checkout") from None
        if results_dir is not None:  # a file this machine writes must be visible to every worker
            probe = Path(results_dir).resolve() / f".cluster-check-{uuid.uuid4().hex}"
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.touch()
        found = client.run(identity, None if probe is None else str(probe), api_url, on_error="return")
        here = identity(None, None)
        problems = _problems(found, here, probe, api_url)
        if problems:
            raise ClusterError(f"--address: the Dask cluster at {address} cannot run this job: {'; '.join(problems)}")
        return found
    finally:
        if probe is not None:
            probe.unlink(missing_ok=True)
        client.close()


def _problems(found: dict, here: dict, probe: Path | None, api_url: str | None) -> list[str]:
    """What is wrong with the workers' identities, one phrase per kind of problem."""
    def names(pred) -> str:
        return ", ".join(sorted(w for w, ident in found.items() if pred(ident)))

    broken = {w: ident for w, ident in found.items() if isinstance(ident, BaseException)}
    if broken:  # e.g. ModuleNotFoundError: the worker cannot import this project
        w, exc = next(iter(sorted(broken.items())))
        return [f"worker(s) {', '.join(sorted(broken))} cannot run this project's code ({type(exc).__name__}: "
                f"{exc}); install it there (pip install -c constraints.txt -e .) or start `dask worker` "
                f"from the project's checkout"]
    out = []
    if bad := names(lambda i: i["code_version"] != here["code_version"]):
        out.append(f"worker(s) {bad} run other detector code (code version differs from {here['code_version']}): "
                   "check out the same commit on every worker")
    if bad := names(lambda i: i["data_dvc"] != here["data_dvc"]):
        out.append(f"worker(s) {bad} pin other data (their data.dvc differs from {here['root']}/data.dvc): "
                   "check out the same commit on every worker")
    if probe is not None and (bad := names(lambda i: not i["sees_results"])):
        out.append(f"worker(s) {bad} do not see the results folder {probe.parent} (or cannot write to it): it must "
                   "be one shared folder at the same path on every worker, e.g. an NFS mount; give --results-dir")
    if api_url and (bad := names(lambda i: not i["reaches_api"])):
        out.append(f"worker(s) {bad} cannot reach the Prefect API at {api_url}: run one Prefect server every worker "
                   "can reach (`prefect server start --host 0.0.0.0`) and export its PREFECT_API_URL here")
    elif api_url and (bad := names(lambda i: i.get("api_refused"))):
        out.append(f"worker(s) {bad} are refused by the Prefect API at {api_url} (401 Unauthorized): export "
                   "PREFECT_API_AUTH_STRING (USER:PASSWORD, as in this shell) where those workers start")
    return out


# -- the runner: Prefect's DaskTaskRunner, saying which cells a lost worker took with it ------
@lru_cache(maxsize=1)
def _dask_runner_class():
    from prefect_dask import DaskTaskRunner
    from prefect_dask.task_runners import PrefectDaskFuture

    from .progress import say

    class ReleasingFuture(PrefectDaskFuture):
        """Lets go of the cell's result on the cluster once the flow has it. A result the flow
        already logged but still referenced would otherwise be recomputed when its worker is
        lost (the flow keeps the last finished future until the next one)."""

        def result(self, timeout=None, raise_on_failure=True):
            try:
                return super().result(timeout, raise_on_failure)
            finally:
                if self._final_state is not None:
                    self._wrapped_future.release()

        def wait(self, timeout=None) -> None:
            if self._final_state is None:
                super().wait(timeout)

    class SuiteDaskTaskRunner(DaskTaskRunner):
        """Prefect's DaskTaskRunner, plus one line on stdout when a worker leaves while it holds
        unfinished cells (which cells; the scheduler gives them to the other workers)."""

        def submit(self, task, parameters, wait_for=None, dependencies=None):
            inner = super().submit(task, parameters, wait_for, dependencies)
            future = ReleasingFuture(wrapped_future=inner.wrapped_future, task_run_id=inner.task_run_id)
            if not hasattr(self, "_labels"):
                self._labels: dict[str, str] = {}
                self.client.subscribe_topic("all", self._on_event)
            work = parameters.get("work")
            # the cells sharing its fit (tasks.cells.shared_fit_plan) are lost with it too
            label = ", ".join([getattr(work, "name", None) or task.name]
                              + [getattr(s, "name", "?") for s in parameters.get("shared") or ()])
            self._labels[future.wrapped_future.key] = label
            return future

        def __exit__(self, *args) -> None:
            # else the scheduler announces this client's removal to it, on its closed connection:
            # a CRITICAL traceback at the end of every run
            if hasattr(self, "_labels"):
                with contextlib.suppress(Exception):
                    self.client.unsubscribe_topic("all")
            super().__exit__(*args)

        def _on_event(self, event) -> None:  # in the Dask client's event loop: no blocking calls
            _, msg = event
            if not isinstance(msg, dict) or msg.get("action") != "remove-worker":
                return
            keys = set(msg.get("processing-tasks") or ()) | set(msg.get("lost-computed-tasks") or ())
            cells = sorted(self._labels[k] for k in keys if k in self._labels)
            if not cells:
                return
            how = "left" if msg.get("expected") else "was lost"
            say(f"dask: worker {msg.get('worker', '?')} {how} with {len(cells)} unfinished cell(s); "
                f"the scheduler gives them to the other workers: {', '.join(cells)}")

    return SuiteDaskTaskRunner
