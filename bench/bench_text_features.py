"""Text features chosen by fidelity and detection (README, Data: "Text features: how they are
chosen"): on each split, SLA2P trained at the published settings by the authors' rule (stop when
the running accuracy passes ``acc_threshold``; ``--epochs`` bounds it, reported), its AUROC/AUPR
and SLA's (the same fit's unperturbed scores), and RSRAE, GOAD and PCA as the table runs them
(registry defaults, ``fit_detector``'s subsample rule), all on the same rows.

    nice -n 5 .venv/bin/python bench/bench_text_features.py --dataset 20news --epochs 8 \\
        --candidates idf,idf-raw,idf-stop,idf-sublinear,tf \\
        --normal-class alt.atheism,comp.graphics,talk.religion.misc \\
        --out docs/results/text-features/dev-20news

Candidates (the README's names; each is a variant of ``bench_tfidf_variants``):
``idf`` scikit-learn's TfidfVectorizer defaults (stop words kept, smoothed IDF, L2 rows), 20News
headers/quotes/footers stripped; ``idf-raw`` the same with them kept (20News only); ``idf-stop``
English stop words removed; ``idf-sublinear`` 1 + log(tf); ``tf`` raw term counts (no IDF).
Writes ``<out>-table.csv`` (one row per split and method) and ``<out>-curves.csv`` (SLA2P's running
accuracy every ``--every`` steps), appending to what is there (a rerun of a run replaces it), and
``<out>-curves.png`` (every run in the curves CSV). ``--plot-only`` redraws the PNG.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

# run as a script, Python puts this folder first on the import path
from bench_tfidf_variants import Corpus, first_crossing, parse_variant, vectorise

from baselines import make_detector
from sla2p import paper_params
from tasks.datasets import get_spec, make_split
from tasks.detect.fit_score import cell_rows, fit_detector
from tasks.embed import Features
from tasks.metrics.evaluate import evaluate

CANDIDATES = {"idf": "stop-kept", "idf-raw": "text-raw+stop-kept", "idf-stop": "today",
              "idf-sublinear": "stop-kept+tf-sublinear", "tf": "suite"}
BASELINES = ("rsrae", "goad", "pca")


def merge(path: Path, rows: list[dict], key: tuple) -> None:
    """Append ``rows`` to the CSV at ``path``, replacing earlier rows with the same ``key`` columns."""
    old = []
    if path.exists():
        with open(path, newline="") as f:
            new = {tuple(str(r[k]) for k in key) for r in rows}
            old = [r for r in csv.DictReader(f) if tuple(str(r[k]) for k in key) not in new]
    allrows = old + rows
    cols = list(dict.fromkeys(k for r in allrows for k in r))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(allrows)
    tmp.replace(path)


def run_split(ds: str, cand: str, X: sp.csr_matrix, corpus: Corpus, normal_class, ratio: float, seed: int,
              epochs: int, every: int, methods: tuple[str, ...]) -> tuple[list[dict], list[dict]]:
    feats = Features(X=X, y=corpus.y, class_names=corpus.class_names, source_hash="text-candidate",
                     extractor=f"tfidf-candidate:{cand}", key="")
    split = make_split(ds, normal_class, ratio, seed, features=feats)
    base = {"dataset": ds, "candidate": cand, "normal_class": split.normal_class, "ratio": ratio,
            "seed": seed, "n": len(split), "n_outlier": split.n_outlier,
            "nnz_per_row": round(X[split.indices].nnz / len(split), 1)}
    rows, curve = [], []
    params = {**paper_params(ds), "max_epochs": epochs}
    thr = params["acc_threshold"]
    det = make_detector("sla2p", random_state=seed, device="cpu", **params)
    t0 = time.perf_counter()
    scores, _ = fit_detector(det, "sla2p", cell_rows("sla2p", X, split.indices), seed)
    fit_s = time.perf_counter() - t0
    h = det.history_
    run = np.asarray(h["running_accuracy"])
    acc = np.asarray(h["accuracy"])
    cross = first_crossing(run, thr)
    steps_per_epoch = -(-len(split) * det.n_projections // det.batch_size)
    train = {"threshold": thr, "max_epochs": epochs, "steps": h["steps"], "epochs": h["epochs"],
             "stop_reason": h["stop_reason"], "crossed_at_step": cross or "",
             "crossed_at_epoch": round(cross / steps_per_epoch, 3) if cross else "",
             "final_running_acc": round(float(run[-1]), 4),
             "last500_step_acc": round(float(acc[-500:].mean()), 4),
             "train_s": round(h["train_seconds"], 1), "steps_per_s": round(h["steps"] / h["train_seconds"], 1)}
    for method, s in (("sla2p", scores), ("sla", det.unperturbed_scores_)):
        m = evaluate(split.labels, s)
        rows.append({**base, "method": method, "auroc": round(m["auroc"], 4), "aupr": round(m["aupr"], 4),
                     "ap": round(m["ap"], 4), "fit_s": round(fit_s, 1), **train})
    marks = sorted(set(range(every, len(run) + 1, every)) | {1, len(run)} | ({cross} if cross else set()))
    for s in marks:
        curve.append({**{k: base[k] for k in ("dataset", "candidate", "normal_class", "ratio", "seed")},
                      "step": s, "running_accuracy": round(float(run[s - 1]), 5),
                      "window_accuracy": round(float(acc[max(0, s - every):s].mean()), 5)})
    for method in methods:
        det = make_detector(method, random_state=seed, device="cpu")
        t0 = time.perf_counter()
        s, _ = fit_detector(det, method, cell_rows(method, X, split.indices), seed)
        m = evaluate(split.labels, s)
        rows.append({**base, "method": method, "auroc": round(m["auroc"], 4), "aupr": round(m["aupr"], 4),
                     "ap": round(m["ap"], 4), "fit_s": round(time.perf_counter() - t0, 1)})
    return rows, curve


def plot(curves: Path, png: Path, threshold: float) -> None:
    """Running accuracy (the stop statistic) and per-step accuracy of every run: one colour per
    candidate, one line per class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(curves, newline="") as f:
        rows = list(csv.DictReader(f))
    runs: dict[tuple, list[dict]] = {}
    for r in rows:
        runs.setdefault((r["candidate"], r["normal_class"]), []).append(r)
    cands = list(dict.fromkeys(k[0] for k in runs))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    for (cand, cls), pts in runs.items():
        colour = plt.cm.tab10(cands.index(cand) % 10)
        first = (cand, cls) == next(k for k in runs if k[0] == cand)
        steps = [int(p["step"]) for p in pts]
        axes[0].plot(steps, [float(p["running_accuracy"]) for p in pts], color=colour, lw=1.1,
                     label=cand if first else None)
        axes[1].plot(steps, [float(p["window_accuracy"]) for p in pts], color=colour, lw=0.8, alpha=0.8)
    for ax, title in zip(axes, ("running accuracy (the stop statistic)", "per-step accuracy, window mean")):
        ax.axhline(threshold, ls="--", c="k", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("optimiser step (128 pairs), log scale")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("training accuracy")
    axes[0].set_ylim(0, 1)
    axes[0].legend(fontsize=8, title=f"dashed: acc_threshold {threshold}", title_fontsize=8)
    fig.suptitle(f"SLA2P at the published settings: {len(runs)} runs ({curves.name})", fontsize=11)
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)


