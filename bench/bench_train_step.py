"""Where an SLA2P training step goes at the 20 Newsgroups shape (K = m = 256, batch 128 pairs), and
what removing the per-step overhead (issue 26, item 2d) gained, to the bit the same training.

The cell is the 20News split of ``--normal-class`` with the suite's features and the published
settings, the stop rule off. Printed:

* the whole loop, the library's against the loop as it was (``old_*`` below, kept here as the
  baseline: copies made per chunk from the rows of W_k, Adam with a new tensor per operation),
  INTERLEAVED (old, new, old, new, ... ``--rounds`` runs of ``--steps`` steps each; min and
  median), with the making of every copy at once (before the first step) apart, and whether the
  two gave the same losses and weights to the bit;
* the parts of a step on random input: the copies of a batch (old: per chunk; new: gathered),
  forward + backward, Adam (old and new), and the GEMM floor: the step's eight GEMMs alone (three
  forward, three weight gradients, two input gradients; the first layer's input needs none).

    .venv/bin/python bench/bench_train_step.py --threads 1
    .venv/bin/python bench/bench_train_step.py --threads 2

Other processes load the machine: the load average is printed, compare ratios.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings


def _per_call(fn, n: int) -> float:
    """Median seconds of one call of ``fn`` (after 20 warm-up calls)."""
    for _ in range(20):
        fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return sorted(ts)[n // 2]


# -- the loop as it was (the baseline) ------------------------------------------------------------
class OldAdam:
    """Adam as it was: torch.optim.Adam's single-tensor update, a new tensor per operation."""

    def __init__(self, params, lr, eps, weight_decay, betas=(0.9, 0.999)):
        import torch

        self.params = [p for p in params if p.requires_grad]
        self.lr, self.eps, self.weight_decay = float(lr), float(eps), float(weight_decay)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.steps = [0] * len(self.params)

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None

    def step(self):
        import torch

        with torch.no_grad():
            for i, p in enumerate(self.params):
                grad = p.grad
                self.steps[i] += 1
                step = float(self.steps[i])
                if self.weight_decay != 0:
                    grad = grad.add(p, alpha=self.weight_decay)
                exp_avg, exp_avg_sq = self.exp_avg[i], self.exp_avg_sq[i]
                exp_avg.lerp_(grad, 1 - self.beta1)
                exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
                step_size = self.lr / (1 - self.beta1 ** step)
                denom = (exp_avg_sq.sqrt() / (1 - self.beta2 ** step) ** 0.5).add_(self.eps)
                p.addcdiv_(exp_avg, denom, value=-step_size)


def old_sparse_project(sparse, W, rows, ks):
    """A chunk's copies as they were made: one CSR x dense product, the pairs in shuffled order."""
    import torch

    K, d, m = W.shape
    n_pairs = rows.numel()
    lens = sparse.counts[rows]
    crow = torch.zeros(n_pairs + 1, dtype=torch.int64)
    torch.cumsum(lens, 0, out=crow[1:])
    pair = torch.repeat_interleave(torch.arange(n_pairs), lens)
    pos = torch.repeat_interleave(sparse.starts[rows] - crow[:-1], lens)
    pos += torch.arange(pos.numel())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        S = torch.sparse_csr_tensor(crow, ks[pair] * d + sparse.cols[pos], sparse.values[pos],
                                    size=(n_pairs, K * d), check_invariants=False)
        return S @ W.view(K * d, m)


