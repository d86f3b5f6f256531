"""``sla2p-bench``: the command line. Start-up stays lazy: heavy imports happen inside commands.

Exit codes of ``table`` and ``ablate``: 0 done; 1 some cells failed (the others went on); 2
refused before any work (a bad option or config, a data file that fails verification, the same
job already running on this results folder), with one line that names the problem; 130 / 143
stopped by Ctrl-C / SIGTERM: what finished is saved, and rerunning the same command resumes.

``table`` and ``ablate`` run in a session of their own (:mod:`flows.supervise`): a terminal's
Ctrl-C reaches the run's main process only, which decides what to stop.

A run needs a Prefect API. Without ``PREFECT_API_URL`` the CLI starts one for the run
(:mod:`flows.prefect_server`: in its own session, so a terminal's Ctrl-C reaches the CLI only)
and stops it on every way out.
"""

from __future__ import annotations

import atexit
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

import typer

from tasks.env import CODE_ROOT as ROOT
from tasks.env import telemetry_off
from sla2p.settings import PRECISIONS  # torch-free: the CLI checks --precision before loading torch

from .interrupt import INTERRUPT
from .options import DEVICES, RUNNERS, Filters, OptionError, RunOptions, default_runner, default_workers

# Telemetry off, and Prefect's home inside the project, unless the user set them.
telemetry_off()
for _k, _v in {"PREFECT_HOME": str(ROOT / ".prefect"),
               "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
               "PREFECT_LOGGING_LEVEL": "WARNING",
               # MLflow's "Creating initial MLflow database tables" and artifact progress bars are no news
               "MLFLOW_LOGGING_LEVEL": "WARNING", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
               "DASK_LOGGING__DISTRIBUTED": "warning"}.items():  # a local cluster's start/stop is no news
    os.environ.setdefault(_k, _v)

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="sla2p-bench: SLA2P against PyOD and GOAD-style baselines (Prefect + MLflow + DVC).")
data_app = typer.Typer(no_args_is_help=True, help="Benchmark data: pull, verify, list.")
app.add_typer(data_app, name="data")

COMMAND_OF = {"table": "table", "ablation": "ablate"}  # job kind -> the command that runs it


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"sla2p-bench {version('sla2p-bench')}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, metavar="",
                                       help="print the version and exit")):
    pass


def _split(v: str | None, conv=str):
    return [conv(x) for x in v.split(",") if x.strip()] if v else None


def _credentials(options) -> None:
    """A team server (MLflow basic auth, Prefect API auth) that refuses this shell's credentials."""
    from .team_server import ServerError, check_client_credentials

    try:
        check_client_credentials(options.tracking_uri, os.environ.get("PREFECT_API_URL"))
    except ServerError as exc:
        _refuse("refused", exc)


def _refuse(what: str, exc: object, code: int = 2) -> NoReturn:
    """One line on stderr naming the problem, then exit (2: nothing was started)."""
    typer.echo(f"{what}: {' '.join(str(exc).split())}", err=True)
    raise typer.Exit(code)


def _stopped() -> NoReturn:
    typer.echo(INTERRUPT.line("interrupted"))
    raise typer.Exit(INTERRUPT.exit_code)


