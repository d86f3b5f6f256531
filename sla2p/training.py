"""Self-supervised training of the projection classifier (method.md section 2).

Pairs (sample i, projection k) are shuffled each epoch, a uniform permutation of the n x K pairs,
and cut into batches in that order. How their copies z_ik = x_i W_k are made depends on the input
(:class:`PairCopies`); the optimiser sees exactly the pairs, in exactly the order, of a per-pair
gather (:func:`project_pairs`, kept as the reference), and for a given input the same copies to
the bit whichever way they are made:

* sparse rows (TF-IDF): a CHUNK of consecutive batches at a time, with one sparse x dense product
  that reads only the rows of W_k where x_i is nonzero, the chunk's pairs sorted by projection
  (:meth:`SparseRows.project`). Those are random reads of a W of gigabytes: on 20 Newsgroups
  they cost about as much as the classifier's step, every epoch again, and text trains for
  several epochs. So on CPU, when the n x K copies take at most a quarter of W's memory
  (:func:`materialises_copies`: 20 Newsgroups and Reuters), a fit that trains past half an
  epoch makes every copy at once, one CSR x dense product per projection (W_k read in order,
  :meth:`SparseRows.project_all`), and from then on a chunk gathers its copies;
* dense rows: a chunk at a time, grouped by projection: the chunk's pairs are sorted by k and each
  projection present takes one GEMM, X[rows of k] @ W_k (:func:`project_grouped`), whose results
  go back to the pairs' shuffled positions (a GEMM reads W_k once for all its rows in the chunk
  instead of copying it once per pair, which is what made wide inputs slow).

Chunks start at one batch and double up to a memory bound, so an early stop wastes little.

Training stops as soon as the running mean accuracy over all batches so far exceeds
``acc_threshold`` (the paper's rule: a regulariser, not a convergence test) once at least
``min_steps`` steps are done (0, the paper: from the first step), after ``max_epochs``, or after
``max_steps`` (benchmarks only).

The optimiser is Adam written out (:class:`sla2p.adam.Adam`): the same update as
``torch.optim.Adam`` on CPU, without the import of ``torch._dynamo`` that ``torch.optim``'s first
use costs (about 1.5 s, a fifth of a fresh-process Arrhythmia run).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from .adam import Adam
from .network import ProjectionClassifier
from .sparse_rows import SparseRows
from .torch_base import optimizer_step

# Gather at most this many projection weights per step; a batch needing more (very wide inputs,
# such as 10,000-term TF-IDF) is projected in a few slices to bound memory.
_MAX_GATHER_ELEMENTS = 1 << 25
# A chunk of training pairs holds its gathered rows and two copies of their projections,
# (d + 2m) floats per pair: at most this many floats (32 MB) ...
_CHUNK_ELEMENTS = 1 << 23
# ... and at most this many batches (W is read once per chunk; beyond a few dozen rows per
# projection a bigger chunk gains nothing).
_MAX_CHUNK_BATCHES = 64
# Sparse rows: making every copy at once costs about as much as making a third of an epoch's
# per chunk (0.27 on 20 Newsgroups, 0.41 on Reuters, W read in order rather than at random), so
# training makes them per chunk until half an epoch is done: a fit that stops before (Reuters'
# cells do) pays nothing, one that trains on pays at most that again, and then nothing per step.
_MAKE_ALL_AFTER_EPOCHS = 0.5


@dataclass
class TrainingHistory:
    """What happened during training, one entry per optimiser step."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    running_accuracy: list[float] = field(default_factory=list)
    epochs: int = 0
    stop_reason: str = ""

    @property
    def steps(self) -> int:
        return len(self.loss)

    def as_dict(self) -> dict:
        return {"steps": self.steps, "epochs": self.epochs, "stop_reason": self.stop_reason,
                "loss": list(self.loss), "accuracy": list(self.accuracy),
                "running_accuracy": list(self.running_accuracy)}


