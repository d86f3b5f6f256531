"""Does SLA2P's running training accuracy reach the published ``acc_threshold`` on some
RSRAE-style text features? SLA2P at the published settings (``paper_params``), a fixed
``max_epochs``; the features are varied one factor at a time, on one or more splits
(docs/results/tfidf-variants/README.md).

    nice -n 10 .venv/bin/python bench/bench_tfidf_variants.py --dataset 20news --epochs 2 \\
        --variants suite,stop-kept --normal-class 0,1,19 --ratio 0.1 --seed 0 --no-score \\
        --out curves-20news.csv --summary table-20news.csv --plot running-acc-20news.png --logx

A variant is ``today`` (the suite's features up to cache ``tfidf`` version 1: stop words
removed, 10,000 terms for 20News / all terms for Reuters, tf-idf, L2 rows, headers/quotes/
footers stripped; detector ``normalize="l2"``), ``suite`` (the suite's features since
version 2: ``today`` with stop words kept and raw term counts, i.e. ``stop-kept+tf-counts``)
or ``+``-joined overrides of ``today``:

    stop-kept | stop-removed        scikit-learn's English stop-word list off / on
    vocab-10k | vocab-full          the 10,000 most frequent terms / every term
    tf-counts | tf-idf | tf-sublinear   raw term counts / tf-idf / 1+log(tf) times idf
    rows-raw | rows-l2              TfidfVectorizer norm=None / "l2"
    det-none | det-l2               SLA2P(normalize="none") / "l2"
    text-raw | text-stripped        20News: headers, quotes, footers kept / removed
    raw                             shorthand for rows-raw+det-none (the authors' code does not
                                    normalise text rows; rows-raw alone is a no-op under det-l2)

e.g. ``stop-kept+tf-counts+raw``. Every variant's vectoriser is fitted on the WHOLE corpus
(as RSRAE), then the split's rows are taken (``make_split``). ``today`` and ``suite`` are
checked bit-identical to ``tasks.embed.text.tfidf_features`` (with the former's arguments /
its defaults). Where K*d*m*4 bytes of projections would exceed ``--max-proj-gib``, the
columns that are zero in every row of the split are dropped first: they never reach x W_k, so
training is the same in law (the draw of W, and hence the run, differs). Training itself is
the library's, untouched: ``--no-score`` only skips the transductive scoring after it (no
AUROC), and ``--max-steps``/``--max-seconds`` only end a run early (stop reason
``max_steps``/``max_seconds``, recorded by wrapping the history's running-accuracy list).

``--normal-class``, ``--ratio`` and ``--seed`` take comma lists (``--normal-class all``: every
class); every combination is run, variant by variant. Outputs: a table on stdout
(``--summary`` also writes it as CSV), the running-accuracy curve of every run every
``--every`` steps as CSV (``--out``), and optionally a plot of all the runs in that CSV
(``--plot``; ``--plot-runs`` picks variants, ``--logx`` a log step axis). ``--append`` keeps
the other runs (variant, class, ratio, seed) already in ``--out``/``--summary``. Run it under
``nice``; it uses ``--threads`` (1) torch threads.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from sla2p import SLA2P, paper_params
from tasks.datasets import get_spec, make_split, take_rows
from tasks.datasets.text import strip_newsgroups
from tasks.fetch.sources import ensure_files
from tasks.embed import Features
from tasks.embed.text import tfidf_features
from tasks.env import telemetry_off

telemetry_off()  # DVC may be started to fetch the corpus

DEFAULT_CLASS = {"20news": 0, "reuters": "crude"}
TODAY_MAX_FEATURES = {"20news": 10_000, "reuters": None}


@dataclass(frozen=True)
class Variant:
    stop_words: str | None = "english"
    max_features: int | None = 10_000
    weighting: str = "tfidf"  # counts | tfidf | sublinear
    row_norm: str | None = "l2"
    detector_normalize: str = "l2"
    strip: bool = True


OVERRIDES = {
    "stop-kept": {"stop_words": None}, "stop-removed": {"stop_words": "english"},
    "vocab-10k": {"max_features": 10_000}, "vocab-full": {"max_features": None},
    "tf-counts": {"weighting": "counts"}, "tf-idf": {"weighting": "tfidf"},
    "tf-sublinear": {"weighting": "sublinear"},
    "rows-raw": {"row_norm": None}, "rows-l2": {"row_norm": "l2"},
    "det-none": {"detector_normalize": "none"}, "det-l2": {"detector_normalize": "l2"},
    "raw": {"row_norm": None, "detector_normalize": "none"},
    "text-raw": {"strip": False}, "text-stripped": {"strip": True},
}  # fmt: skip


def parse_variant(name: str, dataset: str) -> Variant:
    v = Variant(max_features=TODAY_MAX_FEATURES[dataset])
    for part in name.split("+"):
        if part == "today":
            continue
        if part == "suite":  # the suite's features since tfidf cache version 2
            v = replace(v, **OVERRIDES["stop-kept"], **OVERRIDES["tf-counts"])
            continue
        if part not in OVERRIDES:
            raise SystemExit(f"unknown variant part {part!r}; known: today, {', '.join(OVERRIDES)}")
        if part.startswith("text-") and dataset != "20news":
            raise SystemExit(f"{part} applies to 20news only")
        v = replace(v, **OVERRIDES[part])
    return v


# -- texts -----------------------------------------------------------------------------------
class Corpus:
    """The dataset's texts (for 20News: as the loader gives them, headers, quotes and footers kept,
    and stripped as ``fetch_20newsgroups(remove=...)``) and labels, loaded once."""

    def __init__(self, dataset: str):
        self.dataset = dataset
        spec = get_spec(dataset)
        ensure_files(spec.files)  # load_raw reads the files as they are: pull them first
        raw = spec.load_raw()
        self.y, self.class_names = raw.y, raw.class_names
        # Reuters has no headers: its one text serves both
        self.texts = {False: list(raw.texts)} if dataset == "20news" else {True: list(raw.texts), False: list(raw.texts)}
        self.features: dict[str, sp.csr_matrix] = {}

    def get(self, strip: bool) -> list[str]:
        if strip not in self.texts:
            self.texts[strip] = strip_newsgroups(self.texts[False], ("headers", "footers", "quotes"))
        return self.texts[strip]


def vectoriser(v: Variant, max_features: int | None):
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        lowercase=True, token_pattern=r"(?u)\b\w\w+\b", stop_words=v.stop_words, strip_accents=None,
        min_df=1, max_df=1.0, max_features=max_features, sublinear_tf=v.weighting == "sublinear",
        use_idf=v.weighting != "counts", smooth_idf=True, norm=v.row_norm, dtype=np.float32,
    )  # fmt: skip


def vectorise(texts: list[str], v: Variant) -> sp.csr_matrix:
    """The variant's features over the whole corpus (as RSRAE: transductive)."""
    X = vectoriser(v, v.max_features).fit_transform(texts).tocsr().astype(np.float32)
    X.sort_indices()
    return X


