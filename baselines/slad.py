"""SLAD (Xu, Wang, Wei, Jian, Li and Liu, "Fascinating Supervisory Signals and Where to Find Them:
Deep Anomaly Detection with Scale Learning", ICML 2023) as a PyOD detector. Our own code, written
from the method; its definitions and defaults follow the authors' code (github.com/xuhongzuo/
scale-learning, algorithms/slad.py, the same class as DeepOD's deepod/models/tabular/slad.py).

Scale learning. A pool of ``pool_size`` subspace sizes is drawn once from {1, ..., d}. Then r
groups of c subspaces: each subspace takes a size from the pool and that many columns (distinct
columns when d > 10, drawn with replacement on narrower data so that c subspaces can differ). A
sub-vector x^(S) of s features is brought to the common width h by a fixed random linear map
T_s: R^s -> R^h (no bias, one per pool size, drawn at fit and never trained), so every group of a
row gives a c x h matrix of representations. The label of a representation is its scale,
y = magnify * sum_{j in S} w_j / h, where w_j is a feature weight: on fewer than 50 features the
mean absolute Pearson correlation of feature j with all features, min-max scaled to [0, 1]; from
50 features on w_j = 1 (then y = magnify * s / h, the plain size ratio). A network Phi (an MLP
h -> hidden -> 1 without biases) scores each representation; with the target distribution
p = softmax(y) over the group's c subspaces and the prediction q = softmax(Phi(U)), the loss of a
(row, group) pair is a Jensen-Shannon-type divergence between p and q (``divergence``). Training
draws, for each group, a bootstrap sample of rows (:func:`rows_per_group`) and minimises the mean
loss over all (row, group) pairs; the anomaly score of a row is its loss averaged over the r
groups (every row against every group; a row's score depends on nothing but the row).

For each group the c maps are laid into one (d x c h) matrix (a sub-vector is a gather, T_s is
linear), so a group's representations of a block of rows are one product. The training pairs'
representations are made once per fit (:func:`pair_representations`, when they fit in
``PAIR_REPS_BYTES``); scoring makes them per block of rows.
"""

from __future__ import annotations

import inspect
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import StrOptions
from torch import nn
from torch.nn import functional as F

from sla2p.torch_base import StandardizedTorchDetector, build_on_cpu, optimizer_step, record_losses
from sla2p.validation import StrictInterval, check_widths, init_linear_

DIVERGENCES = ("official", "js")
WEIGHTED_BELOW = 50      # feature weights from correlations on fewer features than this (authors' rule)
REPLACE_AT_MOST = 10     # columns of a subspace drawn with replacement on at most this many features
GATHER_VALUES = 1 << 23  # a training batch gathers its pairs' (d x c h) maps when that is at most 8M values
PAIR_REPS_BYTES = 1 << 29  # the training pairs' representations are made once when they fit in 512 MB