def _run(kind: str, config: str, filters: dict, options: dict, precision: str | None = None) -> None:
    """Parse and validate, print the estimate, then run the job's flow and print what it did."""
    interrupt = INTERRUPT.install()  # Ctrl-C/SIGTERM: stop scheduling; a second one: exit at once
    try:
        filters, options = Filters.parse(**filters), RunOptions(**options)
    except OptionError as exc:
        _refuse("error", exc)
    from rich.console import Console

    console = Console(soft_wrap=True)  # long ids and paths stay on one line in logs
    job = _load_job(kind, config, filters, options, precision)
    plan, est = _estimate(job, options)
    _print_estimate(console, job, est, plan)
    if options.dry_run:
        console.print(f"  runner: {_runner_text(_choose_runner(options, est, _workers_here(options)))}")
        return
    options = _cap_workers(console, options, est)
    options = replace(_choose_runner(options, est, options.workers or default_workers()),
                      progress=sys.stderr.isatty()).resolved()
    _preflight(lambda: _check_environment(options, plan))  # before anything is made
    _credentials(options)  # a team server refusing this shell's credentials: one line, exit 2
    _lock(job, options, interrupt)
    server = None if os.environ.get("PREFECT_API_URL") else _spawn_prefect_server(interrupt)

    from tasks.fetch import DataError

    from .run import benchmark_flow  # Prefect is imported while the server starts
    from .runners import ClusterError, make_runner

    if server is not None:
        _wait_for(server, interrupt)
    _set_threads(options.threads)
    console.print(f"running on {_runner_text(options)} ({options.workers} workers, {options.threads} torch thread(s) each)")
    try:  # an existing Dask cluster is checked here: one line, exit 2, before any work
        runner = make_runner(options.runner, options.workers, options.address, results_dir=options.results_dir)
    except ClusterError as exc:
        _refuse("dask error", exc)
    try:
        out = benchmark_flow(kind, runner)(job=job, options=options)
    except DataError as exc:
        _refuse("data error", exc)
    if out.get("refused"):  # no room for the cells left to run, known once the cached ones are: nothing started
        _refuse("refused", out["refused"])
    if out.get("interrupted"):
        _stopped()
    if out.get("fault"):  # the machine, not a cell: one line, what is saved, how to resume
        _refuse("stopped", f"{out['fault']}. {out['finished']} cells are saved in {out['results_dir']}; rerun the "
                f"same command after fixing it to resume", code=1)
    _print_outcome(console, out)
    if interrupt.requested:  # the signal came after the last cell: everything is saved
        _stopped()
    if out["failed"]:
        raise typer.Exit(1)


def _load_job(kind: str, config: str, filters: Filters, options: RunOptions, precision: str | None = None):
    """The job, expanded once: every config mistake surfaces here (exit 2). ``precision``
    (``--precision``): set on every cell whose detector takes it (:func:`_with_precision`)."""
    from .config import ConfigError, load_job

    if precision is not None and precision not in PRECISIONS:
        _refuse("error", f"--precision: {precision!r} is not one of {', '.join(PRECISIONS)}")
    try:
        job = load_job(config, device=options.device, **filters.as_dict())
    except ConfigError as exc:
        _refuse("config error", exc)
    if job.kind != kind:
        _refuse("config error", f"{job.path} is {'an' if job.kind == 'ablation' else 'a'} {job.kind} config: "
                f"run it with `sla2p-bench {COMMAND_OF[job.kind]} --config {job.path}`")
    return job if precision is None else _with_precision(job, precision)


def _with_precision(job, precision: str):
    """``job`` with ``precision`` set on every cell whose detector takes that parameter (SLA2P,
    SLA and their variants), so those cells differ from the config's by key; the detector's own
    default (float32) is left unwritten, so ``--precision float32`` names the config's cells."""
    from baselines import detector_info
    from tasks.plan import distinct

    takes: dict[str, object] = {}
    cells = []
    for cell in job.cells:
        name = cell.detector_name
        if name not in takes:
            info = detector_info(name)
            takes[name] = info.defaults.get("precision") if "precision" in info.param_names else None
        if takes[name] is None:
            cells.append(cell)
            continue
        params = {k: v for k, v in cell.param_dict.items() if k != "precision"}
        params.update({} if precision == takes[name] else {"precision": precision})
        cells.append(replace(cell, params=tuple(sorted(params.items()))))
    if len(distinct(cells)) != len(distinct(job.cells)):  # a config that varies precision itself
        _refuse("config error", "--precision sets precision on every cell that takes it, but the config "
                "varies it between cells: drop --precision or the config's precision")
    return replace(job, cells=tuple(cells))


def _estimate(job, options: RunOptions):
    """The job's plan (the one its flow executes, with nothing cached) and its estimate, for the
    cells in flight at once and the threads each gets (as the run will resolve them)."""
    from tasks.estimate import CostsFileError, estimate
    from tasks.fetch import DataError
    from tasks.plan import plan_job

    from .options import default_threads

    workers = _workers_here(options)
    threads = options.threads or default_threads(workers)
    try:
        plan = plan_job(job)
        return plan, estimate(plan, workers=workers, threads=threads)
    except (DataError, FileNotFoundError) as exc:  # e.g. a data file that differs from data.dvc, or no project
        _refuse("data error", exc)                  # root (an installed copy): the message says what to do
    except CostsFileError as exc:  # the message names the command that rewrites it
        _refuse("estimate error", exc)


