"""Sparse rows (TF-IDF) as CSR torch tensors, and their random-projection copies made from the
nonzeros only: training (every pair once, or a chunk of shuffled pairs) and scoring (a block of
samples times every projection) make ``z = x_i W_k`` this way when most entries of X are zero.

Each row of a CSR x dense product is x_i's nonzeros times their rows of W_k, summed in the
row's column order, whatever the other rows are: a copy comes out the same to the bit whether it
is made alone, in a chunk of pairs, or with every row of X (the tests check it)."""

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

    def csr(self, rows: torch.Tensor, col_offsets: torch.Tensor | int, n_cols: int) -> torch.Tensor:
        """The CSR matrix whose row j holds x_{rows_j}'s nonzeros, at columns col_offsets_j + col."""
        n_rows = rows.numel()
        lens = self.counts[rows]
        crow = torch.zeros(n_rows + 1, dtype=torch.int64, device=rows.device)
        torch.cumsum(lens, 0, out=crow[1:])
        pair = torch.repeat_interleave(torch.arange(n_rows, device=rows.device), lens)
        pos = torch.repeat_interleave(self.starts[rows] - crow[:-1], lens)
        pos += torch.arange(pos.numel(), device=rows.device)
        cols = self.cols[pos] + (col_offsets[pair] if torch.is_tensor(col_offsets) else col_offsets)
        with warnings.catch_warnings():  # "sparse CSR support is in beta": the product is plain
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(crow, cols, self.values[pos], size=(n_rows, n_cols),
                                           check_invariants=False)

    def project(self, W: torch.Tensor, rows: torch.Tensor, ks: torch.Tensor) -> torch.Tensor:
        """z_j = X[rows_j] @ W[ks_j] as ONE sparse x dense product: pair j's row holds x_i's
        nonzeros at columns ks_j * d + col of W viewed as (K*d, m), so the product reads only
        the rows of W_k it needs and writes each copy once (no gathered rows of W). The pairs go
        in sorted by projection (stably) and come back in their own order: the rows of each W_k
        are then read together, from cache for the words that pairs of one projection share
        (a fifth faster on 20 Newsgroups), and each copy is the same."""
        K, d, m = W.shape
        ks_sorted, perm = torch.sort(ks, stable=True)
        S = self.csr(rows.index_select(0, perm), ks_sorted * d, K * d)
        out = torch.empty(rows.numel(), m, dtype=W.dtype, device=W.device)
        return out.index_copy_(0, perm, S @ W.view(K * d, m))

    def project_all(self, W: torch.Tensor) -> torch.Tensor:
        """Every copy, (K, n, m): z[k, i] = x_i W_k, one CSR x dense product per projection
        written straight into its slice (W_k read once, in order, for all the rows)."""
        K, d, m = W.shape
        n = self.counts.numel()
        S = self.csr(torch.arange(n, device=W.device), 0, d)
        Z = torch.empty(K, n, m, dtype=W.dtype, device=W.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            for k in range(K):
                torch.mm(S, W[k], out=Z[k])
        return Z

    def per_pair(self) -> int:
        """Floats a pair's copy needs while it is made (its nonzeros' indices and values, at
        most), the counterpart of a dense row's d for the chunk bound."""
        return 3 * int(self.counts.max()) if self.counts.numel() else 1
