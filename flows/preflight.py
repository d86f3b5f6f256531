"""The environment checked before any work: the results folder and the tracking store can be
written, and a SQLite store is a database. Each failure is one :class:`PreflightError` naming the
path and the cause; the CLI prints it and exits 2 before it creates anything (no lock, no server,
no database, no run). Each check tries what it needs and cleans up after itself.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path


class PreflightError(RuntimeError):
    """The environment cannot run the job; the message names the path and the cause."""


def _existing(path: Path) -> Path:
    """``path``, or its nearest existing parent (where a missing folder would be created)."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_writable(path: Path, what: str) -> None:
    """``path`` (a folder, made on first use if missing) can hold new files: one is written there
    and removed."""
    here = _existing(Path(path))
    if not here.is_dir():
        raise PreflightError(f"{what} {path}: {here} is not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=here, prefix=".sla2p-preflight-"):
            pass
    except OSError as exc:
        raise PreflightError(f"{what} {path} cannot be written ({exc.strerror or exc}): give a writable folder") \
            from None


def check_sqlite(db: Path) -> None:
    """An existing SQLite store opens as a database and its folder can hold its journal."""
    check_writable(db.parent, "the tracking database's folder")
    if not db.exists():
        return
    if not os.access(db, os.R_OK | os.W_OK):
        raise PreflightError(f"the tracking database {db} cannot be read and written: fix its permissions")
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise PreflightError(f"the tracking database {db} is not a usable SQLite database ({exc}): restore it, or "
                             f"give another with --tracking-uri") from None


def check_run(results_dir: str, tracking_uri: str) -> None:
    """What a table or ablation run writes to: the results folder and, for SQLite, the database."""
    from tasks.track.mlflow_runs import sqlite_file

    check_writable(Path(results_dir), "results folder")
    db = sqlite_file(tracking_uri)
    if db is not None:
        check_sqlite(db)


def check_store(tracking_uri: str) -> None:
    """What a report or the UI reads: an existing SQLite store must be a database."""
    from tasks.track.mlflow_runs import sqlite_file

    db = sqlite_file(tracking_uri)
    if db is not None and db.exists():
        check_sqlite(db)


def workers_that_fit(peak_bytes: int, peak_cell: str, workers: int, available: int | None = None) -> int:
    """The cells that can be in flight at once when each fit may need ``peak_bytes`` (the estimate's
    largest, ``peak_cell``): ``workers``, or fewer when their fits would not fit the memory available
    now. A single fit larger than that is refused (PreflightError)."""
    if peak_bytes <= 0:
        return workers
    if available is None:
        import psutil

        available = psutil.virtual_memory().available
    if peak_bytes > available:
        raise PreflightError(f"one fit of {peak_cell} needs about {_gib(peak_bytes)} and {_gib(available)} is "
                             f"available: lower its n_projections or proj_dim, or run it on a larger machine")
    return max(1, min(workers, available // peak_bytes))


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"