def old_train(net, X, W, *, batch_size, lr, adam_eps, weight_decay, generator, max_steps, **_):
    """The old loop on sparse rows for ``max_steps`` steps, the stop rule off: (losses, accuracies)."""
    import torch
    import torch.nn.functional as F

    from sla2p.sparse_rows import SparseRows

    n, (K, d, m) = X.shape[0], W.shape
    opt = OldAdam(net.parameters(), lr=lr, eps=adam_eps, weight_decay=weight_decay)
    sparse = SparseRows(X)
    most = max(1, min(64, (1 << 23) // ((sparse.per_pair() + 2 * m) * batch_size)))
    losses, accs, running, acc_sum = [], [], [], 0.0
    net.train()
    while len(losses) < max_steps:  # epochs
        order = torch.randperm(n * K, generator=generator, dtype=torch.int32)
        n_batches, chunk_start = 1, 0
        while chunk_start < n * K and len(losses) < max_steps:
            chunk = order[chunk_start:chunk_start + n_batches * batch_size].long()
            chunk_start += chunk.numel()
            rows, ks = chunk // K, chunk % K
            z_chunk = old_sparse_project(sparse, W, rows, ks)
            n_batches = min(2 * n_batches, most)
            for start in range(0, chunk.numel(), batch_size):
                k = ks[start:start + batch_size]
                if k.numel() < 2:
                    continue
                logits = net(z_chunk[start:start + batch_size])
                loss = F.cross_entropy(logits, k)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                acc = (logits.detach().argmax(dim=1) == k).float().mean().item()
                acc_sum += acc
                accs.append(acc)
                losses.append(float(loss.detach()))
                running.append(acc_sum / len(accs))
                if len(losses) >= max_steps:
                    break
    net.eval()
    return losses, accs


# -- the real cell ---------------------------------------------------------------------------------
def capture_cell(normal_class: str) -> dict:
    """What a real SLA2P fit hands to train_classifier on the 20News split of ``normal_class``
    (the training stopped there): input rows, projections, initial weights, generator state."""
    import sla2p.detector as detector
    from sla2p import SLA2P, paper_params
    from tasks.datasets import make_split, take_rows
    from tasks.embed import load_features

    f = load_features("20news")
    X = take_rows(f.X, make_split("20news", normal_class, 0.1, 0, features=f).indices)
    cell = {}

    class Captured(Exception):
        pass

    def capture(net, X, W, **kw):
        cell.update(X=X, W=W, state={k: v.clone() for k, v in net.state_dict().items()},
                    gen=kw.pop("generator").get_state(), kw=kw, K=W.shape[0], m=W.shape[2])
        raise Captured

    train, detector.train_classifier = detector.train_classifier, capture
    try:
        SLA2P(**paper_params("20news"), device="cpu", random_state=0).fit(X)
    except Captured:
        pass
    finally:
        detector.train_classifier = train
    return cell


def run_loop(cell: dict, steps: int, new: bool) -> tuple[float, float, list, dict]:
    """(seconds of the loop, seconds of it making every copy at once, losses, weights)."""
    import torch

    import sla2p.sparse_rows as sparse_rows
    from sla2p.network import ProjectionClassifier
    from sla2p.training import train_classifier

    net = ProjectionClassifier(cell["m"], cell["K"])
    net.load_state_dict(cell["state"])
    gen = torch.Generator()
    gen.set_state(cell["gen"])
    kw = {**cell["kw"], "acc_threshold": 1.0, "max_epochs": 100, "max_steps": steps, "generator": gen}
    made = [0.0]
    project_all = sparse_rows.SparseRows.project_all

    def timed(self, W):
        t = time.perf_counter()
        out = project_all(self, W)
        made[0] += time.perf_counter() - t
        return out

    sparse_rows.SparseRows.project_all = timed
    try:
        t = time.perf_counter()
        losses = train_classifier(net, cell["X"], cell["W"], **kw).loss if new else \
            old_train(net, cell["X"], cell["W"], **kw)[0]
        sec = time.perf_counter() - t
    finally:
        sparse_rows.SparseRows.project_all = project_all
    return sec, made[0], losses, net.state_dict()


def compare_loops(cell: dict, steps: int, rounds: int) -> None:
    """Old and new loop interleaved; per-step time, and whether they trained the same. The new
    loop also runs for half an epoch alone (its copies all made per chunk), which splits its time
    into the steps before and after it made every copy at once."""
    import torch

    half = cell["X"].shape[0] * cell["K"] // 2 // cell["kw"]["batch_size"]
    runs = {"old": [], "new": [], "new, first half epoch": []}
    for _ in range(rounds):
        for name in runs:
            runs[name].append(run_loop(cell, half if name.endswith("epoch") else steps, name != "old"))
    old, new = runs["old"][-1], runs["new"][-1]
    same = old[2] == new[2] and all(torch.equal(a, b) for a, b in zip(old[3].values(), new[3].values()))
    best = {name: min(rs, key=lambda r: r[0]) for name, rs in runs.items()}
    for name in ("old", "new"):
        sec, made = best[name][:2]
        print(f"  {name} loop: {1e3 * sec / steps:6.2f} ms/step ({steps / sec:5.1f} steps/s), best of {rounds}"
              + (f"; of which every copy made at once: {made:.2f} s" if made else ""))
    first = best["new, first half epoch"][0]
    after = (best["new"][0] - best["new"][1] - first) / (steps - half)
    print(f"  new loop: first {half} steps (copies per chunk) {1e3 * first / half:6.2f} ms/step, the "
          f"{steps - half} after making every copy {1e3 * after:6.2f} ms/step ({1 / after:5.1f} steps/s)")
    print(f"  new/old time: {best['new'][0] / best['old'][0]:.2f} for {steps} steps; "
          f"same losses and weights to the bit: {same}")


def copies_per_batch(cell: dict, n: int) -> dict[str, float]:
    """Seconds per batch of making its copies, chunks of the largest size, fresh pairs each call:
    old (the pairs in shuffled order), new per chunk (sorted by projection), new gathered from
    every copy made at once (and what making them all took, per batch of an epoch)."""
    import torch

    from sla2p.sparse_rows import SparseRows

    X, W, bs = cell["X"], cell["W"], cell["kw"]["batch_size"]
    n_rows, K = X.shape[0], W.shape[0]
    sparse = SparseRows(X)
    most = max(1, min(64, (1 << 23) // ((sparse.per_pair() + 2 * cell["m"]) * bs)))
    order = torch.randperm(n_rows * K, generator=torch.Generator().manual_seed(0))
    size = most * bs
    chunks = [order[i:i + size] for i in range(0, order.numel() - size + 1, size)]
    t = time.perf_counter()
    every = sparse.project_all(W).view(K * n_rows, -1)
    made = time.perf_counter() - t
    it = iter(range(10**9))

    def next_chunk():
        c = chunks[next(it) % len(chunks)]
        return c // K, c % K

    reps = max(3, n // 30)
    return {"copies, old (per chunk)": _per_call(lambda: old_sparse_project(sparse, W, *next_chunk()), reps) / most,
            "copies, new per chunk": _per_call(lambda: sparse.project(W, *next_chunk()), reps) / most,
            "copies, new gathered": _per_call(lambda: every.index_select(0, (lambda r, k: k * n_rows + r)(*next_chunk())), reps) / most,
            "copies, all made at once": made * bs / (n_rows * K)}


def parts(n: int) -> dict[str, float]:
    """Seconds of each part of a step on random input at the 20News shape."""
    import torch
    import torch.nn.functional as F

    from sla2p.network import ProjectionClassifier
    from sla2p.adam import Adam

    g = torch.Generator().manual_seed(0)
    net = ProjectionClassifier(256, 256, generator=g)
    net.train()
    z = torch.randn(128, 256, generator=g)
    k = torch.randint(0, 256, (128,), generator=g)
    opts = {name: cls(net.parameters(), lr=1e-3, eps=1e-7, weight_decay=5e-4)
            for name, cls in (("Adam, the old copy", OldAdam), ("Adam, the library", Adam))}
    lin = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    w = [m.weight.detach() for m in lin]
    acts = [z, torch.randn(128, 512), torch.randn(128, 1024)]
    grads = [torch.randn(128, 512), torch.randn(128, 1024), torch.randn(128, 256)]

    def fwd_bwd():
        net.zero_grad()
        F.cross_entropy(net(z), k).backward()

    def gemms():  # the step's GEMMs as autograd makes them (transposed operands as views)
        for a, wi in zip(acts, w):
            a @ wi.t()
        for a, gi in zip(acts, grads):
            gi.t() @ a
        for gi, wi in zip(grads[1:], w[1:]):
            gi @ wi

    fwd_bwd()
    out = {"forward + backward": _per_call(fwd_bwd, n)}
    out.update({name: _per_call(opt.step, n) for name, opt in opts.items()})
    out["GEMM floor (8 GEMMs)"] = _per_call(gemms, n)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--normal-class", default="alt.atheism")
    ap.add_argument("--steps", type=int, default=2500, help="1.5 epochs: half on per-chunk copies")
    ap.add_argument("--rounds", type=int, default=2, help="old/new loop pairs, interleaved")
    ap.add_argument("--repeats", type=int, default=300)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    print(f"{args.threads} thread(s); load average before: {os.getloadavg()[0]:.2f}")
    cell = capture_cell(args.normal_class)
    print(f"real fit, 20news/{args.normal_class} (n = {cell['X'].shape[0]}), {args.steps} steps a run:")
    compare_loops(cell, args.steps, args.rounds)
    print("parts of a step (median per call):")
    for name, s in {**copies_per_batch(cell, args.repeats), **parts(args.repeats)}.items():
        print(f"  {name:<24} {1e3 * s:6.2f} ms")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
