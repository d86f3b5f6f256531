"""DTE, diffusion time estimation (Livernoche, Jain, Hezaveh and Ravanbakhsh, "On Diffusion
Modeling for Anomaly Detection", ICLR 2024), its categorical form, as a PyOD detector. Our own
code, written from the paper; the defaults and the architecture follow the authors' code
(github.com/vicliv/DTE, ``DTECategorical``).

The forward diffusion adds Gaussian noise of a variance that grows with the step t (variance
only, no drift)::

    x_t = x + sqrt(1 - abar_t) * eps,   abar_t = prod_{s <= t} (1 - beta_s),
    beta linear from 1e-4 to 1e-2 over T = 400 steps

A classifier learns, from a noisy copy x_t of a training row (t uniform on 0..T-1, fresh noise at
every step), which of ``n_bins`` equal bins of t it came from (cross-entropy). An inlier lies in
the dense region, so it looks like a little-noised inlier; a row far from the data looks like a
heavily noised one. The anomaly score of a row is the expected bin of its clean copy,
sum_k k * softmax(logits)_k: the estimated diffusion time. Scoring draws nothing.

The network: an MLP d -> 256 -> 512 -> 256 -> n_bins with ReLU, and dropout (p = 0.5) after the
second and third hidden layers in training, as the authors' ``MLP``. Dropout masks, steps and
noise come from the fit's own generator, never the global RNG.

``probability_loss``: the authors' network ends in a softmax and their loss is PyTorch's
cross-entropy on those probabilities (a second softmax on top of the first). The paper's loss is
the cross-entropy of the bin; ``False`` (default) applies it to the logits, ``True`` reproduces
the authors' code.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sla2p.adam import Adam
from sla2p.torch_base import StandardizedTorchDetector, build_on_cpu, optimizer_step, record_losses
from sla2p.validation import StrictInterval, check_widths, init_linear_

BETA_START, BETA_END = 1e-4, 1e-2  # the authors' linear schedule
DROPOUT = 0.5


def noise_scales(n_steps: int) -> torch.Tensor:
    """sqrt(1 - abar_t) for t = 0..n_steps-1: the noise's standard deviation at each step."""
    betas = torch.linspace(BETA_START, BETA_END, n_steps, dtype=torch.float64)
    return torch.sqrt(1.0 - torch.cumprod(1.0 - betas, dim=0)).float()


def time_bins(t: torch.Tensor, n_steps: int, n_bins: int) -> torch.Tensor:
    """The bin of each step: floor(t * n_bins / n_steps), within 0..n_bins-1."""
    return torch.clamp(torch.div(t * n_bins, n_steps, rounding_mode="floor"), 0, n_bins - 1).long()


