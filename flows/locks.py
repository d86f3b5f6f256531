"""One run of a job at a time per results folder: a second one refuses, naming the first.

Two runs of the same job on the same results folder would fit every cell twice and log every
cell twice under the same MLflow parent. :func:`acquire` takes a non-blocking ``flock`` on
``<results>/.locks/<kind>-<job key>.lock`` and writes the holder (pid, start time, command) into
it; a second run gets :class:`RunLocked`, whose message is that holder, and the CLI exits 2
(it does not wait: a run can take hours). The lock goes with the process (the kernel drops a
flock when its holder exits, SIGKILL included), so a crashed run never blocks the next one.

The job key (:attr:`tasks.jobs.Job.key`) hashes the job's kind and its distinct cells (what the
run key of the MLflow parent hashes, before the data keys are known), so the CLI takes the lock,
once, before any server, data or DB work.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from .supervise import SUPERVISED


class RunLocked(RuntimeError):
    """Another process runs this job on this results folder; the message names it."""


_HELD: dict[str, int] = {}  # lock path -> open fd, for this process


def _command() -> str:
    import shlex

    return shlex.join(["sla2p-bench", *sys.argv[1:]])


def acquire(results_dir: str | os.PathLike, job) -> Path:
    """Hold the job's lock until this process exits (or :func:`release`). Re-entrant within a
    process. Raises :class:`RunLocked` naming the holder."""
    path = Path(results_dir) / ".locks" / f"{job.kind}-{job.key}.lock"
    if str(path) in _HELD:
        return path
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = json.loads(os.read(fd, 65536).decode() or "{}")
        except ValueError:
            holder = {}
        os.close(fd)
        raise RunLocked(
            f"this {job.kind} job is already running on {Path(results_dir)}: pid {holder.get('pid', '?')}, "
            f"started {holder.get('started', '?')}, command: {holder.get('command', '?')} "
            f"(wait for it, or stop it with: kill -INT {holder.get('pid', '<pid>')})") from None
    os.ftruncate(fd, 0)
    # the pid a user sees and signals: the supervisor's (flows.supervise), which forwards to this run
    os.write(fd, json.dumps({"pid": int(os.environ.get(SUPERVISED) or os.getpid()), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                             "command": _command()}).encode())
    os.fsync(fd)
    _HELD[str(path)] = fd
    return path


def release(path: str | os.PathLike) -> None:
    fd = _HELD.pop(str(path), None)
    if fd is not None:
        os.close(fd)
