"""Build a report folder from a :class:`~tasks.report.source.RunData`; log it to the parent run.

Table runs give: ``table_<metric>.{csv,md,tex}`` and ``summary_<metric>.csv`` per metric,
``ranks_<metric>.csv`` and ``wilcoxon_<metric>.csv`` (raw and Holm-adjusted p), ``audit.csv``,
``training.csv`` (each SLA2P/SLA cell's ``stop_reason``, steps and epochs) and
``training_summary.csv``, plots under ``plots/`` (critical-difference diagram, contamination
curves, ROC/PR of one cell) and ``report.md``, which holds all of it in reading order. Ablation
runs give ``curves.csv`` and ``plots/ablation.png``. ``report.html`` is ``report.md`` as one
self-contained page (plots inlined): what MLflow's artifact viewer renders (:mod:`.html`).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd

from ..cells import DEFAULT_ROW_ORDER, value_text
from ..datasets.halves import halves
from ..metrics import ablation_base, ablation_curves, ablation_effects, cells_frame, effects_summary
from ..track.ui import cells_view_key, is_tracking_server, run_url, runs_url, ui_base
from . import plots
from .audit import audit_markdown, audit_table
from .html import write_html
from .significance import ALPHA, Pairwise, average_ranks, dependence_note, friedman, score_matrix, wilcoxon_vs
from .tables import METRIC_SHORT, check_metric, comparison, to_csv, to_latex, to_markdown
from .training import training_cells, training_markdown, training_summary

DEFAULT_METRICS = ("auroc", "aupr", "ap")


def build_report(run, out_dir: str | Path, *, metrics=DEFAULT_METRICS, ratio: float | None = None,
                 cell: str | None = None) -> dict[str, Path]:
    """Write the report of ``run`` into ``out_dir``; returns name -> path of what was written."""
    metrics = [check_metric(m) for m in metrics]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    head = [f"# Report: {run.run_name}", "",
            f"Parent run `{run.parent_id}` ({run.tracking_uri}); scores from `{run.results_dir}`. "
            f"Built from stored scores without refitting: `sla2p-bench report {run.parent_id}`.", ""]
    status = run.cells.status.value_counts().to_dict()
    if run.experiment_id:
        base = ui_base(run.tracking_uri)
        where = "" if is_tracking_server(run.tracking_uri) else " (served by `sla2p-bench ui`)"
        head += [f"In MLflow's UI{where}: [this run]({run_url(base, run.experiment_id, run.parent_id)}), "
                 f"[its cells with their metrics]({runs_url(base, run.experiment_id, cells_view_key(run.parent_id))}).",
                 ""]
    head.append("Cells: " + ", ".join(f"{v} {k}" for k, v in sorted(status.items())) + ".")
    head += [f"- note: {n}" for n in run.notes]
    body = (_ablation(run, out, files, metrics) if run.kind == "ablation"
            else _table(run, out, files, metrics, ratio, cell))
    failed = run.cells[run.cells.status != "ok"]
    if len(failed):
        body += ["## Failed and missing cells", "", "| cell | status | error |", "|---|---|---|"]
        for _, r in failed.iterrows():
            name = run.records[r.key].name
            err = str(r.error).replace("|", "\\|").replace("\n", " ")[:300]
            body.append(f"| {name} | {r.status} | {err} |")
        body.append("")
    files["report"] = out / "report.md"
    files["report"].write_text("\n".join(head + [""] + body) + "\n")
    files["report.html"] = write_html(files["report"])
    return files


def _table(run, out: Path, files: dict, metrics, ratio, cell) -> list[str]:
    body: list[str] = []
    comps = _comparisons(run.cells, metrics, ratio, out, files)
    for metric, comp in comps.items():
        comp.to_csv(out / f"summary_{metric}.csv", index=False)
        (out / f"table_{metric}.tex").write_text(to_latex(comp, metric, ratio, label=f"tab:sla2p-{metric}"))
        files[f"table_{metric}.tex"] = out / f"table_{metric}.tex"
        body += [f"## {METRIC_SHORT[metric]}", "", (out / f"table_{metric}.md").read_text()]
    body += _variant_lines(comps)
    body += _significance(comps, out, files)
    body += _halves(run, out, files, metrics, ratio)
    # contamination curves, one figure per metric (datasets with several ratios only)
    if ratio is None:
        for metric, comp in comps.items():
            p = plots.contamination_curves(comp, out / "plots" / f"contamination_{metric}.png")
            if p:
                files[p.name] = p
                body += [f"![contamination curves, {METRIC_SHORT[metric]}](plots/{p.name})", ""]
    body += _roc_pr(run, out, files, cell)
    audit, notes = audit_table(run)
    if not audit.empty:
        audit.to_csv(out / "audit.csv", index=False)
        files["audit.csv"] = out / "audit.csv"
    body.append(audit_markdown(audit, notes))
    body += _training(run, out, files)
    return body


def _comparisons(cells, metrics, ratio, out: Path, files: dict, prefix: str = "") -> dict:
    """Each metric's comparison of ``cells``, written as ``table_<metric>.csv`` and ``.md`` in
    ``out`` (listed in ``files`` under ``prefix``): the whole table's and each half's."""
    comps = {}
    for metric in metrics:
        comps[metric] = comp = comparison(cells, metric, ratio)
        to_csv(comp, out / f"table_{metric}.csv")
        (out / f"table_{metric}.md").write_text(to_markdown(comp, metric, ratio))
        files.update({f"{prefix}table_{metric}.{ext}": out / f"table_{metric}.{ext}" for ext in ("csv", "md")})
    return comps


def _training(run, out: Path, files: dict) -> list[str]:
    """Each SLA2P/SLA cell's stop_reason (training.csv) and the counts per method and dataset."""
    cells = training_cells(run)
    if cells.empty:
        return []
    summary = training_summary(cells)
    for name, frame in (("training.csv", cells), ("training_summary.csv", summary)):
        frame.to_csv(out / name, index=False)
        files[name] = out / name
    return [training_markdown(summary, cells)]


