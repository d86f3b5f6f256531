"""NeuTraL-AD (Qiu, Pfrommer, Kloft, Mandt and Rudolph, "Neural Transformation Learning for Deep
Anomaly Detection Beyond Images", ICML 2021), tabular form, as a PyOD detector. Our own code,
written from the paper; the defaults follow the authors' code (github.com/boschresearch/NeuTraL-AD:
models/TabNets.py, models/Losses.py, config_files/config_thyroid.yml).

K learnable transformations T_k, each a two-layer MLP mask M_k (d -> hidden -> d, ReLU between),
in one of the paper's three parametrisations::

    residual        T_k(x) = M_k(x) + x                (default)
    multiplicative  T_k(x) = sigmoid(M_k(x)) * x      (a learned soft feature mask)
    feedforward     T_k(x) = M_k(x)

An encoder f (an MLP without biases, ReLU between layers) embeds x and its K views; with z = f(.) / ||f(.)|| and
h(a, b) = exp(z_a . z_b / tau), the deterministic contrastive loss (DCL) of a row is::

    L(x) = - sum_k log h(x_k, x) / (h(x_k, x) + sum_{l != k} h(x_k, x_l))

Transformations and encoder are trained jointly on the mean of L over the rows; the anomaly score
of a row is L(x) itself, as in the paper. Every view is made per batch: the n x K x d tensor of
all transformed copies is never built.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import StrOptions
from torch import nn
from torch.nn import functional as F

from sla2p.adam import Adam
from sla2p.torch_base import StandardizedTorchDetector, build_on_cpu, optimizer_step, record_losses
from sla2p.validation import StrictInterval, check_widths, init_linear_

TRANSFORM_TYPES = ("residual", "multiplicative", "feedforward")
MAX_AUTO_TRANSFORM_HIDDEN = 256  # transform_hidden=None: d, up to this
ENCODER_HIDDEN_LAYERS = 4        # the authors' enc_nlayers = 5: four hidden layers and the output layer


def encoder_widths(d: int) -> tuple[int, int]:
    """(hidden width, latent width) of the encoder from d: the authors' rule for tabular data
    without a tuned config (TabNets._make_nets): 2d and 2d below 32 features, 64 and 32 up to
    300, 256 and 64 beyond."""
    if d < 32:
        return 2 * d, 2 * d
    if d <= 300:
        return 64, 32
    return 256, 64


def dcl_scores(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """The DCL of each row, for embeddings z of shape (B, K + 1, F), index 0 the untransformed row
    (rows of z need not be normalised). Returns a (B,) tensor."""
    z = F.normalize(z, dim=-1)
    sim = torch.matmul(z, z.transpose(1, 2)) / temperature        # (B, K+1, K+1)
    views = sim[:, 1:, :]                                            # row k: x_k against all
    pos = views[:, :, 0]                                             # (B, K): x_k against x
    K = views.shape[1]
    own = torch.zeros(K, K + 1, dtype=torch.bool, device=z.device)
    own[torch.arange(K), torch.arange(1, K + 1)] = True              # x_k against itself: left out
    log_den = torch.logsumexp(views.masked_fill(own, float("-inf")), dim=-1)
    return (log_den - pos).sum(-1)


class MaskBank(nn.Module):
    """K two-layer MLPs d -> hidden -> d applied to the same rows at once (their weights stacked:
    one matmul for all first layers, one batched matmul for all second layers)."""

    def __init__(self, n_transforms: int, in_dim: int, hidden_dim: int):
        super().__init__()
        self.K, self.d, self.hidden = n_transforms, in_dim, hidden_dim
        self.w1 = nn.Parameter(torch.empty(in_dim, n_transforms * hidden_dim))
        self.b1 = nn.Parameter(torch.empty(n_transforms * hidden_dim))
        self.w2 = nn.Parameter(torch.empty(n_transforms, hidden_dim, in_dim))
        self.b2 = nn.Parameter(torch.empty(n_transforms, 1, in_dim))

    def init_(self, generator: torch.Generator) -> None:
        # nn.Linear's default (uniform in +-1/sqrt(fan_in), weights and biases) for each mask layer
        with torch.no_grad():
            for p, fan_in in ((self.w1, self.d), (self.b1, self.d), (self.w2, self.hidden), (self.b2, self.hidden)):
                bound = 1.0 / fan_in ** 0.5
                p.uniform_(-bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d) -> (B, K, d): M_k(x) for every k."""
        h = torch.relu(torch.addmm(self.b1, x, self.w1))                       # (B, K*hidden)
        h = h.reshape(x.shape[0], self.K, self.hidden).transpose(0, 1)          # (K, B, hidden)
        return torch.baddbmm(self.b2, h, self.w2).transpose(0, 1)              # (B, K, d)


