"""RSRAE's training step and PCA's fit on the text cells, before and after issue 26 (items 2b, 2c).

The cells are bench_baselines.py's representative ones (20News talk.politics.mideast, Reuters acq;
ratio 0.1, seed 0), RSRAE on ``--slow-rows`` of them (a seeded subset, as bench_baselines.py
measures the trained networks), PCA on every row (it has no fit cap). Printed, each pair
INTERLEAVED (before, after, before, after: ``--rounds`` times; min over the rounds, CPU seconds of
the process beside the wall, and the load average, since other jobs share the machine):

* RSRAE: training steps per second and seconds per fit + score, before (plain autograd, Adam's
  per-tensor loop, a new batch tensor per step: the detector's ``_plain_autograd`` reference loop)
  and after (the fused output layer + L_AE over reused buffers, Adam's foreach form), the ratio,
  and whether every step's three losses, the final weights and the scores are the same to the bit
  (max relative difference otherwise), with the AUROC of each;
* PCA: seconds before (scikit-learn's "full" solver: LAPACK's SVD of the centered n x d matrix)
  and after (baselines.pca.wide_pca, the Gram-matrix route), with where the time goes (float64
  copy, standardizer, the decomposition, the scoring GEMM), the max relative score difference and
  the AUROC of each.

    .venv/bin/python bench/bench_rsrae_pca.py                       # both, 200 epochs (the paper's)
    .venv/bin/python bench/bench_rsrae_pca.py --epochs 20 --rounds 2 --only rsrae
    .venv/bin/python bench/bench_rsrae_pca.py --only pca --datasets reuters

``--threads`` (default 1) sets torch's and the BLAS's threads.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from bench_baselines import representative_cell, subset
from sklearn.decomposition import PCA as SklearnPCA
from sklearn.metrics import roc_auc_score
from sklearn.utils import check_array
from threadpoolctl import threadpool_limits

from baselines import RSRAE
from baselines.pca import PCA, wide_pca
from pyod.utils.utility import standardizer
from tasks.detect.fit_score import cell_rows
from tasks.env import telemetry_off


class _Timed:
    """Times the training loop (``train_wall_``, ``train_cpu_``) of the detector it is mixed into."""

    def _train(self, net, Xt, gen):
        t, c = time.perf_counter(), time.process_time()
        hist = super()._train(net, Xt, gen)
        self.train_wall_, self.train_cpu_ = time.perf_counter() - t, time.process_time() - c
        return hist


class RSRAEAfter(_Timed, RSRAE):
    pass


class RSRAEBefore(_Timed, RSRAE):
    _plain_autograd = True  # the loop as it was


class PCABefore(PCA):
    _gram_route = False  # scikit-learn's own fit, as it was


def _clock(fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))) if a.size else 0.0


def _cell(ds: str, detector: str, rows: int):
    where, feats, idx, labels, _, _ = representative_cell(ds, 0)
    idx, labels = subset(idx, labels, rows)
    return where, cell_rows(detector, feats.X, idx), labels


def bench_rsrae(ds: str, args) -> None:
    where, X, y = _cell(ds, "rsrae", args.slow_rows)
    print(f"\n# RSRAE {where}: {X.shape[0]} x {X.shape[1]}, {args.epochs} epochs", flush=True)
    for cls in (RSRAEBefore, RSRAEAfter):  # warm-up: torch's lazy initialisation
        cls(epochs=1, random_state=0).fit(X[:64])
    runs: dict[str, list] = {"before": [], "after": []}
    for r in range(args.rounds):
        for name, cls in (("before", RSRAEBefore), ("after", RSRAEAfter)):
            det, wall, cpu = _clock(lambda: cls(epochs=args.epochs, random_state=0).fit(X))
            steps = len(det.history_["ae"])
            runs[name].append((det, wall, cpu))
            print(f"  round {r + 1} {name:6s}: fit+score {wall:7.2f} s wall, {cpu:7.2f} s CPU; training "
                  f"{steps / det.train_wall_:6.2f} steps/s wall, {steps / det.train_cpu_:6.2f} steps/s CPU "
                  f"({steps} steps)  load {os.getloadavg()[0]:.1f}", flush=True)
    best = {k: (min(v[1] for v in runs[k]), min(v[2] for v in runs[k]),
                max(len(v[0].history_["ae"]) / v[0].train_wall_ for v in runs[k]),
                max(len(v[0].history_["ae"]) / v[0].train_cpu_ for v in runs[k])) for k in runs}
    b, a = best["before"], best["after"]
    print(f"  best: fit+score {b[0]:.2f} -> {a[0]:.2f} s wall ({b[0] / a[0]:.2f}x), {b[1]:.2f} -> {a[1]:.2f} s CPU "
          f"({b[1] / a[1]:.2f}x); steps/s {b[2]:.2f} -> {a[2]:.2f} wall ({a[2] / b[2]:.2f}x), "
          f"{b[3]:.2f} -> {a[3]:.2f} CPU ({a[3] / b[3]:.2f}x)")
    old, new = runs["before"][0][0], runs["after"][0][0]
    same_losses = old.history_ == new.history_
    same_weights = all(torch.equal(p, q) for p, q in zip(old.net_.parameters(), new.net_.parameters()))
    same_scores = np.array_equal(old.decision_scores_, new.decision_scores_)
    loss_rel = max(_rel(new.history_[k], old.history_[k]) for k in ("ae", "rsr1", "rsr2"))
    print(f"  bit-identical: losses of every step {same_losses}, weights {same_weights}, scores {same_scores}; "
          f"max rel. loss diff {loss_rel:.3g}, max rel. score diff {_rel(new.decision_scores_, old.decision_scores_):.3g}; "
          f"AUROC {roc_auc_score(y, old.decision_scores_):.6f} -> {roc_auc_score(y, new.decision_scores_):.6f}")


def _pca_parts(X, wide: bool) -> dict:
    """PCA's fit step by step (as baselines.pca.PCA.fit runs it), each part timed: (wall, CPU)."""
    Xd, *t_copy = _clock(lambda: check_array(X, dtype=np.float64))
    (Xs, scaler), *t_std = _clock(lambda: standardizer(Xd, keep_scalar=True))
    if wide:
        _, *t_dec = _clock(lambda: wide_pca(Xs))
    else:
        _, *t_dec = _clock(lambda: SklearnPCA().fit(Xs))
    det = (PCA if wide else PCABefore)().fit(X)
    _, *t_score = _clock(lambda: det._score(Xs))
    return {"float64 copy": t_copy, "standardizer": t_std, "decomposition": t_dec, "scoring": t_score}


