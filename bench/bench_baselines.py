"""Per-cell cost of every registered detector on one representative cell of each paper dataset,
written to bench/measured_costs.json, the file the time estimate (tasks/estimate.py) reads.

    nice -n 10 .venv/bin/python bench/bench_baselines.py                  # measure, merge into the file
    .venv/bin/python bench/bench_baselines.py --datasets arrhythmia --only iforest,lof --no-write
    .venv/bin/python bench/bench_baselines.py --dry-run-speed             # seconds of `table --dry-run`'s estimate
    .venv/bin/python bench/bench_baselines.py --calibrate 2               # this machine against the figures (~3 min)

Each (detector, dataset) runs as the table runs it (tasks.detect.fit_score.fit_detector): its
defaults, sparse TF-IDF rows to a detector that accepts them, the registry's seeded fit subsample
where it has one, every row scored. One line per pair: fit seconds (PyOD's fit includes scoring
the fitted rows), seconds of the extra scoring pass (subsampled detectors only), rows, fitted
rows, AUROC. The file also keeps ``rescore_seconds``, a second ``decision_function`` over every
row: the per-row scoring cost the estimate adds for a cell larger than the fit cap. The seconds
kept are min(wall, CPU seconds of the process): on a machine shared with other jobs the wall time
also measures them (the load average is recorded with each figure). An untimed warm-up fit on 64
rows comes first (numba JIT, torch lazy init). ``--max-seconds`` gives up on a pair after that
many CPU seconds; the file then keeps a lower bound (``"status": "timeout"``).

The representative cell: intrinsic datasets (Arrhythmia, KDDCup99) all rows; one-vs-rest datasets
the class whose cell size is nearest the row-weighted mean cell size (where the time goes), at
ratio 0.1, seed 0. ``--kdd-rows`` (default 20,000) measures KDDCup99 on a seeded subset of its
494,021 rows, and the trained networks (GOAD, RSRAE, DeepSVDD, AutoEncoder: epochs x rows) are
measured on at most ``--slow-rows`` (default 1,000) rows of any cell; the estimate scales to the
full cell (linear fit, or the capped fit plus a linear scoring pass). Image datasets whose
embeddings are not in the cache (CIFAR-10, Caltech-101 until embedded) are measured on a SYNTHETIC
proxy of the cell's shape (standard normal rows, L2 normalised) and flagged ``"proxy": true`` in
the file; rerun after embedding them.

SLA2P and SLA are measured with ``--only sla2p,sla`` (paper settings); the file then records
their training steps and stop reason, which the estimate uses in place of its assumption.
The machine is recorded with every figure (CPU, load average, GEMM probe: the best of every probe
taken during the run). On another CPU the estimate uses this machine's calibration
(``--calibrate W``: the reference cells of :mod:`tasks.cpu_calibration` fitted by W processes at
once, as a run with W workers fits them; their seconds over the file's figures), else the ratio
of the GEMM probes, which read an AMD EPYC 2.1x slower than the Intel Xeon while its cells ran
1.3x slower.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import time
from collections import Counter
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.metrics import roc_auc_score

from baselines import detector_info, list_detectors, make_detector
from sla2p import paper_params
from sla2p.settings import PAPER_SETTINGS
from tasks.datasets import get_spec, make_split, n_outliers
from tasks.detect.fit_score import cell_rows, fit_detector
from tasks.embed import load_features, load_labels
from tasks.env import CODE_ROOT, cpu_model, telemetry_off
from tasks.estimate import COSTS_FILE, gemm_core_rate

PAPER = ("arrhythmia", "kddcup99", "20news", "reuters", "caltech101", "cifar10")
# wide sets of the ADBench profiles, measured rather than scaled by feature count (a scaled guess
# was 7x off on internetads): 1,555 binary columns; ResNet-18 512-d; BERT 768-d
WIDE = ("adbench_internetads", "adbench_cifar10_0_resnet18", "adbench_20news_3_bert")
PROXY_DIMS = {"efficientnet-lite0": 1280, "resnet50": 2048}
SLOW_BY_DEFAULT = ("sla2p", "sla")
NEURAL = ("autoencoder", "deepsvdd")  # with every detector that takes a device: trained networks  # measured on request (--only): minutes per text cell


class _Timeout(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise _Timeout


def commit() -> str:
    """The checkout's commit, read from .git (no git process)."""
    try:
        head = (CODE_ROOT / ".git" / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            p = CODE_ROOT / ".git" / ref
            if p.is_file():
                return p.read_text().strip()
            for line in (CODE_ROOT / ".git" / "packed-refs").read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0]
        return head
    except OSError:
        return "unknown"