def _halves(run, out: Path, files: dict, metrics, ratio) -> list[str]:
    """With ``halves: true`` in the config: the tables, ranks, Friedman/Nemenyi and CD diagram of
    the development half and of the confirmation half (:mod:`tasks.datasets.halves`), each in a
    folder of its own, and how each ``sla2p_<word>`` variant fares against ``sla2p`` there."""
    if not run.config.get("halves"):
        return []
    names = sorted(run.cells.dataset.unique())
    if len(names) < 2:
        return []
    body = ["## Development and confirmation halves", "",
            "The datasets sorted by name; every other one from the first is the development half, the rest "
            "the confirmation half (tasks/datasets/halves.py). A variant is chosen on the first and reported "
            "on the second.", ""]
    for half, members in halves(names).items():
        cells = run.cells[run.cells.dataset.isin(members)]
        sub = out / half
        sub.mkdir(parents=True, exist_ok=True)
        body += [f"### {half.capitalize()} half ({len(members)} datasets)", "", ", ".join(members) + ".", ""]
        comps = _comparisons(cells, metrics, ratio, sub, files, prefix=f"{half}/")
        body += _variant_lines(comps)
        body += [f"Tables: [{half}/table_auroc.md]({half}/table_auroc.md) and the other metrics beside it.", ""]
        body += _significance(comps, sub, files, heading=f"#### Significance, {half} half", link=f"{half}/")
    return body


