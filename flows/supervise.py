"""Run a benchmark command in a session of its own, so that only the CLI decides what a Ctrl-C does.

A terminal's Ctrl-C (and ``kill -TERM -<pgid>``, ``make``'s own interrupt) signals every process
of the foreground process group. Without this, that includes what the run started: the compiler
``torch.compile`` runs while embedding images, local Dask workers, MLflow's helpers. They die
half-way, and a run that was meant to stop cleanly fails with their tracebacks (and Prefect
retries the data task).

:func:`supervise` therefore starts the real run (the same command line, marked by
:data:`SUPERVISED`) in a new session and stays in the foreground itself. It forwards each
SIGINT, SIGTERM and SIGHUP to the run's main process only, where :mod:`flows.interrupt` handles
them (the first stops scheduling, the second exits at once), and it exits with the run's code.
If the run's main process has not gone 10 s after a second signal, its whole group is killed;
once it has gone, what it left in its group gets a SIGTERM.

The run in turn asks the kernel for a SIGTERM when this supervisor dies (Linux), so a supervisor
killed with SIGKILL still ends in a clean stop, never in an orphan that runs for days.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

SUPERVISED = "SLA2P_SUPERVISED"  # set in the run's environment: the supervisor's pid
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
KILL_AFTER_S = 10.0


def is_supervised() -> bool:
    return bool(os.environ.get(SUPERVISED))


def supervise(argv: list[str]) -> int:
    """Run ``argv`` in its own session, forward signals to it, return its exit code (128 + N when
    a signal N ended it)."""
    env = {**os.environ, SUPERVISED: str(os.getpid())}
    proc = subprocess.Popen(argv, env=env, start_new_session=True)
    count = 0
    second_at: float | None = None

    def forward(signum, frame) -> None:
        nonlocal count, second_at
        count += 1
        # SIGHUP (the terminal went away) is a request to stop, like SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM if signum == signal.SIGHUP else signum)
        if count >= 2 and second_at is None:
            second_at = time.monotonic()

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        while True:
            try:
                code = proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if second_at is not None and time.monotonic() - second_at > KILL_AFTER_S:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)  # what the run left in its group (a compiler, a worker)
    return 128 - code if code < 0 else code


def die_with_supervisor() -> None:
    """In the supervised run: a SIGTERM (a clean stop) when the supervisor dies (Linux only)."""
    parent = int(os.environ.get(SUPERVISED) or 0)
    if not parent or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # it died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)
