"""What a report is built from: a parent run in MLflow and the per-cell result files.

Nothing is refitted. The parent run names the job (its config and filters, the code version and
data keys it ran with), so the cells it SHOULD hold are re-derived from the config; each child run
names a cell by its key, whose scores are read back from the results folder and whose metrics are
recomputed from them. A cell that was never logged (an interrupted run) or whose scores are gone is
``missing``; a failed cell keeps its error. Neither ever becomes a number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..cells import DEFAULT_ROW_ORDER, NOT_RUN, Cell, CellRecord, KeyedCell, make_cell
from ..env import telemetry_off
from ..metrics import cells_frame, evaluate
from ..store import default_results_dir, load_failure, load_record, load_scores
from ..track import EXPERIMENTS, default_tracking_uri


class ReportError(ValueError):
    """The report cannot be built; the message says why and what to do."""


@dataclass
class RunData:
    parent_id: str
    run_name: str
    kind: str                  # "table" | "ablation"
    tracking_uri: str
    results_dir: Path
    cells: pd.DataFrame        # one row per cell (aggregate.cells_frame columns)
    records: dict[str, CellRecord]
    points: dict[str, list]    # ablation: key -> the grid points it stands for
    notes: list[str] = field(default_factory=list)
    experiment_id: str = ""    # for links into MLflow's UI
    config: dict = field(default_factory=dict)  # the job's config as the parent stored it
    stored_report: Path | None = None  # the report the run itself wrote (results/tables/<run>/report), if there

    @property
    def results_note(self) -> str | None:
        """The note that says where the scores were read from, when that is not the obvious place."""
        return next((n for n in self.notes if n.startswith("scores are read from")), None)

    @classmethod
    def from_records(cls, records: list[CellRecord], *, parent_id: str, run_name: str, kind: str,
                     tracking_uri: str, results_dir: Path, points: dict[str, list] | None = None,
                     notes: list[str] | None = None, experiment_id: str = "", config: dict | None = None) -> RunData:
        """A run from its cell records, in the job's order: what the flow hands to the report as
        it finishes, and what :func:`load_run` rebuilds from MLflow and the stored scores."""
        points = points or {}
        by_key = _named_by_points({r.key: r for r in records}, points)
        return cls(parent_id, run_name, kind, tracking_uri, Path(results_dir), _frame(list(by_key.values())),
                   by_key, points, list(notes or []), experiment_id, dict(config or {}))

    def scores(self, key: str) -> dict[str, np.ndarray]:
        rec = self.records.get(key)  # a cell that reuses another seed's fit: that fit's scores
        return load_scores(self.results_dir, rec.scores_key if rec is not None else key)


def tracking_client(uri: str | None):
    """(MlflowClient, its URI): the given URI, or the suite's default."""
    telemetry_off()
    from mlflow.tracking import MlflowClient

    uri = uri or default_tracking_uri()
    return MlflowClient(tracking_uri=uri), uri


def find_parent(client, kind: str = "table"):
    """The latest parent run of ``kind`` (ReportError if there is none)."""
    exp = client.get_experiment_by_name(EXPERIMENTS[kind])
    runs = [] if exp is None else client.search_runs(
        [exp.experiment_id], "tags.`sla2p.role` = 'parent'", order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        cmd = "table" if kind == "table" else "ablate"
        raise ReportError(f"no {kind} run in {client.tracking_uri}: run `sla2p-bench {cmd}` first "
                          f"(or pass --tracking-uri)")
    return runs[0]


def _get_parent(client, run_id: str):
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise ReportError(f"no run {run_id!r} in {client.tracking_uri}") from None
    role = run.data.tags.get("sla2p.role")
    if role == "cell":
        parent = run.data.tags.get("mlflow.parentRunId")
        raise ReportError(f"run {run_id} is a cell; report on its parent run {parent}")
    if role != "parent":
        raise ReportError(f"run {run_id} was not made by sla2p-bench (no sla2p.role tag)")
    return run


def _children(client, parent) -> list:
    out, token = [], None
    while True:
        page = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
                                  max_results=5000, page_token=token)
        out.extend(page)
        token = page.token
        if not token:
            return out