def _variant_lines(comps: dict) -> list[str]:
    """For each ``sla2p_<word>`` column (the order audit's ``sla2p_official`` aside): on how many
    rows its mean beats ``sla2p``'s published settings, and its place among all methods by
    average rank (ties share the better place). Counts and ranks only: no test, so no p-value to
    correct (the variant's Wilcoxon test against ``sla2p`` is in :func:`wilcoxon_lines`' family)."""
    lines = []
    for metric, comp in comps.items():
        matrix = score_matrix(comp)
        if "sla2p" not in matrix.columns:
            continue
        ranks, n_rank = average_ranks(matrix)
        for m in matrix.columns:
            if not m.startswith("sla2p_") or m == "sla2p_official":
                continue
            both = matrix[["sla2p", m]].dropna()
            wins = int((both[m] > both["sla2p"]).sum())
            line = (f"- {METRIC_SHORT[metric]}: {m} beats sla2p on {wins} of {len(both)} datasets "
                    f"({100 * wins / max(1, len(both)):.0f}%)")
            if n_rank:
                place = 1 + int((ranks < ranks[m]).sum())
                line += (f"; its average rank is {ranks[m]:.2f}, place {place} of {len(ranks)} methods "
                         f"(over the {n_rank} datasets where every method has a value)")
            lines.append(line + ".")
    return lines + [""] if lines else []


def _significance(comps: dict, out: Path, files: dict, heading: str = "## Significance",
                  link: str = "") -> list[str]:
    """Ranks, Wilcoxon, Friedman/Nemenyi and the CD diagram of each metric, written into ``out``;
    ``link`` is ``out`` relative to the report (for the plots' links)."""
    body = [heading, ""]
    for metric, comp in comps.items():
        matrix = score_matrix(comp)
        ranks, n_rank = average_ranks(matrix)
        ranks.rename("average_rank").to_csv(out / f"ranks_{metric}.csv")
        tests = wilcoxon_vs(matrix)
        # the header even with no test (no sla2p column): a file every CSV reader can open
        pd.DataFrame([t.__dict__ for t in tests], columns=[f.name for f in dataclasses.fields(Pairwise)]
                     ).to_csv(out / f"wilcoxon_{metric}.csv", index=False)
        fr = friedman(matrix)
        files.update({f"{link}ranks_{metric}.csv": out / f"ranks_{metric}.csv",
                      f"{link}wilcoxon_{metric}.csv": out / f"wilcoxon_{metric}.csv"})
        body += [f"{'#' * (heading.count('#') + 1)} {METRIC_SHORT[metric]}", "",
                 f"Average rank over the {n_rank} row(s) where every method has a value (1 = best): "
                 + ", ".join(f"{m} {r:.2f}" for m, r in ranks.items()) + ".", ""]
        if n_rank < len(matrix):
            body.append(f"{len(matrix) - n_rank} row(s) left out of the ranks: a method failed or is missing there.")
        note = dependence_note(comp)
        if note:
            body += [f"Note: {note}.", ""]
        body += wilcoxon_lines(tests)
        body += [f"Friedman over {fr.n_rows} row(s) and {fr.k} methods: "
                 + (f"chi2 = {fr.statistic:.2f}, p = {fr.p_value:.3g}; " if not math.isnan(fr.statistic) else "")
                 + fr.verdict + ".", ""]
        if not math.isnan(fr.cd) and n_rank >= 2:
            p = plots.cd_diagram(ranks, fr.cd, n_rank, out / "plots" / f"cd_{metric}.png",
                                 f"{METRIC_SHORT[metric]}: average ranks over {n_rank} rows, Nemenyi CD at 0.05")
            files[f"{link}{p.name}"] = p
            body += [f"![critical difference, {METRIC_SHORT[metric]}]({link}plots/{p.name})", "",
                     nemenyi_caption(fr.k, fr.cd), ""]
    return body


WILCOXON_HEADER = "| method | rows | non-zero | SLA2P wins/ties/losses | median diff | W | p | p_holm | verdict |"