# -- one run ---------------------------------------------------------------------------------
class StepCap(Exception):
    """Raised by :class:`_CappedList` when a run reaches ``--max-steps`` or ``--max-seconds``."""


class _CappedList(list):
    """``history.running_accuracy`` that stops training after a step or wall-clock cap."""

    max_steps: int | None = None
    deadline: float | None = None

    def append(self, x) -> None:
        super().append(x)
        if self.max_steps is not None and len(self) >= self.max_steps:
            raise StepCap("max_steps")
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise StepCap("max_seconds")


_LIVE: list = []  # the TrainingHistory of the run in progress (to recover it after a StepCap)


def install_cap() -> None:
    """Make the library's TrainingHistory record into a capped list. The training loop itself
    is untouched: a cap only ends it early (an exception after the step is recorded)."""
    import sla2p.training as tr

    if getattr(tr.TrainingHistory, "_bench_capped", False):
        return
    base = tr.TrainingHistory

    class CappedHistory(base):
        _bench_capped = True

        def __init__(self, *a, **kw):  # the base dataclass has no __post_init__ hook to extend
            super().__init__(*a, **kw)
            self.running_accuracy = _CappedList(self.running_accuracy)
            _LIVE[:] = [self]

    tr.TrainingHistory = CappedHistory


class TrainOnly(SLA2P):
    """SLA2P whose fit trains and skips the transductive scoring (same training, same draws)."""

    def _finish_fit(self, Xt):
        return self


