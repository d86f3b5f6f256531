"""LUNAR and DIF (baselines.pyod_recent) against PyOD's own classes: AUROC in two protocols, and
seconds per fit at table sizes, on one thread.

Protocols (AUROC, mean +- std over the seeds):

* ``transductive`` (the suite's, and DIF's paper: ``xuhongzuo/deep-iforest`` ``main.py`` fits on
  every row and scores every row): fit on all rows, score them (``decision_scores_``, what a
  table cell keeps).
* ``lunar`` (LUNAR's paper, ``agoodge/LUNAR`` ``utils.load_dataset``): the test set is every
  outlier plus as many inliers drawn at random; the detector is fitted on the other inliers
  only and scores the test set (``decision_function``).

``--pyod`` adds PyOD 3.6.7's own classes (``pyod.models.lunar.LUNAR``, ``pyod.models.dif.DIF``)
for comparison; they seed and read the global RNGs, which is harmless in this script.

Commands (one thread; ``nice`` so other work keeps its share of the CPU)::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/bench_pyod_recent.py auroc \\
        --datasets arrhythmia,odds_pendigits,odds_optdigits --seeds 0,1,2 --pyod
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/bench_pyod_recent.py cost \\
        --sizes 5000x20,12000x100,600x768 --pyod

``cost`` fits on Gaussian rows of each size (seed 0) and prints the seconds of one fit
(``decision_scores_`` included) and of one ``decision_function`` over the same rows.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from baselines.pyod_recent import DIF, LUNAR


def _ours(name: str, seed: int):
    return {"lunar": LUNAR, "dif": DIF}[name](random_state=seed, device="cpu")


def _pyod(name: str, seed: int):
    from pyod.models.dif import DIF as PyODDIF
    from pyod.models.lunar import LUNAR as PyODLUNAR

    if name == "lunar":
        det = PyODLUNAR(random_state=seed)
        det.device = torch.device("cpu")
        det.network = det.network.to(det.device)
        return det
    return PyODDIF(random_state=seed, device="cpu")


def _lunar_split(y: np.ndarray, seed: int):
    """LUNAR's paper split: test = every outlier + as many random inliers; train = other inliers."""
    rng = np.random.default_rng(seed)
    inl, out = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    test_inl = rng.choice(inl, size=min(len(out), len(inl) - 2), replace=False)
    train = np.setdiff1d(inl, test_inl)
    return train, np.r_[test_inl, out]


def _auroc_run(make, name, X, y, seed, protocol):
    det = make(name, seed)
    t0 = time.perf_counter()
    if protocol == "transductive":
        det.fit(X)
        scores = det.decision_scores_
        target = y
    else:
        train, test = _lunar_split(y, seed)
        det.fit(X[train])
        scores = det.decision_function(X[test])
        target = y[test]
    return roc_auc_score(target, scores), time.perf_counter() - t0


def cmd_auroc(args) -> None:
    from tasks.embed import load_features

    makers = [("ours", _ours)] + ([("pyod", _pyod)] if args.pyod else [])
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"{'dataset':16s} {'rows':>6s} {'dim':>4s} {'detector':8s} {'impl':5s} {'protocol':12s} "
          f"{'AUROC mean':>10s} {'std':>6s} {'s/fit':>7s}  per seed")
    for ds in args.datasets.split(","):
        f = load_features(ds)
        X = np.asarray(f.X, dtype=np.float64)
        y = np.asarray(f.y).astype(int)
        for name in args.detectors.split(","):
            for impl, make in makers:
                for protocol in args.protocols.split(","):
                    runs = [_auroc_run(make, name, X, y, s, protocol) for s in seeds]
                    a = np.array([r[0] for r in runs])
                    t = np.mean([r[1] for r in runs])
                    print(f"{ds:16s} {X.shape[0]:6d} {X.shape[1]:4d} {name:8s} {impl:5s} {protocol:12s} "
                          f"{a.mean():10.4f} {a.std():6.4f} {t:7.1f}  {' '.join(f'{v:.4f}' for v in a)}",
                          flush=True)


def cmd_cost(args) -> None:
    makers = [("ours", _ours)] + ([("pyod", _pyod)] if args.pyod else [])
    print(f"{'size':>10s} {'detector':8s} {'impl':5s} {'fit s':>8s} {'score s':>8s}")
    for size in args.sizes.split(","):
        n, d = (int(v) for v in size.split("x"))
        X = np.random.default_rng(0).normal(size=(n, d))
        for name in args.detectors.split(","):
            for impl, make in makers:
                det = make(name, 0)
                t0 = time.perf_counter()
                det.fit(X)
                t1 = time.perf_counter()
                det.decision_function(X)
                t2 = time.perf_counter()
                print(f"{size:>10s} {name:8s} {impl:5s} {t1 - t0:8.1f} {t2 - t1:8.1f}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("auroc")
    a.add_argument("--datasets", default="arrhythmia,odds_pendigits,odds_optdigits")
    a.add_argument("--seeds", default="0,1,2")
    a.add_argument("--protocols", default="transductive,lunar")
    c = sub.add_parser("cost")
    c.add_argument("--sizes", default="5000x20,12000x100,600x768")
    for s in (a, c):
        s.add_argument("--detectors", default="lunar,dif")
        s.add_argument("--pyod", action="store_true", help="also run PyOD's own classes")
        s.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    {"auroc": cmd_auroc, "cost": cmd_cost}[args.cmd](args)


if __name__ == "__main__":
    main()
