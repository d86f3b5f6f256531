"""PNG figures for the reports. matplotlib's object API (``Figure``) only: it draws with the Agg
canvas without touching pyplot's global backend, so it runs headless and in threads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from .tables import METRIC_SHORT

DPI = 110


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _band(ax, x, mean, std, label, **kw):
    line, = ax.plot(x, mean, marker="o", ms=3, label=label, **kw)
    ax.fill_between(x, np.asarray(mean) - np.asarray(std), np.asarray(mean) + np.asarray(std),
                    color=line.get_color(), alpha=0.18, lw=0)


def ablation_curves(curves: pd.DataFrame, path: Path, metrics=("auroc", "aupr"), order=None) -> Path:
    """One panel per (metric, parameter): mean over seeds against the value, one line per
    dataset, a band of ± one std over seeds. ``order``: the parameters' order (the grid's)."""
    params = list(order or dict.fromkeys(curves.parameter))
    params = [p for p in params if p in set(curves.parameter)]
    fig = Figure(figsize=(3.2 * len(params), 2.6 * len(metrics)), layout="constrained")
    axes = fig.subplots(len(metrics), len(params), squeeze=False)
    for i, metric in enumerate(metrics):
        for j, param in enumerate(params):
            ax = axes[i][j]
            sub = curves[(curves.metric == metric) & (curves.parameter == param)]
            values = sorted(set(pd.to_numeric(sub.value, errors="coerce").dropna()))
            # 0 cannot sit on a log axis (epsilon = 0 is SLA): equal spacing, values as labels
            categorical = bool(values) and values[0] <= 0 < values[-1]
            for ds, g in sub.groupby("dataset", sort=False):
                g = g.assign(x=pd.to_numeric(g.value, errors="coerce")).sort_values("x")
                x = g.x.map({v: k for k, v in enumerate(values)}) if categorical else g.x
                _band(ax, x, g["mean"], g["std"], ds)
            if categorical:
                ax.set_xticks(range(len(values)), [f"{v:g}" for v in values], fontsize=7)
            elif values and values[0] > 0 and values[-1] / values[0] >= 8:
                ax.set_xscale("log")
                ax.set_xticks(values, [f"{v:g}" for v in values], fontsize=7)
                ax.minorticks_off()
            ax.set_xlabel(param)
            ax.set_ylabel(METRIC_SHORT[metric])
            ax.grid(alpha=0.3)
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.suptitle("Ablation: mean ± std over seeds of the class-averaged metric", fontsize=9)
    return _save(fig, path)


def contamination_curves(comp: pd.DataFrame, path: Path) -> Path | None:
    """Metric against the contamination ratio p, one panel per dataset that has several ratios,
    one line per method. None when no dataset has two ratios."""
    sub = comp[comp.ratio.notna() & (comp.status == "ok")]
    datasets = [d for d, g in sub.groupby("dataset", sort=False) if g.ratio.nunique() > 1]
    if not datasets:
        return None
    metric = comp.metric.iloc[0]
    fig = Figure(figsize=(4.2 * len(datasets), 3.2), layout="constrained")
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, ds in zip(axes, datasets):
        for method, g in sub[sub.dataset == ds].groupby("method", sort=False):
            g = g.sort_values("ratio")
            _band(ax, g.ratio.astype(float), g["mean"], g["std"], method)
        ax.set_xscale("log")
        ratios = sorted(set(sub[sub.dataset == ds].ratio.astype(float)))
        ax.set_xticks(ratios, [f"{r:g}" for r in ratios], fontsize=7)
        ax.minorticks_off()
        ax.set_xlabel("contamination ratio p")
        ax.set_ylabel(METRIC_SHORT[metric])
        ax.set_title(ds, fontsize=9)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return _save(fig, path)


def roc_pr(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str, path: Path,
           highlight: str | None = None) -> Path:
    """ROC and precision-recall curves, one line per method on the same split; ``highlight``
    (the chosen cell's method) is drawn thick and black."""
    from sklearn.metrics import auc as area

    fig = Figure(figsize=(9.5, 3.8), layout="constrained")
    ax_roc, ax_pr = fig.subplots(1, 2)
    colors = _colors(len(curves))
    for (method, (labels, scores)), color in zip(curves.items(), colors):
        style = {"lw": 2.2, "color": "black", "zorder": 5} if method == highlight else {"lw": 1.0, "color": color}
        fpr, tpr, _ = roc_curve(labels, scores)
        ax_roc.plot(fpr, tpr, label=f"{method} ({area(fpr, tpr):.3f})", **style)
        prec, rec, _ = precision_recall_curve(labels, scores)
        ax_pr.plot(rec, prec, label=f"{method} ({area(rec, prec):.3f})", **style)
    ax_roc.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    base = float(np.mean(next(iter(curves.values()))[0]))
    ax_pr.axhline(base, color="grey", lw=0.8, ls="--")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (legend: AUROC)")
    ax_pr.set(xlabel="recall", ylabel="precision", title="precision-recall, outliers positive (legend: AUPR, trapezoid)")
    for ax in (ax_roc, ax_pr):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="lower right" if ax is ax_roc else "upper right", ncol=2 if len(curves) > 7 else 1)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def cd_diagram(ranks: pd.Series, cd: float, n_rows: int, path: Path, title: str = "") -> Path:
    """Critical-difference diagram: methods on the average-rank axis (1 = best); methods joined
    by a bar do not differ by more than the Nemenyi CD."""
    k = len(ranks)
    half = (k + 1) // 2
    depth = 0.45
    fig = Figure(figsize=(7.5, 1.3 + depth * 0.5 * half), layout="constrained")
    ax = fig.subplots()
    lo, hi = 0.6, k + 0.4
    ax.set_xlim(lo, hi)
    ax.invert_xaxis()  # best (rank 1) on the right, as in Demšar's figures
    ax.axhline(0, color="black", lw=1)
    ax.set_yticks([])
    for s in ("left", "right", "top", "bottom"):
        ax.spines[s].set_visible(False)
    ax.set_xticks(range(1, k + 1))
    ax.xaxis.set_ticks_position("top")
    order = ranks.sort_values()
    # elbows: the better half to the right edge, the worse half to the left; the extreme ranks get
    # the shortest elbows so that no line crosses another
    for i, (m, r) in enumerate(order.items()):
        if i < half:
            y, x_end, ha = -depth * (i + 1), lo, "left"
        else:
            y, x_end, ha = -depth * (k - i), hi, "right"
        ax.plot([r, r, x_end], [0, y, y], color="black", lw=0.7)
        ax.text(x_end, y, f" {m} ({r:.2f}) " if ha == "left" else f" ({r:.2f}) {m} ", va="center", ha=ha,
                fontsize=7)
    ax.set_ylim(-depth * (half + 0.5), 0.5)
    # cliques: maximal runs of methods whose rank spread is within the CD
    if np.isfinite(cd):
        vals = order.to_numpy()
        level = 0
        last_end = -1
        for i in range(k):
            j = i
            while j + 1 < k and vals[j + 1] - vals[i] <= cd:
                j += 1
            if j > i and j > last_end:
                level += 1
                ax.plot([vals[i], vals[j]], [0.25 * level] * 2, color="tab:red", lw=2.5)
                last_end = j
        top = 0.25 * (level + 1) + 0.1
        ax.plot([hi, hi - cd], [top, top], color="black", lw=1.5)
        ax.text(hi - cd / 2, top + 0.08, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=7)
        ax.set_ylim(-depth * (half + 0.5), top + 0.5)
    ax.set_title(title or f"average ranks over {n_rows} rows (Nemenyi, alpha 0.05)", fontsize=8)
    return _save(fig, path)
