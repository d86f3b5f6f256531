"""Methods run on their own beside a profile's committed report: per-set means, average ranks,
Friedman with Nemenyi's critical difference, and Wilcoxon tests with Holm's correction, over one
half of the profile or all of its sets.

A detector registered after a profile was run is fitted on its own (``table --methods <names>``);
the other methods' cells are not refitted. This reads the profile's committed
``summary_<metric>.csv`` (full-precision means over seeds per set and method) and each run's, keeps
the sets of the half (``<report>/<half>/table_<metric>.csv``; ``--half all``: the report's own
``table_<metric>.csv``), and prints the comparison. A frozen variant against SLA2P::

    .venv/bin/python bench/bench_variant_merge.py --report docs/results/adbench --half confirmation \\
        --run /work/runs/conf --variant sla2p_rankavg

Detectors added later, SLA2P tested against every method (``--reference``, default the variant,
else sla2p)::

    .venv/bin/python bench/bench_variant_merge.py --report docs/results/adbench --half all \\
        --run /work/runs/succ --reference sla2p

A method in a run and in the report is read from the run. Every set kept must have an ``ok`` mean
for every method; a missing or failed one stops the script, naming it (a rank over a subset would
not be comparable), unless ``--drop-failed`` leaves those sets out and names them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from tasks.report.significance import average_ranks, friedman, wilcoxon_vs
from tasks.report.source import ReportError, newest_file


def summary(path: Path, metric: str) -> pd.DataFrame:
    """A report folder's own summary_<metric>.csv, else the newest one under ``path`` (a results
    folder: its latest table run's report)."""
    own = Path(path) / f"summary_{metric}.csv"
    found = own if own.is_file() else newest_file(path, f"**/summary_{metric}.csv",
                                                   "a report folder or a finished run's --results-dir")
    return pd.read_csv(found)


def half_sets(report: Path, half: str, metric: str) -> list[str]:
    table = report / f"table_{metric}.csv" if half == "all" else report / half / f"table_{metric}.csv"
    if not table.is_file():
        raise SystemExit(f"{table}: not found; --half is 'all' or a folder of the report (development, confirmation)")
    return pd.read_csv(table).dataset.tolist()


def matrix(args, metric: str) -> tuple[pd.DataFrame, list[str]]:
    """Sets × methods of means; and the sets left out for a failed or missing mean (--drop-failed)."""
    sets = half_sets(args.report, args.half, metric)
    runs = pd.concat([summary(r, metric) for r in args.run])
    # a table's row: the dataset, and its ratio for a one-vs-rest set ("20news (p=0.1)")
    both = pd.concat([runs, summary(args.report, metric)]).drop_duplicates(["row", "method"], keep="first")
    both = both[both.row.isin(sets)]
    m = both.pivot_table(index="row", columns="method", values="mean", aggfunc="first").reindex(sets)
    ok = both.pivot_table(index="row", columns="method", values="status", aggfunc="first").reindex(sets).eq("ok")
    bad = ok.fillna(False).astype(bool).eq(False) | m.isna()
    named = sorted(f"{meth}/{ds}" for ds, meth in bad.stack()[lambda s: s].index)
    if named and not args.drop_failed:
        raise SystemExit(f"not ok or missing in the {args.half} sets: {named} (--drop-failed leaves those sets out)")
    dropped = bad.index[bad.any(axis=1)].tolist()
    for name in (args.variant, args.reference):
        if name and name not in m.columns:
            raise SystemExit(f"{name}: no means for it in the report or the runs")
    return m.drop(index=dropped), named


def print_variant(m: pd.DataFrame, variant: str) -> None:
    d = m[variant] - m["sla2p"]
    print(f"| dataset | sla2p | {variant} | diff |\n|---|---|---|---|")
    for name in m.index:
        print(f"| {name} | {m.at[name, 'sla2p']:.3f} | {m.at[name, variant]:.3f} | {d[name]:+.4f} |")
    print(f"\n{variant} beats sla2p on {(d > 0).sum()} of {len(d)} sets "
          f"({(d > 0).mean():.0%}), ties {(d == 0).sum()}; mean diff {d.mean():+.4f}")


def print_ranks(m: pd.DataFrame, reference: str) -> None:
    ranks, n = average_ranks(m)
    print(f"\naverage rank over {n} sets: " + ", ".join(f"{k} {v:.2f}" for k, v in ranks.items()))
    f = friedman(m)
    print(f"\nFriedman p {f.p_value:.2g}; Nemenyi critical difference {f.cd:.2f} ({f.k} methods, {f.n_rows} sets)")
    print(f"\n{reference} is {list(ranks.index).index(reference) + 1} of {len(ranks)}. "
          f"Wilcoxon signed-rank tests of {reference} against each method, Holm over all of them:\n")
    for t in wilcoxon_vs(m, reference=reference):
        print(f"- vs {t.baseline}: wins {t.wins}, ties {t.ties}, losses {t.losses}, p {t.p_value:.3g}, "
              f"Holm {t.p_holm:.3g}: {t.verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--report", type=Path, required=True, help="the profile's committed report folder")
    ap.add_argument("--half", default="confirmation", help="development, confirmation, or all")
    ap.add_argument("--run", type=Path, action="append", required=True,
                    help="a run's --results-dir (or its report); repeat for several runs")
    ap.add_argument("--variant", help="print this method's per-set difference from sla2p")
    ap.add_argument("--reference", help="the method tested against every other (default: the variant, else sla2p)")
    ap.add_argument("--drop-failed", action="store_true", help="leave out sets with a failed or missing mean")
    ap.add_argument("--metrics", default="auroc,aupr")
    args = ap.parse_args()
    args.reference = args.reference or args.variant or "sla2p"
    try:
        for metric in args.metrics.split(","):
            m, named = matrix(args, metric)
            print(f"\n## {metric}: {len(m)} sets ({args.half}), {m.shape[1]} methods")
            if named:
                print(f"\nleft out, a failed or missing mean: {', '.join(named)}")
            if args.variant:
                print_variant(m, args.variant)
            print_ranks(m, args.reference)
    except ReportError as e:
        raise SystemExit(str(e)) from None


if __name__ == "__main__":
    main()