def wilcoxon_lines(tests) -> list[str]:
    """One metric's Wilcoxon tests as Markdown: the family, its Holm correction, the raw and the
    adjusted p of each comparison and the verdict (read from the adjusted p)."""
    if not tests:
        return ["No SLA2P column: no pairwise tests.", ""]
    m = sum(not math.isnan(t.p_value) for t in tests)
    family = (f"These {m} tests with a p-value are one family: p is each test's own, p_holm its Holm step-down "
              f"adjustment over the family (family-wise error at most {ALPHA}), and the verdict reads p_holm."
              if m > 1 else "The one test with a p-value is a family of one: p_holm equals p." if m
              else "No comparison has a p-value.")
    body = ["Wilcoxon signed-rank, two-sided, SLA2P against each method over the table's rows. " + family, "",
            WILCOXON_HEADER, "|---" * 9 + "|"]
    for t in tests:
        p = "n/a" if math.isnan(t.p_value) else f"{t.p_value:.3g}"
        ph = "n/a" if math.isnan(t.p_holm) else f"{t.p_holm:.3g}"
        w = "n/a" if math.isnan(t.statistic) else f"{t.statistic:g}"
        md = "n/a" if math.isnan(t.median_diff) else f"{t.median_diff:+.3f}"
        body.append(f"| {t.baseline} | {t.n_rows} | {t.n_nonzero} | {t.wins}/{t.ties}/{t.losses} | {md} | "
                    f"{w} | {p} | {ph} | {t.verdict} |")
    return body + [""]


def nemenyi_caption(k: int, cd: float) -> str:
    """What the CD diagram's critical difference controls."""
    return (f"The Nemenyi critical difference (CD = {cd:.2f}) controls the family-wise error at {ALPHA} over all "
            f"{k * (k - 1) // 2} pairs of the {k} methods (Demšar, JMLR 2006, §3.2.2): two methods whose average "
            "ranks differ by more than CD differ significantly, with no further correction; it is read after the "
            "Friedman test rejects.")


def _roc_pr(run, out: Path, files: dict, cell: str | None) -> list[str]:
    """ROC and PR curves of the chosen cell (by name or key; default: the first finished SLA2P
    cell), with every other method's curves on the same split."""
    cells = run.cells
    ok = cells[(cells.status == "ok") & (cells.row_order == DEFAULT_ROW_ORDER)]
    if ok.empty:
        return []
    if cell:
        names = {run.records[k].name: k for k in ok.key}
        key = names.get(cell) or (cell if cell in set(ok.key) else None)
        if key is None:
            raise ValueError(f"cell {cell!r} is not a finished cell of this run; e.g. {', '.join(list(names)[:3])}")
    else:
        first = ok[ok.method == "sla2p"] if (ok.method == "sla2p").any() else ok
        key = first.key.iloc[0]
    row = ok[ok.key == key].iloc[0]
    same = ok[(ok.dataset == row.dataset) & (ok.normal_class == row.normal_class) & (ok.seed == row.seed)
              & ((ok.ratio == row.ratio) | (ok.ratio.isna() & pd.isna(row.ratio)))]
    curves = {}
    for _, r in same.iterrows():
        a = run.scores(r.key)
        curves[r.method] = (a["labels"], a["scores"])
    name = run.records[key].name
    split = ("all rows" if pd.isna(row.ratio) else f"normal class {row.normal_class}, contamination p={row.ratio:g}")
    title = f"{row.dataset} ({split}), seed {row.seed}: every method on the same rows"
    p = plots.roc_pr(curves, title, out / "plots" / "roc_pr.png", highlight=row.method)
    files[p.name] = p
    return [f"## ROC and precision-recall: {name} and the other methods on the same split", "",
            "![ROC and PR](plots/roc_pr.png)", ""]


