"""Holm-correct the committed reports' Wilcoxon tests, without refitting: every
``docs/results/**/wilcoxon_<metric>.csv`` gets ``p_holm`` (Holm's step-down adjustment over the
file's own ``p_value`` column: one table and metric is one family) and the verdict read from it,
and the significance sections of the ``report.md`` beside it are rewritten as the report code now
writes them (the Wilcoxon table with p and p_holm, and under each CD diagram what the Nemenyi
critical difference controls). A ``report.html`` beside a rewritten ``report.md`` is rebuilt
from it. Prints every verdict that changed.

    .venv/bin/python bench/bench_holm_rebuild.py            # rewrite the files, print what changed
    .venv/bin/python bench/bench_holm_rebuild.py --check    # change nothing; exit 1 if a file would change

Holm needs only the family's raw p-values, so this is exact. Running it twice changes nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
from pathlib import Path

import pandas as pd

from tasks.report.build import WILCOXON_HEADER, nemenyi_caption, wilcoxon_lines
from tasks.report.html import write_html
from tasks.report.significance import Pairwise, nemenyi_cd, with_holm
from tasks.report.tables import METRIC_SHORT

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
FIELDS = [f.name for f in dataclasses.fields(Pairwise)]
INTRO = "Wilcoxon signed-rank, two-sided, SLA2P against each method"
FRIEDMAN = re.compile(r"^Friedman over (\d+) row\(s\) and (\d+) methods")
METRIC_OF = {v: k for k, v in METRIC_SHORT.items()}


def corrected(csv: Path) -> tuple[pd.DataFrame, list[Pairwise]]:
    """The file's tests as one family, Holm-adjusted; returns (the file as read, the tests)."""
    w = pd.read_csv(csv)
    rows = w.assign(p_holm=math.nan)[FIELDS].to_dict("records")
    return w, with_holm([Pairwise(**r) for r in rows])


def csv_changes(csv: Path, write: bool) -> tuple[list[str], list[Pairwise]]:
    old, tests = corrected(csv)
    new = pd.DataFrame([t.__dict__ for t in tests])
    changes = [f"  {t.baseline}: p = {t.p_value:.3g} -> p_holm = {t.p_holm:.3g}: {v!r} -> {t.verdict!r}"
               for t, v in zip(tests, old.verdict) if v != t.verdict]
    text = new.to_csv(index=False)
    if csv.read_text() != text:
        changes.insert(0, f"{csv.relative_to(ROOT)}: p_holm written")
        if write:
            csv.write_text(text)
    return changes, tests


def wilcoxon_block(lines: list[str], start: int) -> int:
    """The end (exclusive) of the Wilcoxon paragraph and table that begin at ``start``."""
    i = start + 1
    while i < len(lines) and not lines[i].startswith("|"):
        i += 1
    while i < len(lines) and lines[i].startswith("|"):
        i += 1
    return i


def check_same_tests(old_rows: list[str], tests: list[Pairwise], where: str) -> None:
    """The table in report.md and the CSV are the same tests (name and raw p, as printed)."""
    got = [(r.split("|")[1].strip(), r.split("|")[7].strip()) for r in old_rows[2:]]
    want = [(t.baseline, "n/a" if math.isnan(t.p_value) else f"{t.p_value:.3g}") for t in tests]
    if got != want:
        raise SystemExit(f"{where}: the report's Wilcoxon table does not match its CSV:\n{got}\n{want}")


def rewrite_report(report: Path, families: dict[tuple[str, str], list[Pairwise]]) -> list[str]:
    """report.md with each Wilcoxon table from its family and the CD captions; returns its lines."""
    lines, out = report.read_text().split("\n"), []
    half, metric, friedman, i = "", None, None, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            title = line.lstrip("#").strip()
            m = re.fullmatch(r"Significance, (\w+) half", title)
            half = m.group(1) if m else ("" if title == "Significance" else half)
            metric = METRIC_OF.get(title, metric)
        if m := FRIEDMAN.match(line):
            friedman = int(m.group(1)), int(m.group(2))
        if line.startswith(INTRO):
            end = wilcoxon_block(lines, i)
            tests = families[(half, metric)]
            table = [ln for ln in lines[i:end] if ln.startswith("|")]
            check_same_tests(table, tests, f"{report} ({half or 'all'}, {metric})")
            out += wilcoxon_lines(tests)[:-1]
            i = end
            continue
        out.append(line)
        if line.startswith("![critical difference") and friedman:
            n, k = friedman
            caption = nemenyi_caption(k, nemenyi_cd(k, n))
            if lines[i + 1:i + 3] != ["", caption]:
                out += ["", caption]
        i += 1
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    args = ap.parse_args()
    changed = False
    for report in sorted(RESULTS.rglob("report.md")):
        csvs = sorted(report.parent.glob("wilcoxon_*.csv")) + sorted(report.parent.glob("*/wilcoxon_*.csv"))
        if not csvs:
            continue
        families = {}
        for csv in csvs:
            changes, tests = csv_changes(csv, write=not args.check)
            half = "" if csv.parent == report.parent else csv.parent.name
            families[(half, csv.stem.removeprefix("wilcoxon_"))] = tests
            if changes:
                print("\n".join(changes))
                changed = True
        text = "\n".join(rewrite_report(report, families))
        if text != report.read_text():
            changed = True
            print(f"{report.relative_to(ROOT)}: significance sections rewritten")
            if not args.check:
                report.write_text(text)
                if report.with_suffix(".html").exists():
                    write_html(report)
                    print(f"{report.with_suffix('.html').relative_to(ROOT)}: rebuilt from report.md")
    print("changed" if changed else "nothing to change")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