class NeuTraLNet(nn.Module):
    """The K masks and the encoder (Linear layers without biases, ReLU between, a linear output of
    ``latent_dim``: the authors' TabEncoder with enc_bias False; with ``batch_norm``, a batch norm
    without learned scale or shift after each hidden layer, its statistics over x and all its views,
    as theirs with batch_norm True)."""

    def __init__(self, in_dim, n_transforms, transform_hidden, hidden_sizes, latent_dim, transform_type,
                 batch_norm=False):
        super().__init__()
        self.masks = MaskBank(n_transforms, in_dim, transform_hidden)
        sizes = [in_dim] + list(hidden_sizes)
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b, bias=False)]
            layers += [nn.BatchNorm1d(b, affine=False)] if batch_norm else []
            layers += [nn.ReLU()]
        self.encoder = nn.Sequential(*layers, nn.Linear(sizes[-1], latent_dim, bias=False))
        self.transform_type = transform_type

    def init_(self, generator: torch.Generator) -> None:
        self.masks.init_(generator)
        for layer in self.encoder:
            if isinstance(layer, nn.Linear):
                init_linear_(layer, generator)
            elif isinstance(layer, nn.BatchNorm1d):
                layer.reset_running_stats()  # built on the meta device: its buffers are not set yet

    def views(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d) -> (B, K + 1, d): x itself, then T_1(x) ... T_K(x)."""
        m = self.masks(x)
        if self.transform_type == "multiplicative":
            t = torch.sigmoid(m) * x.unsqueeze(1)
        elif self.transform_type == "residual":
            t = m + x.unsqueeze(1)
        else:
            t = m
        return torch.cat([x.unsqueeze(1), t], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The embeddings of x and its K views, (B, K + 1, latent_dim)."""
        v = self.views(x)
        # flat rows: a batch norm's statistics then cover x and every view of the batch
        return self.encoder(v.reshape(-1, v.shape[-1])).reshape(v.shape[0], v.shape[1], -1)


