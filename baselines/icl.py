"""ICL (Shenkar and Wolf, "Anomaly Detection for Tabular Data with Internal Contrastive Learning",
ICLR 2022) as a PyOD detector. Our own code, written from the method; its definitions and defaults
follow the authors' code (the paper's supplementary material on OpenReview, kept with its trainer
in github.com/bit-ml/AnoShift baselines/baseline_InternalContrastiveLearning/train.py).

For a row x of d features and a window size k < d, the m = d - k + 1 pairs are

    a_j = x[j : j + k]                    (a contiguous window of k features)
    b_j = x without a_j                   (its complement, d - k features in their order)

Two networks embed them into R^H: F the complements b_j, G the windows a_j (:class:`ICLNet`). The
m embeddings of a row are normalised twice, as the authors do: each coordinate over the m pairs,
then each embedding to unit length. The loss of a row asks each complement to pick its own window
among the m windows of the SAME row (the contrast is internal to the sample; no other row is a
negative)::

    L(x) = (1/m) sum_j - log  exp(<F(b_j), G(a_j)> / tau) / sum_j' exp(<F(b_j), G(a_j')> / tau)

F and G are trained on the mean of L over the rows until the epoch's mean loss falls below
``stop_loss`` or ``n_epochs`` pass; the anomaly score of a row is L(x). The pairs are gathered per
batch (on wide rows a batch's gradient is accumulated over chunks, and rows are scored in blocks,
each gathering at most about 4M values), so the n x m x d tensor of all pairs is never built.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sla2p.torch_base import StandardizedTorchDetector, build_on_cpu, optimizer_step, record_losses
from sla2p.validation import StrictInterval, init_linear_

LEAKY_SLOPE = 0.2
PAIR_VALUES_PER_BLOCK = 1 << 22  # about 4M gathered values (16 MB) per scoring block


def window_size(d: int) -> int:
    """The authors' rule for k from the number of features d: 2 up to 40 features, 10 up to 160,
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


def stop_loss_for(d: int) -> float:
    """The authors' stopping rule: training ends once an epoch's mean loss is below 0.001 on at
    most 40 features, 0.01 on more."""
    return 0.001 if d <= 40 else 0.01