def machine() -> dict:
    cpu = cpu_model()
    return {"host": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads()}


def representative_cell(ds: str, kdd_rows: int):
    """(description, X rows as the dataset stores them or None, labels, indices, proxy flag, full cell rows)."""
    spec = get_spec(ds)
    y, classes, _ = load_labels(ds)
    if spec.protocol == "intrinsic":
        cls, ratio = None, None
    else:
        counts = Counter(int(v) for v in y)
        sizes = {c: min(spec.max_rows, counts[i] + n_outliers(spec, 0.1, counts[i])) for i, c in enumerate(classes)}
        weighted = sum(v * v for v in sizes.values()) / sum(sizes.values())
        cls, ratio = min(sizes, key=lambda c: abs(sizes[c] - weighted)), 0.1
    # tabular and text features are computed (and cached) if missing: seconds to a minute; image
    # embeddings take tens of minutes, so only cached ones are used
    feats = load_features(ds, only_if_cached=spec.modality == "image")
    split = make_split(ds, cls, ratio, 0, y=y)
    idx, labels = split.indices, split.labels
    full = len(idx)
    where = f"{ds}/{cls or 'all'}/p{ratio if ratio is not None else '-'}/s0"
    return where, feats, idx, labels, feats is None, full


def subset(idx, labels, rows: int):
    """A seeded subset of a cell's rows (KDDCup99: the estimate scales back to the whole cell)."""
    if not rows or rows >= len(idx):
        return idx, labels
    keep = np.sort(np.random.default_rng(0).choice(len(idx), size=rows, replace=False))
    return idx[keep], labels[keep]


def proxy_rows(ds: str, n: int) -> np.ndarray:
    d = PROXY_DIMS.get(get_spec(ds).default_extractor, 1000)
    X = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def sla_settings(ds: str) -> dict:
    """SLA2P's published settings for a paper dataset; the Arrhythmia settings elsewhere (what
    configs/odds.yaml and configs/adbench.yaml run: the paper has none for those sets)."""
    return paper_params(ds if ds in PAPER_SETTINGS else "arrhythmia")


def measure(name: str, ds: str, X, labels, seed: int, max_seconds: int) -> dict:
    params = sla_settings(ds) if name in ("sla2p", "sla") else {}
    if name == "sla":
        params = {k: v for k, v in params.items() if k != "epsilon"}
    try:  # warm-up (untimed): numba kernels, torch lazy init
        make_detector(name, random_state=seed, **params).fit(X[:64])
    except Exception:  # noqa: BLE001  (some need more rows; the timed fit says what is wrong)
        pass
    det = make_detector(name, random_state=seed, **params)
    timings: dict = {}
    load = os.getloadavg()[0]
    # the limit is on CPU seconds (a loaded machine stretches wall time), with 4x that on the wall
    signal.signal(signal.SIGPROF, _alarm)
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_PROF, max_seconds)
    signal.alarm(4 * max_seconds)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        scores, fit_rows = fit_detector(det, name, X, seed, timings)
    except _Timeout:
        return {"status": "timeout", "seconds_at_least": min(time.perf_counter() - t0, time.process_time() - c0),
                "n": int(X.shape[0]), "d": int(X.shape[1]), "load1": load}
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.alarm(0)
        signal.signal(signal.SIGPROF, signal.SIG_IGN)  # a signal already on its way must not land later
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
    # On a machine shared with other jobs the wall time measures them too; the process's CPU time
    # (all its threads) is what the cell needs, up to its parallelism. The cost kept is the smaller.
    fit_s, score_s = (min(timings[k], timings[k + "_cpu"]) for k in ("fit", "score"))
    out = {"status": "ok", "seconds": fit_s + score_s, "fit_seconds": fit_s, "score_seconds": score_s,
           "wall_seconds": timings["fit"] + timings["score"], "cpu_seconds": timings["fit_cpu"] + timings["score_cpu"],
           "n": int(X.shape[0]), "d": int(X.shape[1]), "fit_rows": fit_rows,
           "sparse_input": bool(sp.issparse(X)), "load1": load}
    finite = bool(np.all(np.isfinite(scores)))  # the cost is known either way; the cell would fail
    out["auroc"] = float(roc_auc_score(labels, scores)) if finite else None
    if not finite:
        out["nonfinite_scores"] = int((~np.isfinite(scores)).sum())
    if name not in SLOW_BY_DEFAULT:  # a second scoring pass over every row: the per-row scoring cost
        t1, c1 = time.perf_counter(), time.process_time()
        det.decision_function(X)
        out["rescore_seconds"] = min(time.perf_counter() - t1, time.process_time() - c1)
    h = getattr(det, "history_", None)
    if isinstance(h, dict):
        out["training"] = {k: h[k] for k in ("steps", "epochs", "stop_reason", "train_seconds") if k in h}
        if name in ("sla2p", "sla"):
            out["params"] = {k: params[k] for k in sorted(params)}
    return out