def bench_pca(ds: str, args) -> None:
    where, X, y = _cell(ds, "pca", 0)
    print(f"\n# PCA {where}: {X.shape[0]} x {X.shape[1]} (every row)", flush=True)
    PCA().fit(X[:64])
    PCABefore().fit(X[:64])
    runs: dict[str, list] = {"before": [], "after": []}
    for r in range(args.rounds):
        for name, cls in (("before", PCABefore), ("after", PCA)):
            det, wall, cpu = _clock(lambda: cls().fit(X))
            runs[name].append((det, wall, cpu))
            print(f"  round {r + 1} {name:6s}: fit+score {wall:7.2f} s wall, {cpu:7.2f} s CPU  "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    b = (min(v[1] for v in runs["before"]), min(v[2] for v in runs["before"]))
    a = (min(v[1] for v in runs["after"]), min(v[2] for v in runs["after"]))
    print(f"  best: {b[0]:.2f} -> {a[0]:.2f} s wall ({b[0] / a[0]:.2f}x), {b[1]:.2f} -> {a[1]:.2f} s CPU ({b[1] / a[1]:.2f}x)")
    old, new = runs["before"][0][0], runs["after"][0][0]
    print(f"  max rel. score diff {_rel(new.decision_scores_, old.decision_scores_):.3g}; axes kept "
          f"{len(old.selected_w_components_)} -> {len(new.selected_w_components_)} (null {old.n_null_components_} -> "
          f"{new.n_null_components_}); AUROC {roc_auc_score(y, old.decision_scores_):.9f} -> "
          f"{roc_auc_score(y, new.decision_scores_):.9f}")
    if args.parts:
        for name, wide in (("before", False), ("after", True)):
            parts = _pca_parts(X, wide)
            print(f"  where the time goes, {name}: " + ", ".join(
                f"{k} {w:.2f} s wall / {c:.2f} s CPU" for k, (w, c) in parts.items()), flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="rsrae,pca")
    ap.add_argument("--datasets", default="20news,reuters")
    ap.add_argument("--epochs", type=int, default=200, help="RSRAE epochs (the paper's 200 by default)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved before/after pairs")
    ap.add_argument("--slow-rows", type=int, default=1000, help="RSRAE's rows (bench_baselines.py's cap)")
    ap.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    ap.add_argument("--no-parts", dest="parts", action="store_false", help="skip PCA's breakdown")
    args = ap.parse_args(argv)
    telemetry_off()
    torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, {args.threads} thread(s), load {os.getloadavg()}")
    only = args.only.split(",")
    with threadpool_limits(limits=args.threads):
        for ds in [d for d in args.datasets.split(",") if d]:
            if "rsrae" in only:
                bench_rsrae(ds, args)
            if "pca" in only:
                bench_pca(ds, args)


if __name__ == "__main__":
    main()
