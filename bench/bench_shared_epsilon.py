"""What sharing SLA2P's fit across step sizes saves: the ADBench profile's SLA2P and
sla2p_bigstep cells (K = m = 256, threshold 0.6, epsilon 7.8125 and 78.125) as two fits, against
one fit with ``extra_epsilons=(78.125,)``, on the same rows. Prints each wall time, the ratio,
and whether the shared scores equal the separate fit's bit for bit.

    .venv/bin/python bench/bench_shared_epsilon.py                  # adbench_cardiotocography (2,114 rows)
    .venv/bin/python bench/bench_shared_epsilon.py --dataset adbench_wbc --repeats 3

Single-threaded (``torch.set_num_threads(1)``), as the table flow runs a cell; best of
``--repeats`` per variant, the variants interleaved so a loaded machine hurts both alike.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="adbench_cardiotocography")
    ap.add_argument("--rows", type=int, default=None, help="use only the first ROWS rows")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    import numpy as np
    import torch

    from sla2p import SLA2P
    from tasks.embed import features_for

    torch.set_num_threads(1)
    X = features_for(args.dataset, None).X
    X = np.ascontiguousarray(X[: args.rows] if args.rows else X, dtype=np.float32)
    kw = dict(n_projections=256, proj_dim=256, acc_threshold=0.6, device="cpu", random_state=0)
    best = {"two fits": float("inf"), "one shared fit": float("inf")}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        a = SLA2P(epsilon=7.8125, **kw).fit(X)
        b = SLA2P(epsilon=78.125, **kw).fit(X)
        best["two fits"] = min(best["two fits"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        s = SLA2P(epsilon=7.8125, extra_epsilons=(78.125,), **kw).fit(X)
        best["one shared fit"] = min(best["one shared fit"], time.perf_counter() - t0)
    same = np.array_equal(s.decision_scores_, a.decision_scores_) and np.array_equal(s.extra_scores_[0],
                                                                                    b.decision_scores_)
    print(f"{args.dataset}: {X.shape[0]} rows x {X.shape[1]} features, K = m = 256, 1 thread, "
          f"best of {args.repeats}")
    for k, v in best.items():
        print(f"  {k:15s} {v:8.1f} s")
    print(f"  ratio shared / two fits: {best['one shared fit'] / best['two fits']:.3f} "
          f"(three classifier passes per pair plus one, against six: 0.667)")
    print(f"  scores bit-identical to the separate fits: {same}")


if __name__ == "__main__":
    main()