def _print_estimate(console, job, est, plan) -> None:
    from tasks.estimate import human

    from .preflight import output_bytes, size_text

    n = est.counts
    what = f"{len(job.cells)} cells" if n["cells"] == len(job.cells) else \
        f"{len(job.cells)} grid points, {n['cells']} distinct cells"
    console.print(f"{job.kind} [bold]{job.name}[/bold] ({job.path}): {what}")
    for m, s in sorted(est.by_method.items(), key=lambda kv: -kv[1]):
        console.print(f"  {m:<12} ~{human(s)}")
    if est.embedding:
        rate = f"{est.images_per_s:.0f} images/s" + (" measured" if est.images_per_s_measured else " assumed")
        console.print(f"  embedding   ~{human(est.embedding)} (once, at {rate}; cached afterwards)")
    console.print(f"  expected time if nothing is cached: ~{human(est.total)} on this machine "
                  f"(measured costs: {est.costs_file}, {est.costs_date})")
    if est.scaling:  # figures measured on another CPU: how they were brought to this one
        console.print(f"  speed: {est.scaling}")
    if est.subsampled:  # the rules in full are in the table's caption
        console.print(f"  fitted on a seeded subsample of the rows where a cell is larger than its cap: "
                      f"{', '.join(sorted(est.subsampled))}")
    # the plan the flow executes: its counts are what the run reports as it finishes
    shared = f" ({', '.join(est.shared_pairs)})" if n["riders"] else ""
    console.print(f"  plan: {n['fits']} fits; {n['riders']} cells share the fit of another cell{shared}; "
                  f"{n['reuses']} cells reuse the fit of another seed (one fit per split)")
    if est.peak_bytes:
        console.print(f"  peak memory of one fit: ~{est.peak_bytes / 2**30:.1f} GiB ({est.peak_cell})")
    results, tracking = output_bytes(plan)
    console.print(f"  output if nothing is cached: ~{size_text(results)} in the results folder, "
                  f"~{size_text(tracking)} in the tracking store")
    if est.unmeasured:
        console.print(f"  scaled from another dataset (not measured): {_pairs(est.unmeasured)}")
    if est.lower_bounds:
        console.print(f"  at least (the measurement ran out of time): {', '.join(est.lower_bounds)}")


def _preflight(check):
    """Run an environment check (:mod:`flows.preflight`) and return what it returns; one line and
    exit 2 when it fails."""
    from .preflight import PreflightError

    try:
        return check()
    except PreflightError as exc:
        _refuse("refused", exc)


def _check_environment(options: RunOptions, plan) -> None:
    """The results folder and the tracking store can be written and, when the results folder holds
    no cell yet (nothing can be cached), have room for the job's output; with cells there, the flow
    checks the room once it knows which are cached."""
    from .preflight import check_output_room, check_run

    check_run(options.results_dir, options.tracking_uri)
    if not (Path(options.results_dir) / "cells").exists():
        check_output_room(options.results_dir, options.tracking_uri, plan)


def _workers_here(options: RunOptions) -> int:
    """The cells the run keeps in flight, as :func:`_estimate` counts them."""
    from .preflight import workers_for_cores

    asked = options.workers or default_workers()
    return asked if options.address else workers_for_cores(asked)


def _choose_runner(options: RunOptions, est, workers: int) -> RunOptions:
    """``--runner`` when given; otherwise processes (a local Dask cluster) for a job long enough to
    repay its start, threads for the rest (:func:`flows.options.default_runner`)."""
    if options.runner is not None:
        return options
    return replace(options, runner=default_runner(workers, est.total))


def _runner_text(options: RunOptions) -> str:
    if options.runner == "dask" and not options.address:
        return "dask, a local cluster of worker processes"
    return options.runner


def _cap_workers(console, options: RunOptions, est) -> RunOptions:
    """Fewer cells in flight than asked when this machine has fewer cores, or when their fits would
    not fit its memory (a line says which); a fit larger than the memory available is refused
    (exit 2). An existing cluster's workers have their own cores and memory: not checked here."""
    from .preflight import WORKER_PROCESS_BYTES, workers_for_cores, workers_that_fit

    if options.address:
        return options
    asked = options.workers or default_workers()
    cores = workers_for_cores(asked)
    if cores < asked:
        console.print(f"running {cores} cell(s) at once, not {asked}: this machine has {cores} cores")
    # a cell that may run in a worker process of its own (the default for long jobs) also needs
    # that process's imports
    own = WORKER_PROCESS_BYTES if options.runner in (None, "dask") else 0
    fit = _preflight(lambda: workers_that_fit(est.peak_bytes, est.peak_cell, cores, process_bytes=own))
    if fit < cores:
        console.print(f"running {fit} cell(s) at once, not {cores}: a fit of {est.peak_cell} may need "
                      f"{(est.peak_bytes + own) / 2**30:.1f} GiB" + (" with its worker process" if own else ""))
    return options if fit == asked else replace(options, workers=fit)


