"""The comparison table as the paper lays it out: datasets (and ratios) by methods, mean ± std
over seeds of the class-averaged metric, best per row in bold; CSV, Markdown and LaTeX.

A failed or missing group is written as such (``failed (k/n)``, ``missing (k/n)``), never as a
number, and it is never the best of its row. The caption states the fit-subsample rule of every
method in the table whose rule applied to some of its cells (the registry's ``max_fit_rows``:
fitted on a seeded subsample, every row scored).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..metrics import cell_text, comparable, row_label, summary_frame, variants
from ..metrics.aggregate import BOUND_MARK
from ..metrics.evaluate import TIE_GAIN_FLAG

METRIC_TEXT = {
    "auroc": "AUROC (area under the ROC curve)",
    "aupr": "AUPR as the trapezoidal area under the precision-recall curve (sklearn auc(recall, precision), "
            "the paper's definition)",
    "ap": "AUPR as average precision (sklearn average_precision_score)",
}
METRIC_SHORT = {"auroc": "AUROC", "aupr": "AUPR (trapezoid)", "ap": "AUPR (average precision)"}
PREFERRED_FIRST = ("sla2p", "sla")
TIE_MARK = "†"


def check_metric(metric: str) -> str:
    if metric not in METRIC_TEXT:
        raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(METRIC_TEXT)}")
    return metric


def method_order(cells: pd.DataFrame) -> list[str]:
    """SLA2P and SLA first, then the others in the order the config lists them."""
    seen = list(dict.fromkeys(cells.method))
    return [m for m in PREFERRED_FIRST if m in seen] + [m for m in seen if m not in PREFERRED_FIRST]


def comparison(cells: pd.DataFrame, metric: str = "auroc", ratio: float | None = None) -> pd.DataFrame:
    """Long form, one row per (table row, method): mean, std, n_seeds, n_cells, status, best.

    ``ratio`` keeps one contamination ratio (datasets without ratios, the intrinsic ones, stay).
    """
    check_metric(metric)
    cells = variants(cells)  # an ablation's grid points are rows of their own, never averaged together
    s = summary_frame(cells, metric)
    if s.empty:
        raise ValueError("no comparable cells (only order-audit cells?)")
    if ratio is not None:
        keep = s.ratio.isna() | np.isclose(s.ratio.astype(float), float(ratio))
        if not (keep & s.ratio.notna()).any() and s.ratio.notna().any():
            have = sorted(set(s.ratio.dropna()))
            raise ValueError(f"ratio {ratio:g} is not in this run (ratios: {', '.join(f'{r:g}' for r in have)})")
        s = s[keep]
    s = s.copy()
    s["status"] = np.where(s.n_failed > 0, "failed", np.where(s.n_missing > 0, "missing", "ok"))
    s["row"] = [row_label(d, r) for d, r in zip(s.dataset, s.ratio)]
    datasets = list(dict.fromkeys(cells.dataset))
    s["_d"] = s.dataset.map({d: i for i, d in enumerate(datasets)})
    s["_r"] = s.ratio.astype(float).fillna(-1.0)
    methods = method_order(cells)
    s["_m"] = s.method.map({m: i for i, m in enumerate(methods)})
    s = s.sort_values(["_d", "_r", "_m"]).drop(columns=["_d", "_r", "_m"]).reset_index(drop=True)
    s["tie_flag"] = _tie_flags(cells, s) if metric == "aupr" else False
    s["best"] = False
    for _, g in s[(s.status == "ok") & ~s.tie_flag].groupby("row", sort=False):  # a flagged cell is never best
        top = g["mean"].round(3).max()  # best as printed: ties at 3 decimals are all bold
        s.loc[g.index[g["mean"].round(3) == top], "best"] = True
    s["metric"] = metric
    s["fit_rule"] = s.method.map(_fit_rules(cells))
    s["bf16"] = s.method.map(_bf16(cells))
    return s


def _bf16(cells: pd.DataFrame) -> dict:
    """method -> whether some cell of the method was scored in bfloat16 (``precision`` bf16)."""
    if "param.precision" not in cells:
        return {m: False for m in cells.method.unique()}
    return (cells["param.precision"] == "bf16").groupby(cells.method, sort=False).any().to_dict()


def bf16_methods(comp: pd.DataFrame) -> list[str]:
    """The methods of a comparison with cells scored in bfloat16, in method order (the caption
    says so: their values are not float32's to the bit)."""
    if "bf16" not in comp:
        return []
    return [m for m, b in comp.drop_duplicates("method")[["method", "bf16"]].itertuples(index=False)
            if isinstance(b, (bool, np.bool_)) and b]


def _fit_rules(cells: pd.DataFrame) -> dict:
    """method -> its detector's fit-subsample rule in words, when the rule applied to some cell of
    the method (None otherwise: no rule, not registered here, or every cell fitted on all its rows)."""
    from baselines import detector_info

    det = (cells.drop_duplicates("method").set_index("method").detector.to_dict() if "detector" in cells
           else {})
    out = {}
    for m, g in cells.groupby("method", sort=False):
        try:
            info = detector_info(det.get(m) or m)
        except ValueError:  # a method whose detector is not registered here: no rule to state
            out[m] = None
            continue
        out[m] = info.fit_rule() if info.fit_rule() and any(_subsampled(info, r) for r in g.itertuples()) else None
    return out


def _subsampled(info, cell) -> bool:
    """Whether a cell was fitted on a subsample: its rows fitted (``fit_rows``) below its rows
    (``n_rows``); without ``fit_rows``, what the rule gives for its rows; without either, the rule
    may have applied (True: the caption states it)."""
    n, fitted = getattr(cell, "n_rows", np.nan), getattr(cell, "fit_rows", np.nan)
    if pd.isna(n):
        return True
    return (info.fit_rows(int(n)) if pd.isna(fitted) else int(fitted)) < int(n)


def fit_rules(comp: pd.DataFrame) -> list[str]:
    """The distinct fit-subsample rules of the methods in a comparison, in method order."""
    if "fit_rule" not in comp:
        return []
    return list(dict.fromkeys(r for r in comp.drop_duplicates("method").fit_rule if isinstance(r, str) and r))


def _tie_flags(cells: pd.DataFrame, s: pd.DataFrame) -> np.ndarray:
    """Where ties inflate the trapezoidal AUPR: any cell of the group gains more than
    ``TIE_GAIN_FLAG`` from its tied scores (see :mod:`tasks.metrics.evaluate`)."""
    if "aupr_tie_gain" not in cells:
        return np.zeros(len(s), dtype=bool)
    gain = comparable(cells).groupby(["dataset", "ratio", "method"], dropna=False).aupr_tie_gain.max()
    return np.array([bool(gain.get((d, r, m), 0.0) > TIE_GAIN_FLAG) for d, r, m in zip(s.dataset, s.ratio, s.method)])


def wide(comp: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Rows by methods, strings; a ``best`` column names the row's best method(s)."""
    comp = comp.assign(text=[cell_text(r, digits) + (TIE_MARK if r.get("tie_flag", False) else "")
                             for _, r in comp.iterrows()])
    rows = list(dict.fromkeys(comp.row))
    methods = list(dict.fromkeys(comp.method))
    t = comp.pivot(index="row", columns="method", values="text").reindex(index=rows, columns=methods)
    t = t.fillna("not run")
    t["best"] = [", ".join(comp[(comp.row == r) & comp.best].method) for r in rows]
    t.index.name = "dataset"
    t.columns.name = None
    return t


def bounded(comp: pd.DataFrame) -> bool:
    """Whether some value of a comparison has cells whose training ran to ``max_epochs``."""
    return bool("n_max_epochs" in comp and (comp.n_max_epochs.fillna(0) > 0).any())


def caption(metric: str, ratio: float | None = None, rules: list[str] | tuple = (), bound: bool = False,
            bf16: list[str] | tuple = ()) -> str:
    """The table's caption; ``rules``: the fit-subsample rules of its methods (:func:`fit_rules`);
    ``bound``: some value is marked :data:`BOUND_MARK` (:func:`bounded`); ``bf16``: the methods
    with cells scored in bfloat16 (:func:`bf16_methods`)."""
    where = f" at contamination ratio p={ratio:g}" if ratio is not None else ""
    ties = (f" {TIE_MARK}: tied scores inflate the trapezoid here (with the ties broken at random the area "
            f"drops by more than {TIE_GAIN_FLAG}; see the AP table); such a cell is never marked best."
            if metric == "aupr" else "")
    subs = "".join(f" Subsample: {r}." for r in rules)
    stop = (f" {BOUND_MARK}: training of some of its cells ran to max_epochs without reaching acc_threshold "
            f"(listed in the report's training section)." if bound else "")
    low = (f" {_and(bf16)} scored in bfloat16 (precision bf16, as --precision bf16 sets; training in float32)."
           if bf16 else "")
    return (f"{METRIC_TEXT[metric]}{where}: mean ± standard deviation over seeds of the average over normal "
            f"classes; best per row in bold; failed/missing cells are marked, never averaged.{ties}{stop}{subs}{low}")


def _and(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def to_csv(comp: pd.DataFrame, path, digits: int = 3) -> None:
    wide(comp, digits).to_csv(path)


def to_markdown(comp: pd.DataFrame, metric: str, ratio: float | None = None, digits: int = 3) -> str:
    t = wide(comp, digits).drop(columns="best")
    best = {(r.row, r.method) for r in comp.itertuples() if r.best}
    lines = [caption(metric, ratio, fit_rules(comp), bounded(comp), bf16_methods(comp)), "",
             "| dataset | " + " | ".join(t.columns) + " |", "|---|" + "---|" * len(t.columns)]
    for row, vals in t.iterrows():
        cells = [f"**{v}**" if (row, m) in best else (f"*{v}*" if not v[0].isdigit() else v)
                 for m, v in vals.items()]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_TEX = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "†": r"\dag{}",
        "‡": r"\ddag{}"}


def tex_escape(s: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(s))


def to_latex(comp: pd.DataFrame, metric: str, ratio: float | None = None, digits: int = 3,
             label: str | None = None) -> str:
    """A ``table`` environment with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    t = wide(comp, digits).drop(columns="best")
    best = {(r.row, r.method) for r in comp.itertuples() if r.best}
    cols = list(t.columns)
    out = [r"\begin{table}[t]", r"\centering", r"\small",
           rf"\caption{{{tex_escape(caption(metric, ratio, fit_rules(comp), bounded(comp), bf16_methods(comp)))}}}",
           rf"\label{{{label or 'tab:' + metric}}}",
           r"\begin{tabular}{l" + "c" * len(cols) + "}", r"\toprule",
           "Dataset & " + " & ".join(tex_escape(c) for c in cols) + r" \\", r"\midrule"]
    for row, vals in t.iterrows():
        cells = []
        for m, v in vals.items():
            if v[0].isdigit():
                mark = r"\dag{}" if v.endswith(TIE_MARK) else ""
                body = v.removesuffix(TIE_MARK).replace(" ± ", r" $\pm$ ").replace(BOUND_MARK, r"\ddag{}") + mark
                cells.append(rf"\textbf{{{body}}}" if (row, m) in best else body)
            else:
                cells.append(rf"\textit{{{tex_escape(v)}}}")
        out.append(tex_escape(row) + " & " + " & ".join(cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"
