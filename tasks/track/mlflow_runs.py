"""Tracking stage: MLflow runs. One experiment per flow kind, one parent run per invocation of a
job, one child run per cell. Only the flow's process writes (SQLite allows one writer).

Several processes on one SQLite store (two different jobs at once): the first client call of a
fresh database creates its tables, and two processes doing it together fail ("table ... already
exists"); two writers at once can fail with "database is locked". So, for a ``sqlite:///`` URI,
every call of the tracker's client holds an exclusive lock on ``<db file>.lock`` (creation of the
tables and of the experiment included) and retries "database is locked" (a writer that does
not take the lock, e.g. an MLflow UI) with a backoff.

Resuming: a parent run is identified by ``sla2p.run_key`` (a hash of the job's cell keys). Rerun
the same job and the existing parent is reopened: children already logged are kept, children a
crash left RUNNING are deleted and logged again, so the final parent holds each cell once.

What the UI shows (:mod:`.ui`, :mod:`.datasets`): each experiment carries a shared view (the
metrics as columns) that :meth:`Tracker.links` opens on the classic runs view; the parent and
each child list their datasets as inputs (name, DVC md5, path); a child's start and end are its
fit's (``CellRecord.started_at``/``finished_at``), so its Duration is the fit's. A cell that reuses
another seed's fit (one fit per split: ``CellRecord.reused_from``) is its own child run, tagged
``sla2p.reuses_cell`` (the fitted cell's name) and ``sla2p.reuses_cell_key``, without
``fit_seconds`` (its Duration is the time it took to log). A cell whose scores came from another
method's fit (a shared fit: ``CellRecord.shares_fit_of``, SLA's from SLA2P's) is tagged
``sla2p.shares_fit_of`` (the fitted cell's name) and ``sla2p.shares_fit_of_key``, also without
``fit_seconds``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from ..cells import CellRecord
from ..env import CODE_ROOT, project_root, telemetry_off
from ..files import file_lock
from . import ui
from .datasets import dataset_input, datasets_of

EXPERIMENTS = {"table": "sla2p-bench/table", "ablation": "sla2p-bench/ablation"}


def default_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlflow.db'}"


def default_artifact_root(uri: str) -> Path | None:
    """Where a new experiment keeps its artifacts when the caller names no folder: beside a
    SQLite database (a folder the user named), never inside the checkout; for a tracking server,
    the server's own artifact store (None)."""
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):]).parent / "mlartifacts"
    return None


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=CODE_ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=CODE_ROOT,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores and in-memory SQLite)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///"):].split("?", 1)[0]
    return Path(path).resolve() if path and path != ":memory:" else None