def _lock(job, options: RunOptions, interrupt) -> None:
    """The job's lock on its results folder, held until this process exits: a second run of the
    same job there refuses (exit 2), naming the first."""
    from . import locks

    try:
        locks.acquire(Path(options.results_dir), job)
    except locks.RunLocked as exc:
        _refuse("refused", exc)
    interrupt.status = {"results": options.results_dir}
    if interrupt.requested:
        _stopped()


def _set_threads(threads: int) -> None:
    """This process's torch threads (the threads runner's cells run here); every cell also gets
    them as an argument (a Dask or Ray worker is another process)."""
    import torch

    torch.set_num_threads(threads)


def _print_outcome(console, out: dict) -> None:
    from tasks.track import is_tracking_server

    console.print(out.pop("table_auroc"))  # methods (or grid points) as rows: fits a terminal
    console.print(f"cells: {out['cells']} ({out['cached']} cached, {out['run']} run, {out['failed']} failed) "
                  f"in {out['seconds']} s")
    console.print(f"fits: {out['fitted']}; {out['shared']} cells shared the fit of another cell; {out['reused']} cells "
                  f"reused the fit of another seed")
    from tasks.track import default_tracking_uri

    uri = out["tracking_uri"]
    # the hint opens this run's store: the default one needs no option
    browse = "sla2p-bench ui" + ("" if uri == default_tracking_uri() else f" --tracking-uri {uri}")
    console.print(f"tables: {out['tables_dir']}\nMLflow: {uri} parent run {out['parent_run_id']} "
                  f"({'open its UI' if is_tracking_server(uri) else f'browse: {browse}'})")
    if out.get("mlflow_links"):
        console.print(f"MLflow UI: {out['mlflow_links']['cells']}")
    if out.get("report"):
        console.print(f"report: {out['report']} (also logged to the parent run under report/)")


def _spawn_prefect_server(interrupt):
    """The run's own Prefect API, stopped on every way out (atexit: registered before Prefect is
    imported, so it runs after Prefect's own exit hooks; a second Ctrl-C: at once). Its address
    is exported before Prefect is imported (Prefect reads its settings then)."""
    from .prefect_server import PrefectServer

    server = PrefectServer()
    atexit.register(server.stop)
    interrupt.on_exit(lambda: server.stop(grace=1.0))
    os.environ["PREFECT_API_URL"] = server.spawn()
    return server


def _wait_for(server, interrupt) -> None:
    from .prefect_server import ServerError

    try:
        url = server.wait(cancelled=interrupt.event)
    except ServerError as exc:
        _refuse("error", exc, code=1)
    if not url:
        _stopped()
    os.environ["PREFECT_API_URL"] = url
    import prefect.settings

    if prefect.settings.PREFECT_API_URL.value() != url:  # another port, or Prefect was imported before
        ctx = prefect.settings.temporary_settings(updates={prefect.settings.PREFECT_API_URL: url})
        ctx.__enter__()
        atexit.register(ctx.__exit__, None, None, None)


_CFG = typer.Option(None, "--config", "-c", help="a YAML path or a name in configs/")
_PROFILE = typer.Option(None, "--profile", help="shorthand for --config configs/<profile>.yaml (e.g. smoke)")
_DS = typer.Option(None, help="comma-separated datasets to keep")
_CL = typer.Option(None, help="comma-separated normal classes to keep")
_RA = typer.Option(None, help="comma-separated ratios to keep, each in (0, 1]")
_SE = typer.Option(None, help="comma-separated seeds to keep (integers >= 0)")
_ME = typer.Option(None, help="comma-separated methods to keep; `all`: every listed method, those on_request too")
_WO = typer.Option(None, help="cells in parallel, >= 1 (default: all cores here; with --address: "
                   "the cells kept in flight)")
