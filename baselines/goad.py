"""GOAD (Bergman and Hoshen, "Classification-Based Anomaly Detection for General Data", ICLR 2020),
tabular form, as a PyOD detector.

M random affine maps x -> x W_m + b_m (W_m of shape d x d_out with entries N(0, 1), b_m of width
d_out with entries N(0, translation_scale^2)) make M pseudo-classes. One small network f, shared
by all M copies, maps each copy to a feature f(x W_m + b_m) and a head predicts m from it.
Training minimises cross-entropy plus ``lmbda`` times the triplet-centre loss, which pulls each
feature towards its class centre c_m and at least ``margin`` closer to it than to any other
centre. The score of x is minus its log-likelihood under the centres::

    score(x) = - sum_m log softmax_j(-||f(x W_m + b_m) - c_j||^2)[m]

The transformed copies are made per batch (one matmul with all M maps side by side): the
n x M x d_out tensor is never built.

Differences from the official code (github.com/lironber/GOAD, ``opt_tc_tabular.py``):
* The maps are affine, x W_m + b_m, as in the paper (``translation_scale``); the official
  tabular code (``train_ad_tabular.py``) draws only W_m.
* It is fitted transductively (fit on X, score X), as every detector in this suite; GOAD's own
  protocol trains on half of the normal rows.
* The centres are the mean feature of each class over all of X with the trained network,
  computed once after training; the official code averages the per-batch means of the last
  training epoch (while the weights still move). This makes the score independent of batch
  order and of which rows are scored together.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sla2p.torch_base import StandardizedTorchDetector, build_on_cpu, optimizer_step, record_losses
from sla2p.validation import StrictInterval, check_float, init_linear_

NEGATIVE_SLOPE = 0.2  # official fcnet.py: nn.LeakyReLU(0.2)


def pairwise_sq_dists(z: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """``out[b, i, j] = ||z[b, i] - centres[j]||^2`` for z (B, M, F) and centres (M, F)."""
    zz = (z * z).sum(-1, keepdim=True)                     # (B, M, 1)
    cc = (centres * centres).sum(-1)                       # (M,)
    cross = torch.matmul(z, centres.t())                   # (B, M, M)
    return (zz - 2.0 * cross + cc).clamp_min(0.0)


def triplet_centre_loss(z: torch.Tensor, margin: float) -> torch.Tensor:
    """GOAD's triplet-centre loss for a batch of features z of shape (B, M, F).

    The centres c_m are the batch means of each class; for each sample and class m::

        max(0, ||z_m - c_m||^2 + margin - min_{j != m} ||z_m - c_j||^2)

    averaged over samples and classes (official ``tc_loss``).
    """
    centres = z.mean(0)                                    # (M, F)
    d = pairwise_sq_dists(z, centres)                      # (B, M, M)
    M = z.shape[1]
    pos = torch.diagonal(d, dim1=1, dim2=2)                # (B, M)
    eye = torch.eye(M, dtype=torch.bool, device=z.device)
    neg = d.masked_fill(eye, float("inf")).amin(-1)        # (B, M)
    return F.relu(pos + margin - neg).mean()


class GOADNet(nn.Module):
    """The official tabular network: ``depth`` bias-free Linear layers d_out -> ndf (LeakyReLU(0.2)
    between them) give the feature; LeakyReLU(0.2) then Linear(ndf, M) give the class logits.
    ``depth=1`` is the official ``netC1`` (Arrhythmia, Thyroid), ``depth=5`` ``netC5`` (KDD).
    Kernel-size-1 Conv1d layers in the official code are these Linear layers applied per copy."""

    def __init__(self, in_dim: int, hidden_dim: int, n_classes: int, depth: int):
        super().__init__()
        layers = [nn.Linear(in_dim, hidden_dim, bias=False)]
        for _ in range(depth - 1):
            layers += [nn.LeakyReLU(NEGATIVE_SLOPE), nn.Linear(hidden_dim, hidden_dim, bias=False)]
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(hidden_dim, n_classes)

    def init_(self, generator: torch.Generator) -> None:
        # PyTorch's default initialisation, drawn from the local generator. That is what the
        # official code ends up with: its ``weights_init(netC)`` is called on the container
        # module (not through ``.apply``), whose class name matches none of its branches.
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                init_linear_(layer, generator)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feat = self.trunk(x)
        return feat, self.head(F.leaky_relu(feat, NEGATIVE_SLOPE))


class GOAD(StandardizedTorchDetector):
    """GOAD, tabular form (see the module docstring for the method and the score).

    Defaults are those of the official code's tabular runs on Arrhythmia and Thyroid
    (README of github.com/lironber/GOAD: ``--n_rots=256 --n_epoch=1 --d_out=32 --ndf=8``; the
    other values are the argparse defaults of ``train_ad_tabular.py`` and the settings of
    ``opt_tc_tabular.py``); the paper (Sec. 5.2) describes the same tabular set-up.

    Parameters
    ----------
    n_transforms : int, default 256
        M, the number of random affine transforms (``--n_rots=256``, README, Arrhythmia/Thyroid).
    transform_dim : int, default 32
        d_out, the output width of each transform (``--d_out=32``, README).
    hidden_dim : int, default 8
        ndf, the feature width of the network (``--ndf=8``, README).
    depth : int, default 1
        Linear layers in the feature trunk: 1 = ``netC1`` (used for Arrhythmia/Thyroid in
        ``opt_tc_tabular.py``), 5 = ``netC5`` (KDD; README: ``--ndf=32 --d_out=64 --n_rots=64``).
    n_epochs : int, default 1
        Training epochs (``--n_epoch=1``, README, Arrhythmia/Thyroid; 25 for KDD).
    batch_size : int, default 64
        Rows per batch, each with all M copies (``--batch_size`` default 64).
    lr : float, default 1e-3
        Adam learning rate (``--lr`` default 0.001).
    betas : tuple, default (0.5, 0.999)
        Adam betas (``opt_tc_tabular.py``).
    margin : float, default 1.0
        Triplet-centre margin m (``--m`` default 1).
    lmbda : float, default 0.1
        Weight of the triplet-centre loss (``--lmbda`` default 0.1).
    eps : float, default 0.0
        Squared distances are floored at ``eps`` before the softmax (``--eps`` default 0).
    translation_scale : float >= 0, default 1.0
        Standard deviation of the translations b_m of the affine maps x -> x W_m + b_m, each entry
        drawn from N(0, translation_scale^2) (``translations_``): 1.0 = N(0, 1), like the entries
        of W_m, as in the paper's affine transforms. Why: the official tabular code has no
        translation (0 reproduces it), and then a transductive fit on standardised (zero-mean)
        columns with the bias-free ``depth=1`` trunk puts every class centre at 0, so the score
        is noise.
    standardize : bool, default True
        Scale each column to zero mean and unit variance with X's statistics (zero variance -> 1),
        as the official ``norm_data`` does with the training rows.
    score_batch_size : int, default 128
        Rows scored at once; memory is about score_batch_size x M x M floats. Never changes a
        score beyond float rounding.
    device : str, default "auto"
        "auto" = CUDA when available, else CPU.
    random_state : int or None
        Seeds the transforms, the initial weights and the shuffling (local generator only).
    contamination : float, default 0.1
        PyOD's expected outlier share, used for ``threshold_`` and ``labels_`` only.

    Attributes
    ----------
    transforms_ : torch.Tensor (d, M, d_out), on CPU
    translations_ : torch.Tensor (M, d_out), on CPU
    mean_, scale_ : column statistics of the standardisation (with ``standardize``)
    centres_ : torch.Tensor (M, ndf)
    net_ : GOADNet (eval mode)
    history_ : dict with the per-step ``loss``, ``ce`` and ``tc`` values
    seed_, device_, decision_scores_, threshold_, labels_
    """

    _parameter_constraints = {
        "n_transforms": [StrictInterval(Integral, 2, None, closed="left")],
        "transform_dim": [StrictInterval(Integral, 1, None, closed="left")],
        "hidden_dim": [StrictInterval(Integral, 1, None, closed="left")],
        "depth": [StrictInterval(Integral, 1, None, closed="left")],
        "n_epochs": [StrictInterval(Integral, 1, None, closed="left")],
        "batch_size": [StrictInterval(Integral, 1, None, closed="left")],
        "lr": [StrictInterval(Real, 0, None, closed="neither")],
        "betas": ["array-like"],  # a pair in [0, 1): _check_params_beyond_constraints
        "margin": [StrictInterval(Real, 0, None, closed="left")],
        "lmbda": [StrictInterval(Real, 0, None, closed="left")],
        "eps": [StrictInterval(Real, 0, None, closed="left")],
        "translation_scale": [StrictInterval(Real, 0, None, closed="left")],
        "standardize": ["boolean"],
        "score_batch_size": [StrictInterval(Integral, 1, None, closed="left")],
        "device": "no_validation",  # torch parses it in fit (resolve_device), knowing this host's devices
        "random_state": [None, StrictInterval(Integral, 0, None, closed="left")],
        "contamination": "no_validation",  # PyOD's constructor checks it (and takes a thresholder too)
    }

    def __init__(self, n_transforms=256, transform_dim=32, hidden_dim=8, depth=1, n_epochs=1,
                 batch_size=64, lr=1e-3, betas=(0.5, 0.999), margin=1.0, lmbda=0.1, eps=0.0,
                 translation_scale=1.0, standardize=True, score_batch_size=128, device="auto",
                 random_state=None, contamination=0.1):
        super().__init__(contamination=contamination)
        self.n_transforms = n_transforms
        self.transform_dim = transform_dim
        self.hidden_dim = hidden_dim
        self.depth = depth
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.betas = betas
        self.margin = margin
        self.lmbda = lmbda
        self.eps = eps
        self.translation_scale = translation_scale
        self.standardize = standardize
        self.score_batch_size = score_batch_size
        self.device = device
        self.random_state = random_state

    def _check_params_beyond_constraints(self) -> None:
        if len(tuple(self.betas)) != 2:
            raise ValueError(f"betas must be a pair of floats in [0, 1), got {self.betas!r}")
        for b in self.betas:
            check_float("betas", b, 0.0, 1.0, high_open=True)

    def fit(self, X, y=None):
        """Draw the transforms, train the network on X, compute the centres and score X."""
        X, gen = self._begin_fit(X, y)
        d = X.shape[1]
        M, d_out = int(self.n_transforms), int(self.transform_dim)
        # Drawn on CPU from the local generator: the same transforms on every device.
        self.transforms_ = torch.randn(d, M, d_out, generator=gen)
        self.translations_ = torch.randn(M, d_out, generator=gen) * float(self.translation_scale)
        self._fold()
        net = build_on_cpu(lambda: GOADNet(d_out, int(self.hidden_dim), M, int(self.depth)), gen).to(self.device_)
        Xt = self._to_tensor(X)
        opt = torch.optim.Adam(net.parameters(), lr=float(self.lr), betas=tuple(map(float, self.betas)))
        labels = torch.arange(M, device=self.device_)
        hist = {"loss": [], "ce": [], "tc": []}
        net.train()
        for rows in self._shuffled_batches(Xt, int(self.batch_size), int(self.n_epochs), gen):
            xb = self._transform(rows)   # (B, M, d_out)
            feat, logits = net(xb)
            ce = F.cross_entropy(logits.reshape(-1, M), labels.repeat(xb.shape[0]))
            tc = triplet_centre_loss(feat, float(self.margin))
            loss = ce + float(self.lmbda) * tc
            optimizer_step(opt, loss)
            record_losses(hist, loss=loss, ce=ce, tc=tc)
        net.eval()
        self.net_ = net
        self.history_ = hist
        self.centres_ = self._centres(Xt)
        return self._finish_fit(Xt)

    # The standardisation is folded into the maps: ((x - mean) / scale) W + b = x W' + b' with
    # W' = W / scale (per input row of W) and b' = b - (mean / scale) W. The rows stay as given, so
    # TF-IDF rows keep their zeros and a batch's copies are a sparse x dense product (on 20
    # Newsgroups about 80 times fewer FLOPs than the dense product of standardised rows).
    def _input_transform(self, Xt: torch.Tensor) -> torch.Tensor:
        return Xt

    def _fold(self) -> None:
        d, M, d_out = self.transforms_.shape
        W = self.transforms_.reshape(d, M * d_out)
        b = self.translations_.reshape(M * d_out)
        if self.standardize:
            scale = torch.from_numpy(self.scale_).double()
            b = (b.double() - (torch.from_numpy(self.mean_).double() / scale) @ W.double()).float()
            W = (W.double() / scale[:, None]).float()
        self._W = W.to(self.device_)
        self._b = b.to(self.device_)

    def _transform(self, xb: torch.Tensor) -> torch.Tensor:
        if xb.device.type == "cpu" and int((xb != 0).sum()) < 0.25 * xb.numel():
            with warnings.catch_warnings():  # "sparse CSR support is in beta": the product is plain
                warnings.simplefilter("ignore", UserWarning)
                z = torch.sparse.mm(xb.to_sparse_csr(), self._W) + self._b
        else:
            z = torch.addmm(self._b, xb, self._W)
        return z.reshape(xb.shape[0], int(self.n_transforms), int(self.transform_dim))

    @torch.no_grad()
    def _centres(self, Xt: torch.Tensor) -> torch.Tensor:
        total = None
        for xb in self._blocks(Xt, int(self.score_batch_size)):
            feat, _ = self.net_(self._transform(xb))
            s = feat.double().sum(0)
            total = s if total is None else total + s
        return (total / Xt.shape[0]).float()

    @torch.no_grad()
    def _score(self, Xt: torch.Tensor) -> np.ndarray:
        out = []
        for xb in self._blocks(Xt, int(self.score_batch_size)):
            feat, _ = self.net_(self._transform(xb))
            d = pairwise_sq_dists(feat, self.centres_)
            if float(self.eps) > 0:
                d = torch.clamp_min(d, float(self.eps))
            # -log softmax_j(-d[m, j])[m] = d[m, m] + logsumexp_j(-d[m, j]): the diagonal only,
            # without materialising the (B, M, M) log-probabilities.
            diag = torch.diagonal(d, dim1=1, dim2=2).clone()  # before d is negated in place
            nll = diag + torch.logsumexp(d.neg_(), dim=2)
            out.append(nll.double().sum(1))
        return torch.cat(out).cpu().numpy()

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_W", None)
        state.pop("_b", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "transforms_" in state:
            self._fold()
