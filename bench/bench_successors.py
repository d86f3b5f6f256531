"""AUROC and cost of the successor detectors (NeuTraL-AD, ICL, SLAD, DTE: baselines/neutral_ad.py,
icl.py, slad.py, dte.py; PyOD's DIF and LUNAR: baselines/pyod_recent.py) on three ODDS sets the
papers use, or any suite dataset, next to published figures where one was read.

    nice -n 10 .venv/bin/python bench/bench_successors.py --threads 1
    .venv/bin/python bench/bench_successors.py --detectors slad --datasets odds_wbc --seeds 0
    nice -n 10 .venv/bin/python bench/bench_successors.py --threads 1 --protocols suite
    .venv/bin/python bench/bench_successors.py --params '{"neutral_ad": {"transform_type": "multiplicative"}}'
    .venv/bin/python bench/bench_successors.py --detectors dte,slad,dif --protocols semi,unsup \
        --datasets adbench_thyroid,adbench_wbc,adbench_breastw --seeds 0,1,2,3,4

Five protocols, each over seeds 0, 1, 2 by default (the seed seeds the detector and draws the
split); ``paper`` by default (it is what the papers report, and it keeps the run under ten
minutes), ``--protocols suite,paper`` for two of them:

* ``suite``: the suite's protocol for these intrinsic sets (configs/odds.yaml): fit on every row,
  score every row (transductive), AUROC over all rows.
* ``paper``: the protocol of GOAD, NeuTraL-AD and ICL on tabular data: fit on a random half of
  the normal rows, score the other half with every anomaly; AUROC, and F1 with the anomalies
  taken as the top n_anomalies scores of the test rows (the papers' F1 convention).
* ``semi`` and ``unsup``: the DTE authors' two settings as their code runs them (github.com/
  vicliv/DTE run.py and data_generator.py, ADBench's DataGenerator): a set under 1,000 rows is
  first redrawn to 1,000 rows with replacement, one over 50,000 subsampled to 50,000, from
  NumPy's legacy generator seeded with the seed (so the same rows as theirs). ``semi`` then fits
  on the first half of the normal rows in that order and scores the rest with every anomaly
  (F1 as ``paper``); ``unsup`` fits on a bootstrap sample of the rows, drawn next from the same
  generator, and scores all of them. On a redrawn set a training row may also be a test row.
* ``unsup_shortcut``: ``unsup`` scored as their harness scores DIF. Their copy of DIF
  (``baselines/deep_iforest/dif.py``, ``_inference_transfer``) returns the stored representations
  of the training rows when the rows to score are as many as the training rows, which ``unsup``
  always makes them (a bootstrap of the same size). So the score of training row k, the bootstrap
  draw ``subset[k]``, is paired with the label of row k. This protocol pairs them the same way: it
  scores the training rows and evaluates them against the test rows' labels.

Published figures (``PAPER_FIGURES``): the DTE authors' README tables (bench/published/
dte_readme_adbench.csv: AUROC over seeds 0-4 on ADBench's sets, for DTE-C and for SLAD, DIF and
ICL as they ran them), matched to ``adbench_<set>`` and to ``semi`` and ``unsup``. They are the
DTE authors' runs of SLAD, DIF and ICL, not those papers' own. Spreads are sample standard
deviations over the seeds.

Seconds are fit + scoring of the evaluated rows, wall clock of this process (its load average is
printed). Each detector runs with its defaults, plus the authors' own per-dataset settings where
their code has them (``AUTHOR_SETTINGS``), unless ``--params`` overrides them (``--no-author-settings``
leaves the defaults alone). A published figure is printed where one was read (above); "not found"
otherwise (see docs/explanation/successors.md).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import f1_score, roc_auc_score

from bench_published_compare import PUBLISHED, published

from baselines.dte import DTE
from baselines.icl import ICL
from baselines.neutral_ad import NeuTraLAD
from baselines.pyod_recent import DIF, LUNAR
from baselines.slad import SLAD
from tasks.embed import load_features
from tasks.env import telemetry_off

DETECTORS = {"neutral_ad": NeuTraLAD, "icl": ICL, "slad": SLAD, "dte": DTE, "dif": DIF, "lunar": LUNAR}
DATASETS = ("odds_thyroid", "arrhythmia", "odds_wbc")
PROTOCOLS = ("suite", "paper", "semi", "unsup", "unsup_shortcut")
# protocol -> (the published setting it is compared with, that setting's README table)
PUBLISHED_TABLES = {"semi": ("semi", "Table 1"), "unsup": ("unsup", "Table 2"), "unsup_shortcut": ("unsup", "Table 2")}
DTE_MIN_ROWS, DTE_MAX_ROWS = 1000, 50_000  # their DataGenerator's n_samples_threshold, run.py's max_size


def published_figures(path: Path = PUBLISHED) -> dict[tuple[str, str, str], str]:
    """(detector, dataset, protocol) -> the published figure with its source, for this bench's
    detectors, from the DTE authors' README tables (read by bench_published_compare.published).
    None of NeuTraL-AD's, ICL's or SLAD's own paper tables could be read here
    (docs/explanation/successors.md says where we looked)."""
    out = {}
    for protocol, (setting, table) in PUBLISHED_TABLES.items():
        t = published(setting, path)
        for row in t[t["method"].isin(DETECTORS)].itertuples():
            out[(row.method, f"adbench_{row.set}", protocol)] = (
                f"AUROC {row.theirs:.3f} +- {row.theirs_std:.3f} (DTE README {table}, seeds 0-4)")
    return out


PAPER_FIGURES = published_figures() if PUBLISHED.exists() else {}
# (detector, dataset) -> the authors' own settings for that set, from their code:
# NeuTraL-AD: github.com/boschresearch/NeuTraL-AD config_files/config_thyroid.yml, config_arrhy.yml
#   (enc_nlayers 5 = four hidden layers; StepLR as lr_step; the early stopper is not modelled);
# SLAD: github.com/xuhongzuo/scale-learning config.py epoch_table (10 epochs on both sets).
AUTHOR_SETTINGS: dict[tuple[str, str], dict] = {
    ("neutral_ad", "odds_thyroid"): dict(hidden_sizes=(24,) * 4, latent_dim=24, transform_hidden=24, lr_step=200),
    ("neutral_ad", "arrhythmia"): dict(hidden_sizes=(64,) * 4, latent_dim=32, transform_hidden=200, lr=5e-4,
                                       batch_norm=True, lr_step=100),
    ("slad", "odds_thyroid"): dict(n_epochs=10),
    ("slad", "arrhythmia"): dict(n_epochs=10),
    # DTE: the README's figures come from the authors' code, whose loss is the double softmax.
    **{("dte", f"adbench_{ds}"): dict(probability_loss=True) for ds in ("thyroid", "wbc", "breastw")},
}


def paper_split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices: a seeded random half of the normals; the rest plus all anomalies."""
    normal = np.random.default_rng(seed).permutation(np.flatnonzero(y == 0))
    half = len(normal) // 2
    return np.sort(normal[:half]), np.sort(np.r_[normal[half:], np.flatnonzero(y == 1)])


