"""A variant's own run set beside a profile's committed report: per-set means, wins against SLA2P,
average ranks and Wilcoxon tests with Holm's correction, over one half of the profile.

A variant frozen after a profile was run is fitted on its own (``table --methods <variant>``); the
other methods' cells are not refitted. This reads the profile's committed ``summary_<metric>.csv``
(full-precision means over seeds per set and method) and the variant run's, keeps the sets of
one half (the sets of ``<report>/<half>/table_<metric>.csv``), and prints the comparison::

    .venv/bin/python bench/bench_variant_merge.py --report docs/results/adbench --half confirmation \\
        --run /work/runs/conf --variant sla2p_rankavg

Every set of the half must have an ``ok`` mean for every method, the variant's included; a missing
or failed one stops the script, naming it (a rank over a subset would not be comparable).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from tasks.report.significance import average_ranks, wilcoxon_vs


def summary(path: Path, metric: str) -> pd.DataFrame:
    """The newest summary_<metric>.csv under ``path`` (a report folder or a results folder)."""
    found = sorted(Path(path).glob(f"**/summary_{metric}.csv"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit(f"{path}: no summary_{metric}.csv below it")
    return pd.read_csv(found[-1])


def matrix(args, metric: str) -> pd.DataFrame:
    half = pd.read_csv(args.report / args.half / f"table_{metric}.csv").dataset.tolist()
    both = pd.concat([summary(args.report, metric), summary(args.run, metric)])
    both = both[both.dataset.isin(half)]
    bad = both[both.status != "ok"]
    if len(bad):
        raise SystemExit(f"not ok: {sorted(set(bad.method + '/' + bad.dataset))}")
    m = both.pivot_table(index="dataset", columns="method", values="mean", aggfunc="first").reindex(half)
    missing = m.columns[m.isna().any()].tolist()
    if args.variant not in m.columns or missing:
        raise SystemExit(f"missing means in the {args.half} half: {missing or [args.variant]}")
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--report", type=Path, required=True, help="the profile's committed report folder")
    ap.add_argument("--half", default="confirmation")
    ap.add_argument("--run", type=Path, required=True, help="the variant run's --results-dir (or its report)")
    ap.add_argument("--variant", required=True)
    ap.add_argument("--metrics", default="auroc,aupr")
    args = ap.parse_args()
    for metric in args.metrics.split(","):
        m = matrix(args, metric)
        d = m[args.variant] - m["sla2p"]
        print(f"\n## {metric}: {len(m)} sets of the {args.half} half, {m.shape[1]} methods")
        print(f"| dataset | sla2p | {args.variant} | diff |\n|---|---|---|---|")
        for name in m.index:
            print(f"| {name} | {m.at[name, 'sla2p']:.3f} | {m.at[name, args.variant]:.3f} | {d[name]:+.4f} |")
        print(f"\n{args.variant} beats sla2p on {(d > 0).sum()} of {len(d)} sets "
              f"({(d > 0).mean():.0%}), ties {(d == 0).sum()}; mean diff {d.mean():+.4f}")
        ranks, n = average_ranks(m)
        print(f"\naverage rank over {n} sets: " + ", ".join(f"{k} {v:.2f}" for k, v in ranks.items()))
        print(f"\n{args.variant} is {list(ranks.index).index(args.variant) + 1} of {len(ranks)}. "
              f"Wilcoxon signed-rank tests of {args.variant} against each method, Holm over all of them:\n")
        for t in wilcoxon_vs(m, reference=args.variant):
            print(f"- vs {t.baseline}: wins {t.wins}, ties {t.ties}, losses {t.losses}, p {t.p_value:.3g}, "
                  f"Holm {t.p_holm:.3g}: {t.verdict}")


if __name__ == "__main__":
    main()