def rows_per_group(n: int, n_groups: int) -> int:
    """Training rows drawn (bootstrap) for each group: the authors' rule, n / r times a factor
    that shrinks with n (50 below 500 rows, 20 below 1,000, 5 below 5,000, 2 up to 100,000, else 1),
    at least 10. An epoch is one pass over the r groups' samples."""
    if n < 500:
        factor = 50
    elif n < 1000:
        factor = 20
    elif n < 5000:
        factor = 5
    elif n > 100000:
        factor = 1
    else:
        factor = 2
    return max((n // n_groups) * factor, 10)


def feature_weights(X: np.ndarray) -> np.ndarray:
    """w_j: on fewer than 50 features the mean |Pearson correlation| of column j with every column
    (itself included; undefined correlations count 0), min-max scaled to [0, 1]; else all ones.
    If every column gets the same mean (the scaling is undefined) all weights are 1."""
    d = X.shape[1]
    if d >= WEIGHTED_BELOW:
        return np.ones(d)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.abs(np.corrcoef(X, rowvar=False).reshape(d, d))
    corr[np.isnan(corr)] = 0.0
    w = corr.mean(1)
    span = w.max() - w.min()
    return (w - w.min()) / span if span > 0 else np.ones(d)


def subspace_plan(d: int, n_groups: int, group_size: int, pool_size: int,
                  generator: torch.Generator) -> tuple[torch.Tensor, list[list[torch.Tensor]]]:
    """The pool of sizes (sorted, min(pool_size, d) distinct sizes from 1..d) and the r groups of
    c subspaces (column indices; a subspace's size is a uniform draw from the pool)."""
    pool = (torch.randperm(d, generator=generator)[:min(pool_size, d)] + 1).sort().values
    replace = d <= REPLACE_AT_MOST
    groups = []
    for _ in range(n_groups):
        group = []
        for _ in range(group_size):
            s = int(pool[torch.randint(len(pool), (1,), generator=generator)])
            cols = (torch.randint(d, (s,), generator=generator) if replace
                    else torch.randperm(d, generator=generator)[:s])
            group.append(cols)
        groups.append(group)
    return pool, groups


def group_maps(groups, pool: torch.Tensor, projections: torch.Tensor, d: int) -> torch.Tensor:
    """(r, d, c h): for each group, x @ M[g] is the row's c representations T_s x^(S) side by side.
    ``projections`` (len(pool), max size, h) holds each pool size's map T_s (rows past s are 0)."""
    h = projections.shape[2]
    slot = {int(s): k for k, s in enumerate(pool.tolist())}
    maps = torch.zeros(len(groups), d, len(groups[0]) * h)
    for g, group in enumerate(groups):
        for i, cols in enumerate(group):
            w = projections[slot[len(cols)], :len(cols)]                      # (s, h)
            maps[g, :, i * h:(i + 1) * h].index_add_(0, cols, w)             # repeated columns add up
    return maps


def pair_representations(Xt: torch.Tensor, rows: torch.Tensor, grp: torch.Tensor, maps: torch.Tensor,
                         batch_size: int) -> torch.Tensor:
    """(pairs, c h): the representations of the (row, group) pairs ``rows``, ``grp``. Narrow rows
    (a batch of ``batch_size`` pairs gathers at most GATHER_VALUES map values): each pair's gathered
    map, in chunks of that size; wide rows: one product per group. The values of a pair do not
    depend on the chunk it is in; on wide rows they depend on which pairs share its product, up to
    float rounding."""
    d, ch = maps.shape[1], maps.shape[2]
    U = torch.empty(len(rows), ch, device=Xt.device)
    if batch_size * d * ch <= GATHER_VALUES:
        per = max(1, GATHER_VALUES // (d * ch))
        for a in range(0, len(rows), per):
            U[a:a + per] = torch.bmm(Xt[rows[a:a + per]].unsqueeze(1), maps[grp[a:a + per]]).squeeze(1)
        return U
    for g in torch.unique(grp).tolist():
        sel = (grp == g).nonzero().squeeze(1)
        U[sel] = Xt[rows[sel]] @ maps[g]
    return U


def divergence_of(logits: torch.Tensor, target_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """The loss of each pair, over the last axis (c): p = softmax(target_logits), q = softmax(logits),
    m = (p + q) / 2.

    ``js``: the Jensen-Shannon divergence KL(p || m) + KL(q || m) (twice the usual JS; the factor
    changes no ranking).
    ``official``: what the authors' SLADLoss computes: the same sum with log softmax(p) and
    log softmax(q) in place of log p and log q (softmax taken again over the probabilities), i.e.
    sum m (log m - log softmax(q)) + sum m (log m - log softmax(p)). It is not a divergence (it is
    not 0 when p = q) but it is what produced the paper's figures."""
    p = F.softmax(target_logits, dim=-1)
    q = F.softmax(logits, dim=-1)
    m = 0.5 * (p + q)
    log_m = torch.log(m.clamp_min(1e-30))
    if kind == "js":
        log_p, log_q = torch.log(p.clamp_min(1e-30)), torch.log(q.clamp_min(1e-30))
        return (p * (log_p - log_m)).sum(-1) + (q * (log_q - log_m)).sum(-1)
    return (m * (log_m - F.log_softmax(q, dim=-1))).sum(-1) + (m * (log_m - F.log_softmax(p, dim=-1))).sum(-1)


class ScaleNet(nn.Module):
    """Phi: an MLP h -> hidden ... -> 1 without biases, LeakyReLU (slope 0.01, PyTorch's default)
    between layers, applied to each representation (the authors' MLPnet with bias=False)."""

    def __init__(self, width: int, hidden_sizes):
        super().__init__()
        sizes = [width] + list(hidden_sizes)
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b, bias=False), nn.LeakyReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], 1, bias=False))

    def init_(self, generator: torch.Generator) -> None:
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                init_linear_(layer, generator)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """(..., h) representations -> (...) logits."""
        return self.net(u).squeeze(-1)


