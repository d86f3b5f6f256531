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


def train_classifier(net: ProjectionClassifier, X: torch.Tensor, W: torch.Tensor, *, batch_size: int,
                     lr: float, adam_eps: float, weight_decay: float, acc_threshold: float,
                     max_epochs: int, generator: torch.Generator) -> TrainingHistory:
    n = X.shape[0]
    K = W.shape[0]
    n_pairs = n * K
    opt = torch.optim.Adam(net.parameters(), lr=lr, eps=adam_eps, weight_decay=weight_decay)
    hist = TrainingHistory()
    acc_sum = 0.0
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
            logits = net(project_pairs(X, W, rows, ks))
            loss = F.cross_entropy(logits, ks)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
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