def dte_split(y: np.ndarray, seed: int, setting: str) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices of the DTE authors' ``setting`` ("semi" or "unsup") for ``seed``,
    drawn as their code draws them (module docstring); indices may repeat."""
    rs = np.random.RandomState(seed)  # their np.random.seed(seed); the draws below follow in order
    rows = np.arange(len(y))
    if len(rows) < DTE_MIN_ROWS:
        rows = rs.choice(rows, DTE_MIN_ROWS, replace=True)
    elif len(rows) > DTE_MAX_ROWS:
        rows = rs.choice(rows, DTE_MAX_ROWS, replace=False)
    if setting == "unsup":
        # their generator's choice of 0 labelled anomalies without replacement still permutes them
        rs.permutation(int((y[rows] == 1).sum()))
        return rows[rs.choice(np.arange(len(rows)), len(rows), replace=True)], rows
    normal, anomalies = rows[y[rows] == 0], rows[y[rows] == 1]
    half = round(0.5 * len(normal))
    return normal[:half], np.r_[normal[half:], anomalies]


def top_k_f1(y: np.ndarray, scores: np.ndarray) -> float:
    """F1 when the n_anomalies highest scores are called anomalies (ties broken by position)."""
    pred = np.zeros_like(y)
    pred[np.argsort(-scores, kind="stable")[: int(y.sum())]] = 1
    return float(f1_score(y, pred))


def run_one(name: str, params: dict, X: np.ndarray, y: np.ndarray, protocol: str, seed: int) -> dict:
    """One fit and scoring; AUROC (and F1 for the paper protocol) and the seconds it took."""
    det = DETECTORS[name](random_state=seed, device="cpu", **params)
    t0 = time.perf_counter()
    if protocol == "suite":
        scores = det.fit(X).decision_scores_
        y_eval = y
    else:
        setting = "unsup" if protocol == "unsup_shortcut" else protocol
        train, test = dte_split(y, seed, setting) if setting in ("semi", "unsup") else paper_split(y, seed)
        # unsup_shortcut: the training rows' scores against the test rows' labels (module docstring)
        scored = train if protocol == "unsup_shortcut" else test
        scores = det.fit(X[train]).decision_function(X[scored])
        y_eval = y[test]
    seconds = time.perf_counter() - t0
    out = {"auroc": float(roc_auc_score(y_eval, scores)), "seconds": seconds}
    if protocol in ("paper", "semi"):
        out["f1"] = top_k_f1(y_eval, scores)
    return out


def summarise(runs: list[dict]) -> str:
    auc = np.array([r["auroc"] for r in runs])
    secs = np.array([r["seconds"] for r in runs])
    ddof = 1 if len(runs) > 1 else 0  # sample standard deviations over the seeds
    text = f"AUROC {auc.mean():.3f} +- {auc.std(ddof=ddof):.3f}"
    if "f1" in runs[0]:
        f1 = np.array([r["f1"] for r in runs])
        text += f"  F1 {f1.mean():.3f} +- {f1.std(ddof=ddof):.3f}"
    return text + f"  fit+score {secs.mean():6.1f} s (min {secs.min():.1f})"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--detectors", default=",".join(DETECTORS))
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--protocols", default="paper")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--params", default="{}", help="JSON: detector -> parameter overrides")
    ap.add_argument("--no-author-settings", action="store_true", help="ignore AUTHOR_SETTINGS")
    args = ap.parse_args(argv)
    unknown = set(args.protocols.split(",")) - set(PROTOCOLS)
    if unknown:
        ap.error(f"unknown protocol(s) {sorted(unknown)}: choose from {', '.join(PROTOCOLS)}")
    telemetry_off()
    torch.set_num_threads(args.threads)
    overrides = json.loads(args.params)
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"threads {args.threads}; load average at start {os.getloadavg()}")
    t_all = time.perf_counter()
    for ds in args.datasets.split(","):
        feats = load_features(ds)
        X, y = np.asarray(feats.X, dtype=np.float32), (np.asarray(feats.y) != 0).astype(int)
        print(f"\n{ds}: {X.shape[0]} rows x {X.shape[1]} features, {int(y.sum())} anomalies")
        for name in args.detectors.split(","):
            params = {} if args.no_author_settings else dict(AUTHOR_SETTINGS.get((name, ds), {}))
            params.update(overrides.get(name, {}))
            for protocol in args.protocols.split(","):
                runs = [run_one(name, params, X, y, protocol, s) for s in seeds]
                paper = PAPER_FIGURES.get((name, ds, protocol), "not found")
                print(f"  {name:10s} {protocol:6s} {summarise(runs)}   paper: {paper}   params {params}", flush=True)
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s; load average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