def update_costs(path: Path, change) -> None:
    """Apply ``change(doc)`` to the costs file (a new one if absent) under the bench's lock (several
    benches may run at once), written atomically."""
    import tempfile

    from tasks.files import file_lock

    with file_lock(Path(tempfile.gettempdir()) / "sla2p-measured-costs.lock"):
        doc = json.loads(path.read_text()) if path.is_file() else {}
        change(doc)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)


def merge(path: Path, header: dict, results: dict, cells: dict, first: bool = True, embedding=None) -> None:
    """Merge figures into the costs file."""
    update_costs(path, lambda doc: _merge(doc, header, results, cells, first, embedding))


def _merge(doc: dict, header: dict, results: dict, cells: dict, first: bool, embedding=None) -> None:
    doc.setdefault("costs", {})
    doc.setdefault("cells", {})
    for k in ("format", "note"):
        doc[k] = header[k]
    if first:
        doc.setdefault("runs", []).append({k: header[k] for k in ("machine", "date", "commit", "gemm_core_gflops", "command")})
    doc["machine"], doc["date"], doc["commit"] = header["machine"], header["date"], header["commit"]
    doc["gemm_core_gflops"] = max(header["gemm_core_gflops"], float(doc.get("gemm_core_gflops") or 0))
    for ds, c in cells.items():
        doc["cells"][ds] = c
    if embedding:
        doc["embedding"] = embedding
    for name, per in results.items():
        for ds, r in per.items():
            if r.get("status") != "ok" and doc["costs"].get(name, {}).get(ds, {}).get("status") == "ok":
                print(f"# {name}/{ds}: kept the measured figure already in the file ({r.get('status')} now)")
                continue
            # each figure carries its machine: a file re-measured in part elsewhere stays scalable
            doc["costs"].setdefault(name, {})[ds] = {**r, "date": header["date"], "commit": header["commit"][:12],
                                                     "gemm_core_gflops": header["gemm_core_gflops"],
                                                     "cpu": header["machine"]["cpu"], "cores": header["machine"]["cores"],
                                                     "threads": header["machine"]["torch_threads"]}


def run_steps(paths: list[str]) -> dict:
    """Mean SLA2P/SLA training steps per cell, by detector and dataset, from real runs'
    ``training.csv`` files (a report's; ``sla2p-bench report`` writes them): one representative
    cell cannot stand for a text set whose classes train from a few hundred to 40,000 steps."""
    import pandas as pd

    t = pd.concat([pd.read_csv(p).assign(source=p) for p in paths], ignore_index=True)
    t = t[t["status"] == "ok"]
    out: dict = {}
    for (det, ds, acc, epochs), g in t.groupby(["detector", "dataset", "acc_threshold", "max_epochs"]):
        out.setdefault(det, {})[ds] = {
            "mean_steps": round(float(g["steps"].mean()), 1), "cells": int(len(g)), "max_steps": int(g["steps"].max()),
            "at_max_epochs": int((g["stop_reason"] == "max_epochs").sum()), "acc_threshold": float(acc),
            "max_epochs": int(epochs), "ratios": sorted({float(r) for r in g["ratio"].dropna()}),
            "source": sorted(set(g["source"]))}
    return out