class ICLNet(nn.Module):
    """The authors' two networks, on (B, m, features) inputs; each BatchNorm normalises each of the
    m pair positions (its channel) over the batch and the features:

        F (complements, d - k -> H): Linear H, Tanh, BN, Linear 2H, LeakyReLU, BN, Linear H, LeakyReLU
        G (windows, k -> H):         Linear H/4, LeakyReLU, BN, Linear H/2, LeakyReLU, Linear H, LeakyReLU
    """

    def __init__(self, d: int, k: int, hidden_dim: int):
        super().__init__()
        m, H = d - k + 1, hidden_dim
        act = lambda: nn.LeakyReLU(LEAKY_SLOPE)  # noqa: E731
        self.f = nn.Sequential(nn.Linear(d - k, H), nn.Tanh(), nn.BatchNorm1d(m),
                               nn.Linear(H, 2 * H), act(), nn.BatchNorm1d(m),
                               nn.Linear(2 * H, H), act())
        self.g = nn.Sequential(nn.Linear(k, max(1, H // 4)), act(), nn.BatchNorm1d(m),
                               nn.Linear(max(1, H // 4), max(1, H // 2)), act(),
                               nn.Linear(max(1, H // 2), H), act())

    def init_(self, generator: torch.Generator) -> None:
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                init_linear_(layer, generator)
            elif isinstance(layer, nn.BatchNorm1d):  # built on the meta device: set its ones, zeros and stats
                layer.reset_parameters()

    def losses(self, x: torch.Tensor, windows: torch.Tensor, complements: torch.Tensor,
               temperature: float) -> torch.Tensor:
        """L(x) of each row of x (B, d), a (B,) tensor."""
        fb = self.embed(self.f, x[:, complements])              # (B, m, H): the complements (queries)
        ga = self.embed(self.g, x[:, windows])                  # (B, m, H): the windows
        logits = torch.matmul(fb, ga.transpose(1, 2)) / temperature   # (B, m, m): complement j vs window j'
        m = logits.shape[1]
        target = torch.arange(m, device=x.device).repeat(x.shape[0])
        ce = F.cross_entropy(logits.reshape(-1, m), target, reduction="none")
        return ce.reshape(x.shape[0], m).mean(1)

    @staticmethod
    def embed(net: nn.Sequential, parts: torch.Tensor) -> torch.Tensor:
        """net on (B, m, features), then the authors' two normalisations: over the m pairs, then
        each embedding to unit length."""
        return F.normalize(F.normalize(net(parts), dim=1), dim=2)


class ICL(StandardizedTorchDetector):
    """ICL (see the module docstring for the method and the score).

    Parameters
    ----------
    window : int or None, default None
        k, the window width; None = the paper's rule from d (:func:`window_size`). Needs k < d.
    hidden_dim : int, default 200
        H: the embedding width and the scale of both networks (:class:`ICLNet`).
    temperature : float, default 0.01
        tau of the contrastive loss.
    n_epochs : int, default 2000
        At most this many epochs (the authors' cap); training usually stops earlier (``stop_loss``).
    stop_loss : float or None, default None
        Training stops after the first epoch whose mean loss is below this; None = the authors'
        rule from d (:func:`stop_loss_for`).
    batch_size : int, default 64
        Not in the authors' trainer as kept (its caller sets it); 64 is DeepOD's port's default.
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
    stop_loss_ : float, the one used; n_epochs_ : int, the epochs trained;
    net_ : ICLNet (eval mode); history_ : dict with the per-step ``loss``;
    mean_, scale_ (with ``standardize``); seed_, device_, decision_scores_, threshold_, labels_
    """

    _parameter_constraints = {
        "window": [None, StrictInterval(Integral, 1, None, closed="left")],
        "hidden_dim": [StrictInterval(Integral, 1, None, closed="left")],
        "temperature": [StrictInterval(Real, 0, None, closed="neither")],
        "n_epochs": [StrictInterval(Integral, 1, None, closed="left")],
        "stop_loss": [None, StrictInterval(Real, 0, None, closed="left")],
        "batch_size": [StrictInterval(Integral, 1, None, closed="left")],
        "lr": [StrictInterval(Real, 0, None, closed="neither")],
        "standardize": ["boolean"],
        "score_batch_size": [StrictInterval(Integral, 1, None, closed="left")],
        "device": "no_validation",  # torch parses it in fit (resolve_device), knowing this host's devices
        "random_state": [None, StrictInterval(Integral, 0, None, closed="left")],
        "contamination": "no_validation",  # PyOD's constructor checks it (and takes a thresholder too)
    }

    def __init__(self, window=None, hidden_dim=200, temperature=0.01, n_epochs=2000, stop_loss=None,
                 batch_size=64, lr=1e-3, standardize=True, score_batch_size=256,
                 device="auto", random_state=None, contamination=0.1):
        super().__init__(contamination=contamination)
        self.window = window
        self.hidden_dim = hidden_dim
        self.temperature = temperature
        self.n_epochs = n_epochs
        self.stop_loss = stop_loss
        self.batch_size = batch_size
        self.lr = lr
        self.standardize = standardize
        self.score_batch_size = score_batch_size
        self.device = device
        self.random_state = random_state

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
        self.stop_loss_ = stop_loss_for(d) if self.stop_loss is None else float(self.stop_loss)
        net = build_on_cpu(lambda: ICLNet(d, k, int(self.hidden_dim)), gen).to(self.device_)
        Xt = self._to_tensor(X)
        w, c = self.windows_.to(self.device_), self.complements_.to(self.device_)
        tau = float(self.temperature)
        opt = torch.optim.Adam(net.parameters(), lr=float(self.lr))
        hist = {"loss": []}
        net.train()
        chunk = self._rows_per_block(d, int(self.batch_size))
        bs = int(self.batch_size)
        self.n_epochs_ = 0
        while self.n_epochs_ < int(self.n_epochs):
            epoch_losses = []
            for xb in self._shuffled_batches(Xt, bs, 1, gen):
                if xb.shape[0] < 2:  # BatchNorm needs two rows; the authors' loader would fail here too
                    continue
                if xb.shape[0] <= chunk:
                    loss = net.losses(xb, w, c, tau).mean()
                    optimizer_step(opt, loss)
                else:  # wide rows: the batch's gradient accumulated over chunks (memory stays bounded;
                    # each chunk's BatchNorm then sees only the chunk's rows)
                    loss = self._accumulated_step(net, opt, xb, w, c, tau, chunk)
                record_losses(hist, loss=loss)
                epoch_losses.append(float(loss.detach()))
            self.n_epochs_ += 1
            if epoch_losses and np.mean(epoch_losses) < self.stop_loss_:
                break
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
