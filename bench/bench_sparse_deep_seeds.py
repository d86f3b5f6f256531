"""Is the sparse DeepSVDD path's AUROC systematically different from PyOD's dense fit? Paired
over seeds on one text cell (one thread; PyOD's fit on the densified rows, then the sparse path,
same seed), with the mean difference and its t statistic.

    .venv/bin/python bench/bench_sparse_deep_seeds.py 20news talk.politics.mideast 8
    .venv/bin/python bench/bench_sparse_deep_seeds.py 20news comp.graphics 8
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_text_deep as deep  # noqa: E402  (the bench's cell and timed fit)


def main(argv=None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    ds, cls, n = (args + ["20news", "talk.politics.mideast", "8"][len(args):])[:3]
    torch.set_num_threads(1)
    deep.CELLS[ds] = cls
    X, y = deep.cell(ds)
    Xd = X.toarray()
    pairs = []
    for seed in range(int(n)):
        a = roc_auc_score(y, deep.timed_fit("deepsvdd", Xd, seed)[1])
        s = roc_auc_score(y, deep.timed_fit("deepsvdd", X, seed)[1])
        pairs.append((a, s))
        print(f"{ds} {cls} seed {seed}: PyOD {a:.4f}  sparse {s:.4f}  diff {s - a:+.4f}", flush=True)
    r = np.array(pairs)
    d = r[:, 1] - r[:, 0]
    t = d.mean() / (d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    print(f"{ds}/{cls}: mean PyOD {r[:, 0].mean():.4f}  sparse {r[:, 1].mean():.4f}  "
          f"mean diff {d.mean():+.4f} (sd {d.std(ddof=1):.4f})  t {t:.2f}")


if __name__ == "__main__":
    main()
