"""A committed report's per-set AUROC against the DTE authors' published ADBench tables
(bench/published/dte_readme_adbench.csv: github.com/vicliv/DTE README.md at 0786ae9, 26 methods,
57 sets, seeds 0-4), set by set, for every method both name.

    .venv/bin/python bench/bench_published_compare.py --summary docs/results/adbench/summary_auroc.csv \\
        --summary docs/results/adbench-successors/summary_auroc.csv --setting unsup

The classic detectors are the yardstick: they are deterministic or nearly so, and the same code
(PyOD) on both sides, so their gaps measure what the protocols alone change (the suite fits and
scores every row of a set capped at 12,000; the README's "unsup" fits on a bootstrap sample of the
whole set and scores the whole set; its "semi" fits on half the normals). A successor whose gaps
look like the classic detectors' reproduces the published runs as closely as the protocols allow.

Prints one line per method: sets matched, the median and the largest |ours - theirs|, the median
signed difference, the share of sets within 0.05, and Spearman's correlation over the sets.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

PUBLISHED = Path(__file__).resolve().parent / "published" / "dte_readme_adbench.csv"
# this suite's method name -> the README's
METHODS = {"iforest": "IForest", "knn": "KNN", "lof": "LOF", "ocsvm": "OCSVM", "ecod": "ECOD",
           "copod": "COPOD", "pca": "PCA", "hbos": "HBOS", "deepsvdd": "DeepSVDD", "goad": "GOAD",
           "dif": "DIF", "slad": "SLAD", "dte": "DTE-C", "icl": "ICL"}
WITHIN = 0.05


def set_key(name: str) -> str:
    """ADBench's set name as both sides spell it: 'adbench_magic_gamma' and 'magic.gamma' agree."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower().removeprefix("adbench_"))


def ours(paths: list[str]) -> pd.DataFrame:
    """(set, method) -> mean AUROC over seeds, from reports' summary_auroc.csv (full precision);
    cells that failed or are missing are left out, and a later file wins a (set, method) pair."""
    frames = []
    for path in paths:
        t = pd.read_csv(path)
        t = t[(t["status"] == "ok") & t["mean"].notna()]
        frames.append(t[["dataset", "method", "mean"]].rename(columns={"mean": "ours"}))
    out = pd.concat(frames) if frames else pd.DataFrame(columns=["dataset", "method", "ours"])
    out["set"] = out["dataset"].map(set_key)
    return out.drop_duplicates(["set", "method"], keep="last")


def published(setting: str, path: Path = PUBLISHED) -> pd.DataFrame:
    """(set, method) -> the README's mean and standard deviation for ``setting``, as fractions,
    under this suite's method names (only the methods both name)."""
    t = pd.read_csv(path)
    back = {v: k for k, v in METHODS.items()}
    t = t[(t["setting"] == setting) & t["method"].isin(back)]
    return pd.DataFrame({"set": t["dataset"].map(set_key), "method": t["method"].map(back),
                         "theirs": t["auroc_mean"] / 100, "theirs_std": t["auroc_std"] / 100})


def compare(mine: pd.DataFrame, theirs: pd.DataFrame) -> pd.DataFrame:
    """One row per method both sides have: sets matched, |ours - theirs| (median, max), the median
    signed difference, the share within WITHIN, Spearman's rho over the sets, the worst set."""
    both = mine.merge(theirs, on=["set", "method"]).dropna(subset=["ours", "theirs"])
    if both.empty:
        raise SystemExit("no set and method in common")
    rows = []
    for method, g in both.groupby("method"):
        diff = g["ours"] - g["theirs"]
        rho = spearmanr(g["ours"], g["theirs"]).statistic if len(g) > 2 else float("nan")
        rows.append({"method": method, "sets": len(g), "median_abs": diff.abs().median(),
                     "max_abs": diff.abs().max(), "median_diff": diff.median(),
                     f"within_{WITHIN}": float((diff.abs() <= WITHIN).mean()), "spearman": rho,
                     "worst_set": g.loc[diff.abs().idxmax(), "set"]})
    return pd.DataFrame(rows).sort_values("median_abs")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--summary", action="append", required=True, help="a report's summary_auroc.csv; repeat")
    ap.add_argument("--setting", choices=("unsup", "semi"), default="unsup")
    ap.add_argument("--per-set", default="", help="also print every set of these methods (comma-separated)")
    args = ap.parse_args(argv)
    mine, theirs = ours(args.summary), published(args.setting)
    print(f"ours: {', '.join(args.summary)}; theirs: {PUBLISHED.name} ({args.setting})\n")
    print(compare(mine, theirs).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for method in filter(None, args.per_set.split(",")):
        g = mine[mine["method"] == method].merge(theirs, on=["set", "method"]).sort_values("set")
        g["diff"] = g["ours"] - g["theirs"]
        print(f"\n{method}, set by set:\n" + g[["set", "ours", "theirs", "theirs_std", "diff"]].to_string(
            index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