def project_pairs(X: torch.Tensor, W: torch.Tensor, rows: torch.Tensor, ks: torch.Tensor) -> torch.Tensor:
    """z_j = X[rows_j] @ W[ks_j] for a batch of pairs, as one batched matmul (W: (K, d, m)).

    The reference: it copies W[ks_j] once per pair (d x m floats each), which is memory-bound on
    wide inputs. Training uses :func:`project_grouped`."""
    _, d, m = W.shape
    step = max(1, _MAX_GATHER_ELEMENTS // (d * m))
    parts = []
    for s in range(0, rows.numel(), step):
        r, k = rows[s:s + step], ks[s:s + step]
        parts.append(torch.bmm(X[r].unsqueeze(1), W[k]).squeeze(1))
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def project_grouped(X: torch.Tensor, W: torch.Tensor, rows: torch.Tensor, ks: torch.Tensor) -> torch.Tensor:
    """z_j = X[rows_j] @ W[ks_j] for a group of pairs, one GEMM per projection present.

    The pairs are sorted by projection (stably), the rows of each projection multiplied by its
    W_k in one ``mm`` written straight into a slice of the sorted output, and the results put
    back in the pairs' order. Equal to :func:`project_pairs` up to float rounding."""
    K, _, m = W.shape
    ks_sorted, perm = torch.sort(ks, stable=True)
    counts = torch.bincount(ks_sorted, minlength=K).tolist()
    xs = X.index_select(0, rows.index_select(0, perm))
    out = torch.empty(rows.numel(), m, dtype=W.dtype, device=W.device)
    start = 0
    for k, c in enumerate(counts):
        if c:
            torch.mm(xs[start:start + c], W[k], out=out[start:start + c])
            start += c
    return torch.empty_like(out).index_copy_(0, perm, out)


def _chunk_batches(d: int, m: int, batch_size: int) -> int:
    """The most batches a chunk may hold (memory bound), at least one."""
    return max(1, min(_MAX_CHUNK_BATCHES, _CHUNK_ELEMENTS // ((d + 2 * m) * batch_size)))


def materialises_copies(n: int, d: int, device: torch.device | str = "cpu") -> bool:
    """Whether training makes all n x K copies at once, for sparse rows: on CPU, when they take at
    most a quarter of the memory of the projections W (n x K x m floats against K x d x m, so
    when 4 n <= d), the fit's largest buffer. (The memory estimate counts them: see
    :func:`copies_floats`.)"""
    return torch.device(device).type == "cpu" and 4 * n <= d


def copies_floats(n: int, d: int, n_projections: int, proj_dim: int) -> int:
    """Floats of the copies training may keep for the whole fit, for a memory estimate made
    before the input is seen: n x K x m where :func:`materialises_copies` (if the rows turn out
    to be dense they are not made: an upper estimate), else 0 (a chunk's copies are bounded
    apart, within the estimate's fixed allowance)."""
    return n * n_projections * proj_dim if materialises_copies(n, d) else 0


class PairCopies:
    """The copies z_ik = x_i W_k of the epoch's shuffled pairs, a chunk of consecutive batches at a
    time (see the module docstring for the ways they are made). Sparse rows whose copies may all
    be kept (:func:`materialises_copies`) are made per chunk for the first
    ``_MAKE_ALL_AFTER_EPOCHS`` of an epoch's pairs, then all at once."""

    def __init__(self, X: torch.Tensor, W: torch.Tensor, batch_size: int):
        n = X.shape[0]
        K, d, m = W.shape
        self.X, self.W, self.n, self.K, self.batch_size = X, W, n, K, batch_size
        self.sparse = SparseRows(X) if SparseRows.worth_it(X) else None
        self.all = None  # (K * n, m): row k * n + i is z_ik, once every copy is made
        self.made = 0  # pairs made per chunk so far
        self.make_all_after = None  # ... after which every copy is made at once
        if self.sparse is not None and materialises_copies(n, d, X.device):
            self.make_all_after = _MAKE_ALL_AFTER_EPOCHS * n * K
        self.most = _chunk_batches(d if self.sparse is None else self.sparse.per_pair(), m, batch_size)

    def _chunk(self, rows: torch.Tensor, ks: torch.Tensor) -> torch.Tensor:
        if self.all is None and self.make_all_after is not None and self.made >= self.make_all_after:
            self.all = self.sparse.project_all(self.W).view(self.K * self.n, -1)
            self.most = _MAX_CHUNK_BATCHES
        self.made += rows.numel()
        if self.all is not None:
            return self.all.index_select(0, ks * self.n + rows)
        if self.sparse is not None:
            return self.sparse.project(self.W, rows, ks)
        return project_grouped(self.X, self.W, rows, ks)

    def chunks(self, order: torch.Tensor):
        """(projections, copies) of consecutive chunks of the pair ids ``order`` (i * K + k),
        chunks of 1, 2, 4, ... batches up to the memory bound."""
        n_batches, start = 1, 0
        while start < order.numel():
            chunk = order[start:start + n_batches * self.batch_size].long()
            start += chunk.numel()
            n_batches = min(2 * n_batches, self.most)
            ks = chunk % self.K
            yield ks, self._chunk(chunk // self.K, ks)


def _accuracies(batch_size: int) -> list[float]:
    """Accuracy of a batch of ``batch_size`` pairs with 0, 1, ... of them right, as the float32
    mean the step computed (``(pred == k).float().mean()``: the exact count divided by the size)."""
    return (torch.arange(batch_size + 1, dtype=torch.float32) / batch_size).tolist()


def train_classifier(net: ProjectionClassifier, X: torch.Tensor, W: torch.Tensor, *, batch_size: int,
                     lr: float, adam_eps: float, weight_decay: float, acc_threshold: float,
                     max_epochs: int, generator: torch.Generator, max_steps: int | None = None,
                     min_steps: int = 0, on_step=None) -> TrainingHistory:
    """Train ``net`` to tell the K projections apart (method.md s2). ``on_step``, if given, is
    called after every optimiser step with (steps so far, running accuracy): how a caller watches
    a long training; it must not touch the tensors."""
    n = X.shape[0]
    K = W.shape[0]
    n_pairs = n * K
    opt = Adam(net.parameters(), lr=lr, eps=adam_eps, weight_decay=weight_decay)
    hist = TrainingHistory()
    copies = PairCopies(X, W, batch_size)
    accuracy_of = {batch_size: _accuracies(batch_size)}
    acc_sum = 0.0
    net.train()
    for epoch in range(max_epochs):
        hist.epochs = epoch + 1
        # int32 halves the one O(n K) buffer training needs (the shuffled pair ids).
        dtype = torch.int32 if n_pairs < 2**31 else torch.int64
        order = torch.randperm(n_pairs, generator=generator, dtype=dtype).to(X.device)
        for ks, z_chunk in copies.chunks(order):
            for start in range(0, ks.numel(), batch_size):
                k = ks[start:start + batch_size]
                size = k.numel()
                if size < 2:  # BatchNorm cannot train on a single row
                    continue
                logits = net(z_chunk[start:start + batch_size])
                loss = F.cross_entropy(logits, k)
                optimizer_step(opt, loss)
                if size not in accuracy_of:
                    accuracy_of[size] = _accuracies(size)
                acc = accuracy_of[size][int((logits.detach().argmax(dim=1) == k).sum())]
                acc_sum += acc
                hist.loss.append(float(loss.detach()))
                hist.accuracy.append(acc)
                hist.running_accuracy.append(acc_sum / len(hist.accuracy))
                if on_step is not None:
                    on_step(hist.steps, hist.running_accuracy[-1])
                # min_steps delays the threshold stop only; max_epochs still bounds training.
                if hist.running_accuracy[-1] > acc_threshold and hist.steps >= min_steps:
                    hist.stop_reason = "acc_threshold"
                    net.eval()
                    return hist
                if max_steps is not None and hist.steps >= max_steps:
                    hist.stop_reason = "max_steps"
                    net.eval()
                    return hist
    hist.stop_reason = "max_epochs"
    net.eval()
    return hist
