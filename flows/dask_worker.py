"""What a Dask worker process of the suite runs besides cells.

``dask_setup``: preloaded into every worker of the local cluster (``--runner dask`` without
``--address``), and recommended for the workers of an existing cluster (``dask worker ADDRESS
--preload flows.dask_worker``). It turns telemetry off, imports what cells need before the
worker takes one, and ignores SIGINT: a terminal's Ctrl-C goes to the whole foreground process
group, and a worker left to die of the KeyboardInterrupt leaves the flow waiting for cells that never
come back. The process that owns the worker decides instead (the CLI for a local cluster: first
Ctrl-C, the running cells finish; second, everything stops; the nanny for ``dask worker``, which
closes its worker).

:func:`identity`: run on every worker of an existing cluster before any work
(:func:`flows.runners.check_cluster`): what it runs and what it can see.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import threading
from pathlib import Path

from tasks.env import telemetry_off

from .prefect_server import healthy, http_status


def dask_setup(worker) -> None:  # called by distributed in the worker process at start
    telemetry_off()  # before the first cell imports Prefect, MLflow or DVC here
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _warm_up()


def _warm_up() -> None:
    """What every cell imports (torch, PyOD, Prefect's engine: several seconds), before the worker
    takes its first cell. Not in a thread beside it: a cell importing Prefect while that thread
    does ran into Python's import-deadlock check ("Failed to initialize plugins: deadlock detected
    by _ModuleLock('prefect.client.schemas.objects')" on the worker's stderr)."""
    import contextlib

    with contextlib.suppress(Exception):  # an import that fails here fails in the cell, with its error
        import prefect.task_engine  # noqa: F401

        import tasks.detect  # noqa: F401


def identity(probe: str | None, api_url: str | None, dask_worker=None) -> dict:
    """This worker's code version, ``data.dvc`` digest, project root and threads (cells at
    once); whether it sees the file ``probe`` (written by the flow's machine in the results
    folder) and can write beside it; whether the Prefect API at ``api_url`` answers from here, and
    whether it refuses this worker's credentials (``PREFECT_API_AUTH_STRING`` in the worker's
    environment: a team server started with an auth string). ``dask_worker``: passed by ``Client.run``."""
    from tasks.cells import code_version
    from tasks.env import DVC_FILE, project_root

    root = project_root()
    pin = root / DVC_FILE
    folder = Path(probe).parent if probe else None
    return {"host": socket.gethostname(), "pid": os.getpid(), "root": str(root),
            "nthreads": dask_worker.state.nthreads if dask_worker is not None else None,
            "code_version": code_version(),
            "data_dvc": hashlib.sha256(pin.read_bytes()).hexdigest() if pin.is_file() else None,
            "sees_results": bool(probe) and Path(probe).is_file() and os.access(folder, os.W_OK),
            "reaches_api": bool(api_url) and healthy(api_url, timeout=5.0),
            "api_refused": bool(api_url) and api_refuses(api_url)}


def api_refuses(api_url: str, timeout: float = 5.0) -> bool:
    """The Prefect API at ``api_url`` answers 401 to this process's credentials (none, or
    ``PREFECT_API_AUTH_STRING``, as Prefect's client sends them). /health needs none, so it says
    nothing about them: a protected route is asked."""
    user, _, password = (os.environ.get("PREFECT_API_AUTH_STRING") or "").partition(":")
    auth = (user, password) if user or password else None
    return http_status(f"{api_url.rstrip('/')}/admin/version", auth, timeout) == 401
