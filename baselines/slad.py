"""SLAD (Xu, Wang, Wei, Jian, Li and Liu, "Fascinating Supervisory Signals and Where to Find Them:
Deep Anomaly Detection with Scale Learning", ICML 2023) as a PyOD detector. Written from the
paper's description, not from any implementation of it.

Scale learning. For a row x of d features, c sub-vectors x^(S_i) on subspaces S_i of different
sizes s_i are each brought to one common width h by a transformation T; here T repeats the
sub-vector (its features in column order) until it fills h values, so the representation is
periodic with period s_i. The label of a representation is its scale y_i = s_i / h, the ratio of
the sub-vector's width to the representation's. A network Phi scores each of the c
representations; the target distribution is p = softmax(magnify * y) over the c sizes (by
default magnify = c h / min(d, h): neighbouring sizes of a group then differ by about one logit,
so p keeps their ranking instead of piling onto the largest), the predicted one
q = softmax(Phi(U)), and the loss of a group is KL(p || q). The subspaces are
drawn once per fit: r groups of c (sizes drawn from a pool of ``pool_size`` sizes spread
evenly from 1 to min(d, h); features drawn uniformly), shared by every row, so a row's score
depends on nothing but the row. The anomaly score of a row is its loss averaged over the r
groups: a row whose sub-vectors the trained network cannot rank by scale fits the learned
regularities badly.

On rows of at most h features the (rows x r x c x h) tensor of representations is never built:
Phi's first layer is folded into one (d x r c hidden) weight block per step (:class:`ScaleNet`);
wider rows gather it per batch and per scoring block only.
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


def subspace_plan(d: int, n_groups: int, group_size: int, pool_size: int, width: int,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The r groups of c subspaces, as the column index of every representation value
    (r, c, h: sub-vector i of group g repeated to width h) and the subspace sizes (r, c).

    Sizes come from ``pool_size`` sizes spread evenly over [1, min(d, h)] (a sub-vector wider
    than h would be cut, and its scale could not be told from the width-h ones), drawn without
    replacement when the pool has c sizes or more; each subspace is a uniform draw of that
    many columns, kept in column order."""
    pool = torch.unique(torch.linspace(1, min(d, width), pool_size).round().long())
    index = torch.empty(n_groups, group_size, width, dtype=torch.long)
    sizes = torch.empty(n_groups, group_size, dtype=torch.long)
    positions = torch.arange(width)
    for g in range(n_groups):
        if len(pool) >= group_size:
            pick = pool[torch.randperm(len(pool), generator=generator)[:group_size]]
        else:
            pick = pool[torch.randint(len(pool), (group_size,), generator=generator)]
        for i, s in enumerate(pick.tolist()):
            cols = torch.randperm(d, generator=generator)[:s].sort().values
            index[g, i] = cols[positions % s]
            sizes[g, i] = s
    return index, sizes


class ScaleNet(nn.Module):
    """Phi: one MLP (h -> hidden ... -> 1, LeakyReLU between) applied to each representation.

    Its first layer is linear in the representation, and a representation only gathers columns
    of x, so for all P = r x c representations at once it is one product x @ A with
    A[:, p] = sum_t e_{index[p, t]} W1[:, t]^T (a d x hidden block per representation, rebuilt from
    W1 at every forward, so gradients reach W1): mathematically the same layer, without building
    the (rows x P x h) representations. On narrow data (d << h) that is most of the work saved;
    rows wider than h take the plain gather instead (then the cheaper of the two)."""

    def __init__(self, width: int, hidden_sizes):
        super().__init__()
        sizes = [width] + list(hidden_sizes)
        self.first = nn.Linear(sizes[0], sizes[1])
        layers = []
        for a, b in zip(sizes[1:-1], sizes[2:]):
            layers += [nn.LeakyReLU(LEAKY_SLOPE), nn.Linear(a, b)]
        self.rest = nn.Sequential(*layers, nn.LeakyReLU(LEAKY_SLOPE), nn.Linear(sizes[-1], 1))

    def init_(self, generator: torch.Generator) -> None:
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                init_linear_(layer, generator)

    def folded_first_layer(self, index: torch.Tensor, d: int) -> torch.Tensor:
        """A (d, P * hidden): the first layer's weights for every representation, in x's columns."""
        P, h = index.shape[0] * index.shape[1], index.shape[2]
        w = self.first.weight.t()                                        # (h, hidden)
        rows = (index.reshape(P, h) + d * torch.arange(P, device=index.device)[:, None]).reshape(-1)
        A = w.new_zeros(P * d, w.shape[1]).index_add(0, rows, w.repeat(P, 1))
        return A.reshape(P, d, -1).transpose(0, 1).reshape(d, -1)

    def losses(self, x: torch.Tensor, index: torch.Tensor, log_target: torch.Tensor) -> torch.Tensor:
        """KL(p || q) of each row and group, (B, r), for rows x (B, d), the plan's ``index``
        (r, c, h) and log p (r, c)."""
        r, c, h = index.shape
        if x.shape[1] <= h:  # folded: d x (P hidden) per row instead of P x h x hidden
            A = self.folded_first_layer(index, x.shape[1])
            hid = (x @ A).reshape(x.shape[0], r, c, -1) + self.first.bias    # (B, r, c, hidden)
        else:                # wide rows: gathering the representations is the cheaper product
            hid = self.first(x[:, index])
        logits = self.rest(hid).squeeze(-1)                              # (B, r, c)
        log_q = F.log_softmax(logits, dim=-1)
        return (log_target.exp() * (log_target - log_q)).sum(-1)