class NeuTraLAD(StandardizedTorchDetector):
    """NeuTraL-AD, tabular form (see the module docstring for the method and the score).

    Parameters
    ----------
    n_transforms : int, default 11
        K, the number of learnable transformations.
    transform_type : {"residual", "multiplicative", "feedforward"}, default "residual"
        The parametrisation of T_k (module docstring). Why residual: on column-standardised data
        a multiplicative mask maps the rows near the centre (the densest) to views near 0 that
        the encoder cannot tell apart, so they get the highest DCL; on the easy Gaussian set of
        the tests that inverts the ranking (AUROC 0.08 multiplicative, 1.0 residual).
    transform_hidden : int or None, default None
        Width of each mask's hidden layer; None = the number of features d, at most
        ``MAX_AUTO_TRANSFORM_HIDDEN`` (256): a mask costs 2 d x hidden multiply-adds a row, and
        d x d would rule out TF-IDF widths.
    hidden_sizes : tuple of int or None, default None
        Hidden widths of the encoder; None = four layers of the width :func:`encoder_widths` gives.
    latent_dim : int or None, default None
        Width of the embedding the DCL compares; None = :func:`encoder_widths`.
    temperature : float, default 0.1
        tau of the DCL.
    n_epochs : int, default 200
    batch_size : int, default 128
    lr : float, default 1e-3
        Adam learning rate.
    lr_step : int or None, default None
        Halve the learning rate every ``lr_step`` epochs (the authors' StepLR, gamma 0.5: 200 on
        Thyroid, 100 on Arrhythmia); None keeps it constant.
    batch_norm : bool, default False
        A batch norm without learned scale or shift after each hidden encoder layer (the
        authors' Arrhythmia config); in training its statistics are the batch's, over the rows and
        all their views, and scoring uses the running averages, so a row's score never depends on
        the rows scored with it.
    weight_decay : float, default 1e-5
        Adam's L2 penalty (the authors' l2).
    standardize : bool, default True
        Scale each column to zero mean and unit variance with X's statistics (zero variance -> 1).
    score_batch_size : int, default 1024
        Rows scored at once (bounds memory; never changes a score beyond float rounding).
    device : str, default "auto"
        "auto" = CUDA when available, else CPU.
    random_state : int or None
        Seeds the initial weights and the shuffling (local generator only).
    contamination : float, default 0.1
        PyOD's expected outlier share, used for ``threshold_`` and ``labels_`` only.

    Where each default comes from is in docs/explanation/successors.md.

    Attributes
    ----------
    net_ : NeuTraLNet (eval mode); history_ : dict with the per-step ``loss``;
    mean_, scale_ (with ``standardize``); seed_, device_, decision_scores_, threshold_, labels_
    """

    _parameter_constraints = {
        "n_transforms": [StrictInterval(Integral, 2, None, closed="left")],
        "transform_type": [StrOptions(set(TRANSFORM_TYPES))],
        "transform_hidden": [None, StrictInterval(Integral, 1, None, closed="left")],
        "hidden_sizes": [None, "array-like"],  # widths, each an int >= 1: _check_params_beyond_constraints
        "latent_dim": [None, StrictInterval(Integral, 1, None, closed="left")],
        "temperature": [StrictInterval(Real, 0, None, closed="neither")],
        "n_epochs": [StrictInterval(Integral, 1, None, closed="left")],
        "batch_size": [StrictInterval(Integral, 1, None, closed="left")],
        "lr": [StrictInterval(Real, 0, None, closed="neither")],
        "lr_step": [None, StrictInterval(Integral, 1, None, closed="left")],
        "batch_norm": ["boolean"],
        "weight_decay": [StrictInterval(Real, 0, None, closed="left")],
        "standardize": ["boolean"],
        "score_batch_size": [StrictInterval(Integral, 1, None, closed="left")],
        "device": "no_validation",  # torch parses it in fit (resolve_device), knowing this host's devices
        "random_state": [None, StrictInterval(Integral, 0, None, closed="left")],
        "contamination": "no_validation",  # PyOD's constructor checks it (and takes a thresholder too)
    }

    def __init__(self, n_transforms=11, transform_type="residual", transform_hidden=None,
                 hidden_sizes=None, latent_dim=None, temperature=0.1, n_epochs=200, batch_size=128,
                 lr=1e-3, lr_step=None, batch_norm=False, weight_decay=1e-5, standardize=True, score_batch_size=1024, device="auto", random_state=None,
                 contamination=0.1):
        super().__init__(contamination=contamination)
        self.n_transforms = n_transforms
        self.transform_type = transform_type
        self.transform_hidden = transform_hidden
        self.hidden_sizes = hidden_sizes
        self.latent_dim = latent_dim
        self.temperature = temperature
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_step = lr_step
        self.batch_norm = batch_norm
        self.weight_decay = weight_decay
        self.standardize = standardize
        self.score_batch_size = score_batch_size
        self.device = device
        self.random_state = random_state

    def _check_params_beyond_constraints(self) -> None:
        if self.hidden_sizes is not None:
            check_widths("hidden_sizes", self.hidden_sizes)

    def fit(self, X, y=None):
        """Train the transformations and the encoder on X with the DCL, then score X."""
        X, gen = self._begin_fit(X, y)
        d = X.shape[1]
        Xt = self._to_tensor(X)
        hidden = min(d, MAX_AUTO_TRANSFORM_HIDDEN) if self.transform_hidden is None else int(self.transform_hidden)
        width, latent = encoder_widths(d)
        sizes = ((width,) * ENCODER_HIDDEN_LAYERS if self.hidden_sizes is None
                 else tuple(int(s) for s in self.hidden_sizes))
        latent = latent if self.latent_dim is None else int(self.latent_dim)
        net = build_on_cpu(lambda: NeuTraLNet(d, int(self.n_transforms), hidden, sizes, latent,
                                              self.transform_type, bool(self.batch_norm)), gen).to(self.device_)
        # torch.optim.Adam's update to the bit, in cache-sized slices: at text widths the masks'
        # 60 M weights made torch's own update a third of the step (sla2p.adam)
        opt = Adam(net.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
        hist = {"loss": []}
        tau = float(self.temperature)
        net.train()
        for epoch in range(1, int(self.n_epochs) + 1):
            for xb in self._shuffled_batches(Xt, int(self.batch_size), 1, gen):
                loss = dcl_scores(net(xb), tau).mean()
                optimizer_step(opt, loss)
                record_losses(hist, loss=loss)
            if self.lr_step is not None and epoch % int(self.lr_step) == 0:
                opt.lr *= 0.5  # the authors' StepLR (gamma 0.5), stepped at the end of each epoch
        net.eval()
        self.net_ = net
        self.history_ = hist
        return self._finish_fit(Xt)

    @torch.no_grad()
    def _score(self, Xt: torch.Tensor) -> np.ndarray:
        tau = float(self.temperature)
        out = [dcl_scores(self.net_(xb), tau).double() for xb in self._blocks(Xt, int(self.score_batch_size))]
        return torch.cat(out).cpu().numpy()