class TimeNet(nn.Module):
    """The classifier: Linear + ReLU per hidden width, dropout after every hidden layer but the
    first (training only, masks from the caller's generator), a linear output of n_bins logits."""

    def __init__(self, in_dim: int, hidden_sizes, n_bins: int):
        super().__init__()
        sizes = [in_dim] + list(hidden_sizes)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], n_bins)

    def init_(self, generator: torch.Generator) -> None:
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                init_linear_(layer, generator)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits (B, n_bins); with a generator (training), dropout is applied."""
        h = torch.relu(self.hidden[0](x))
        for layer in self.hidden[1:]:
            h = torch.relu(layer(h))
            if generator is not None:
                keep = torch.rand(h.shape, generator=generator).to(h.device) >= DROPOUT
                h = h * keep / (1.0 - DROPOUT)
        return self.out(h)


class DTE(StandardizedTorchDetector):
    """DTE-categorical (see the module docstring for the method and the score).

    Parameters
    ----------
    n_bins : int, default 7
        Bins of the diffusion step the classifier predicts.
    n_steps : int, default 400
        T, the diffusion steps of the noise schedule.
    hidden_sizes : tuple of int, default (256, 512, 256)
    n_epochs : int, default 400
    batch_size : int, default 64
    lr : float, default 1e-4
        Adam learning rate.
    weight_decay : float, default 5e-4
        Adam's L2 penalty.
    probability_loss : bool, default False
        True: the cross-entropy of the softmax outputs, as the authors' code (module docstring).
    standardize : bool, default True
        Scale each column to zero mean and unit variance with X's statistics (zero variance -> 1):
        the noise schedule is absolute, so the columns' scale sets what "far" means.
    score_batch_size : int, default 1024
        Rows scored at once (bounds memory; never changes a score beyond float rounding).
    device : str, default "auto"
        "auto" = CUDA when available, else CPU.
    random_state : int or None
        Seeds the initial weights, shuffling, steps, noise and dropout (local generator only).
    contamination : float, default 0.1
        PyOD's expected outlier share, used for ``threshold_`` and ``labels_`` only.

    Attributes
    ----------
    net_ : TimeNet; history_ : dict with the per-step ``loss``; mean_, scale_ (with
    ``standardize``); seed_, device_, decision_scores_, threshold_, labels_
    """

    _parameter_constraints = {
        "n_bins": [StrictInterval(Integral, 2, None, closed="left")],
        "n_steps": [StrictInterval(Integral, 2, None, closed="left")],
        "hidden_sizes": ["array-like"],  # widths, each an int >= 1: _check_params_beyond_constraints
        "n_epochs": [StrictInterval(Integral, 1, None, closed="left")],
        "batch_size": [StrictInterval(Integral, 1, None, closed="left")],
        "lr": [StrictInterval(Real, 0, None, closed="neither")],
        "weight_decay": [StrictInterval(Real, 0, None, closed="left")],
        "probability_loss": ["boolean"],
        "standardize": ["boolean"],
        "score_batch_size": [StrictInterval(Integral, 1, None, closed="left")],
        "device": "no_validation",  # torch parses it in fit (resolve_device), knowing this host's devices
        "random_state": [None, StrictInterval(Integral, 0, None, closed="left")],
        "contamination": "no_validation",  # PyOD's constructor checks it
    }

    def __init__(self, n_bins=7, n_steps=400, hidden_sizes=(256, 512, 256), n_epochs=400, batch_size=64,
                 lr=1e-4, weight_decay=5e-4, probability_loss=False, standardize=True, score_batch_size=1024,
                 device="auto", random_state=None, contamination=0.1):
        super().__init__(contamination=contamination)
        self.n_bins = n_bins
        self.n_steps = n_steps
        self.hidden_sizes = hidden_sizes
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.probability_loss = probability_loss
        self.standardize = standardize
        self.score_batch_size = score_batch_size
        self.device = device
        self.random_state = random_state

    def _check_params_beyond_constraints(self) -> None:
        check_widths("hidden_sizes", self.hidden_sizes)

    def fit(self, X, y=None):
        """Train the step classifier on noisy copies of X's rows, then score X."""
        X, gen = self._begin_fit(X, y)
        Xt = self._to_tensor(X)
        T, K = int(self.n_steps), int(self.n_bins)
        sizes = tuple(int(s) for s in self.hidden_sizes)
        net = build_on_cpu(lambda: TimeNet(X.shape[1], sizes, K), gen).to(self.device_)
        # torch.optim.Adam's update to the bit, faster on wide inputs (sla2p.adam)
        opt = Adam(net.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
        sigma = noise_scales(T).to(self.device_)
        hist = {"loss": []}
        net.train()
        for xb in self._shuffled_batches(Xt, int(self.batch_size), int(self.n_epochs), gen):
            t = torch.randint(0, T, (xb.shape[0],), generator=gen).to(xb.device)
            noise = torch.randn(xb.shape, generator=gen).to(xb.device)
            logits = net(xb + sigma[t].unsqueeze(1) * noise, gen)
            if self.probability_loss:  # the authors' code: cross-entropy over softmax outputs
                logits = torch.softmax(logits, dim=1)
            loss = F.cross_entropy(logits, time_bins(t, T, K))
            optimizer_step(opt, loss)
            record_losses(hist, loss=loss)
        net.eval()
        self.net_ = net
        self.history_ = hist
        return self._finish_fit(Xt)

    @torch.no_grad()
    def _score(self, Xt: torch.Tensor) -> np.ndarray:
        bins = torch.arange(int(self.n_bins), dtype=torch.float64, device=Xt.device)
        out = [torch.softmax(self.net_(xb).double(), dim=1) @ bins for xb in self._blocks(Xt, int(self.score_batch_size))]
        return torch.cat(out).cpu().numpy()
