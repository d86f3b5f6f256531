"""``sla2p-bench``: the command line. Start-up stays lazy: heavy imports happen inside commands."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from tasks.env import CODE_ROOT as ROOT
from tasks.env import telemetry_off

# Telemetry off, and Prefect's home inside the project, unless the user set them.
telemetry_off()
for _k, _v in {"PREFECT_HOME": str(ROOT / ".prefect"),
               "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
               "PREFECT_LOGGING_LEVEL": "WARNING"}.items():
    os.environ.setdefault(_k, _v)

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="sla2p-bench: SLA2P against PyOD and GOAD-style baselines (Prefect + MLflow + DVC).")
data_app = typer.Typer(no_args_is_help=True, help="Benchmark data: pull, verify, list.")
app.add_typer(data_app, name="data")


def _split(v: str | None, conv=str):
    return [conv(x) for x in v.split(",") if x.strip()] if v else None


def _run(kind: str, config: str, datasets, classes, ratios, seeds, methods, workers, runner, address, refresh,
         tracking_uri, results_dir, device, dry_run) -> None:
    from rich.console import Console

    from flows.config import ConfigError, load_job

    from .estimate import estimate, human

    console = Console()
    filters = {k: v for k, v in {"datasets": _split(datasets), "classes": _split(classes),
                                 "ratios": _split(ratios, float), "seeds": _split(seeds, int),
                                 "methods": _split(methods)}.items() if v}
    try:
        job = load_job(config, device=device, **filters)  # every config mistake surfaces here, before work
    except ConfigError as exc:
        console.print(f"[red]config error:[/red] {exc}")
        raise typer.Exit(2)
    results = Path(results_dir) if results_dir else None
    est = estimate(job)
    distinct = len(job.distinct_cells())
    what = f"{len(job.cells)} cells" if distinct == len(job.cells) else f"{len(job.cells)} grid points, {distinct} distinct cells"
    console.print(f"{job.kind} [bold]{job.name}[/bold] ({job.path}): {what}")
    for m, s in sorted(est["by_method"].items(), key=lambda kv: -kv[1]):
        console.print(f"  {m:<12} ~{human(s)}")
    if est["embedding"]:
        console.print(f"  embedding   ~{human(est['embedding'])} (once; cached afterwards)")
    console.print(f"  expected time if nothing is cached: ~{human(est['total'])} on this machine")
    if dry_run:
        return
    from .execute import configure_threads
    from .runners import default_workers, make_runner

    n = workers or default_workers()
    threads = configure_threads(n)
    os.environ.setdefault("PREFECT_RESULTS_LOCAL_STORAGE_PATH",
                          str((results or ROOT / "results") / "prefect"))
    from .ablation import ablation_flow
    from .table import table_flow

    flow = table_flow if kind == "table" else ablation_flow
    console.print(f"running on {runner} ({n} workers, {threads} torch thread(s) each)")
    out = flow.with_options(task_runner=make_runner(runner, n, address))(
        config=job.path, filters=filters, refresh=refresh, tracking_uri=tracking_uri,
        results_dir=str(results) if results else None, device=device, progress=sys.stderr.isatty())
    console.print(out.pop("table_auroc"))  # methods as rows: fits a terminal
    console.print(f"cells: {out['cells']} ({out['cached']} cached, {out['run']} run, {out['failed']} failed) "
                  f"in {out['seconds']} s")
    console.print(f"tables: {out['tables_dir']}\nMLflow: {out['tracking_uri']} parent run {out['parent_run_id']} "
                  f"(browse: sla2p-bench ui)")
    if out.get("report"):
        console.print(f"report: {out['report']} (also logged to the parent run under report/)")
    if out["failed"]:
        raise typer.Exit(1)


_CFG = typer.Option(None, "--config", "-c", help="a YAML path or a name in configs/")
_PROFILE = typer.Option(None, "--profile", help="shorthand for --config configs/<profile>.yaml (e.g. smoke)")
_DS = typer.Option(None, help="comma-separated datasets to keep")
_CL = typer.Option(None, help="comma-separated normal classes to keep")
_RA = typer.Option(None, help="comma-separated ratios to keep")
_SE = typer.Option(None, help="comma-separated seeds to keep")
_ME = typer.Option(None, help="comma-separated methods to keep")
_WO = typer.Option(None, help="parallel cells (default: all cores)")
_RU = typer.Option("threads", help="threads | dask | ray")
_AD = typer.Option(None, help="address of an existing Dask scheduler or Ray cluster")
_RE = typer.Option(False, "--refresh", help="refit every cell and start a new MLflow parent run")
_TU = typer.Option(None, help="MLflow tracking URI (default: sqlite:///<project>/mlflow.db)")
_RD = typer.Option(None, help="results folder (default: <project>/results)")
_DE = typer.Option(None, help="device for deep detectors: auto | cpu | cuda")
_DRY = typer.Option(False, "--dry-run", help="validate and estimate, run nothing")


@app.command()
def table(config: str = _CFG, profile: str = _PROFILE, datasets: str = _DS, classes: str = _CL, ratios: str = _RA,
          seeds: str = _SE, methods: str = _ME, workers: int = _WO, runner: str = _RU, address: str = _AD,
          refresh: bool = _RE, tracking_uri: str = _TU, results_dir: str = _RD, device: str = _DE,
          dry_run: bool = _DRY):
    """The comparison table (configs/table.yaml; --profile smoke for a first look)."""
    _run("table", config or profile or "table", datasets, classes, ratios, seeds, methods, workers, runner, address,
         refresh, tracking_uri, results_dir, device, dry_run)


@app.command()
def ablate(config: str = _CFG, profile: str = _PROFILE, datasets: str = _DS, classes: str = _CL, ratios: str = _RA,
           seeds: str = _SE, workers: int = _WO, runner: str = _RU, address: str = _AD, refresh: bool = _RE,
           tracking_uri: str = _TU, results_dir: str = _RD, device: str = _DE, dry_run: bool = _DRY):
    """Ablation grids over epsilon, n_projections, proj_dim, acc_threshold (configs/ablation.yaml)."""
    _run("ablation", config or profile or "ablation", datasets, classes, ratios, seeds, None, workers, runner,
         address, refresh, tracking_uri, results_dir, device, dry_run)


@app.command()
def report(run_id: str = typer.Argument(None, help="parent run id (default: the latest run of --kind)"),
           kind: str = typer.Option("table", help="table | ablation: whose latest run, when no id is given"),
           metric: str = typer.Option("auroc,aupr,ap", help="comma-separated: auroc, aupr (trapezoidal area, the "
                                      "paper's AUPR), ap (average precision)"),
           ratio: float = typer.Option(None, help="keep one contamination ratio (intrinsic datasets stay)"),
           cell: str = typer.Option(None, help="the cell of the ROC/PR plot: its name "
                                    "(method/dataset/class/p<ratio>/s<seed>) or key; default: the first SLA2P cell"),
           out: str = typer.Option(None, "--out", help="also keep the report in this folder"),
           no_log: bool = typer.Option(False, "--no-log", help="do not log the report to the MLflow run"),
           tracking_uri: str = _TU, results_dir: str = _RD):
    """Rebuild a run's report from MLflow and the stored scores (no refitting) and log it to the run."""
    import tempfile

    from rich.console import Console

    from tasks.report import ReportError, build_report, load_run, log_report

    console = Console()
    if kind not in ("table", "ablation"):
        console.print(f"[red]--kind must be table or ablation, got {kind!r}[/red]")
        raise typer.Exit(2)
    try:
        run = load_run(run_id, kind=kind, tracking_uri=tracking_uri, results_dir=results_dir)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(out) if out else Path(tmp)
            metrics = _split(metric) or ["auroc"]
            files = build_report(run, folder, metrics=metrics, ratio=ratio, cell=cell)
            if not no_log:
                log_report(run, folder)
            shown = files.get(f"table_{metrics[0]}.md", files["report"])
            print(shown.read_text())  # plain: rich would wrap the table's long lines
    except (ReportError, ValueError) as exc:
        console.print(f"[red]report error:[/red] {exc}")
        raise typer.Exit(2)
    console.print(f"{run.kind} run {run.parent_id}: {len(run.cells)} cells; "
                  + (f"report in {out}" if out else "report not kept on disk (--out DIR keeps it)")
                  + ("" if no_log else f"; logged to the run under report/ ({run.tracking_uri})"))


