"""Per-method, per-dataset cell costs of two measured-costs files side by side (Markdown).

    .venv/bin/python bench/bench_cost_table.py --before OLD.json --after bench/measured_costs.json \
        [--datasets 20news,reuters] [--methods rsrae,pca]

Each figure is a representative cell's seconds as ``bench/bench_baselines.py`` measured it (fit,
plus the extra scoring pass of a subsampled detector), with the CPU it was measured on. The
ratio is before / after; it means a speed-up only when both were measured on the same CPU (the
table says which). A pair measured in only one file shows "-" on the other side.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _seconds(m: dict | None) -> float | None:
    if not m or m.get("status") != "ok":
        return None
    return float(m["fit_seconds"]) + float(m.get("score_seconds") or 0.0)


def rows(before: dict, after: dict, datasets=None, methods=None) -> list[dict]:
    out = []
    names = sorted(set(before["costs"]) | set(after["costs"]))
    for det in names:
        if methods and det not in methods:
            continue
        per_b, per_a = before["costs"].get(det, {}), after["costs"].get(det, {})
        for ds in sorted(set(per_b) | set(per_a)):
            if datasets and ds not in datasets:
                continue
            b, a = per_b.get(ds), per_a.get(ds)
            sb, sa = _seconds(b), _seconds(a)
            out.append({"method": det, "dataset": ds, "before": sb, "after": sa,
                        "cpu_before": (b or {}).get("cpu") or before.get("machine", {}).get("cpu"),
                        "cpu_after": (a or {}).get("cpu") or after.get("machine", {}).get("cpu"),
                        "steps_after": ((a or {}).get("training") or {}).get("steps"),
                        "auroc_before": (b or {}).get("auroc"), "auroc_after": (a or {}).get("auroc")})
    return out


def _fmt(v, spec=".2f") -> str:
    return "-" if v is None else format(v, spec)


def markdown(table: list[dict]) -> str:
    lines = ["| method | dataset | before (s) | after (s) | before / after | AUROC before / after | same CPU |",
             "|---|---|---|---|---|---|---|"]
    for r in table:
        same = r["cpu_before"] == r["cpu_after"]
        ratio = r["before"] / r["after"] if r["before"] and r["after"] else None
        lines.append(f"| {r['method']} | {r['dataset']} | {_fmt(r['before'])} | {_fmt(r['after'])} | "
                     f"{_fmt(ratio) + 'x' if ratio else '-'} | {_fmt(r['auroc_before'], '.3f')} / "
                     f"{_fmt(r['auroc_after'], '.3f')} | {'yes' if same else 'no'} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--datasets", default="")
    ap.add_argument("--methods", default="")
    args = ap.parse_args(argv)
    before, after = (json.loads(Path(p).read_text()) for p in (args.before, args.after))
    sel = lambda s: {x for x in s.split(",") if x} or None  # noqa: E731
    print(markdown(rows(before, after, sel(args.datasets), sel(args.methods))))


if __name__ == "__main__":
    main()
