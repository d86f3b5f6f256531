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
        # read-write, never create: a store left by a crash in mid-write has a hot journal, which
        # SQLite rolls back on the first read of a connection that may write (a read-only one
        # fails with "attempt to write a readonly database", and a resume would be refused)
        con = sqlite3.connect(f"file:{db}?mode=rw", uri=True)
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


# What a local Dask worker process holds before its fit: torch, the detectors, Prefect and the
# data of its cell (peak RSS 573 and 575 MiB on a run of Arrhythmia/WBC cells, 2 workers, rounded up).
WORKER_PROCESS_BYTES = 640 * 2**20


def workers_that_fit(peak_bytes: int, peak_cell: str, workers: int, available: int | None = None,
                     process_bytes: int = 0) -> int:
    """The cells that can be in flight at once when each fit may need ``peak_bytes`` (the estimate's
    largest, ``peak_cell``), plus ``process_bytes`` each when every cell runs in a process of its own:
    ``workers``, or fewer when their fits would not fit the memory available now. A single fit
    larger than that is refused (PreflightError)."""
    if peak_bytes <= 0:
        return workers
    peak_bytes += process_bytes
    if available is None:
        import psutil

        available = psutil.virtual_memory().available
    if peak_bytes > available:
        raise PreflightError(f"one fit of {peak_cell} needs about {_gib(peak_bytes)} and {_gib(available)} is "
                             f"available: lower its n_projections or proj_dim, or run it on a larger machine")
    return max(1, min(workers, available // peak_bytes))


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def workers_for_cores(workers: int, cores: int | None = None) -> int:
    """The cells that can be in flight at once on this machine: ``workers``, at most one per core
    (each cell runs at least one torch thread; more cells than cores only queue on them)."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(workers, cores))


# What a cell leaves on disk (measured with tasks.store.save_result and tasks.track.Tracker.log_cell:
# 17.0 bytes a row at 60,000 rows, 1.6 kB more for its record and the archive's headers; 6.4 kB of
# SQLite a child run). Rounded up: a file takes whole blocks (4 kB on most filesystems).
RESULT_BYTES_PER_ROW = 8 + 1 + 8         # its score (float64), label (int8) and row index (int64)
RESULT_BYTES_PER_CELL = 3 * 4096         # its record (.json), the .npz's headers, a failed attempt's .json
TRACKING_BYTES_PER_CELL = 8 * 1024       # its MLflow child: run, tags, params, metrics, dataset input
TABLE_BYTES_PER_CELL = 1024              # its row of cells.csv, kept in the tables folder and logged to the parent
# A job's report (tables, plots, report.md and .html: 0.25 MB for one dataset), written to the tables
# folder and logged to the parent's artifacts (beside the results for the default store).
REPORT_BYTES_PER_JOB = 2 * 2**20


def output_bytes(plan) -> tuple[int, int]:
    """(bytes in the results folder, bytes in the tracking store) that running ``plan``
    (:class:`tasks.plan.Plan`) writes: the files of each cell it fits or that shares a fit (a cell
    reusing another seed's fit has none), a child run for each cell it runs, and the job's tables
    and report (a row of each cell, and the report once). Cached cells write nothing new but their row."""
    n = plan.counts
    with_files = [*plan.fits, *plan.rides]
    results = sum(RESULT_BYTES_PER_ROW * int(plan.rows[i]) + RESULT_BYTES_PER_CELL for i in with_files)
    return results + TABLE_BYTES_PER_CELL * n["cells"] + REPORT_BYTES_PER_JOB, \
        TRACKING_BYTES_PER_CELL * (n["fits"] + n["riders"] + n["reuses"])


def check_room(needs: dict[str, tuple[Path, int]], free=None) -> None:
    """Each folder of ``needs`` (what -> (folder, bytes the job writes there)) has room for its
    bytes; folders on one filesystem share its room. ``free(path)``: its free bytes (default:
    ``shutil.disk_usage``)."""
    import shutil

    free = free or (lambda p: shutil.disk_usage(p).free)
    by_fs: dict[int, list[tuple[str, Path, int]]] = {}
    for what, (folder, need) in needs.items():
        here = _existing(Path(folder))
        by_fs.setdefault(here.stat().st_dev, []).append((what, Path(folder), need))
    for group in by_fs.values():
        need = sum(n for _, _, n in group)
        room = free(_existing(group[0][1]))
        if need > room:
            where = " and ".join(f"the {what} {folder}" for what, folder, _ in group)
            raise PreflightError(f"{where}: {size_text(room)} free, the job's output needs about {size_text(need)}: free "
                                 f"space, or give another --results-dir or --tracking-uri")


def size_text(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("kiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def check_output_room(results_dir: str, tracking_uri: str, plan, free=None) -> None:
    """The results folder (and a SQLite store's folder) have room for what running ``plan`` writes
    there (:func:`output_bytes`)."""
    from tasks.track.mlflow_runs import sqlite_file

    results, tracking = output_bytes(plan)
    needs = {"results folder": (Path(results_dir), results)}
    db = sqlite_file(tracking_uri)
    if db is not None:
        needs["tracking database's folder"] = (db.parent, tracking)
    check_room(needs, free)
