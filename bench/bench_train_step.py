"""Where an SLA2P training step goes at the 20 Newsgroups shape (K = m = 256, batch 128 pairs):
the whole step in a real fit (the 20News split of ``--normal-class``, the suite's features, the
published settings, ``--steps`` steps with the stop rule off), and its parts on random input:
the classifier's forward and backward pass, the Adam update, and the three forward GEMMs alone.

    .venv/bin/python bench/bench_train_step.py --threads 1

Run it on an idle machine: it prints milliseconds per step and steps per second.
"""

from __future__ import annotations

import argparse
import time


def _per_call(fn, n: int) -> float:
    for _ in range(20):
        fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def real_fit(normal_class: str, steps: int) -> tuple[int, float]:
    """(steps, seconds) of training in a real SLA2P fit, the threshold out of reach."""
    import sla2p.detector as detector
    from sla2p import SLA2P, paper_params
    from tasks.datasets import make_split, take_rows
    from tasks.embed import load_features

    f = load_features("20news")
    split = make_split("20news", normal_class, 0.1, 0, features=f)
    X = take_rows(f.X, split.indices)
    params = {**paper_params("20news"), "acc_threshold": 1.0, "max_epochs": 1}
    seen = {}
    train = detector.train_classifier

    def capped(*a, **kw):  # the library's loop, ended after `steps` steps
        t0 = time.perf_counter()
        h = train(*a, **{**kw, "max_steps": steps})
        seen.update(steps=h.steps, seconds=time.perf_counter() - t0)
        return h

    detector.train_classifier = capped
    try:
        SLA2P(**params, device="cpu", random_state=0).fit(X)
    finally:
        detector.train_classifier = train
    return seen["steps"], seen["seconds"]


def parts(n: int) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    from sla2p.network import ProjectionClassifier
    from sla2p.training import Adam

    g = torch.Generator().manual_seed(0)
    net = ProjectionClassifier(256, 256, generator=g)
    net.train()
    z = torch.randn(128, 256, generator=g)
    k = torch.randint(0, 256, (128,), generator=g)
    opt = Adam(net.parameters(), lr=1e-3, eps=1e-7, weight_decay=5e-4)
    W = [torch.randn(256, 512), torch.randn(512, 1024), torch.randn(1024, 256)]

    def fwd_bwd():
        net.zero_grad()
        F.cross_entropy(net(z), k).backward()

    def gemms():
        a = z
        for w in W:
            a = a @ w

    fwd_bwd()
    return {"forward + backward": _per_call(fwd_bwd, n), "Adam update": _per_call(opt.step, n),
            "3 forward GEMMs": _per_call(gemms, n)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--normal-class", default="alt.atheism")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=300)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    n, sec = real_fit(args.normal_class, args.steps)
    print(f"real fit, 20news/{args.normal_class}: {n} steps in {sec:.2f} s = {1e3 * sec / n:.2f} ms/step "
          f"({n / sec:.1f} steps/s), {args.threads} thread(s)")
    for name, s in parts(args.repeats).items():
        print(f"  {name:<20} {1e3 * s:6.2f} ms")


if __name__ == "__main__":
    main()