def fit_capped(det: SLA2P, X: np.ndarray, max_steps: int | None, max_seconds: float | None) -> dict:
    _CappedList.max_steps = max_steps
    _CappedList.deadline = time.perf_counter() + max_seconds if max_seconds else None
    _LIVE.clear()
    t0 = time.perf_counter()
    try:
        det.fit(X)
        return det.history_
    except StepCap as e:
        h = _LIVE[0].as_dict()
        h["stop_reason"] = str(e)
        h["train_seconds"] = time.perf_counter() - t0
        return h
    finally:
        _CappedList.max_steps = _CappedList.deadline = None


def first_crossing(running: np.ndarray, thr: float) -> int | None:
    hit = np.flatnonzero(running > thr)
    return int(hit[0]) + 1 if hit.size else None


def run_variant(name: str, corpus: Corpus, args, today_check: dict, normal_class, ratio: float,
                seed: int) -> tuple[dict, list[dict]]:
    import torch
    from sklearn.metrics import roc_auc_score

    ds = args.dataset
    v = parse_variant(name, ds)
    t0 = time.perf_counter()
    if name not in corpus.features:
        corpus.features = {name: vectorise(corpus.get(v.strip), v)}  # one variant's matrix at a time
    X = corpus.features[name]
    for ref_name, kw in (("today", {"stop_words": "english", "use_idf": True}), ("suite", {"use_idf": False})):
        if v == parse_variant(ref_name, ds) and not today_check.get(ref_name):
            ref = tfidf_features(corpus.get(True), TODAY_MAX_FEATURES[ds], **kw)
            if ref.shape != X.shape or abs(ref - X).max() > 0:
                raise RuntimeError(f"the {ref_name!r} variant differs from tasks.embed.text.tfidf_features({kw})")
            today_check[ref_name] = True
    feats = Features(X=X, y=corpus.y, class_names=corpus.class_names, source_hash="tfidf-variant",
                     extractor=f"tfidf-variant:{name}", key="")
    split = make_split(ds, normal_class, ratio, seed, features=feats)
    Xs = sp.csr_matrix(X)[split.indices]
    params = paper_params(ds)
    K, m = params["n_projections"], params["proj_dim"]
    d_used = Xs.shape[1]
    if K * d_used * m * 4 > args.max_proj_gib * 2**30:
        keep = np.flatnonzero(np.asarray((Xs != 0).sum(axis=0)).ravel())
        Xs = Xs[:, keep]
        d_used = Xs.shape[1]
    Xd = take_rows(Xs, np.arange(Xs.shape[0]))
    t_feat = time.perf_counter() - t0

    cls = SLA2P if args.score else TrainOnly
    det = cls(**params, max_epochs=args.epochs, normalize=v.detector_normalize, device="cpu",
              random_state=seed)
    t1 = time.perf_counter()
    h = fit_capped(det, Xd, args.max_steps, args.max_seconds)
    t_fit = time.perf_counter() - t1
    run = np.asarray(h["running_accuracy"], dtype=np.float64)
    acc = np.asarray(h["accuracy"], dtype=np.float64)
    loss = np.asarray(h["loss"], dtype=np.float64)
    thr = float(params["acc_threshold"])
    cross = first_crossing(run, thr)
    n_steps = len(run)
    tail = acc[-args.tail:] if n_steps else acc
    row = {
        "dataset": ds, "variant": name, "normal_class": split.normal_class, "ratio": ratio, "seed": seed,
        "n": len(split),
        "n_outlier": split.n_outlier, "d": X.shape[1], "d_used": d_used,
        "nnz_per_row": round(Xs.nnz / max(1, Xs.shape[0]), 1),
        "zero_rows": int((np.diff(Xs.indptr) == 0).sum()), "threshold": thr, "epochs": h["epochs"],
        "steps": n_steps, "stop_reason": h["stop_reason"],
        "final_running_acc": round(float(run[-1]), 4) if n_steps else float("nan"),
        f"last{args.tail}_step_acc": round(float(tail.mean()), 4) if n_steps else float("nan"),
        "max_running_acc": round(float(run.max()), 4) if n_steps else float("nan"),
        "crossed_at_step": cross if cross is not None else "",
        "auroc": round(float(roc_auc_score(split.labels, det.decision_scores_)), 4) if args.score and
        h["stop_reason"] in ("acc_threshold", "max_epochs") else "",
        "train_s": round(float(h["train_seconds"]), 1), "fit_s": round(t_fit, 1),
        "features_s": round(t_feat, 1), "torch_threads": torch.get_num_threads(),
    }  # fmt: skip
    curve = []
    e = args.every
    marks = sorted(set(range(e, n_steps + 1, e)) | {1, n_steps} | ({cross} if cross else set()))
    for s in marks:
        if s < 1:
            continue
        lo = max(0, s - e)
        curve.append({"dataset": ds, "variant": name, "normal_class": split.normal_class, "ratio": ratio,
                      "seed": seed, "step": s, "running_accuracy": round(float(run[s - 1]), 5),
                      "window_accuracy": round(float(acc[lo:s].mean()), 5),
                      "window_loss": round(float(loss[lo:s].mean()), 5)})
    return row, curve