class SLAD(StandardizedTorchDetector):
    """SLAD (see the module docstring for the method and the score).

    Parameters
    ----------
    n_groups : int, default 20
        r, the groups of subspaces drawn per fit (the authors' n_ensemble).
    group_size : int, default 10
        c, the subspaces per group (distribution_size).
    pool_size : int, default 50
        How many subspace sizes are drawn from 1..d (at most d).
    width : int, default 128
        h, the common width of the representations (n_unified_features).
    magnify : float, default 200
        The scale labels are magnify * sum of the subspace's feature weights / h (magnify_factor).
    hidden_sizes : tuple of int, default (100,)
        Hidden widths of Phi.
    divergence : {"official", "js"}, default "official"
        The loss between the target and predicted distributions (:func:`divergence_of`):
        "official" as the authors' code computes it, "js" the Jensen-Shannon divergence.
    n_epochs : int, default 100
        Passes over the r groups' bootstrap samples (the authors' default; their runs on Thyroid
        and Arrhythmia use 10).
    batch_size : int, default 128
        (row, group) pairs per step.
    lr : float, default 1e-3
    weight_decay : float, default 1e-5
        Adam's L2 penalty (the authors' training loop).
    standardize : bool, default True
        Scale each column to zero mean and unit variance with X's statistics (zero variance -> 1).
        The authors scale columns to [0, 1] (min-max) before the detector instead.
    score_batch_size : int, default 256
        Rows scored at once; never changes a score beyond float rounding.
    device : str, default "auto"
        "auto" = CUDA when available, else CPU.
    random_state : int or None
        Seeds the pool, the subspaces, the maps T_s, the bootstrap samples, the initial weights
        and the shuffling (local generator only).
    contamination : float, default 0.1
        PyOD's expected outlier share, used for ``threshold_`` and ``labels_`` only.

    Where each default comes from is in docs/explanation/successors.md.

    Attributes
    ----------
    pool_ : torch.Tensor, the subspace sizes; subspaces_ : list of r lists of c column tensors;
    projections_ : torch.Tensor (len(pool_), max size, h), the maps T_s; group_maps_ : (r, d, c h);
    feature_weights_ : np.ndarray (d,); targets_ : torch.Tensor (r, c), the scale labels y;
    net_ : ScaleNet (eval mode); history_ : dict with the per-step ``loss``;
    mean_, scale_ (with ``standardize``); seed_, device_, decision_scores_, threshold_, labels_
    """

    _parameter_constraints = {
        "n_groups": [StrictInterval(Integral, 1, None, closed="left")],
        "group_size": [StrictInterval(Integral, 2, None, closed="left")],
        "pool_size": [StrictInterval(Integral, 1, None, closed="left")],
        "width": [StrictInterval(Integral, 1, None, closed="left")],
        "magnify": [StrictInterval(Real, 0, None, closed="neither")],
        "hidden_sizes": ["array-like"],  # widths, each an int >= 1: _check_params_beyond_constraints
        "divergence": [StrOptions(set(DIVERGENCES))],
        "n_epochs": [StrictInterval(Integral, 1, None, closed="left")],
        "batch_size": [StrictInterval(Integral, 1, None, closed="left")],
        "lr": [StrictInterval(Real, 0, None, closed="neither")],
        "weight_decay": [StrictInterval(Real, 0, None, closed="left")],
        "standardize": ["boolean"],
        "score_batch_size": [StrictInterval(Integral, 1, None, closed="left")],
        "device": "no_validation",  # torch parses it in fit (resolve_device), knowing this host's devices
        "random_state": [None, StrictInterval(Integral, 0, None, closed="left")],
        "contamination": "no_validation",  # PyOD's constructor checks it (and takes a thresholder too)
    }

    def __init__(self, n_groups=20, group_size=10, pool_size=50, width=128, magnify=200.0,
                 hidden_sizes=(100,), divergence="official", n_epochs=100, batch_size=128, lr=1e-3,
                 weight_decay=1e-5, standardize=True, score_batch_size=256, device="auto",
                 random_state=None, contamination=0.1):
        super().__init__(contamination=contamination)
        self.n_groups = n_groups
        self.group_size = group_size
        self.pool_size = pool_size
        self.width = width
        self.magnify = magnify
        self.hidden_sizes = hidden_sizes
        self.divergence = divergence
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.standardize = standardize
        self.score_batch_size = score_batch_size
        self.device = device
        self.random_state = random_state

    @staticmethod
    def fit_work(n_rows: int) -> int:
        """Training pairs an epoch at the default r for ``n_rows`` fitted rows. A fit's cost follows
        them, not the rows (the authors' sampling rule keeps them at 5,000-25,000 from 100 to 12,000
        rows), so the time estimate scales a measured fit by them (``tasks.estimate.fit_work``)."""
        r = inspect.signature(SLAD).parameters["n_groups"].default
        return r * rows_per_group(int(n_rows), r)

    def _check_params_beyond_constraints(self) -> None:
        check_widths("hidden_sizes", self.hidden_sizes)

    def fit(self, X, y=None):
        """Draw the subspaces and maps, train Phi on bootstrap samples by scale-distribution
        alignment, then score X."""
        X, gen = self._begin_fit(X, y)
        n, d = X.shape
        r, c, h = int(self.n_groups), int(self.group_size), int(self.width)
        self.pool_, self.subspaces_ = subspace_plan(d, r, c, int(self.pool_size), gen)
        # T_s: nn.Linear(s, h, bias=False)'s default draw, uniform in +-1/sqrt(s), fixed after this
        smax = int(self.pool_.max())
        proj = torch.zeros(len(self.pool_), smax, h)
        for k, s in enumerate(self.pool_.tolist()):
            proj[k, :s].uniform_(-1 / s ** 0.5, 1 / s ** 0.5, generator=gen)
        self.projections_ = proj
        self.group_maps_ = group_maps(self.subspaces_, self.pool_, proj, d)
        Xt = self._to_tensor(X)
        self.feature_weights_ = feature_weights(Xt.cpu().double().numpy())
        w = torch.from_numpy(self.feature_weights_)
        self.targets_ = torch.tensor([[float(w[cols].sum()) for cols in group] for group in self.subspaces_]
                                     ).mul(float(self.magnify) / h).float()
        # the training pairs: for each group, a bootstrap sample of rows
        m = rows_per_group(n, r)
        rows = torch.randint(n, (r, m), generator=gen).reshape(-1)
        grp = torch.arange(r).repeat_interleave(m)
        net = build_on_cpu(lambda: ScaleNet(h, tuple(int(s) for s in self.hidden_sizes)), gen).to(self.device_)
        maps, targets = self.group_maps_.to(self.device_), self.targets_.to(self.device_)
        opt = torch.optim.Adam(net.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
        hist = {"loss": []}
        bs, kind = int(self.batch_size), self.divergence
        rows_d, grp_d = rows.to(self.device_), grp.to(self.device_)
        # The maps and the pairs are fixed for the whole fit (only Phi trains): their
        # representations are made once when they fit in PAIR_REPS_BYTES, else at every step.
        U = (pair_representations(Xt, rows_d, grp_d, maps, bs)
             if len(rows) * maps.shape[2] * 4 <= PAIR_REPS_BYTES else None)
        net.train()
        for _ in range(int(self.n_epochs)):
            order = torch.randperm(len(rows), generator=gen).to(self.device_)
            for start in range(0, len(rows), bs):
                pick = order[start:start + bs]
                u = U[pick] if U is not None else pair_representations(Xt, rows_d[pick], grp_d[pick], maps, bs)
                loss = divergence_of(net(u.reshape(len(pick), targets.shape[1], h)), targets[grp_d[pick]], kind).mean()
                optimizer_step(opt, loss)
                record_losses(hist, loss=loss)
        net.eval()
        self.net_ = net
        self.history_ = hist
        return self._finish_fit(Xt)

    @torch.no_grad()
    def _score(self, Xt: torch.Tensor) -> np.ndarray:
        maps, targets = self.group_maps_.to(Xt.device), self.targets_.to(Xt.device)
        r, c = targets.shape
        out = []
        for xb in self._blocks(Xt, int(self.score_batch_size)):
            total = torch.zeros(xb.shape[0], dtype=torch.float64, device=Xt.device)
            for g in range(r):
                u = (xb @ maps[g]).reshape(xb.shape[0], c, -1)
                total += divergence_of(self.net_(u), targets[g].expand(xb.shape[0], c), self.divergence).double()
            out.append(total / r)
        return torch.cat(out).cpu().numpy()