@app.command()
def ui(port: int = 5000, tracking_uri: str = _TU):
    """MLflow UI on 127.0.0.1."""
    import subprocess

    from tasks.track import default_tracking_uri

    uri = tracking_uri or default_tracking_uri()
    typer.echo(f"MLflow UI for {uri} on http://127.0.0.1:{port}")
    raise typer.Exit(subprocess.call([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                                      "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]))


@data_app.command("list")
def data_list():
    """Datasets the suite knows (paper datasets and the ODDS/ADBench files found in data/)."""
    from tasks.datasets import get_spec, list_datasets

    for name in list_datasets():
        s = get_spec(name)
        cls = f"{len(s.classes)} classes" if s.classes else "intrinsic"
        typer.echo(f"{name:<28} {s.modality:<8} {cls:<11} {'paper' if s.paper else 'extra'}  {s.note}")


@data_app.command("pull")
def data_pull():
    """dvc pull: restore data/ from the team's store."""
    import subprocess

    raise typer.Exit(subprocess.call([sys.executable, "-m", "dvc", "pull"], cwd=ROOT))


@data_app.command("verify")
def data_verify(datasets: str = _DS):
    """Check every file a dataset needs against data.dvc (fetching what is missing)."""
    from tasks.datasets import get_spec, list_datasets
    from tasks.embed import load_labels

    bad = 0
    for name in _split(datasets) or list_datasets():
        try:
            load_labels(name)
            typer.echo(f"ok      {name} ({', '.join(get_spec(name).files)})")
        except Exception as exc:  # report every dataset, then fail
            bad += 1
            typer.echo(f"FAILED  {name}: {exc}")
    raise typer.Exit(1 if bad else 0)


if __name__ == "__main__":
    app()
