"""Cost of the orchestration: a small table cold and warm, and the per-cell overhead of Prefect and
MLflow against the bare fit-and-score time.

    .venv/bin/python bench/bench_flows.py                 # Arrhythmia, SLA2P at paper settings + IForest, 4 seeds
    .venv/bin/python bench/bench_flows.py --seeds 2 --k 64

Runs the CLI in a temporary PREFECT_HOME / results folder / SQLite DB:
  bare   each cell's fit-and-score as a plain function, no Prefect, no MLflow (same process)
  cold     `sla2p-bench table` with nothing cached: also creates the Prefect and MLflow databases
  warm     the same command again: every cell cached (the fixed cost of a run: start-up, the
           temporary Prefect server, MLflow reads)
  refresh  the same with --refresh: every cell refitted and logged again, databases already there
overhead per cell = (refresh - warm - bare) / cells: what a Prefect task run and an MLflow child
run add to a cell's own computing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tasks.env import CODE_ROOT, telemetry_off



def config(seeds: int, k: int) -> str:
    return f"""
kind: table
name: bench
seeds: {list(range(seeds))}
datasets: {{arrhythmia: {{}}}}
methods:
  sla2p: {{paper_settings: true, params: {{n_projections: {k}}}}}
  iforest: {{}}
"""


def run_cli(tmp: Path, cfg: Path, *extra: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update(PREFECT_HOME=str(tmp / "prefect"), COLUMNS="200", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120")
    telemetry_off(env)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "flows.cli", "table", "--config", str(cfg), "--workers", "1",
                          "--results-dir", str(tmp / "results"), "--tracking-uri", f"sqlite:///{tmp / 'mlflow.db'}",
                          *extra],
                         cwd=CODE_ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode:
        sys.exit(f"CLI failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return wall


def bare(cfg: Path, tmp: Path) -> tuple[float, int]:
    import torch

    from flows.config import load_job
    from tasks.cells import KeyedCell
    from tasks.detect import fit_and_score
    from tasks.embed import prepare_dataset

    torch.set_num_threads(os.cpu_count() or 1)
    job = load_job(cfg)
    keys = {ds: prepare_dataset(ds)["data_key"] for ds in {c.dataset for c in job.cells}}
    t = time.perf_counter()
    for c in job.cells:
        fit_and_score(KeyedCell.of(c, keys[c.dataset]), str(tmp / "bare"))
    return time.perf_counter() - t, len(job.cells)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--k", type=int, default=256, help="SLA2P n_projections (paper: 256)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cfg = tmp / "bench.yaml"
        cfg.write_text(config(args.seeds, args.k))
        bare_s, n = bare(cfg, tmp)
        cold = run_cli(tmp, cfg)
        warm = run_cli(tmp, cfg)
        refresh = run_cli(tmp, cfg, "--refresh")
    over = (refresh - warm - bare_s) / n
    print(f"{n} cells (Arrhythmia, SLA2P K={args.k} m=256 + IForest, {args.seeds} seeds), 1 worker")
    print(f"  bare fit-and-score  {bare_s:7.1f} s  ({bare_s / n:.2f} s per cell)")
    print(f"  cold table run      {cold:7.1f} s")
    print(f"  warm rerun          {warm:7.1f} s  (everything cached)")
    print(f"  --refresh rerun     {refresh:7.1f} s  (everything refitted, databases there)")
    print(f"  overhead per cell   {over:7.2f} s  = {100 * over / (bare_s / n):.0f}% of the mean cell "
          f"(Prefect task run + MLflow child run)")


if __name__ == "__main__":
    main()