def record_run_steps(path: Path, paths: list[str]) -> None:
    """Merge :func:`run_steps` into the costs file (``run_steps``)."""
    steps = run_steps(paths)

    def change(doc):
        for det, per in steps.items():
            doc.setdefault("run_steps", {}).setdefault(det, {}).update(per)

    update_costs(path, change)
    for det, per in steps.items():
        for ds, r in per.items():
            print(f"{det:12s} {ds:11s} {r['mean_steps']:9.1f} steps a cell (mean of {r['cells']}, max {r['max_steps']}, "
                  f"{r['at_max_epochs']} at max_epochs)")


def embed_rate(n: int) -> dict:
    """Images/s of the default image extractor (CIFAR-10, EfficientNet-Lite0, 224 px, fp32, the
    cache's settings) on ``n`` images, decode included, after an untimed warm-up batch. Kept:
    n / (CPU seconds / threads), the rate on an otherwise idle machine (a convolution keeps every
    thread busy); the wall-clock rate is recorded beside it."""
    from tasks.datasets.images import read_members
    from tasks.embed.inference import embed_image_bytes
    from tasks.fetch.sources import ensure_files

    spec = get_spec("cifar10")
    ensure_files(spec.files)
    raw = spec.load_raw()
    data = read_members(raw.images.archive, list(raw.images.members[: n + 8]))
    threads = torch.get_num_threads()
    embed_image_bytes(data[:8], batch_size=8, threads=threads, precision="fp32")
    t0, c0 = time.perf_counter(), time.process_time()
    embed_image_bytes(data[8:], batch_size=64, threads=threads, precision="fp32")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    idle = min(wall, cpu / threads)
    return {"images_per_s": round(n / idle, 2), "images_per_s_wall": round(n / wall, 2), "n": n, "threads": threads,
            "what": "cifar10, efficientnet-lite0 224 px fp32, decode included", "load1": os.getloadavg()[0]}


def dry_run_speed(repeats: int = 3) -> None:
    """Seconds of the estimate `sla2p-bench table --dry-run` prints (configs/table.yaml), repeated."""
    from flows.config import load_job
    from tasks.estimate import estimate, human
    from tasks.plan import plan_job

    for i in range(repeats):
        t0 = time.perf_counter()
        est = estimate(plan_job(load_job("table")))
        print(f"dry run {i + 1}: {time.perf_counter() - t0:5.2f} s  total ~{human(est.total)} "
              f"({est.total:.0f} s), {est.counts['cells']} cells", flush=True)


