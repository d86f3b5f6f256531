"""SLA2P's scoring in bfloat16 (``precision="bf16"``) against float32: speed and quality.

Run from the project root, one torch thread, interleaving the two precisions in one process::

    nice -n 10 .venv/bin/python bench/bench_precision.py gemm       # the GEMM ceiling at the scoring shapes
    nice -n 10 .venv/bin/python bench/bench_precision.py speed      # Arrhythmia fit+score, best of 3
    nice -n 10 .venv/bin/python bench/bench_precision.py cifar      # a 6,600 x 1,280 scoring pass
    nice -n 10 .venv/bin/python bench/bench_precision.py quality    # |dAUROC|, |dAUPR| on configs/odds.yaml
    .venv/bin/python bench/bench_precision.py compare --float32 RESULTS_A --bf16 RESULTS_B   # two table runs

``speed``: a fit and score of Arrhythmia at the paper's settings (``sla2p.paper_params``), float32
and bf16 in turn, ``--rounds`` times; the best of each and their ratio. ``cifar``: one scoring pass
(perturbed and unperturbed, as a fit's) of ``--rows`` random rows of 1,280 features (CIFAR-10's
one-class split of the ResNet features) at K = m = 256 with a random classifier. ``quality``: the
datasets of ``configs/odds.yaml`` (its own splits, its SLA2P parameters) x ``--seeds``: each cell
fitted at both precisions; per cell |dAUROC| and |dAUPR| (trapezoid) of SLA2P and of SLA (its
unperturbed scores, the same fit), their median and max over the cells, and per dataset the
largest |dAUROC| beside the seed spread (the standard deviation of float32's AUROC over the seeds).
``compare``: two results folders of the same ``sla2p-bench table`` command, one run with ``--precision
bf16``; the cells of both joined by dataset, class, ratio, method and seed; per method the median and
max of |dAUROC| and |dAUPR|, per dataset the largest |dAUROC| and the cells' summed fit+score seconds
at each precision. A cell that failed in either run is listed, not dropped.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from sla2p.settings import PRECISIONS

ROOT = Path(__file__).resolve().parents[1]


def gemm(args) -> None:
    """Best-of-5 times of one GEMM per shape (m rows of copies, the classifier's layers)."""
    shapes = [(8192, 256, 512), (8192, 512, 1024), (8192, 1024, 256), (8192, 274, 256), (4096, 1024, 512)]
    for M, K, N in shapes:
        a, b = torch.randn(M, K), torch.randn(K, N)
        ab, bb = a.bfloat16(), b.bfloat16()
        t32 = _best(lambda: a @ b, 5)
        t16 = _best(lambda: ab @ bb, 5)
        print(f"({M}x{K})@({K}x{N}): float32 {t32 * 1e3:7.2f} ms ({2 * M * K * N / t32 / 1e9:5.0f} GFLOP/s), "
              f"bf16 {t16 * 1e3:6.2f} ms ({2 * M * K * N / t16 / 1e9:5.0f} GFLOP/s): {t32 / t16:.1f}x")


def speed(args) -> None:
    """Arrhythmia fit+score at the paper's settings, the two precisions interleaved."""
    import sla2p
    from sla2p import SLA2P
    from tasks.embed import load_features

    X = load_features("arrhythmia").X
    params = sla2p.paper_params("arrhythmia")
    times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    scores = {}
    for _ in range(args.rounds):
        for p in PRECISIONS:
            t0 = time.perf_counter()
            det = SLA2P(**params, random_state=0, device="cpu", precision=p).fit(X)
            times[p].append(time.perf_counter() - t0)
            scores[p] = det
    for p in PRECISIONS:
        d = scores[p]
        print(f"{p:8s} fit+score best {min(times[p]):.2f} s of {[round(t, 2) for t in times[p]]} "
              f"(training {d.history_['train_seconds']:.2f} s, {d.history_['steps']} steps)")
    print(f"speed-up bf16 / float32: {min(times['float32']) / min(times['bf16']):.2f}x")


def cifar(args) -> None:
    """One scoring pass of ``--rows`` x 1,280 random rows, K = m = 256, the precisions interleaved."""
    from sla2p.network import ProjectionClassifier, fold_eval
    from sla2p.scoring import normality_score_sets, rows_per_block

    gen = torch.Generator().manual_seed(0)
    K = m = 256
    X = torch.nn.functional.normalize(torch.randn(args.rows, 1280, generator=gen), dim=1)
    W = torch.randn(K, 1280, m, generator=gen)
    f = fold_eval(ProjectionClassifier(m, K, generator=gen).eval())
    steps = [torch.full((args.rows,), 7.8125), None]
    block = rows_per_block(K, m, torch.device("cpu"))
    times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    for _ in range(args.rounds):
        for p in PRECISIONS:
            t0 = time.perf_counter()
            normality_score_sets(f, X, W, steps, block, precision=p)
            times[p].append(time.perf_counter() - t0)
    for p in PRECISIONS:
        print(f"{p:8s} {args.rows} x 1280 scoring pass best {min(times[p]):.1f} s of {[round(t, 1) for t in times[p]]}")
    print(f"speed-up bf16 / float32: {min(times['float32']) / min(times['bf16']):.2f}x")


def quality(args) -> None:
    """Per-cell AUROC and AUPR changes, bf16 against float32, on configs/odds.yaml's datasets."""
    import sla2p

    cfg = yaml.safe_load((ROOT / "configs" / "odds.yaml").read_text())
    rows = []
    for name in args.datasets or list(cfg["datasets"]):
        params = sla2p.paper_params(name) if args.paper_params else cfg["methods"]["sla2p"]["params"]
        for seed in args.seeds:
            cell = _cell_metrics(name, seed, params, args.normal_class, args.ratio)
            rows += cell
            for r in cell:
                print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()),
                      flush=True)
    _summarise(rows)