_TH = typer.Option(None, help="torch threads per cell, >= 1 (default: this machine's cores / --workers; on an "
                   "existing cluster: a worker's cores / the cells it runs at once)")
_RU = typer.Option(None, help=" | ".join(RUNNERS) + " (default: dask's local cluster of one-threaded worker "
                   "processes when more than one cell runs at once and the job is expected to take 2 minutes or "
                   "more; threads otherwise)")
_AD = typer.Option(None, help="address of an existing Dask scheduler or Ray cluster")
_RE = typer.Option(False, "--refresh", metavar="", help="refit every cell and start a new MLflow parent run")
_TU = typer.Option(None, help="MLflow tracking URI (default: sqlite:///<project>/mlflow.db)")
_RD = typer.Option(None, help="results folder (default: <project>/results)")
_DE = typer.Option(None, help=f"device for deep detectors: {DEVICES.replace(', ', ' | ')} (default: the config's)")
_DRY = typer.Option(False, "--dry-run", metavar="", help="validate and estimate, run nothing")
_PR = typer.Option(None, "--precision", help="bf16: SLA2P and SLA (every method whose detector takes "
                   "precision) score in bfloat16, several times faster on CPUs with AMX; float32: "
                   "their default (default: each config's own)")


def _filters(datasets, classes, ratios, seeds, methods=None) -> dict:
    return {"datasets": datasets, "classes": classes, "ratios": ratios, "seeds": seeds, "methods": methods}


def _options(workers, threads, runner, address, refresh, tracking_uri, results_dir, device, dry_run) -> dict:
    return {"refresh": refresh, "tracking_uri": tracking_uri, "results_dir": results_dir, "device": device,
            "workers": workers, "threads": threads, "runner": runner, "address": address, "dry_run": dry_run}


@app.command()
def table(config: str = _CFG, profile: str = _PROFILE, datasets: str = _DS, classes: str = _CL, ratios: str = _RA,
          seeds: str = _SE, methods: str = _ME, workers: int = _WO, threads: int = _TH, runner: str = _RU,
          address: str = _AD,
          refresh: bool = _RE, tracking_uri: str = _TU, results_dir: str = _RD, device: str = _DE,
          dry_run: bool = _DRY, precision: str = _PR):
    """The comparison table (configs/table.yaml; --profile smoke for a first look)."""
    _run("table", config or profile or "table", _filters(datasets, classes, ratios, seeds, methods),
         _options(workers, threads, runner, address, refresh, tracking_uri, results_dir, device, dry_run),
         precision)


@app.command()
def ablate(config: str = _CFG, profile: str = _PROFILE, datasets: str = _DS, classes: str = _CL, ratios: str = _RA,
           seeds: str = _SE, workers: int = _WO, threads: int = _TH, runner: str = _RU, address: str = _AD,
           refresh: bool = _RE,
           tracking_uri: str = _TU, results_dir: str = _RD, device: str = _DE, dry_run: bool = _DRY,
           precision: str = _PR):
    """Ablation grids over epsilon, n_projections, proj_dim, acc_threshold (configs/ablation.yaml)."""
    _run("ablation", config or profile or "ablation", _filters(datasets, classes, ratios, seeds),
         _options(workers, threads, runner, address, refresh, tracking_uri, results_dir, device, dry_run),
         precision)


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

    console = Console(soft_wrap=True)  # long ids and paths stay on one line in logs
    if kind not in ("table", "ablation"):
        console.print(f"[red]--kind must be table or ablation, got {kind!r}[/red]")
        raise typer.Exit(2)
    from tasks.track import default_tracking_uri

    from .preflight import check_store

    _preflight(lambda: check_store(tracking_uri or default_tracking_uri()))
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
                  + (f"report in {out}" if out else _kept_report(run))
                  + ("" if no_log else f"; logged to the run under report/ ({run.tracking_uri})"))


def _kept_report(run) -> str:
    """Where a report is on disk when ``report`` ran without --out: the run's own, if it wrote one."""
    if run.stored_report is not None:
        return f"the run's report is in {run.stored_report} (this rebuild: --out DIR keeps it)"
    return "this rebuild not kept on disk (--out DIR keeps it)"


