"""torch.optim.Adam against sla2p.adam.Adam (the same update to the bit, a large parameter in
cache-sized slices) inside the detectors that use it, on bench_baselines.py's representative cells.

For each detector and dataset, the same fit (its seeded subset of ``--rows`` rows, ``--epochs``
epochs: the update's share of a step does not depend on how many there are) runs with torch's
Adam, then with the suite's, ``--rounds`` times INTERLEAVED (min kept, CPU seconds beside the
wall, load average printed, since other jobs may share the machine). Printed: seconds per fit of
each, the ratio, whether the scores are the same to the bit, and the system time and page faults
of each fit in the last round.

    .venv/bin/python bench/bench_adam.py                                   # all, 20news + reuters
    .venv/bin/python bench/bench_adam.py --only neutral_ad --datasets 20news --epochs 2

Before: NeuTraL-AD and DTE built ``torch.optim.Adam`` (its single-tensor update on CPU); RSRAE its
``foreach`` form (the same arithmetic). ``--threads`` (default 1) sets torch's threads.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import time

import numpy as np
import torch
from bench_baselines import representative_cell, subset

import baselines.dte
import baselines.neutral_ad
import baselines.rsrae
from baselines import make_detector

# detector -> (its module, the epochs parameter, torch's Adam as the detector built it before)
DETECTORS = {
    "neutral_ad": (baselines.neutral_ad, "n_epochs", torch.optim.Adam),
    "dte": (baselines.dte, "n_epochs", torch.optim.Adam),
    "rsrae": (baselines.rsrae, "epochs", functools.partial(torch.optim.Adam, foreach=True)),
}


def fit(name: str, X, epochs: int, before: bool) -> tuple[float, float, np.ndarray, tuple[float, int]]:
    module, epochs_param, torch_adam = DETECTORS[name]
    ours = module.Adam
    module.Adam = torch_adam if before else ours
    try:
        det = make_detector(name, random_state=0, **{epochs_param: epochs})
        r0, t, c = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), time.process_time()
        det.fit(X)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        # system time and page faults: what the optimiser's new tensors cost beyond the arithmetic
        return (time.perf_counter() - t, time.process_time() - c, det.decision_scores_,
                (r1.ru_stime - r0.ru_stime, r1.ru_minflt - r0.ru_minflt))
    finally:
        module.Adam = ours


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(DETECTORS))
    ap.add_argument("--datasets", default="20news,reuters")
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.epochs} epochs on {args.rows} rows; "
          f"load {os.getloadavg()[0]:.1f}")
    print("| detector | dataset | columns | torch Adam (s) | sla2p Adam (s) | ratio | same scores "
          "| system s, page faults (torch / sla2p, last round) |")
    print("|---|---|---:|---:|---:|---:|---|---|")
    for ds in args.datasets.split(","):
        where, feats, idx, labels, _, _ = representative_cell(ds, 2000)
        idx, labels = subset(idx, labels, args.rows)
        X = feats.X[idx]
        for name in args.only.split(","):
            # the suite feeds RSRAE the sparse rows and densifies them for the others
            Xn = X.toarray().astype(np.float32) if hasattr(X, "toarray") and name != "rsrae" else X
            best = {True: (np.inf, np.inf), False: (np.inf, np.inf)}
            scores, usage = {}, {}
            for before in (True, False):  # warm-up, untimed (torch.optim's first step imports torch._dynamo)
                fit(name, Xn[:64], 1, before)
            for _ in range(args.rounds):
                for before in (True, False):
                    wall, cpu, scores[before], usage[before] = fit(name, Xn, args.epochs, before)
                    best[before] = (min(best[before][0], wall), min(best[before][1], cpu))
            (wb, cb), (wa, ca) = best[True], best[False]
            same = np.array_equal(scores[True], scores[False])
            print(f"| {name} | {where} | {X.shape[1]:,} | {wb:.2f} (cpu {cb:.2f}) | {wa:.2f} (cpu {ca:.2f}) "
                  f"| x{wb / wa:.2f} | {same} | {usage[True][0]:.1f} s, {usage[True][1]:,} / "
                  f"{usage[False][0]:.1f} s, {usage[False][1]:,} |", flush=True)
    print(f"load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
