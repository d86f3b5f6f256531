"""Fit and score seconds (and AUROC) of every registered detector on Arrhythmia and Thyroid.

    .venv/bin/python bench/bench_baselines.py [--threads 1] [--only goad,rsrae] [--seed 0]

One line per (detector, dataset), after an untimed warm-up fit on 64 rows: fit seconds (fit
includes scoring the training rows, as PyOD's ``fit`` does), seconds of a second
``decision_function`` over all rows, AUROC of the transductive scores (fit on all rows, score all
rows). Detectors run with their defaults.
Data come through tasks.embed (pulled with DVC and verified when missing): Arrhythmia
(data/odds/arrhythmia.mat) and Thyroid (adbench_thyroid: data/adbench/Classical/38_thyroid.npz).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from baselines import list_detectors, make_detector
from tasks.embed import load_features
from tasks.env import telemetry_off


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Arrhythmia (ODDS) or Thyroid (ADBench), pulled through DVC and verified when missing."""
    f = load_features({"arrhythmia": "arrhythmia", "thyroid": "adbench_thyroid"}[name])
    return f.X.astype(np.float64), f.y.astype(int)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: small networks on a shared CPU)")
    ap.add_argument("--only", default="", help="comma-separated detector names (default: all)")
    ap.add_argument("--datasets", default="arrhythmia,thyroid")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-warmup", action="store_true",
                    help="skip the untimed warm-up fit on 64 rows (numba JIT, torch lazy init)")
    ap.add_argument("--device", default=None, help="passed to detectors that take one (default: theirs)")
    args = ap.parse_args(argv)
    telemetry_off()  # DVC may pull the data
    torch.set_num_threads(args.threads)
    names = [n for n in args.only.split(",") if n] or list_detectors()
    print(f"# torch {torch.__version__}, {args.threads} thread(s), seed {args.seed}, "
          f"cuda={'yes' if torch.cuda.is_available() else 'no'}")
    for ds in args.datasets.split(","):
        X, y = load(ds)
        print(f"# {ds}: {X.shape[0]} x {X.shape[1]}, {int(y.sum())} outliers")
        for name in names:
            det = make_detector(name, random_state=args.seed, device=args.device)
            try:
                if not args.no_warmup:  # first calls compile numba kernels (HBOS, PyOD's AE score)
                    make_detector(name, random_state=args.seed, device=args.device).fit(X[:64])
                t0 = time.perf_counter()
                det.fit(X)
                t1 = time.perf_counter()
                det.decision_function(X)
                t2 = time.perf_counter()
                auc = roc_auc_score(y, det.decision_scores_)
                print(f"{name:12s} {ds:11s} fit {t1 - t0:8.2f} s  score {t2 - t1:7.3f} s  AUROC {auc:.3f}",
                      flush=True)
            except Exception as exc:  # a failed cell is a result too
                print(f"{name:12s} {ds:11s} FAILED: {type(exc).__name__}: {exc}", flush=True)


if __name__ == "__main__":
    main()