@app.command()
def ui(port: int = typer.Option(5000, help="port on 127.0.0.1 (0: any free one)"), tracking_uri: str = _TU):
    """MLflow UI on 127.0.0.1: prints its URL once it answers; Ctrl-C or SIGTERM stops it and all
    it started. Exit 2: refused (busy port, no database); 1: the server failed."""
    from tasks.track import default_tracking_uri

    from .preflight import check_store
    from .ui_server import UIError, serve

    _preflight(lambda: check_store(tracking_uri or default_tracking_uri()))
    try:
        code = serve(tracking_uri or default_tracking_uri(), port, say=typer.echo,
                     warn=lambda s: typer.echo(s, err=True))
    except UIError as exc:
        _refuse("error", exc, code=exc.code)
    raise typer.Exit(code)


@app.command()
def server(backend_store_uri: str = typer.Option(None, envvar="MLFLOW_BACKEND_STORE_URI", show_envvar=True,
                                                 help="MLflow's database, e.g. postgresql+psycopg://USER:PASSWORD"
                                                 "@127.0.0.1:5432/mlflow"),
           artifacts_destination: str = typer.Option(None, help="where the MLflow server keeps artifacts: a "
                                                     "folder or an S3-style path (default: <state-dir>/mlartifacts)"),
           host: str = typer.Option("127.0.0.1", help="the interface both servers listen on (beyond 127.0.0.1: "
                                                       "needs credentials, docs/how-to/team-servers.md)"),
           mlflow_port: int = typer.Option(5000, help="the MLflow server's port"),
           prefect_port: int = typer.Option(4200, help="the Prefect server's port"),
           only: str = typer.Option(None, help="mlflow | prefect: start only that one (default: both)"),
           state_dir: str = typer.Option(None, help="logs, the Prefect database and default artifacts "
                                         "(default: <project>/.team-server)")):
    """A team's servers: MLflow tracking (database backend, artifacts served) and a persistent
    Prefect server with its UI, until Ctrl-C. Prints the variables to export once both answer."""
    import threading

    from .team_server import ServerDied, ServerError, ServerOptions, install_signals, serve

    stop = threading.Event()
    install_signals(stop)
    opts = ServerOptions(backend_store_uri=backend_store_uri, artifacts_destination=artifacts_destination,
                         host=host, mlflow_port=mlflow_port, prefect_port=prefect_port, which=only or "both",
                         state_dir=state_dir)
    try:
        code = serve(opts, say=lambda text, err=False: typer.echo(text, err=err), stop=stop)
    except ServerDied as exc:
        _refuse("error", exc, code=1)
    except ServerError as exc:
        _refuse("error", exc)
    raise typer.Exit(code)


@data_app.command("list")
def data_list(datasets: str = _DS):
    """Each dataset the suite knows (paper datasets, ODDS/ADBench files): rows, dimensions,
    classes or outliers, its default features and whether they are cached. Pulls nothing."""
    from tasks.datasets import list_datasets
    from tasks.embed.inventory import HEADER, describe

    typer.echo(HEADER)
    for name in _split(datasets) or list_datasets():
        typer.echo(describe(name).line())
    typer.echo("status: cached = features ready; not cached = computed on first use (images: minutes); "
               "not pulled = files not in data/ yet (`sla2p-bench data pull`, or pulled on first use)")


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


def _pairs(pairs: list[str], most: int = 8) -> str:
    """"detector/dataset" pairs in one readable line: all of them when few, else grouped by
    detector with a count (a profile of 39 sets x 14 methods would print 546 names)."""
    if len(pairs) <= most:
        return ", ".join(pairs)
    by: dict[str, int] = {}
    for p in pairs:
        by[p.split("/", 1)[0]] = by.get(p.split("/", 1)[0], 0) + 1
    return f"{len(pairs)} pairs: " + ", ".join(f"{d} on {n} dataset(s)" for d, n in sorted(by.items())) + \
        " (bench/bench_baselines.py measures them)"


def main() -> None:
    """The ``sla2p-bench`` command. ``table`` and ``ablate`` run in a session of their own under a
    small supervisor that forwards Ctrl-C and SIGTERM (:mod:`flows.supervise`)."""
    from .supervise import die_with_supervisor, is_supervised, supervise

    args = sys.argv[1:]
    if args and args[0] in COMMAND_OF.values() and os.name == "posix":
        if not is_supervised():
            sys.exit(supervise([sys.executable, "-m", "flows.cli", *args]))
        INTERRUPT.install()  # before anything slow: a forwarded Ctrl-C never meets Python's default
        die_with_supervisor()
    app()


if __name__ == "__main__":
    main()