def _ablation(run, out: Path, files: dict, metrics) -> list[str]:
    # each grid point a row of its own (aggregate.variants): the table the flow prints
    _comparisons(run.cells, metrics, None, out, files)
    rows, points = [], []
    for key, pts in run.points.items():
        for pt in pts:
            rows.append(run.records[key])
            points.append(pt)
    if not rows:
        return ["No grid points could be re-derived for this run (see the notes): no curves."]
    curves = ablation_curves(cells_frame(rows), points)
    curves.to_csv(out / "curves.csv", index=False)
    files["curves.csv"] = out / "curves.csv"
    body = ["## Ablation curves", ""]
    if curves.empty:
        return body + ["Every cell failed or is missing: no curves."]
    order = list(dict.fromkeys(k for pt in points for k in pt))
    p = plots.ablation_curves(curves, out / "plots" / "ablation.png", order=order)
    files[p.name] = p
    body += ["![ablation curves](plots/ablation.png)", "", "| parameter | value | dataset | metric | mean | std | seeds |",
             "|---|---|---|---|---|---|---|"]
    rank = {p: i for i, p in enumerate(order)}
    shown = curves.assign(porder=curves.parameter.map(rank), vnum=pd.to_numeric(curves.value, errors="coerce"))
    for r in shown.sort_values(["metric", "porder", "dataset", "vnum"], kind="stable").itertuples():
        value = f"{r.vnum:g}" if pd.notna(r.vnum) else r.value
        body.append(f"| {r.parameter} | {value} | {r.dataset} | {r.metric} | {r.mean:.3f} | {r.std:.3f} | "
                    f"{r.n_seeds} |")
    return body + [""] + _effects(curves, _base_of(run), out, files)


def _base_of(run) -> dict:
    """The base values of a 'separate' grid: from the config where its base spells them out
    (a one-parameter grid too), else the cell every curve shares."""
    cfg = run.config or {}
    grid, params = cfg.get("grid") or {}, (cfg.get("base") or {}).get("params") or {}
    if cfg.get("mode", "separate") == "separate" and grid and all(p in params for p in grid):
        return {p: params[p] for p in grid}
    return ablation_base(run.points)


def _effects(curves, base: dict, out: Path, files: dict) -> list[str]:
    """A 'separate' grid: each one-parameter change against the base, over the datasets (the
    hypothesis table of a diagnosis)."""
    effects = ablation_effects(curves, base)
    if effects.empty:
        return []
    effects.to_csv(out / "effects.csv", index=False)
    files["effects.csv"] = out / "effects.csv"
    summary = effects_summary(effects)
    base_text = ", ".join(f"{k}={value_text(v)}" for k, v in base.items())
    body = ["## Each change against the base", "",
            f"Base: {base_text}. Each row changes one parameter; a dataset counts where both sides finished; "
            "delta = the change's mean over seeds minus the base's.", "",
            "| change | metric | better | worse | datasets | mean delta | median delta | worst delta (dataset) |",
            "|---|---|---|---|---|---|---|---|"]
    for r in summary.itertuples():
        body.append(f"| {r.parameter}={value_text(r.value)} | {r.metric} | {r.better} | {r.worse} | {r.n_datasets} | "
                    f"{r.mean_delta:+.3f} | {r.median_delta:+.3f} | {r.worst_delta:+.3f} ({r.worst_dataset}) |")
    auroc = effects[effects.metric == "auroc"]
    if not auroc.empty:
        change = auroc.parameter + "=" + auroc.value.map(value_text)
        wide = auroc.assign(change=change).pivot_table(index="dataset", columns="change", values="delta",
                                                       sort=False)
        base_col = auroc.drop_duplicates("dataset").set_index("dataset")["base_mean"]
        body += ["", "AUROC of the base and each change's delta, per dataset:", "",
                 "| dataset | base | " + " | ".join(wide.columns) + " |", "|---" * (len(wide.columns) + 2) + "|"]
        for ds, r in wide.iterrows():
            cells = " | ".join("" if pd.isna(v) else f"{v:+.3f}" for v in r)
            body.append(f"| {ds} | {base_col[ds]:.3f} | {cells} |")
    return body + [""]
