"""Preloaded into every worker process of the local Dask cluster (``--runner dask`` without
``--address``): a terminal's Ctrl-C goes to the whole foreground process group, and these workers
are in the CLI's group. Left alone, each worker dies of the KeyboardInterrupt and the flow waits
for cells that never come back; ignoring SIGINT here leaves the decision to the CLI (first Ctrl-C:
the running cells finish; second: everything stops, the workers with the CLI's cluster).
"""

from __future__ import annotations

import signal
import threading


def dask_setup(worker) -> None:  # called by distributed in the worker process at start
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