def _expected_cells(client, parent) -> tuple[dict[str, object], dict[str, list], str | None]:
    """key -> Cell and key -> grid points, re-derived from the parent's config and filters with
    the code version and data keys the run used. (None, ..., why) when that is impossible."""
    from ..jobs import ConfigError, expand_job

    params, tags = parent.data.params, parent.data.tags
    try:
        raw = json.loads(params["config_yaml"])
        filters = json.loads(params.get("filters", "{}"))
    except (KeyError, json.JSONDecodeError):
        return {}, {}, "the parent run does not hold its config (or it was truncated)"
    code = tags.get("code_version")
    try:
        job = expand_job(raw, tags.get("config", "<config of the run>"), **filters)
    except (ConfigError, ValueError) as exc:
        return {}, {}, f"its config no longer expands here ({exc})"
    cells, points = {}, {}
    for cell, point in zip(job.cells, job.points):
        data_key = tags.get(f"data.{cell.dataset}")
        if data_key is None or code is None:
            return {}, {}, f"the parent run has no data key for {cell.dataset} or no code version"
        key = cell.key(data_key, tags.get(f"code_version.{cell.detector_name}") or code)  # older runs: one version
        cells[key] = cell
        points.setdefault(key, []).append(point)
    return cells, points, None


def _frame(records: list[CellRecord]) -> pd.DataFrame:
    """The cells frame, with each cell's rows and the rows its fit used (NaN where not recorded):
    the caption states a fit-subsample rule only where it applied."""
    frame = cells_frame(records)
    if not frame.empty:
        frame["n_rows"] = [np.nan if r.n_rows is None else r.n_rows for r in records]
        frame["fit_rows"] = [(r.history or {}).get("fit_rows", np.nan) if isinstance(r.history, dict) else np.nan
                             for r in records]
    return frame


def load_run(parent_id: str | None = None, *, kind: str = "table", tracking_uri: str | None = None,
             results_dir: str | Path | None = None, check_metrics: bool = True) -> RunData:
    """Everything a report needs about one parent run (default: the latest of ``kind``), read
    back from MLflow and the stored scores (``sla2p-bench report`` on a run made earlier)."""
    client, uri = tracking_client(tracking_uri)
    parent = _get_parent(client, parent_id) if parent_id else find_parent(client, kind)
    tags = parent.data.tags
    exp = client.get_experiment(parent.info.experiment_id)
    kind = tags.get("sla2p.kind") or next((k for k, v in EXPERIMENTS.items() if v == exp.name), kind)
    written = tags.get("sla2p.results_dir")
    results = Path(results_dir or written or default_results_dir())
    notes = results_notes(results, written, asked=results_dir is not None)
    expected, points, why = _expected_cells(client, parent)
    if why:
        notes.append(f"cells never logged cannot be listed: {why}")
    records = _logged_records(client, parent, expected, results, notes, check_metrics)
    for key, cell in expected.items():
        if key not in records:
            records[key] = CellRecord(key, cell, "missing", error=NOT_RUN)
    if not records:
        raise ReportError(f"run {parent.info.run_id} holds no cells")
    n_expected = int(parent.data.params.get("n_cells", len(records)))
    if not expected and len(records) < n_expected:
        notes.append(f"the run should hold {n_expected} cells; {len(records)} were logged")
    ordered = [records[k] for k in expected if k in records] + [r for k, r in records.items() if k not in expected]
    run = RunData.from_records(ordered, parent_id=parent.info.run_id, kind=kind, tracking_uri=uri,
                               run_name=parent.data.tags.get("mlflow.runName", parent.info.run_id),
                               results_dir=results, points=points, notes=notes,
                               experiment_id=parent.info.experiment_id, config=_config(parent))
    run.stored_report = stored_report(results, kind, parent.data.params.get("config_name"), tags.get("sla2p.run_key"))
    return run


def newest_file(folder: Path, pattern: str, what: str) -> Path:
    """The most recently written file matching ``pattern`` (a glob) under ``folder``: the latest
    table run's ``cells.csv`` or report of a results folder. ``what`` says what to give instead."""
    found = sorted(Path(folder).glob(pattern), key=lambda p: p.stat().st_mtime)
    if not found:
        raise ReportError(f"{folder}: no {pattern} below it; give {what}")
    return found[-1]


def stored_report(results: Path, kind: str, name: str | None, run_key: str | None) -> Path | None:
    """The report folder a run wrote when it finished (``<results>/tables/<kind>-<name>-<run
    key>/report``, as ``flows.run.finish`` names it), when it holds a report; else None."""
    if not (name and run_key):
        return None
    folder = Path(results) / "tables" / f"{kind}-{name}-{run_key}" / "report"
    return folder if (folder / "report.md").is_file() or (folder / "report.html").is_file() else None