def _cell_metrics(name: str, seed: int, params: dict, normal_class=None, ratio=None) -> list[dict]:
    from sla2p import SLA2P
    from tasks.datasets.protocol import make_split, take_rows
    from tasks.embed import load_features
    from tasks.metrics import evaluate

    feats = load_features(name)
    split = make_split(name, normal_class, ratio, seed, features=feats)
    X = take_rows(feats.X, split.indices)
    out, fits = [], {}
    for p in PRECISIONS:
        t0 = time.perf_counter()
        fits[p] = SLA2P(**params, random_state=seed, device="cpu", precision=p).fit(X)
        fits[p].seconds = time.perf_counter() - t0
    same_training = all(torch.equal(a, b) for a, b in zip(fits["float32"].classifier_.state_dict().values(),
                                                           fits["bf16"].classifier_.state_dict().values()))
    for method, attr in (("sla2p", "decision_scores_"), ("sla", "unperturbed_scores_")):
        m = {p: evaluate(split.labels, getattr(fits[p], attr)) for p in PRECISIONS}
        out.append({"dataset": name, "seed": seed, "method": method, "n": int(len(split.indices)),
                    "auroc32": float(m["float32"]["auroc"]), "auroc16": float(m["bf16"]["auroc"]),
                    "aupr32": float(m["float32"]["aupr"]), "aupr16": float(m["bf16"]["aupr"]),
                    "s32": fits["float32"].seconds, "s16": fits["bf16"].seconds, "same_training": same_training})
    return out


def _summarise(rows: list[dict]) -> None:
    import pandas as pd

    df = pd.DataFrame(rows)
    df["dauroc"] = (df.auroc16 - df.auroc32).abs()
    df["daupr"] = (df.aupr16 - df.aupr32).abs()
    print(f"\ntraining identical at both precisions in every cell: {bool(df.same_training.all())}")
    for (name, method), g in df.groupby(["dataset", "method"], sort=False):
        print(f"{name} {method}: AUPR float32 by seed {', '.join(f'{v:.4f}' for v in g.aupr32)} "
              f"(std {g.aupr32.std(ddof=1):.4f}), bf16 {', '.join(f'{v:.4f}' for v in g.aupr16)}")
    for method, g in df.groupby("method", sort=False):
        print(f"{method}: {len(g)} cells; |dAUROC| median {g.dauroc.median():.4f} max {g.dauroc.max():.4f}; "
              f"|dAUPR| median {g.daupr.median():.4f} max {g.daupr.max():.4f}")
    print("\n| dataset | rows | SLA2P max abs dAUROC | SLA2P AUROC std over seeds (float32) | "
          "SLA max abs dAUROC | SLA AUROC std | fit+score float32 / bf16 |")
    print("|---|---|---|---|---|---|---|")
    for name, g in df.groupby("dataset", sort=False):
        a, b = g[g.method == "sla2p"], g[g.method == "sla"]
        print(f"| {name} | {a.n.iloc[0]} | {a.dauroc.max():.4f} | {a.auroc32.std(ddof=1):.4f} | "
              f"{b.dauroc.max():.4f} | {b.auroc32.std(ddof=1):.4f} | {a.s32.sum() / a.s16.sum():.2f}x |")