class _Serialised:
    """A client whose every call holds ``lock`` (an exclusive flock, shared with other processes)
    and retries "database is locked" for up to ``patience`` seconds."""

    def __init__(self, client, lock: Path, patience: float = 120.0):
        self._client, self._lock, self._patience = client, lock, patience

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            end, delay = time.monotonic() + self._patience, 0.05
            while True:
                try:
                    with file_lock(self._lock):
                        return attr(*args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - only "database is locked" is retried
                    if "database is locked" not in str(exc) or time.monotonic() > end:
                        raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

        return call


class Tracker:
    def __init__(self, uri: str | None, kind: str, artifact_root: Path | None = None):
        telemetry_off()
        from mlflow.tracking import MlflowClient

        self.uri = uri or default_tracking_uri()
        db = sqlite_file(self.uri)
        lock = db.with_name(db.name + ".lock") if db is not None else None
        name = EXPERIMENTS[kind]
        # A fresh DB gets its tables in the client's constructor, and the experiment is a
        # get-or-create: both under the lock, one process at a time.
        with file_lock(lock) if lock is not None else contextlib.nullcontext():
            client = MlflowClient(tracking_uri=self.uri)
            self.client = _Serialised(client, lock) if lock is not None else client
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                root = artifact_root or default_artifact_root(self.uri)
                self.experiment_id = self.client.create_experiment(
                    name, artifact_location=None if root is None else Path(root).resolve().as_uri())
            else:
                self.experiment_id = exp.experiment_id
            # the UI's runs view with the metrics as columns (experiments made before too)
            have = {} if exp is None else exp.tags
            for key, value in ((ui.KIND_TAG, ui.EXPERIMENT_KIND),
                               (ui.SHARED_VIEW_TAG + ui.EXPERIMENT_VIEW, ui.view_state())):
                if have.get(key) != value:
                    self.client.set_experiment_tag(self.experiment_id, key, value)
        self._inputs: dict[str, object] = {}  # dataset -> its DatasetInput (from the parent's tags)

    def links(self, parent_id: str | None = None, *, port: int = ui.DEFAULT_UI_PORT) -> dict[str, str]:
        """URLs of MLflow's UI on the classic runs view: ``runs`` (the experiment, metrics as
        columns) and, given a parent, ``parent`` (its page) and ``cells`` (its children, metrics as
        columns). For a local store, the UI that ``sla2p-bench ui --port PORT`` serves."""
        base = ui.ui_base(self.uri, port)
        out = {"runs": ui.runs_url(base, self.experiment_id)}
        if parent_id:
            out["parent"] = ui.run_url(base, self.experiment_id, parent_id)
            out["cells"] = ui.runs_url(base, self.experiment_id, ui.cells_view_key(parent_id))
        return out

    def _log_datasets(self, run_id: str, names) -> None:
        inputs = [self._inputs[n] for n in dict.fromkeys(names) if n in self._inputs]
        if inputs:
            self.client.log_inputs(run_id, datasets=inputs)

    # -- parent -------------------------------------------------------------------------------
    def open_parent(self, run_key: str, run_name: str, params: dict, tags: dict, *, resume: bool = True) -> tuple[str, bool]:
        """(run_id, resumed): the existing parent for ``run_key`` when resuming (its tags then
        updated to ``tags``: the provenance of the latest run), else a new one. The datasets its
        ``source.<name>``/``data.<name>`` tags name become its inputs, and its children's."""
        self._inputs = {name: dataset_input(name, d["source_hash"], d.get("data_key"))
                        for name, d in datasets_of(tags).items()}
        rid, resumed = self._open_parent(run_key, run_name, params, tags, resume)
        self._log_datasets(rid, self._inputs)
        self.client.set_experiment_tag(self.experiment_id, ui.SHARED_VIEW_TAG + ui.cells_view_key(rid),
                                       ui.cells_view_state(rid))
        return rid, resumed

    def _open_parent(self, run_key: str, run_name: str, params: dict, tags: dict, resume: bool) -> tuple[str, bool]:
        if resume:
            found = self.client.search_runs([self.experiment_id], f"tags.`sla2p.run_key` = '{run_key}'",
                                            order_by=["attributes.start_time DESC"], max_results=1)
            if found:
                rid = found[0].info.run_id
                self.client.update_run(rid, status="RUNNING")
                from mlflow.entities import RunTag

                # provenance of the latest run that worked on it (versions, machine, commit)
                self.client.log_batch(rid, tags=[RunTag(k, str(v)) for k, v in tags.items()])
                return rid, True
        # the run page's description: a link relative to the page, right on any host and port
        note = (f"[The cells of this run, metrics as columns]"
                f"({ui.runs_url('', self.experiment_id, ui.cells_view_key('RUN_ID'))}); the report: "
                f"Artifacts, `report/report.html`.")
        run = self.client.create_run(self.experiment_id, run_name=run_name,
                                     tags={**tags, "sla2p.run_key": run_key, "sla2p.role": "parent"})
        self.client.set_tag(run.info.run_id, "mlflow.note.content", note.replace("RUN_ID", run.info.run_id))
        from mlflow.entities import Param

        self.client.log_batch(run.info.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
        return run.info.run_id, False

    def children(self, parent_id: str) -> dict[str, list]:
        """cell key -> child runs of ``parent_id`` (normally one)."""
        out: dict[str, list] = {}
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}'",
                                           max_results=5000, page_token=token)
            for r in page:
                out.setdefault(r.data.tags.get("sla2p.cell_key", ""), []).append(r)
            token = page.token
            if not token:
                return out

    def reconcile(self, parent_id: str) -> dict[str, str]:
        """Delete children a crash left half-logged and duplicates; return key -> status kept."""
        kept = {}
        for key, runs in self.children(parent_id).items():
            done = [r for r in runs if r.info.status in ("FINISHED", "FAILED")]
            ok = [r for r in done if r.info.status == "FINISHED"]
            keep = (ok or done or [None])[0]
            for r in runs:
                if keep is None or r.info.run_id != keep.info.run_id:
                    self.client.delete_run(r.info.run_id)
            if keep is not None:
                kept[key] = (keep.info.status, keep.info.run_id)
        return kept

    def log_cell(self, parent_id: str, record: CellRecord, *, cached: bool, replace_run: str | None = None,
                 reuses: str | None = None, shares: str | None = None) -> str:
        """A child run for ``record``, timed as its fit (see :func:`fit_times`), with its dataset
        as an input when the parent was opened by this tracker. A record that reuses another
        cell's fit is tagged with that cell's name (``reuses``) and key (``record.reused_from``); one
        that shares another method's fit, with that cell's name (``shares``) and key
        (``record.shares_fit_of``)."""
        from mlflow.entities import Metric, Param

        c = record.cell
        tags = {"mlflow.parentRunId": parent_id, "sla2p.cell_key": record.key, "sla2p.role": "cell",
                "status": record.status, "cached": str(cached).lower(), "device": record.device,
                "dataset": c.dataset, "method": c.method}
        if record.reused_from is not None:
            tags.update({"sla2p.reuses_cell_key": record.reused_from,
                         "sla2p.reuses_cell": reuses or record.reused_from})
        if record.shares_fit_of is not None:
            tags.update({"sla2p.shares_fit_of_key": record.shares_fit_of,
                         "sla2p.shares_fit_of": shares or record.shares_fit_of})
        if record.status != "ok":
            tags["error"] = record.error[:5000]
        start, end = fit_times(record)
        run = self.client.create_run(self.experiment_id, start_time=start, run_name=record.name, tags=tags)
        rid = run.info.run_id
        params = {"dataset": c.dataset, "normal_class": c.normal_class, "ratio": c.ratio, "method": c.method,
                  "seed": c.seed, "extractor": c.extractor, "detector": c.detector_name, "row_order": c.row_order}
        params.update({f"param.{k}": v for k, v in c.param_dict.items()})
        metrics = dict(record.metrics)
        for k in ("fit_seconds", "n_rows", "n_outliers"):
            if getattr(record, k) is not None:
                metrics[k] = getattr(record, k)
        stamp = end if end is not None else int(time.time() * 1000)
        self.client.log_batch(rid, metrics=[Metric(k, float(v), stamp, 0) for k, v in metrics.items()],
                              params=[Param(k, str(v)[:6000]) for k, v in params.items()])
        self._log_datasets(rid, [c.dataset])
        self.client.set_terminated(rid, "FINISHED" if record.status == "ok" else "FAILED", end_time=end)
        if replace_run:
            self.client.delete_run(replace_run)
        return rid

    def finish_parent(self, parent_id: str, *, tables: dict, files: dict[str, str], summary: dict,
                      status: str = "FINISHED") -> None:
        """Log the final table(s) (as MLflow tables and CSV) and files, and close the parent."""
        from mlflow.entities import Metric

        for name, df in tables.items():
            self.client.log_table(parent_id, data=df.reset_index(), artifact_file=f"{name}.json")
            with tempfile.TemporaryDirectory() as tmp:
                p = Path(tmp) / f"{name}.csv"
                df.to_csv(p)
                self.client.log_artifact(parent_id, str(p))
        for path in files.values():
            self.client.log_artifact(parent_id, path)
        self.client.log_batch(parent_id, metrics=[Metric(f"cells_{k}", float(v), 0, 0) for k, v in summary.items()
                                                  if isinstance(v, (int, float))])
        self.client.set_tag(parent_id, "summary", json.dumps(summary))
        self.client.set_terminated(parent_id, status)


def fit_times(record: CellRecord, now: float | None = None) -> tuple[int | None, int | None]:
    """(start, end) of a child run in ms: the fit's own (``started_at``/``finished_at``); for a
    record without them (written before they were kept) that has ``fit_seconds``, a span of that
    length ending now, so the Duration column still shows the fit; else (None, None): MLflow's
    clock (a failed cell: the time it took to log)."""
    if record.started_at is not None and record.finished_at is not None:
        return int(record.started_at * 1000), int(record.finished_at * 1000)
    if record.fit_seconds is not None:
        end = time.time() if now is None else now
        return int((end - record.fit_seconds) * 1000), int(end * 1000)
    return None, None
