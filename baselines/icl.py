"""ICL (Shenkar and Wolf, "Anomaly Detection for Tabular Data with Internal Contrastive Learning",
ICLR 2022) as a PyOD detector. Written from the paper, not from any implementation of it.

For a row x of d features and a window size k < d, the m = d - k + 1 pairs are

    a_j = x[j : j + k]                    (a contiguous window of k features)
    b_j = x without a_j                   (its complement, d - k features in their order)

Two MLPs embed them, F: R^k -> R^u and G: R^(d-k) -> R^u, each output L2-normalised. The loss of
a row matches every window to its own complement among the m complements of the SAME row (the
contrast is internal to the sample; no other row is a negative)::

    L(x) = - sum_j log  exp(<F(a_j), G(b_j)> / tau) / sum_j' exp(<F(a_j), G(b_j')> / tau)

F and G are trained on the mean of L over the rows; the anomaly score of a row is L(x). The
pairs are gathered per batch (on wide rows a batch's gradient is accumulated over chunks, and
rows are scored in blocks, each gathering at most about 4M values), so the n x m x d tensor of
all pairs is never built.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sla2p.torch_base import StandardizedTorchDetector, build_on_cpu, optimizer_step, record_losses
from sla2p.validation import StrictInterval, check_widths, init_linear_

LEAKY_SLOPE = 0.2
PAIR_VALUES_PER_BLOCK = 1 << 22  # about 4M gathered values (16 MB) per scoring block


def window_size(d: int) -> int:
    """The paper's rule for k from the number of features d: 2 up to 40 features, 10 up to 160,
    d - 150 beyond (the complement then never exceeds 150 features)."""
    if d <= 40:
        return 2
    if d <= 160:
        return 10
    return d - 150


def pair_indices(d: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Column indices of the m = d - k + 1 windows (m, k) and of their complements (m, d - k)."""
    cols = torch.arange(d)
    windows = torch.stack([cols[j:j + k] for j in range(d - k + 1)])
    complements = torch.stack([torch.cat([cols[:j], cols[j + k:]]) for j in range(d - k + 1)])
    return windows, complements


def mlp(in_dim: int, hidden_sizes: tuple[int, ...], out_dim: int) -> nn.Sequential:
    """Linear layers with LeakyReLU between them and a linear output."""
    sizes = [in_dim] + list(hidden_sizes)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.LeakyReLU(LEAKY_SLOPE)]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], out_dim))


class ICLNet(nn.Module):
    """F (windows) and G (complements), with the fixed pair indices as buffers."""

    def __init__(self, d: int, k: int, hidden_sizes, embedding_dim: int):
        super().__init__()
        self.f = mlp(k, hidden_sizes, embedding_dim)
        self.g = mlp(d - k, hidden_sizes, embedding_dim)

    def init_(self, generator: torch.Generator) -> None:
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                init_linear_(layer, generator)

    def losses(self, x: torch.Tensor, windows: torch.Tensor, complements: torch.Tensor,
               temperature: float) -> torch.Tensor:
        """L(x) of each row of x (B, d), a (B,) tensor."""
        fa = F.normalize(self.f(x[:, windows]), dim=-1)          # (B, m, u)
        gb = F.normalize(self.g(x[:, complements]), dim=-1)      # (B, m, u)
        logits = torch.matmul(fa, gb.transpose(1, 2)) / temperature   # (B, m, m): window j vs complement j'
        m = logits.shape[1]
        target = torch.arange(m, device=x.device).repeat(x.shape[0])
        ce = F.cross_entropy(logits.reshape(-1, m), target, reduction="none")
        return ce.reshape(x.shape[0], m).sum(1)