def results_notes(results: Path, written: str | None, asked: bool = False) -> list[str]:
    """What the report says about where the scores were read from, when that is not the obvious
    place: another folder than the run wrote (``asked``), or not this checkout's default."""
    notes = []
    if written and Path(written).resolve() != results.resolve():
        notes.append(f"scores are read from {results} (as asked); the run wrote them to {written}")
    elif written and not asked and results.resolve() != default_results_dir().resolve():
        notes.append(f"scores are read from {results}, where the run wrote them, not from this checkout's "
                     f"{default_results_dir()}: pass --results-dir to read another copy")
    if not results.is_dir():
        notes.append(f"results folder {results} does not exist: every finished cell shows as missing "
                     f"(pass --results-dir)")
    return notes


def _logged_records(client, parent, expected: dict, results: Path, notes: list[str], check: bool) -> dict:
    """key -> record of each child run that finished logging, its metrics recomputed from the
    stored scores (a child half-logged by a crash is skipped: the next run of the job replaces it)."""
    records: dict[str, CellRecord] = {}
    for child in _children(client, parent):
        key = child.data.tags.get("sla2p.cell_key")
        if not key or child.info.status not in ("FINISHED", "FAILED"):
            continue
        status = child.data.tags.get("status", "failed" if child.info.status == "FAILED" else "ok")
        reused = child.data.tags.get("sla2p.reuses_cell_key")  # one fit per split: the fit's files
        if status != "ok":
            rec = load_failure(results, key) or _from_mlflow(child, expected.get(key), "failed",
                                                             child.data.tags.get("error", "failed (no error logged)"))
            records[key] = rec.replace(status="failed")
            continue
        rec = load_record(results, reused or key, verify=False)  # _recompute says what is wrong with the scores
        if rec is None:
            records[key] = _from_mlflow(child, expected.get(key), "missing",
                                        f"scores not found in {results} (deleted, or another --results-dir)")
            continue
        if reused:
            cell = expected.get(key) or _from_mlflow(child, None, "ok", "").cell
            rec = rec.reusing(KeyedCell(cell, "", key))
        records[key] = _recompute(results, key, rec, child, notes, check)
    return records


def _config(parent) -> dict:
    """The config the parent run stored (empty when it holds none or it does not parse)."""
    try:
        raw = json.loads(parent.data.params.get("config_yaml", "{}"))
    except json.JSONDecodeError:
        return {}
    return raw if isinstance(raw, dict) else {}


def _named_by_points(records: dict[str, CellRecord], points: dict[str, list]) -> dict[str, CellRecord]:
    """An ablation's cells named by their grid points (as the run named its children), whatever
    the stored record says (a cell first fitted by another job keeps that job's name on disk)."""
    out = {}
    for key, rec in records.items():
        merged: dict = {}
        for pt in points.get(key, ()):
            merged.update(pt or {})
        out[key] = rec.replace(cell=rec.cell.at_point(merged)) if merged else rec
    return out


def _recompute(results: Path, key: str, rec: CellRecord, child, notes: list[str], check: bool) -> CellRecord:
    """Metrics from the stored scores (not from what was logged); a disagreement is noted."""
    try:
        arrays = load_scores(results, rec.scores_key)
    except (OSError, ValueError) as exc:
        return rec.replace(status="missing", error=f"scores unreadable: {exc}")
    try:
        metrics = evaluate(arrays["labels"], arrays["scores"])
    except ValueError as exc:  # e.g. non-finite scores: the cell cannot be a number
        return rec.replace(status="failed", error=f"metrics from the stored scores: {exc}")
    if check:
        for m, v in metrics.items():
            logged = child.data.metrics.get(m)
            if logged is not None and abs(logged - v) > 1e-9:
                notes.append(f"{rec.name}: {m} logged {logged:.6f}, recomputed from its scores {v:.6f}")
    return rec.replace(metrics=metrics, status="ok")


def _from_mlflow(child, cell: Cell | None, status: str, error: str) -> CellRecord:
    """A record for a cell whose result file is gone: named from the config when possible,
    else from the child run's parameters."""
    if cell is None:
        p = child.data.params

        def num(v, conv):
            return None if v in (None, "None") else conv(v)

        cell = make_cell(p.get("dataset"), num(p.get("normal_class"), str), num(p.get("ratio"), float),
                         p.get("method"), {k[6:]: v for k, v in p.items() if k.startswith("param.")},
                         num(p.get("seed"), int) or 0, num(p.get("extractor"), str), detector=p.get("detector"),
                         row_order=p.get("row_order") or DEFAULT_ROW_ORDER)
    return CellRecord(child.data.tags.get("sla2p.cell_key"), cell, status, error=error)
