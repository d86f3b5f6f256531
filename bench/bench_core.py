"""Cost of the SLA2P core (Arrhythmia and KDDCup99 at paper settings): fit and score seconds,
pairs/s, achieved GFLOP/s next to this machine's float32 GEMM rate, and peak RSS; training steps
per second on three input shapes; the wall time of one fresh-process Arrhythmia fit+score.

    .venv/bin/python bench/bench_core.py                  # Arrhythmia (paper settings) + KDD-sized
    .venv/bin/python bench/bench_core.py --kdd-rows 50000  # a random KDD subset, extrapolated
    .venv/bin/python bench/bench_core.py --device cuda     # on a GPU
    .venv/bin/python bench/bench_core.py --cases train,fresh  # training steps/s; fresh-process run

``train``: training steps per second (batches of 128 pairs, paper settings K = m = 256, the
accuracy stop switched off, ``--train-steps`` steps from a fresh start, so the first, smaller
chunks of copies are included) on Arrhythmia (452 x 274, the real rows), on a CIFAR-10-shaped
input (6,600 x 1,280 dense, SYNTHETIC: non-negative random rows, L2-normalised) and on a
20News-shaped input (835 x 10,000, SYNTHETIC TF-IDF-like rows with 50-150 nonzeros each). Each
shape runs in a fresh process; the figure is the best of ``--repeats`` timed runs after one
warm-up run.

``fresh``: ``python -c`` importing ``sla2p``, loading Arrhythmia and fitting SLA2P at the paper's
settings (fit = train + transductive score), timed from outside: import and first-call warm-up
included. Best of ``--repeats``.

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


TRAIN_SHAPES = ("arrhythmia", "cifar10-shaped", "20news-shaped")


def train_shape(shape: str):
    """(X, K, m) of a training-rate shape: see the module docstring (two of them are synthetic)."""
    import numpy as np

    rng = np.random.default_rng(0)
    if shape == "arrhythmia":
        from tasks.embed import load_features

        return np.asarray(load_features("arrhythmia").X, dtype=np.float32), 256, 256
    if shape == "cifar10-shaped":
        return np.abs(rng.standard_normal((6600, 1280), dtype=np.float32)), 256, 256
    if shape == "20news-shaped":
        n, d = 835, 10_000
        X = np.zeros((n, d), dtype=np.float32)
        for i in range(n):
            cols = rng.choice(d, size=int(rng.integers(50, 151)), replace=False)
            X[i, cols] = rng.random(cols.size, dtype=np.float32)
        return X, 256, 256
    raise ValueError(shape)


def train_rate(shape: str, steps: int, repeats: int, device: str = "auto") -> dict:
    """Training steps per second on a shape (best of ``repeats`` runs of ``steps`` steps each)."""
    import torch

    from sla2p import SLA2P
    from sla2p.network import ProjectionClassifier
    from sla2p.training import train_classifier

    X, K, m = train_shape(shape)
    det = SLA2P(n_projections=K, proj_dim=m, random_state=0, device=device)
    X, _ = det._begin_fit(X, None)
    Xt = det._to_tensor(X)
    best = float("inf")
    for r in range(repeats + 1):  # the first run warms up (first calls, allocator)
        gen = torch.Generator().manual_seed(r)
        W = torch.randn(K, X.shape[1], m, generator=gen).to(det.device_)
        net = ProjectionClassifier(m, K, generator=gen).to(det.device_)
        t = time.perf_counter()
        h = train_classifier(net, Xt, W, batch_size=128, lr=1e-3, adam_eps=1e-7, weight_decay=5e-4,
                             acc_threshold=1.0, max_epochs=1, generator=gen, max_steps=steps)
        if det.device_.type == "cuda":
            torch.cuda.synchronize()
        if r:
            best = min(best, time.perf_counter() - t)
    return {"shape": shape, "n": X.shape[0], "d": X.shape[1], "steps": h.steps, "seconds": best,
            "steps_per_s": h.steps / best, "threads": torch.get_num_threads()}


FRESH = ("import time; t = time.perf_counter(); import numpy as np; from sla2p import SLA2P, paper_params; "
         "from tasks.embed import load_features; X = np.asarray(load_features('arrhythmia').X, dtype=np.float32); "
         "d = SLA2P(**paper_params('arrhythmia'), random_state=0).fit(X); "
         "print(time.perf_counter() - t, d.history_['steps'])")


def _in_fresh_process(what: str, args: list[str]) -> dict | None:
    """This script with ``args`` in a fresh process (its own peak RSS); its last line's JSON, or
    None after printing why it failed."""
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"{what}: FAILED\n{out.stderr[-2000:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def fresh_run(repeats: int) -> None:
    """Wall time of a fresh-process Arrhythmia fit+score (import and warm-up included)."""
    walls = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", FRESH], capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - t)
    inner = out.stdout.split()
    print(f"fresh process: Arrhythmia fit+score at paper settings, best of {repeats}: {min(walls):.2f} s wall "
          f"(all: {', '.join(f'{w:.2f}' for w in walls)}; {inner[1]} training steps)")


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
    ap.add_argument("--train-steps", type=int, default=63,
                    help="training steps per timed run (case train; 63 = chunks of 1, 2, 4, 8, 16, 32 batches)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per figure of the train and fresh cases")
    ap.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case in this process
    ap.add_argument("--train-shape", help=argparse.SUPPRESS)  # internal: one training-rate shape
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.device, args.kdd_rows)))
        return
    if args.train_shape:
        print(json.dumps(train_rate(args.train_shape, args.train_steps, args.repeats, args.device)))
        return
    cases = args.cases.split(",")
    if any(c not in ("train", "fresh") for c in cases):
        from tasks.estimate import gemm_rate

        # the rate a case's threads get (torch's default, as the cases run): the estimate's own probe
        rate = gemm_rate()
        print(f"float32 GEMM rate here: {rate:.0f} GFLOP/s (best of short probes at SLA2P's layer shapes)")
    for case in cases:
        if case == "fresh":
            fresh_run(args.repeats)
            continue
        if case == "train":
            for shape in TRAIN_SHAPES:
                r = _in_fresh_process(f"train {shape}", ["--train-shape", shape, "--device", args.device,
                                                        "--train-steps", str(args.train_steps),
                                                        "--repeats", str(args.repeats)])
                if r is None:
                    continue
                print(f"train {r['shape']:<15} n={r['n']:>5} d={r['d']:>6}: {r['steps_per_s']:6.1f} steps/s "
                      f"({r['steps']} steps in {r['seconds']:.2f} s, best of {args.repeats}, {r['threads']} threads)")
            continue
        r = _in_fresh_process(case, ["--case", case, "--device", args.device]
                              + (["--kdd-rows", str(args.kdd_rows)] if args.kdd_rows else []))
        if r is None:
            continue
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
