"""The authors' SLA2P code (github.com/wyzjack/SLA2P) against this project's, side by side on this
machine: one Arrhythmia fit+score each, on CPU, one torch thread, each in a fresh ``python -c``
process timed from outside (interpreter start, imports and first-call warm-up included), run
interleaved authors, ours, authors, ours, ... Prints each run's wall seconds, AUROC (sklearn
``roc_auc_score`` on the same labels: the project's Arrhythmia split, seed 0, all 452 rows,
transductive), the load average before and after, then the best of each side and the ratio.

    .venv/bin/python bench/bench_authors.py --authors-dir /path/to/SLA2P-checkout --rounds 2
    .venv/bin/python bench/bench_authors.py --authors-dir ... --precision bf16   # ours scoring in bfloat16

The project never ships the authors' code: ``--authors-dir`` is a checkout the user provides. It
runs as published, with the README's Arrhythmia settings (``--n_rots 256 --d_out 256
--acc_thres 0.6 --epsilon 1000``), its batch size (128), its float64 copies and its per-projection
scoring loop, through ``run_experiments_intrinsic`` with run index 0. What the driver changes:

- ``torch.Tensor.cuda`` and ``torch.nn.Module.cuda`` return ``self`` (their code calls ``.cuda()``
  unconditionally); so it runs on CPU.
- ``Data_Loader`` (which reads ``./data/arrhythmia.mat``) returns the project's Arrhythmia matrix
  as float64, as the .mat gives, with their label convention (1 = normal); the arrays are handed
  over in an .npz, so the authors' side does not pay the project's loader imports.
- Stand-ins for modules their checkout imports but does not hold or this venv lacks: ``misc``
  (``AverageMeter``, the usual pytorch-classification helper), ``eval_accuracy``
  (``simple_accuracy``, as in E3Outlier, which their code derives from) and ``torchvision`` (only
  their image datasets use it; empty modules here).
- ``sys.argv`` holds the README's Arrhythmia command line, which their module parses on import.
- ``train_self_supervised`` and ``save_roc_pr_curve_data`` are wrapped (the originals still run)
  to time training and to keep the scores; their own ``roc_auc`` (normal = positive on their
  scores, written to an .npz in a temporary folder) is printed next to ours as a check.

This project's side is bench/bench_core.py's ``fresh`` command (``FRESH``), with one statement
appended after it that saves the scores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_core import FRESH

from sla2p.settings import PRECISIONS

ROOT = Path(__file__).resolve().parents[1]

# The README's Arrhythmia command line (their module runs argparse on import).
AUTHORS_ARGV = ["sla2p.py", "--dataset", "arrhythmia", "--n_rots", "256", "--d_out", "256",
                "--acc_thres", "0.6", "--epsilon", "1000"]

AUTHORS_RUN = r'''
import json, queue, sys, time, types
t0 = time.perf_counter()
data_path, threads, scores_path, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
import numpy as np
import torch
torch.set_num_threads(threads)

# Their .cuda() calls become no-ops: run on CPU.
torch.Tensor.cuda = lambda self, *a, **k: self
torch.nn.Module.cuda = lambda self, *a, **k: self

# Stand-ins for modules their checkout imports but lacks (misc, eval_accuracy) or this venv lacks
# (torchvision, used only for image data).
steps = [0]
class AverageMeter(object):
    def __init__(self):
        self.reset()
    def reset(self):
        self.val = 0; self.avg = 0; self.sum = 0; self.count = 0
    def update(self, val, n=1):
        self.val = val; self.sum += val * n; self.count += n; self.avg = self.sum / self.count
def simple_accuracy(output, target):
    steps[0] += 1  # called once per training step: counts them
    output = output.numpy()
    target = target.numpy().ravel()
    res = np.argmax(output, axis=1)
    correct = np.sum(res == target)
    return correct / target.shape[0]
for name, attrs in (("misc", {"AverageMeter": AverageMeter}),
                    ("eval_accuracy", {"simple_accuracy": simple_accuracy}),
                    ("torchvision", {}), ("torchvision.models", {}),
                    ("torchvision.transforms", {}), ("torchvision.datasets", {})):
    mod = types.ModuleType(name); mod.__dict__.update(attrs); sys.modules[name] = mod
for sub in ("models", "transforms", "datasets"):
    setattr(sys.modules["torchvision"], sub, sys.modules["torchvision." + sub])

sys.argv = argv
import sla2p

d = np.load(data_path)
X, y_normal = d["X"], d["y_normal"]
class Loader:  # instead of reading ./data/arrhythmia.mat
    def get_dataset(self, name):
        return X, y_normal
sla2p.Data_Loader = Loader

times = {}
train, save = sla2p.train_self_supervised, sla2p.save_roc_pr_curve_data
def timed_train(*a, **k):
    times["train0"] = time.perf_counter(); train(*a, **k); times["train1"] = time.perf_counter()
def keep(scores, labels, path):
    times["scored"] = time.perf_counter()
    np.save(scores_path, scores)
    save(scores, labels, path)
    times["their_auroc"] = float(np.load(path)["roc_auc"])
sla2p.train_self_supervised, sla2p.save_roc_pr_curve_data = timed_train, keep

q = queue.Queue(); q.put("0")
t1 = time.perf_counter()
sla2p.run_experiments_intrinsic("arrhythmia", q, 0)
print(json.dumps({"import_s": t1 - t0, "prep_s": times["train0"] - t1,
                  "train_s": times["train1"] - times["train0"],
                  "score_s": times["scored"] - times["train1"], "steps": steps[0],
                  "threads": torch.get_num_threads(), "their_auroc": times["their_auroc"]}))
'''


def labelled_arrhythmia():
    """The project's Arrhythmia matrix (rows in file order) and its anomaly labels (1 = anomaly),
    from the seed-0 transductive split over all rows, as bench_precision builds a cell."""
    import numpy as np

    from tasks.datasets.protocol import make_split
    from tasks.embed import load_features

    feats = load_features("arrhythmia")
    split = make_split("arrhythmia", None, None, 0, features=feats)
    y = np.full(feats.shape[0], -1)
    y[split.indices] = split.labels  # the split permutes rows; both sides fit them in file order
    assert (y >= 0).all(), "the seed-0 split does not cover every row"
    return np.asarray(feats.X), y


def _env(threads: int, pythonpath: str | None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def _run(cmd: list[str], cwd: Path, env: dict, timeout: float) -> tuple[float, str, tuple, tuple]:
    before = os.getloadavg()
    t = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"{cmd[:2]} failed:\n{out.stderr[-3000:]}")
    return wall, out.stdout, before, os.getloadavg()


def authors_once(authors_dir: Path, data: Path, work: Path, threads: int, timeout: float) -> dict:
    scores = work / "authors_scores.npy"
    cmd = [sys.executable, "-c", AUTHORS_RUN, str(data), str(threads), str(scores), *AUTHORS_ARGV]
    # cwd: their results folder lands in the temporary folder, not in their checkout
    wall, stdout, before, after = _run(cmd, work, _env(threads, str(authors_dir)), timeout)
    info = json.loads(stdout.strip().splitlines()[-1])
    return {"wall": wall, "scores": scores, "before": before, "after": after, **info}


def ours_once(work: Path, threads: int, timeout: float, precision: str = "float32") -> dict:
    scores = work / "ours_scores.npy"
    # bench_core's FRESH (at the given scoring precision), then (outside its timing, inside the
    # wall) the scores and thread count
    fresh = FRESH.replace("random_state=0)", f"random_state=0, precision={precision!r})")
    assert fresh != FRESH or precision == "float32", "FRESH changed shape: the precision was not set"
    code = fresh + f"; np.save({str(scores)!r}, d.decision_scores_); import torch; print(torch.get_num_threads())"
    wall, stdout, before, after = _run([sys.executable, "-c", code], ROOT, _env(threads, None), timeout)
    inner, steps, n_threads = stdout.split()[-3:]
    return {"wall": wall, "scores": scores, "before": before, "after": after, "inner_s": float(inner),
            "steps": int(steps), "threads": int(n_threads)}


def _load(la: tuple) -> str:
    return "/".join(f"{v:.2f}" for v in la)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--authors-dir", type=Path, required=True, help="a checkout of wyzjack/SLA2P")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per run before giving up")
    ap.add_argument("--precision", choices=PRECISIONS, default="float32", help="our scoring precision")
    args = ap.parse_args()
    authors_dir = args.authors_dir.resolve()
    if not (authors_dir / "sla2p.py").is_file():
        raise SystemExit(f"{authors_dir} holds no sla2p.py: not a checkout of wyzjack/SLA2P")

    import numpy as np
    from sklearn.metrics import roc_auc_score

    X, y = labelled_arrhythmia()
    walls = {"authors": [], "ours": []}
    with tempfile.TemporaryDirectory(prefix="bench_authors_") as tmp:
        work = Path(tmp)
        data = work / "arrhythmia.npz"
        # float64 as their .mat gives; their labels: 1 = normal
        np.savez(data, X=X.astype(np.float64), y_normal=1 - y)
        print(f"Arrhythmia {X.shape[0]} x {X.shape[1]}, {int(y.sum())} anomalies; {args.threads} thread(s); "
              f"{os.cpu_count()} CPUs")
        for r in range(args.rounds):
            a = authors_once(authors_dir, data, work, args.threads, args.timeout)
            # their scores: higher = more normal
            auc_a = roc_auc_score(y, -np.load(a["scores"]))
            walls["authors"].append(a["wall"])
            print(f"round {r + 1} authors: {a['wall']:.1f} s wall (import {a['import_s']:.1f}, prep "
                  f"{a['prep_s']:.1f}, train {a['train_s']:.1f} in {a['steps']} steps, score "
                  f"{a['score_s']:.1f}); AUROC {auc_a:.4f} (their own: {a['their_auroc']:.4f}); "
                  f"{a['threads']} thread(s); load {_load(a['before'])} -> {_load(a['after'])}", flush=True)
            o = ours_once(work, args.threads, args.timeout, args.precision)
            auc_o = roc_auc_score(y, np.load(o["scores"]))
            walls["ours"].append(o["wall"])
            print(f"round {r + 1} ours ({args.precision}): {o['wall']:.1f} s wall (inner {o['inner_s']:.1f}, "
                  f"{o['steps']} steps); AUROC {auc_o:.4f}; {o['threads']} thread(s); "
                  f"load {_load(o['before'])} -> {_load(o['after'])}", flush=True)
    best_a, best_o = min(walls["authors"]), min(walls["ours"])
    print(f"best of {args.rounds}: authors {best_a:.1f} s, ours {best_o:.1f} s; "
          f"authors / ours = {best_a / best_o:.2f}x")


if __name__ == "__main__":
    main()
