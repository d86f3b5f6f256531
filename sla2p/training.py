"""Self-supervised training of the projection classifier (method.md section 2).

Pairs (sample i, projection k) are shuffled each epoch and their copies z_ik = x_i W_k are made
per batch by gathering rows and projections (a batched matmul): the n x K copies are never
materialised. Training stops as soon as the running mean accuracy over all batches so far
exceeds ``acc_threshold`` (the paper's rule: a regulariser, not a convergence test), or after
``max_epochs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from .network import ProjectionClassifier
from .torch_base import optimizer_step

# Gather at most this many projection weights per step; a batch needing more (very wide inputs,
# such as 10,000-term TF-IDF) is projected in a few slices to bound memory.
_MAX_GATHER_ELEMENTS = 1 << 25


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
    """z_j = X[rows_j] @ W[ks_j] for a batch of pairs, as one batched matmul (W: (K, d, m))."""
    _, d, m = W.shape
    step = max(1, _MAX_GATHER_ELEMENTS // (d * m))
    parts = []
    for s in range(0, rows.numel(), step):
        r, k = rows[s:s + step], ks[s:s + step]
        parts.append(torch.bmm(X[r].unsqueeze(1), W[k]).squeeze(1))
    return parts[0] if len(parts) == 1 else torch.cat(parts)


class SparseRows:
    """X's nonzeros by row (CSR as torch tensors), for inputs such as TF-IDF where most entries
    are zero: a pair's copy x_i W_k then needs only the rows of W_k where x_i is nonzero."""

    def __init__(self, X: torch.Tensor):
        rows, cols = X.nonzero(as_tuple=True)
        self.counts = torch.bincount(rows, minlength=X.shape[0])
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        self.cols = cols
        self.values = X[rows, cols]
        self.d = X.shape[1]

    @staticmethod
    def worth_it(X: torch.Tensor) -> bool:
        return bool((X != 0).sum() < 0.25 * X.numel())

    def project(self, W: torch.Tensor, rows: torch.Tensor, ks: torch.Tensor) -> torch.Tensor:
        K, d, m = W.shape
        lens = self.counts[rows]
        pair = torch.repeat_interleave(torch.arange(rows.numel(), device=rows.device), lens)
        first = torch.repeat_interleave(self.starts[rows] - (torch.cumsum(lens, 0) - lens), lens)
        pos = first + torch.arange(pair.numel(), device=rows.device)
        w_rows = ks[pair] * d + self.cols[pos]  # row of W viewed as (K*d, m)
        out = torch.zeros(rows.numel(), m, dtype=W.dtype, device=W.device)
        return out.index_add_(0, pair, self.values[pos].unsqueeze(1) * W.view(K * d, m)[w_rows])


def train_classifier(net: ProjectionClassifier, X: torch.Tensor, W: torch.Tensor, *, batch_size: int,
                     lr: float, adam_eps: float, weight_decay: float, acc_threshold: float,
                     max_epochs: int, generator: torch.Generator) -> TrainingHistory:
    n = X.shape[0]
    K = W.shape[0]
    n_pairs = n * K
    opt = torch.optim.Adam(net.parameters(), lr=lr, eps=adam_eps, weight_decay=weight_decay)
    hist = TrainingHistory()
    acc_sum = 0.0
    sparse = SparseRows(X) if SparseRows.worth_it(X) else None
    net.train()
    for epoch in range(max_epochs):
        hist.epochs = epoch + 1
        # int32 halves the one O(n K) buffer training needs (the shuffled pair ids).
        dtype = torch.int32 if n_pairs < 2**31 else torch.int64
        order = torch.randperm(n_pairs, generator=generator, dtype=dtype).to(X.device)
        for start in range(0, n_pairs, batch_size):
            idx = order[start:start + batch_size]
            if idx.numel() < 2:  # BatchNorm cannot train on a single row
                continue
            idx = idx.long()
            rows, ks = idx // K, idx % K
            z = sparse.project(W, rows, ks) if sparse is not None else project_pairs(X, W, rows, ks)
            logits = net(z)
            loss = F.cross_entropy(logits, ks)
            optimizer_step(opt, loss)
            acc = (logits.detach().argmax(dim=1) == ks).float().mean().item()
            acc_sum += acc
            hist.loss.append(float(loss.detach()))
            hist.accuracy.append(acc)
            hist.running_accuracy.append(acc_sum / len(hist.accuracy))
            if hist.running_accuracy[-1] > acc_threshold:
                hist.stop_reason = "acc_threshold"
                net.eval()
                return hist
    hist.stop_reason = "max_epochs"
    net.eval()
    return hist