def compare(args) -> None:
    """Per-cell changes between two table runs of one config, float32 and bf16."""
    keys = ["dataset", "normal_class", "ratio", "method", "seed"]
    a, b = _cells(args.float32), _cells(args.bf16)
    df = a.merge(b, on=keys, suffixes=("32", "16"), how="outer", indicator=True)
    bad = df[(df._merge != "both") | (df.status32 != "ok") | (df.status16 != "ok")]
    for _, r in bad.iterrows():
        print(f"not compared: {'/'.join(str(r[k]) for k in keys)}: float32 {r.get('status32')}, "
              f"bf16 {r.get('status16')} {r.get('error16') if isinstance(r.get('error16'), str) else ''}")
    ok = df.drop(bad.index)
    ok = ok.assign(dauroc=(ok.auroc16 - ok.auroc32).abs(), daupr=(ok.aupr16 - ok.aupr32).abs())
    print(f"{len(ok)} cells compared, {len(bad)} not")
    for method, g in ok.groupby("method", sort=False):
        print(f"{method}: {len(g)} cells; |dAUROC| median {g.dauroc.median():.4f} max {g.dauroc.max():.4f}; "
              f"|dAUPR| median {g.daupr.median():.4f} max {g.daupr.max():.4f}; " + _seconds(g))
    print("\n| dataset | method | cells | median abs dAUROC | max abs dAUROC | max abs dAUPR | seconds float32 / bf16 |")
    print("|---|---|---|---|---|---|---|")
    for (name, method), g in ok.groupby(["dataset", "method"], sort=False):
        print(f"| {name} | {method} | {len(g)} | {g.dauroc.median():.4f} | {g.dauroc.max():.4f} | "
              f"{g.daupr.max():.4f} | {g.fit_seconds32.sum():.0f} / {g.fit_seconds16.sum():.0f} |")


def _seconds(g) -> str:
    a, b = g.fit_seconds32.sum(), g.fit_seconds16.sum()
    if not (a and b):
        return "no fit seconds of their own (they share another method's fit)"
    return f"fit+score seconds float32 {a:.0f}, bf16 {b:.0f} ({a / b:.2f}x)"


def _cells(results: Path):
    """The newest cells.csv of a results folder (one per table run under tables/)."""
    import pandas as pd

    from tasks.report.source import newest_file

    found = newest_file(results, "tables/*/cells.csv", "the --results-dir of a finished table run")
    return pd.read_csv(found, dtype={"normal_class": str})


def _best(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["gemm", "speed", "cifar", "quality", "compare"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3, help="speed, cifar: rounds of the two precisions")
    ap.add_argument("--rows", type=int, default=6600, help="cifar: rows scored")
    ap.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2])
    ap.add_argument("--datasets", type=lambda s: s.split(","), default=None, help="quality: default odds.yaml's")
    ap.add_argument("--paper-params", action="store_true", help="quality: the paper's settings of each set "
                    "(sla2p.paper_params) instead of odds.yaml's")
    ap.add_argument("--normal-class", default=None, help="quality: a one-class split (RSRAE protocol)")
    ap.add_argument("--ratio", type=float, default=None, help="quality: the outlier ratio of that split")
    ap.add_argument("--float32", type=Path, help="compare: results folder of the float32 run")
    ap.add_argument("--bf16", type=Path, help="compare: results folder of the --precision bf16 run")
    args = ap.parse_args()
    if args.what == "compare" and not (args.float32 and args.bf16):
        ap.error("compare needs --float32 and --bf16 (the two runs' --results-dir)")
    torch.set_num_threads(args.threads)
    from tasks.report.source import ReportError

    try:
        {"gemm": gemm, "speed": speed, "cifar": cifar, "quality": quality, "compare": compare}[args.what](args)
    except ReportError as e:  # a folder without the run it should hold: say which, no traceback
        raise SystemExit(str(e)) from None


if __name__ == "__main__":
    main()