# -- output ----------------------------------------------------------------------------------
def run_key(r: dict) -> tuple:
    """A run's identity in the CSVs. Rows written before class/ratio/seed were columns were all
    made at the defaults (20news: alt.atheism, reuters: crude or acq; ratio 0.1, seed 0)."""
    return (r["variant"], str(r.get("normal_class") or ""), str(float(r.get("ratio") or 0.1)),
            str(int(r.get("seed") or 0)))


def merge_csv(path: Path | None, rows: list[dict], append: bool) -> list[dict]:
    if path is None:
        return rows
    old = []
    new_keys = {run_key(r) for r in rows}
    if append and path.exists():
        with open(path, newline="") as f:
            old = [r for r in csv.DictReader(f) if run_key(r) not in new_keys]
    allrows = old + rows
    keys = list(dict.fromkeys(k for r in allrows for k in r))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(allrows)
    return allrows


def print_table(rows: list[dict], tail: int) -> None:
    cols = ["variant", "normal_class", "ratio", "seed", "d_used", "nnz_per_row", "steps", "final_running_acc", f"last{tail}_step_acc",
            "crossed_at_step", "auroc", "fit_s"]
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(cols, widths)))


def plot(curves: list[dict], path: Path, dataset: str, thr: float, title: str, only: str | None = None,
         logx: bool = False) -> None:
    """Running accuracy and window accuracy of every run in ``curves`` (``only``: comma list of
    variants to draw). One colour per variant; one line per (class, ratio, seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if only:
        keep = {x.strip() for x in only.split(",")}
        curves = [r for r in curves if r["variant"] in keep]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    names = list(dict.fromkeys(r["variant"] for r in curves))
    runs: dict[tuple, list[dict]] = {}
    for r in curves:
        runs.setdefault((r["variant"], r.get("normal_class") or "", r.get("ratio") or "", r.get("seed") or ""), []).append(r)
    many = len(runs) > len(names)
    for key, pts in runs.items():
        i = names.index(key[0])
        steps = [int(r["step"]) for r in pts]
        style = {"color": "k" if key[0] == "today" else plt.cm.tab10(i % 10), "lw": 0.9 if many else 1.6,
                 "alpha": 0.7 if many else 1.0}
        label = key[0] if not many or key == next(k for k in runs if k[0] == key[0]) else None
        axes[0].plot(steps, [float(r["running_accuracy"]) for r in pts], label=label, **style)
        axes[1].plot(steps, [float(r["window_accuracy"]) for r in pts], **style)
    for ax, t in zip(axes, ("running accuracy (the stopping statistic)", "per-step accuracy, window mean")):
        ax.axhline(thr, ls="--", c="k", lw=1, label=f"published acc_threshold {thr}" if ax is axes[0] else None)
        ax.set_xlabel("optimiser step (128 pairs)" + (", log scale" if logx else ""))
        if logx:
            ax.set_xscale("log")
        ax.set_title(t, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("training accuracy")
    axes[0].set_ylim(0, 1)
    fig.legend(loc="lower center", ncol=min(4, len(names) + 1), fontsize=8, frameon=False)
    fig.suptitle(title + (f" ({len(runs)} runs)" if many else ""), fontsize=11)
    fig.tight_layout(rect=(0, 0.06 + 0.04 * ((len(names) + 1) // 4), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=("20news", "reuters"), required=True)
    ap.add_argument("--epochs", type=int, default=2, help="SLA2P max_epochs (the threshold may stop it sooner)")
    ap.add_argument("--variants", default="today", help='comma list; see above ("" with --append: table and plot only)')
    ap.add_argument("--normal-class", default=None,
                    help="class name(s) or index(es), comma list, or 'all' (20news: 0, reuters: crude)")
    ap.add_argument("--ratio", default="0.1", help="outlier ratio(s), comma list")
    ap.add_argument("--seed", default="0", help="split seed(s) and SLA2P random_state, comma list")
    ap.add_argument("--no-score", dest="score", action="store_false",
                    help="train only: skip the transductive scoring (no AUROC); training is unchanged")
    ap.add_argument("--max-steps", type=int, default=None, help="stop a run after this many steps (stop_reason max_steps)")
    ap.add_argument("--max-seconds", type=float, default=None, help="stop a run after this much training wall time")
    ap.add_argument("--every", type=int, default=25, help="curve resolution in steps")
    ap.add_argument("--tail", type=int, default=200, help="steps averaged for the last per-step accuracy")
    ap.add_argument("--max-proj-gib", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="curves CSV (required unless --vocab-only)")
    ap.add_argument("--summary", type=Path, default=None, help="table CSV")
    ap.add_argument("--plot", type=Path, default=None, help="PNG of every run in --out")
    ap.add_argument("--logx", action="store_true", help="log-scale steps in --plot")
    ap.add_argument("--plot-runs", default=None, help="comma list of variants to plot (default: all)")
    ap.add_argument("--append", action="store_true", help="keep other variants already in --out/--summary")
    ap.add_argument("--vocab-only", action="store_true", help="print each variant's uncapped vocabulary size; no training")
    args = ap.parse_args()
    if args.out is None and not args.vocab_only:
        ap.error("--out is required")

    import torch

    torch.set_num_threads(args.threads)
    nc = args.normal_class if args.normal_class is not None else DEFAULT_CLASS[args.dataset]
    if nc == "all":
        nc = ",".join(get_spec(args.dataset).classes)
    args.normal_class = str(nc)
    names = [s.strip() for s in args.variants.split(",") if s.strip()]
    for n in names:
        parse_variant(n, args.dataset)
    corpus = Corpus(args.dataset) if names else None  # none: re-tabulate/re-plot --out only
    if args.vocab_only:
        for name in names:
            v = parse_variant(name, args.dataset)
            vec = vectoriser(v, None).fit(corpus.get(v.strip))
            print(f"{args.dataset} {name}: {len(vec.vocabulary_)} terms (uncapped), {len(corpus.y)} documents")
        return
    install_cap()
    rows, curves, check = [], [], {}
    classes = [int(c) if c.isdigit() else c for c in str(args.normal_class).split(",")]
    ratios = [float(r) for r in str(args.ratio).split(",")]
    seeds = [int(x) for x in str(args.seed).split(",")]
    for name, c, ratio, seed in itertools.product(names, classes, ratios, seeds):  # variant-major: one matrix each
        row, curve = run_variant(name, corpus, args, check, c, ratio, seed)
        rows.append(row)
        curves.extend(curve)
        print(f"[{name} | {row['normal_class']} p={ratio} seed={seed}] steps={row['steps']} "
              f"final_running_acc={row['final_running_acc']} crossed_at={row['crossed_at_step'] or '-'} "
              f"stop={row['stop_reason']} auroc={row['auroc']} fit={row['fit_s']}s", flush=True)
        # write as we go: a long run that is stopped keeps what it measured
        merge_csv(args.out, curves, args.append)
        merge_csv(args.summary, rows, args.append)
    all_rows = merge_csv(args.summary, rows, args.append)
    all_curves = merge_csv(args.out, curves, args.append)
    print()
    print_table(all_rows, args.tail)
    if args.plot is not None:
        thr = float(paper_params(args.dataset)["acc_threshold"])
        plot(all_curves, args.plot, args.dataset, thr, f"SLA2P at paper_params('{args.dataset}')", args.plot_runs, args.logx)


if __name__ == "__main__":
    main()