class ICL(StandardizedTorchDetector):
    """ICL (see the module docstring for the method and the score).

    Parameters
    ----------
    window : int or None, default None
        k, the window width; None = the paper's rule from d (:func:`window_size`). Needs k < d.
    hidden_sizes : tuple of int, default (200, 200)
        Hidden widths of F and of G (the same for both).
    embedding_dim : int, default 200
        u, the width of the shared embedding.
    temperature : float, default 0.01
        tau of the contrastive loss.
    n_epochs : int, default 100
    batch_size : int, default 64
    lr : float, default 1e-3
        Adam learning rate.
    standardize : bool, default True
        Scale each column to zero mean and unit variance with X's statistics (zero variance -> 1).
    score_batch_size : int, default 256
        At most this many rows scored at once (fewer on wide rows, so that a block gathers at most
        about 4M values); never changes a score beyond float rounding.
    device : str, default "auto"
        "auto" = CUDA when available, else CPU.
    random_state : int or None
        Seeds the initial weights and the shuffling (local generator only).
    contamination : float, default 0.1
        PyOD's expected outlier share, used for ``threshold_`` and ``labels_`` only.

    Where each default comes from is in docs/explanation/successors.md.

    Attributes
    ----------
    window_ : int, the k used; windows_, complements_ : column indices of the pairs (CPU);
    net_ : ICLNet (eval mode); history_ : dict with the per-step ``loss``;
    mean_, scale_ (with ``standardize``); seed_, device_, decision_scores_, threshold_, labels_
    """

    _parameter_constraints = {
        "window": [None, StrictInterval(Integral, 1, None, closed="left")],
        "hidden_sizes": ["array-like"],  # widths, each an int >= 1: _check_params_beyond_constraints
        "embedding_dim": [StrictInterval(Integral, 1, None, closed="left")],
        "temperature": [StrictInterval(Real, 0, None, closed="neither")],
        "n_epochs": [StrictInterval(Integral, 1, None, closed="left")],
        "batch_size": [StrictInterval(Integral, 1, None, closed="left")],
        "lr": [StrictInterval(Real, 0, None, closed="neither")],
        "standardize": ["boolean"],
        "score_batch_size": [StrictInterval(Integral, 1, None, closed="left")],
        "device": "no_validation",  # torch parses it in fit (resolve_device), knowing this host's devices
        "random_state": [None, StrictInterval(Integral, 0, None, closed="left")],
        "contamination": "no_validation",  # PyOD's constructor checks it (and takes a thresholder too)
    }

    def __init__(self, window=None, hidden_sizes=(200, 200), embedding_dim=200, temperature=0.01,
                 n_epochs=100, batch_size=64, lr=1e-3, standardize=True, score_batch_size=256,
                 device="auto", random_state=None, contamination=0.1):
        super().__init__(contamination=contamination)
        self.window = window
        self.hidden_sizes = hidden_sizes
        self.embedding_dim = embedding_dim
        self.temperature = temperature
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.standardize = standardize
        self.score_batch_size = score_batch_size
        self.device = device
        self.random_state = random_state

    def _check_params_beyond_constraints(self) -> None:
        check_widths("hidden_sizes", self.hidden_sizes)

    def _window_for(self, d: int) -> int:
        k = window_size(d) if self.window is None else int(self.window)
        if not 1 <= k < d:
            raise ValueError(f"ICL needs a window k with 1 <= k < d (a window and a non-empty complement); "
                             f"got k={k} for d={d} features" + (" (ICL needs at least 3 features)" if d < 3 else ""))
        return k

    def fit(self, X, y=None):
        """Train F and G on X with the internal contrastive loss, then score X."""
        X, gen = self._begin_fit(X, y)
        d = X.shape[1]
        k = self.window_ = self._window_for(d)
        self.windows_, self.complements_ = pair_indices(d, k)
        net = build_on_cpu(lambda: ICLNet(d, k, tuple(int(s) for s in self.hidden_sizes),
                                          int(self.embedding_dim)), gen).to(self.device_)
        Xt = self._to_tensor(X)
        w, c = self.windows_.to(self.device_), self.complements_.to(self.device_)
        tau = float(self.temperature)
        opt = torch.optim.Adam(net.parameters(), lr=float(self.lr))
        hist = {"loss": []}
        net.train()
        chunk = self._rows_per_block(d, int(self.batch_size))
        for xb in self._shuffled_batches(Xt, int(self.batch_size), int(self.n_epochs), gen):
            if xb.shape[0] <= chunk:
                loss = net.losses(xb, w, c, tau).mean()
                optimizer_step(opt, loss)
            else:  # wide rows: the batch's gradient accumulated over chunks (memory stays bounded)
                loss = self._accumulated_step(net, opt, xb, w, c, tau, chunk)
            record_losses(hist, loss=loss)
        net.eval()
        self.net_ = net
        self.history_ = hist
        return self._finish_fit(Xt)

    def _rows_per_block(self, d: int, at_most: int) -> int:
        """Rows whose m pairs gather at most about PAIR_VALUES_PER_BLOCK values (at least one)."""
        m = d - self.window_ + 1
        return max(1, min(at_most, PAIR_VALUES_PER_BLOCK // (m * d)))

    @staticmethod
    def _accumulated_step(net, opt, xb, w, c, tau, chunk) -> torch.Tensor:
        """One Adam step on the batch mean of L, its gradient summed over chunks of rows."""
        opt.zero_grad(set_to_none=True)
        total = torch.zeros((), device=xb.device)
        for part in torch.split(xb, chunk):
            loss = net.losses(part, w, c, tau).sum() / xb.shape[0]
            loss.backward()
            total += loss.detach()
        opt.step()
        return total

    @torch.no_grad()
    def _score(self, Xt: torch.Tensor) -> np.ndarray:
        rows = self._rows_per_block(Xt.shape[1], int(self.score_batch_size))
        w, c = self.windows_.to(Xt.device), self.complements_.to(Xt.device)
        tau = float(self.temperature)
        out = [self.net_.losses(xb, w, c, tau).double() for xb in self._blocks(Xt, rows)]
        return torch.cat(out).cpu().numpy()