def summarise(table: Path) -> str:
    """Markdown: per candidate, how many splits passed the threshold, and the mean AUROC / AUPR of
    each method over the splits and of the five together (the rule's detection score)."""
    import pandas as pd

    t = pd.read_csv(table)
    methods = [m for m in ("sla2p", "sla", "rsrae", "goad", "pca") if m in set(t.method)]
    out = []
    for metric in ("auroc", "aupr"):
        out += [f"| candidate | splits | passed the threshold | {' | '.join(methods)} | mean of the {len(methods)} |",
                "|---|---|---|" + "---|" * (len(methods) + 1)]
        for cand, g in t.groupby("candidate", sort=False):
            s = g[g.method == "sla2p"]
            passed = int((s.stop_reason == "acc_threshold").sum())
            means = g.pivot_table(index="normal_class", columns="method", values=metric)
            vals = [means[m].mean() if m in means else float("nan") for m in methods]
            both = means[[m for m in methods if m in means]].mean(axis=1).mean()
            out.append(f"| {cand} | {len(s)} | {passed} of {len(s)} | " + " | ".join(f"{v:.3f}" for v in vals)
                       + f" | {both:.3f} |")
        out.append(f"\n({metric.upper()}, mean over the splits)\n")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", choices=("20news", "reuters"), required=True)
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--normal-class", default="", help="comma list of class names")
    ap.add_argument("--ratio", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None, help="SLA2P max_epochs (the bound, reported); required to run")
    ap.add_argument("--methods", default=",".join(BASELINES), help="baselines beside SLA2P/SLA")
    ap.add_argument("--every", type=int, default=25)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True, help="prefix of the two CSVs and the PNG")
    ap.add_argument("--plot-only", action="store_true", help="redraw <out>-curves.png and print the summary")
    args = ap.parse_args()
    curves = args.out.with_name(args.out.name + "-curves.csv")
    png = args.out.with_name(args.out.name + "-curves.png")
    threshold = paper_params(args.dataset)["acc_threshold"]
    if args.plot_only:
        plot(curves, png, threshold)
        print(summarise(args.out.with_name(args.out.name + "-table.csv")))
        return

    if args.epochs is None:
        ap.error("--epochs is required to run (the bound on SLA2P's training)")
    import torch

    torch.set_num_threads(args.threads)
    cands = [c.strip() for c in args.candidates.split(",") if c.strip()]
    for c in cands:
        if c not in CANDIDATES:
            ap.error(f"unknown candidate {c!r}; known: {', '.join(CANDIDATES)}")
        if c == "idf-raw" and args.dataset != "20news":
            ap.error("idf-raw applies to 20news only (Reuters has no headers)")
    classes = [c.strip() for c in args.normal_class.split(",") if c.strip()]
    if not classes:
        ap.error("--normal-class is required (a comma list of class names)")
    known = get_spec(args.dataset).classes
    for c in classes:
        if c not in known:
            ap.error(f"unknown class {c!r} of {args.dataset}; known: {', '.join(known)}")
    methods = tuple(m for m in args.methods.split(",") if m)
    corpus = Corpus(args.dataset)
    key = ("dataset", "candidate", "normal_class", "ratio", "seed")
    for cand in cands:
        v = parse_variant(CANDIDATES[cand], args.dataset)
        X = vectorise(corpus.get(v.strip), v)
        for c in classes:
            rows, curve = run_split(args.dataset, cand, X, corpus, c, args.ratio, args.seed, args.epochs,
                                    args.every, methods)
            merge(args.out.with_name(args.out.name + "-table.csv"), rows, key + ("method",))
            merge(curves, curve, key + ("step",))
            plot(curves, png, threshold)
            r = rows[0]
            print(f"[{args.dataset} {cand} {c}] steps={r['steps']} crossed={r['crossed_at_step'] or '-'} "
                  f"stop={r['stop_reason']} run_acc={r['final_running_acc']} "
                  + " ".join(f"{x['method']}={x['auroc']}" for x in rows), flush=True)


if __name__ == "__main__":
    main()