class SLAD(StandardizedTorchDetector):
    """SLAD (see the module docstring for the method and the score).

    Parameters
    ----------
    n_groups : int, default 20
        r, the groups of subspaces drawn per fit (each a distribution to align).
    group_size : int, default 10
        c, the subspaces (sizes) per group.
    pool_size : int, default 50
        How many subspace sizes, spread evenly over [1, min(d, width)], the sizes are drawn from.
    width : int, default 128
        h, the common width of the representations.
    magnify : float or None, default None
        The target distribution is softmax(magnify * s / h) over a group's c sizes s. None =
        c h / min(d, h) (the sizes spread over [1, min(d, h)], so c of them are about
        min(d, h) / c apart: about one logit). A fixed 200 makes p one-hot on all but the
        narrowest data (docs/explanation/successors.md).
    hidden_sizes : tuple of int, default (100,)
        Hidden widths of Phi.
    n_epochs : int, default 100
    batch_size : int, default 128
    lr : float, default 1e-3
        Adam learning rate.
    standardize : bool, default True
        Scale each column to zero mean and unit variance with X's statistics (zero variance -> 1).
    score_batch_size : int, default 256
        Rows scored at once: memory is about score_batch_size x r x c x hidden floats. Never
        changes a score beyond float rounding.
    device : str, default "auto"
        "auto" = CUDA when available, else CPU.
    random_state : int or None
        Seeds the subspaces, the initial weights and the shuffling (local generator only).
    contamination : float, default 0.1
        PyOD's expected outlier share, used for ``threshold_`` and ``labels_`` only.

    Where each default comes from is in docs/explanation/successors.md.

    Attributes
    ----------
    subspace_index_ : torch.Tensor (r, c, h), the column of every representation value (CPU);
    subspace_sizes_ : torch.Tensor (r, c); magnify_ : float, the one used;
    log_target_ : torch.Tensor (r, c), log p;
    net_ : ScaleNet (eval mode); history_ : dict with the per-step ``loss``;
    mean_, scale_ (with ``standardize``); seed_, device_, decision_scores_, threshold_, labels_
    """

    _parameter_constraints = {
        "n_groups": [StrictInterval(Integral, 1, None, closed="left")],
        "group_size": [StrictInterval(Integral, 2, None, closed="left")],
        "pool_size": [StrictInterval(Integral, 2, None, closed="left")],
        "width": [StrictInterval(Integral, 2, None, closed="left")],
        "magnify": [None, StrictInterval(Real, 0, None, closed="neither")],
        "hidden_sizes": ["array-like"],  # widths, each an int >= 1: _check_params_beyond_constraints
        "n_epochs": [StrictInterval(Integral, 1, None, closed="left")],
        "batch_size": [StrictInterval(Integral, 1, None, closed="left")],
        "lr": [StrictInterval(Real, 0, None, closed="neither")],
        "standardize": ["boolean"],
        "score_batch_size": [StrictInterval(Integral, 1, None, closed="left")],
        "device": "no_validation",  # torch parses it in fit (resolve_device), knowing this host's devices
        "random_state": [None, StrictInterval(Integral, 0, None, closed="left")],
        "contamination": "no_validation",  # PyOD's constructor checks it (and takes a thresholder too)
    }

    def __init__(self, n_groups=20, group_size=10, pool_size=50, width=128, magnify=None,
                 hidden_sizes=(100,), n_epochs=100, batch_size=128, lr=1e-3, standardize=True,
                 score_batch_size=256, device="auto", random_state=None, contamination=0.1):
        super().__init__(contamination=contamination)
        self.n_groups = n_groups
        self.group_size = group_size
        self.pool_size = pool_size
        self.width = width
        self.magnify = magnify
        self.hidden_sizes = hidden_sizes
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.standardize = standardize
        self.score_batch_size = score_batch_size
        self.device = device
        self.random_state = random_state

    def _check_params_beyond_constraints(self) -> None:
        check_widths("hidden_sizes", self.hidden_sizes)

    def fit(self, X, y=None):
        """Draw the subspaces, train Phi on X by scale-distribution alignment, then score X."""
        X, gen = self._begin_fit(X, y)
        d, h = X.shape[1], int(self.width)
        self.subspace_index_, self.subspace_sizes_ = subspace_plan(
            d, int(self.n_groups), int(self.group_size), int(self.pool_size), h, gen)
        self.magnify_ = (int(self.group_size) * h / min(d, h)) if self.magnify is None else float(self.magnify)
        scale = self.subspace_sizes_.double() / h
        self.log_target_ = F.log_softmax(self.magnify_ * scale, dim=-1).float()
        net = build_on_cpu(lambda: ScaleNet(h, tuple(int(s) for s in self.hidden_sizes)), gen).to(self.device_)
        Xt = self._to_tensor(X)
        index, log_p = self.subspace_index_.to(self.device_), self.log_target_.to(self.device_)
        opt = torch.optim.Adam(net.parameters(), lr=float(self.lr))
        hist = {"loss": []}
        net.train()
        for xb in self._shuffled_batches(Xt, int(self.batch_size), int(self.n_epochs), gen):
            loss = net.losses(xb, index, log_p).mean()
            optimizer_step(opt, loss)
            record_losses(hist, loss=loss)
        net.eval()
        self.net_ = net
        self.history_ = hist
        return self._finish_fit(Xt)

    @torch.no_grad()
    def _score(self, Xt: torch.Tensor) -> np.ndarray:
        index, log_p = self.subspace_index_.to(Xt.device), self.log_target_.to(Xt.device)
        out = [self.net_.losses(xb, index, log_p).double().mean(1)
               for xb in self._blocks(Xt, int(self.score_batch_size))]
        return torch.cat(out).cpu().numpy()