def calibrate(args, argv) -> None:
    """Fit the reference cells in ``args.calibrate`` processes at once (each a child bench on
    ``args.threads`` threads), and record their seconds over the costs file's figures as this
    machine's calibration (:mod:`tasks.cpu_calibration`)."""
    import subprocess
    import sys
    import tempfile

    from tasks import cpu_calibration as cc
    from tasks.estimate import threads_factor, load_costs

    doc = load_costs(args.out)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--only", ",".join(cc.REFERENCE_DETECTORS),
           "--datasets", ",".join(cc.REFERENCE_DATASETS), "--threads", str(args.threads), "--seed", str(args.seed),
           "--kdd-rows", str(args.kdd_rows), "--slow-rows", str(args.slow_rows), "--max-seconds", str(args.max_seconds)]
    gemm = gemm_core_rate()
    print(f"# calibrating: {args.calibrate} processes at once, {args.threads} thread(s) each, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / f"w{i}.json" for i in range(args.calibrate)]
        logs = [open(Path(tmp) / f"w{i}.log", "w") for i in range(args.calibrate)]  # noqa: SIM115
        procs = [subprocess.Popen(cmd + ["--out", str(o)], stdout=f, stderr=subprocess.STDOUT) for o, f in zip(outs, logs)]
        rcs = [p.wait() for p in procs]
        for i, f in enumerate(logs):
            f.close()
            print(f"## process {i + 1}\n" + (Path(tmp) / f"w{i}.log").read_text(), end="", flush=True)
        if any(rcs):
            raise SystemExit(f"calibration: a process failed (exit codes {rcs}); nothing written")
        measured = [{det: {ds: (r["seconds"] if r.get("status") == "ok" else None) for ds, r in per.items()}
                     for det, per in json.loads(o.read_text())["costs"].items()} for o in outs]
    try:
        entry = cc.compute(doc["costs"], measured, lambda f: float(f["seconds"]) * threads_factor(doc, f, args.threads))
    except cc.CalibrationError as exc:
        raise SystemExit(f"calibration: {exc}; nothing written") from None
    entry.update(cpu=cpu_model(), cores=os.cpu_count(), workers=args.calibrate, threads=args.threads,
                 date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), commit=commit()[:12],
                 gemm_core_gflops=round(max(gemm, gemm_core_rate()), 1),
                 command="bench/bench_baselines.py " + " ".join(argv if argv is not None else os.sys.argv[1:]))
    print(f"calibration of {entry['cpu']} ({entry['cores']} cores, {args.calibrate} x {args.threads}) against "
          f"{entry['reference_cpu']} ({entry['reference_cores']} cores): x{entry['factor']:.3f} over {entry['pairs']} pairs")
    for det, f in entry["by_detector"].items():
        print(f"  {det:12s} x{f:.3f}")
    probe = float(doc["gemm_core_gflops"]) / entry["gemm_core_gflops"]
    print(f"  (the GEMM probes' ratio would have said x{probe:.3f})")
    if not args.no_write:
        update_costs(Path(args.out), lambda cur: cc.upsert(cur, entry))
        print(f"# written: {args.out}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: a table runs one cell per core, each on one thread)")
    ap.add_argument("--only", default="", help="comma-separated detector names (default: all but sla2p, sla)")
    ap.add_argument("--datasets", default=",".join(PAPER + WIDE))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kdd-rows", type=int, default=20_000, help="KDDCup99 rows measured (0: all 494,021)")
    ap.add_argument("--slow-rows", type=int, default=1_000,
                    help="rows measured for the trained networks on any dataset (a seeded subset of a larger cell; "
                         "their cost is linear in rows, the estimate scales it)")
    ap.add_argument("--max-seconds", type=int, default=300,
                    help="give up on one (detector, dataset) after this many CPU seconds (recorded as a lower bound)")
    ap.add_argument("--out", default=str(COSTS_FILE), help="costs file to merge the figures into")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--embed-images", type=int, default=0,
                    help="also measure the image embedding rate on this many CIFAR-10 images (0: no)")
    ap.add_argument("--dry-run-speed", action="store_true", help="time the table's dry-run estimate 3 times, then exit")
    ap.add_argument("--calibrate", type=int, default=0, metavar="W",
                    help="measure this machine against the file's figures: the reference cells fitted by W processes "
                         "at once (a run's workers), each on --threads threads; record the factors, then exit")
    ap.add_argument("--steps-from", default="",
                    help="comma-separated training.csv files of real runs: record their mean SLA2P/SLA steps per "
                         "cell (per dataset) in the costs file, then exit")
    args = ap.parse_args(argv)
    telemetry_off()  # DVC may pull the data
    torch.set_num_threads(args.threads)
    if args.dry_run_speed:
        dry_run_speed()
        return
    if args.calibrate:
        calibrate(args, argv)
        return
    if args.steps_from:
        record_run_steps(Path(args.out), [p for p in args.steps_from.split(",") if p])
        return
    names = [n for n in args.only.split(",") if n] or [n for n in list_detectors() if n not in SLOW_BY_DEFAULT]
    for n in names:
        detector_info(n)  # unknown names fail before any work
    gemm = gemm_core_rate()
    header = {"format": 1, "machine": machine(), "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "commit": commit(), "gemm_core_gflops": round(gemm, 1),
              "command": "bench/bench_baselines.py " + " ".join(argv if argv is not None else os.sys.argv[1:]),
              "note": "written by bench/bench_baselines.py; read by tasks/estimate.py. Do not edit by hand."}
    print(f"# torch {torch.__version__}, {args.threads} thread(s), seed {args.seed}, one core's GEMM {gemm:.0f} GFLOP/s, "
          f"load {os.getloadavg()[0]:.1f}, commit {header['commit'][:12]}")
    results: dict = {}
    cells: dict = {}
    first = True
    for ds in [x for x in args.datasets.split(",") if x]:
        where, feats, idx_all, labels_all, proxy, full = representative_cell(ds, args.kdd_rows)
        idx, labels = subset(idx_all, labels_all, args.kdd_rows if ds == "kddcup99" else 0)
        Xall = feats.X if feats is not None else None
        dense = proxy_rows(ds, len(idx)) if proxy else None
        shape = (len(idx), dense.shape[1] if proxy else Xall.shape[1])
        nnz = None if proxy or not sp.issparse(Xall) else int(sp.csr_matrix(Xall)[idx].nnz)
        cells[ds] = {"cell": where, "n": shape[0], "d": shape[1], "cell_rows": full, "proxy": proxy,
                     "nnz": nnz, "extractor": get_spec(ds).default_extractor}
        print(f"# {where}: {shape[0]} x {shape[1]}" + (f" (of {full} rows)" if full != shape[0] else "")
              + (f", nnz {nnz}" if nnz else "") + (", SYNTHETIC proxy: features not cached" if proxy else ""),
              flush=True)
        for name in names:
            rows, lab = idx, labels
            if name in NEURAL or detector_info(name).accepts_device:
                rows, lab = subset(idx_all, labels_all, args.slow_rows)
            X = dense[:len(rows)] if proxy else cell_rows(name, Xall, rows)
            try:
                r = measure(name, ds, X, lab, args.seed, args.max_seconds)
            except Exception as exc:  # a failed measurement is a result too
                r = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            r["proxy"] = proxy
            # the probe's best over the run so far: a niced bench on a loaded machine may miss a slice
            header["gemm_core_gflops"] = round(max(header["gemm_core_gflops"], gemm_core_rate()), 1)
            results.setdefault(name, {})[ds] = r
            if r["status"] == "ok":
                tr = r.get("training")
                print(f"{name:12s} {ds:11s} fit {r['fit_seconds']:8.2f} s  score {r['score_seconds']:7.2f} s  "
                      f"(wall {r['wall_seconds']:7.2f} s, cpu {r['cpu_seconds']:7.2f} s)  "
                      f"n {r['n']:6d}  fit_rows {r['fit_rows']:6d}  {'sparse' if r['sparse_input'] else 'dense '}  "
                      + (f"AUROC {r['auroc']:.3f}" if r["auroc"] is not None else f"{r['nonfinite_scores']} NON-FINITE scores")
                      + f"  load {r['load1']:.1f}"
                      + (f"  steps {tr.get('steps')} ({tr.get('stop_reason')})" if tr else ""), flush=True)
            else:
                after = f" after {r['seconds_at_least']:.0f} s" if "seconds_at_least" in r else ""
                print(f"{name:12s} {ds:11s} {r['status'].upper()}{after}: {r.get('error', '')}", flush=True)
            if not args.no_write:  # after each pair: an interrupted run keeps what it measured
                merge(Path(args.out), header, {name: {ds: r}}, {ds: cells[ds]}, first=first)
                first = False
    if args.embed_images:
        e = embed_rate(args.embed_images)
        print(f"embedding   {e['what']}: {e['images_per_s']:.1f} images/s idle-equivalent "
              f"({e['images_per_s_wall']:.1f} on the wall, load {e['load1']:.1f})", flush=True)
        if not args.no_write:
            merge(Path(args.out), header, {}, {}, first=first, embedding={**e, "date": header["date"]})
    if not args.no_write:
        print(f"# written: {args.out}")


if __name__ == "__main__":
    main()
