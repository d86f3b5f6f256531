"""DeepSVDD and AutoEncoder on the text cells: PyOD's own code on the densified TF-IDF rows (what
the table ran before issue 26) against the sparse path of baselines.sparse_deep (what it runs
now), same seed, interleaved in one process (PyOD, sparse, PyOD, sparse, ...; the minimum of
``--repeats`` is kept), one torch thread.

    .venv/bin/python bench/bench_text_deep.py --noise               # both cells, both detectors
    .venv/bin/python bench/bench_text_deep.py --cells 20news --only autoencoder --repeats 3

The cells: 20 Newsgroups, normal class talk.politics.mideast, and Reuters-21578, normal class
acq, ratio 0.1, seed 0 (tasks.datasets.make_split). Reuters' cell (2,398 rows) is cut to 1,000
rows by bench/bench_baselines.py's rule for the trained networks (a numpy default_rng(0) choice,
sorted). Seconds are one ``fit`` (training plus scoring the fitted rows, which are the whole cell),
the dense side timed on rows densified beforehand. Printed per (cell, detector): seconds of each,
the ratio, max |score difference| (and relative to the largest score), both AUROCs, and the load
average (the machine is shared: read ratios, not seconds). ``--noise`` adds PyOD's own score
change under a 2-thread fit (same seed): the size of a rounding-level difference after training.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.metrics import roc_auc_score

CELLS = {"20news": "talk.politics.mideast", "reuters": "acq"}
SLOW_ROWS = 1000  # bench/bench_baselines.py --slow-rows: the networks' rows per measured cell
PARAMS = {"deepsvdd": {}, "autoencoder": {"device": "cpu"}}


def cell(ds: str):
    """(CSR float32 rows, labels) of the cell, cut to SLOW_ROWS rows as bench_baselines does."""
    from tasks.datasets import make_split
    from tasks.embed import load_features, load_labels

    y, _, _ = load_labels(ds)
    split = make_split(ds, CELLS[ds], 0.1, 0, y=y)
    idx, labels = split.indices, split.labels
    if len(idx) > SLOW_ROWS:
        keep = np.sort(np.random.default_rng(0).choice(len(idx), size=SLOW_ROWS, replace=False))
        idx, labels = idx[keep], labels[keep]
    X = sp.csr_matrix(load_features(ds).X, dtype=np.float32)[np.asarray(idx, dtype=np.int64)]
    return X, np.asarray(labels)


def timed_fit(name: str, X, seed: int) -> tuple[float, np.ndarray]:
    from baselines import make_detector

    det = make_detector(name, random_state=seed, **PARAMS[name])
    t = time.perf_counter()
    det.fit(X)
    return time.perf_counter() - t, np.asarray(det.decision_scores_, dtype=np.float64)


def thread_noise(name: str, Xd, seed: int, dense_scores) -> str:
    """PyOD against itself: the same fit with 2 torch threads (another GEMM summation order)."""
    torch.set_num_threads(2)
    try:
        _, other = timed_fit(name, Xd, seed)
    finally:
        torch.set_num_threads(1)
    d = np.abs(dense_scores - other)
    return f"  [PyOD 1 vs 2 threads: max|diff| {d.max():.3g} (rel {d.max() / np.abs(dense_scores).max():.2g})]"


def compare(ds: str, name: str, X, labels, repeats: int, seed: int, noise: bool) -> None:
    Xd = X.toarray()
    dense_t, sparse_t = [], []
    loads = [os.getloadavg()[0]]
    for _ in range(repeats):  # interleaved: the machine's load hits both alike
        t, dense_scores = timed_fit(name, Xd, seed)
        dense_t.append(t)
        t, sparse_scores = timed_fit(name, X, seed)
        sparse_t.append(t)
        loads.append(os.getloadavg()[0])
    diff = np.abs(dense_scores - sparse_scores)
    print(f"{ds:8s} {name:12s} {X.shape[0]:5d} x {X.shape[1]:6d} nnz {X.nnz:8d}  "
          f"PyOD dense {min(dense_t):7.2f} s  sparse {min(sparse_t):7.2f} s  ratio {min(dense_t) / min(sparse_t):5.2f}x  "
          f"max|diff| {diff.max():.3g} (rel {diff.max() / np.abs(dense_scores).max():.2g})  "
          f"AUROC dense {roc_auc_score(labels, dense_scores):.6f} sparse {roc_auc_score(labels, sparse_scores):.6f}  "
          f"load {min(loads):.1f}-{max(loads):.1f}" + (thread_noise(name, Xd, seed, dense_scores) if noise else ""),
          flush=True)


def paired_seeds(ds: str, normal_class: str, name: str, seeds: int) -> None:
    """AUROC of PyOD's dense fit and the sparse path on the same seeds, paired: is the sparse path's
    AUROC shifted, or does it only move as a rounding-sensitive training does?"""
    from sklearn.metrics import roc_auc_score

    CELLS[ds] = normal_class
    X, y = cell(ds)
    Xd = X.toarray()
    d = []
    for seed in range(seeds):
        a, s = (roc_auc_score(y, timed_fit(name, rows, seed)[1]) for rows in (Xd, X))
        d.append(s - a)
        print(f"{ds}/{normal_class} {name} seed {seed}: PyOD {a:.4f}  sparse {s:.4f}  diff {s - a:+.4f}", flush=True)
    d = np.array(d)
    t = d.mean() / (d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    print(f"{ds}/{normal_class} {name}: mean diff {d.mean():+.4f} (sd {d.std(ddof=1):.4f}), t {t:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", default="20news,reuters")
    ap.add_argument("--only", default="autoencoder,deepsvdd")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", action="store_true",
                    help="also fit PyOD with 2 torch threads: how far PyOD's scores move under another rounding")
    ap.add_argument("--paired-seeds", type=int, default=0,
                    help="instead: AUROC of PyOD and the sparse path on seeds 0..N-1 of --class, paired")
    ap.add_argument("--class", dest="normal_class", default="talk.politics.mideast",
                    help="the normal class of the --paired-seeds cell (of the first of --cells)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.paired_seeds:
        for name in args.only.split(","):
            paired_seeds(args.cells.split(",")[0], args.normal_class, name, args.paired_seeds)
        return
    from baselines import make_detector

    warm = sp.random(64, 50, density=0.1, format="csr", random_state=0, dtype=np.float32)
    for name in args.only.split(","):  # untimed warm-up: numba's JIT (PyOD's score), torch's lazy init
        make_detector(name, random_state=0, **PARAMS[name]).fit(warm.toarray())
        make_detector(name, random_state=0, **PARAMS[name]).fit(warm)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} thread(s), seed {args.seed}, "
          f"min of {args.repeats} interleaved repeats")
    for ds in args.cells.split(","):
        X, labels = cell(ds)
        for name in args.only.split(","):
            compare(ds, name, X, labels, args.repeats, args.seed, args.noise)


if __name__ == "__main__":
    main()
