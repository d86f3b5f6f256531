"""Sparse rows (TF-IDF) as CSR torch tensors, and their random-projection copies made from the
nonzeros only: training (a chunk of shuffled pairs) and scoring (a block of samples times every
projection) both make ``z = x_i W_k`` this way when most entries of X are zero."""

from __future__ import annotations

import warnings

import torch


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
        """z_j = X[rows_j] @ W[ks_j] as ONE sparse x dense product: pair j's row holds x_i's
        nonzeros at columns ks_j * d + col of W viewed as (K*d, m), so the product reads only
        the rows of W_k it needs and writes each copy once (no gathered rows of W)."""
        K, d, m = W.shape
        n_pairs = rows.numel()
        lens = self.counts[rows]
        crow = torch.zeros(n_pairs + 1, dtype=torch.int64, device=rows.device)
        torch.cumsum(lens, 0, out=crow[1:])
        pair = torch.repeat_interleave(torch.arange(n_pairs, device=rows.device), lens)
        pos = torch.repeat_interleave(self.starts[rows] - crow[:-1], lens)
        pos += torch.arange(pos.numel(), device=rows.device)
        with warnings.catch_warnings():  # "sparse CSR support is in beta": the product is plain
            warnings.simplefilter("ignore", UserWarning)
            S = torch.sparse_csr_tensor(crow, ks[pair] * d + self.cols[pos], self.values[pos],
                                        size=(n_pairs, K * d), check_invariants=False)
            return S @ W.view(K * d, m)

    def per_pair(self) -> int:
        """Floats a pair's copy needs while it is made (its nonzeros' indices and values, at
        most), the counterpart of a dense row's d for the chunk bound."""
        return 3 * int(self.counts.max()) if self.counts.numel() else 1
