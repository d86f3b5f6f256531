"""Cost of the SLA2P core (Arrhythmia and KDDCup99 at paper settings): fit and score seconds,
pairs/s, achieved GFLOP/s next to this machine's float32 GEMM rate, and peak RSS.

    .venv/bin/python bench/bench_core.py                  # Arrhythmia (paper settings) + KDD-sized
    .venv/bin/python bench/bench_core.py --kdd-rows 50000  # a random KDD subset, extrapolated
    .venv/bin/python bench/bench_core.py --device cuda     # on a GPU

Each case runs in a fresh process so peak RSS is its own. FLOPs are counted analytically by
:func:`sla2p.network.pair_flops`: one classifier pass on a (sample, projection) pair costs
:func:`sla2p.network.classifier_flops` = 2 * (m*2m + 2m*4m + 4m*K); scoring runs three (forward,
backward to the input, forward again), a training step three per pair (forward, backward to
activations and weights); projecting costs 2*d*m per pair (scoring: per sample and projection,
as one GEMM).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def load_case(case: str, kdd_rows: int | None):
    """The features of a case (through tasks.embed) and the paper's SLA2P settings for it."""
    import numpy as np

    from sla2p import paper_params
    from tasks.datasets import take_rows
    from tasks.embed import load_features

    if case == "arrhythmia":
        return load_features("arrhythmia").X, paper_params("arrhythmia")
    if case == "kdd":
        # The real KDDCup99 10% (494,021 x 118 after one-hot), or kdd_rows random rows of it.
        f = load_features("kddcup99")
        n = min(kdd_rows or f.shape[0], f.shape[0])
        X = take_rows(f.X, np.random.default_rng(0).permutation(f.shape[0])[:n])
        return X, paper_params("kddcup99")
    raise ValueError(case)


def run_case(case: str, device: str, kdd_rows: int | None) -> dict:
    import numpy as np
    import torch

    from sla2p import SLA2P
    from sla2p.network import pair_flops

    X, params = load_case(case, kdd_rows)
    n, d = X.shape
    K, m = params["n_projections"], params["proj_dim"]
    det = SLA2P(random_state=0, device=device, **params)
    t = time.perf_counter()
    det.fit(X)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    scores = det.decision_function(X)
    if det.device_.type == "cuda":
        torch.cuda.synchronize()
    score_s = time.perf_counter() - t
    assert np.allclose(scores, det.decision_scores_, atol=1e-4)
    train_s = det.history_["train_seconds"]
    pairs_trained = det.history_["steps"] * det.batch_size
    train_flop = pairs_trained * pair_flops(d, m, K, passes=3)
    score_flop = n * K * pair_flops(d, m, K, passes=3)
    return {
        "case": case, "n": n, "d": d, "K": K, "m": m, "device": str(det.device_),
        "threads": torch.get_num_threads(),
        "fit_s": fit_s, "train_s": train_s, "train_steps": det.history_["steps"],
        "score_s": score_s, "pairs_per_s": n * K / score_s,
        "train_gflops": train_flop / train_s / 1e9, "score_gflops": score_flop / score_s / 1e9,
        "score_gflop_total": score_flop / 1e9,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="arrhythmia,kdd")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--kdd-rows", type=int, default=None, help="random rows of KDDCup99 (default: all 494,021)")
    ap.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case in this process
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.device, args.kdd_rows)))
        return
    from tasks.estimate import gemm_rate

    rate = gemm_rate(seconds=2.0, rows=16384)
    print(f"float32 GEMM rate here: {rate:.0f} GFLOP/s")
    for case in args.cases.split(","):
        cmd = [sys.executable, __file__, "--case", case, "--device", args.device]
        if args.kdd_rows:
            cmd += ["--kdd-rows", str(args.kdd_rows)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{case}: FAILED\n{out.stderr[-2000:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['case']:<11} n={r['n']:>7} d={r['d']:>4} K={r['K']:>3} m={r['m']:>3} on {r['device']} "
              f"({r['threads']} threads)\n"
              f"  fit {r['fit_s']:7.2f} s  (train {r['train_s']:.2f} s, {r['train_steps']} steps, "
              f"{r['train_gflops']:.0f} GFLOP/s = {100 * r['train_gflops'] / rate:.0f}% of GEMM)\n"
              f"  score {r['score_s']:7.2f} s  {r['pairs_per_s']:,.0f} pairs/s, {r['score_gflop_total']:,.0f} GFLOP, "
              f"{r['score_gflops']:.0f} GFLOP/s = {100 * r['score_gflops'] / rate:.0f}% of GEMM\n"
              f"  fit+score (one transductive run = fit) {r['fit_s']:.2f} s; peak RSS {r['peak_rss_mb']:,.0f} MB")
        if args.kdd_rows and case == "kdd":
            print(f"  extrapolated to 494,021 rows: score {r['score_s'] * 494_021 / r['n']:.0f} s")


if __name__ == "__main__":
    main()
