"""Sparse-input training and scoring for PyOD's AutoEncoder and DeepSVDD (used by
:mod:`baselines.pyod_deep` when ``fit`` gets a scipy sparse matrix, e.g. TF-IDF rows).

The networks, their initialisation, the batches, the dropout masks and the loss are PyOD's (3.6),
drawn from the same global RNGs in the same order, so on the same seed the scores are PyOD's on
the densified rows up to float32 rounding (tests/unit/baselines/test_sparse_deep.py). What
differs is only how the arithmetic is done:

* The first layer. PyOD standardises a row, u = (x - mean) / scale, which makes a sparse row
  dense, then computes W u + b. Here u is kept as a per-column base z = -mean / scale (the
  value of a zero entry) plus, at the row's nonzeros, u_j - z_j: W u = W z + sum_nz (u_j - z_j)
  W[:, j]. The forward pass gathers only the nonzeros' weight columns; the weight gradient is
  the scatter of those plus the rank-one term outer(g.sum(0), z). The weight is stored
  transposed (``weight_t``, in x out) so that a column is contiguous: Adam and the norms are
  elementwise or full reductions, indifferent to the layout. On CPU the gather and the scatter
  are numba loops, and DeepSVDD's penalty 1e-6 ||W|| on this layer adds its gradient in the
  same pass (instead of autograd's four passes over the weight).
* The dense targets (AutoEncoder's reconstruction target, DeepSVDD's ``use_ae`` term) are built
  per batch from the same float32 values PyOD feeds (base, then the nonzeros written in).
* Batches are gathered from the sparse rows by index, not collated row by row; a DataLoader over
  ``range(n)`` with PyOD's batch size and flags draws the same shuffles from the global RNG.
* Adam (PyOD's default optimizer for both) runs as torch's fused Adam: the same update in one pass
  over each tensor instead of seven, rounding differently in the last bits. With weight decay,
  every weight changes every step, so this step costs a pass over the whole first layer whatever
  the sparsity (docs/explanation/sparse-deep-baselines.md).

The functions read the adapter's parameters and set the fitted attributes PyOD's ``fit`` sets.
"""

from __future__ import annotations

import copy

import numba
import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pyod.models.auto_encoder import AutoEncoderModel
from pyod.models.deep_svdd import InnerDeepSVDD
from pyod.models.deep_svdd import optimizer_dict as SVDD_OPTIMIZERS
from pyod.utils.stat_models import pairwise_distances_no_broadcast
from pyod.utils.torch_utility import get_optimizer_by_name
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_array
from torch import nn

SCORE_ROWS = 1024  # rows per scoring batch (eval mode: every row is scored on its own)
STD_EPS = 1e-8     # PyOD's TorchDataset adds it to the standard deviation


def check_sparse_X(X, *, n_features: int | None = None, min_samples: int = 2) -> sp.csr_matrix:
    """Validate X as :func:`sla2p.validation.check_X` does, but keep it sparse: a canonical CSR
    matrix of float32 values (as check_X rounds them) held in float64 (as the adapters pass them)."""
    X = check_array(X, accept_sparse="csr", dtype=[np.float32, np.float64], ensure_min_samples=min_samples,
                    ensure_all_finite=True, input_name="X")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features, but the detector was fitted with {n_features} features")
    X = sp.csr_matrix(X, copy=True)
    X.sum_duplicates()
    if X.data.size and np.abs(X.data).max() > np.finfo(np.float32).max:
        raise ValueError(f"X holds values beyond float32's range (|x| up to {np.abs(X.data).max():.3g} > "
                         f"{np.finfo(np.float32).max:.3g}): scale the data first")
    X.data = X.data.astype(np.float32).astype(np.float64)
    return X


def column_mean_std(X: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """np.mean and np.std over the rows of the dense X, from the nonzeros (two-pass variance)."""
    n, p = X.shape
    mean = np.asarray(X.sum(axis=0), dtype=np.float64).ravel() / n
    d = X.data - mean[X.indices]
    nnz = np.bincount(X.indices, minlength=p)
    var = (np.bincount(X.indices, weights=d * d, minlength=p) + (n - nnz) * mean ** 2) / n
    return mean, np.sqrt(np.maximum(var, 0.0))


def dense_scaler(X: sp.csr_matrix) -> StandardScaler:
    """A fitted ``StandardScaler()`` (with centring, as PyOD's DeepSVDD fits) from sparse rows:
    scikit-learn computes the statistics, with_mean=False only because it refuses to centre a
    sparse matrix."""
    stats = StandardScaler(with_mean=False).fit(X)
    scaler = StandardScaler()
    for k in ("mean_", "var_", "scale_", "n_samples_seen_", "n_features_in_"):
        setattr(scaler, k, getattr(stats, k))
    return scaler


class SparseBatch:
    """Standardised rows as PyOD feeds them (float32), kept sparse: ``base`` (p,) is every
    column's value at a zero entry; ``cols``/``vals`` the nonzeros, ``rowid`` their row,
    ``offsets`` where each row starts."""

    def __init__(self, base, cols, vals, rowid, offsets, n_rows: int):
        self.base, self.cols, self.vals, self.rowid, self.offsets = base, cols, vals, rowid, offsets
        self.n_rows = n_rows

    def deltas(self) -> torch.Tensor:
        # float32 difference of float32 values: rounded once, as a float64 difference would be
        return self.vals - self.base[self.cols]

    def dense(self) -> torch.Tensor:
        """The rows as the dense float32 tensor PyOD builds (same values, bit for bit)."""
        out = self.base.expand(self.n_rows, -1).clone()
        out[self.rowid, self.cols] = self.vals
        return out


class StandardizedRows:
    """The rows of a CSR matrix standardised by (mean, scale), from which batches are drawn."""

    def __init__(self, X: sp.csr_matrix, mean, scale, device="cpu"):
        mean = np.zeros(X.shape[1]) if mean is None else np.asarray(mean, dtype=np.float64)
        scale = np.ones(X.shape[1]) if scale is None else np.asarray(scale, dtype=np.float64)
        vals = ((X.data - mean[X.indices]) / scale[X.indices]).astype(np.float32)  # PyOD's float64 ops
        self.base = torch.from_numpy(((0.0 - mean) / scale).astype(np.float32)).to(device)
        self.indptr = torch.from_numpy(X.indptr.astype(np.int64)).to(device)
        self.indices = torch.from_numpy(X.indices.astype(np.int64)).to(device)
        self.data = torch.from_numpy(vals).to(device)
        self.n_rows = X.shape[0]
        self.device = torch.device(device)

    def batch(self, rows: torch.Tensor) -> SparseBatch:
        rows = rows.to(self.device, torch.int64)
        starts = self.indptr[rows]
        lens = self.indptr[rows + 1] - starts
        offsets = torch.cumsum(lens, 0) - lens
        total = int(lens.sum())
        pos = torch.repeat_interleave(starts - offsets, lens, output_size=total) + torch.arange(total, device=self.device)
        rowid = torch.repeat_interleave(torch.arange(len(rows), device=self.device), lens, output_size=total)
        return SparseBatch(self.base, self.indices[pos], self.data[pos], rowid, offsets, len(rows))

    def chunks(self, size: int = SCORE_ROWS):
        for start in range(0, self.n_rows, size):
            yield self.batch(torch.arange(start, min(start + size, self.n_rows)))


@numba.njit(nogil=True)
def _nonzeros_times_weight(shift, offsets, cols, deltas, weight_t, out):  # pragma: no cover  (numba)
    """out[r] = shift + sum over row r's nonzeros t of deltas[t] * weight_t[cols[t]]."""
    n, h = out.shape
    for r in range(n):
        end = offsets[r + 1] if r + 1 < n else cols.size
        for k in range(h):
            out[r, k] = shift[k]
        for t in range(offsets[r], end):
            j, d = cols[t], deltas[t]
            for k in range(h):
                out[r, k] += d * weight_t[j, k]


@numba.njit(nogil=True)
def _first_layer_grad(base, gsum, cols, rowid, deltas, grad, weight_t, coef, out):  # pragma: no cover
    """out = outer(base, gsum) + coef * weight_t + the nonzeros' scatter of deltas * grad rows:
    the weight gradient in one pass over the weight."""
    p, h = out.shape
    for j in range(p):
        b = base[j]
        for k in range(h):
            out[j, k] = b * gsum[k] + coef * weight_t[j, k]
    for t in range(cols.size):
        j, r, d = cols[t], rowid[t], deltas[t]
        for k in range(h):
            out[j, k] += d * grad[r, k]


class _SparseLinearFn(torch.autograd.Function):
    """x W + b for a SparseBatch x, W stored transposed (in x out). On CPU the nonzeros' gather
    and scatter are numba loops (torch's index_add_ expands its index to the full source shape);
    elsewhere torch's embedding_bag and index_add_."""

    @staticmethod
    def forward(ctx, weight_t, bias, batch: SparseBatch, coef: float):
        deltas = batch.deltas()
        shift = batch.base @ weight_t  # every row's zero entries: W z
        if bias is not None:
            shift = shift + bias
        if weight_t.device.type == "cpu":
            out = torch.empty(batch.n_rows, weight_t.shape[1], dtype=weight_t.dtype)
            _nonzeros_times_weight(shift.numpy(), batch.offsets.numpy(), batch.cols.numpy(), deltas.numpy(),
                                   weight_t.detach().numpy(), out.numpy())
        else:
            out = F.embedding_bag(batch.cols, weight_t, batch.offsets, mode="sum", per_sample_weights=deltas) + shift
        ctx.batch, ctx.deltas, ctx.coef = batch, deltas, coef
        ctx.save_for_backward(weight_t)
        return out

    @staticmethod
    def backward(ctx, grad):
        batch, gsum = ctx.batch, grad.sum(0)
        (weight_t,) = ctx.saved_tensors
        grad_w = grad_b = None
        if ctx.needs_input_grad[0] and weight_t.device.type == "cpu":
            grad_w = torch.empty_like(weight_t)
            _first_layer_grad(batch.base.numpy(), gsum.numpy(), batch.cols.numpy(), batch.rowid.numpy(),
                              ctx.deltas.numpy(), grad.contiguous().numpy(), weight_t.detach().numpy(),
                              np.float32(ctx.coef), grad_w.numpy())
        elif ctx.needs_input_grad[0]:
            grad_w = torch.outer(batch.base, gsum) + ctx.coef * weight_t
            grad_w.index_add_(0, batch.cols, grad.index_select(0, batch.rowid) * ctx.deltas[:, None])
        if ctx.needs_input_grad[1]:
            grad_b = gsum
        return grad_w, grad_b, None, None


class SparseInputLinear(nn.Module):
    """A drop-in for a network's first ``nn.Linear`` (same weights, copied at construction) that
    takes a :class:`SparseBatch` (or a dense tensor). ``norm_coef``, when set, adds
    ``norm_coef * weight`` to the weight's gradient: the gradient of a weight-norm penalty the
    caller computes without autograd (one pass over the weight instead of four)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight_t = nn.Parameter(linear.weight.detach().t().contiguous())
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone())
        self.norm_coef = 0.0

    def forward(self, x):
        if isinstance(x, SparseBatch):
            return _SparseLinearFn.apply(self.weight_t, self.bias, x, self.norm_coef)
        return F.linear(x, self.weight_t.t(), self.bias)


def _fused(cls, params, **kw):
    """PyOD's optimizer; Adam/AdamW as torch's fused implementation of the same update."""
    if cls in (torch.optim.Adam, torch.optim.AdamW):
        kw["fused"] = True
    return cls(params, **kw)


# -- AutoEncoder ------------------------------------------------------------------------------------
def _ae_optimizer(det, model):
    opt = dict(det.optimizer_params)
    if det.optimizer_name != "adam":
        return get_optimizer_by_name(model=model, name=det.optimizer_name, lr=det.lr, **opt)
    return _fused(torch.optim.Adam, model.parameters(), lr=det.lr, weight_decay=opt.get("weight_decay", 0),
                  eps=opt.get("adam_eps", 1e-8))


def fit_autoencoder(det, X: sp.csr_matrix) -> None:
    """PyOD's ``BaseDeepLearningDetector.fit`` for the AutoEncoder on sparse rows, up to the
    scores: sets ``data_num``, ``feature_size``, ``model``, ``optimizer``, ``X_mean``, ``X_std``.
    Reads ``device``, ``optimizer_params`` and ``hidden_neuron_list`` as PyOD's code would."""
    det.data_num, det.feature_size = X.shape
    model = AutoEncoderModel(det.feature_size, hidden_neuron_list=det.hidden_neuron_list,
                             hidden_activation_name=det.hidden_activation_name, batch_norm=det.batch_norm,
                             dropout_rate=det.dropout_rate)  # PyOD's build_model: same init draws
    model.encoder[0].linear = SparseInputLinear(model.encoder[0].linear)
    det.model = model.to(det.device)
    det.optimizer = _ae_optimizer(det, det.model)
    det.model.train()
    if det.preprocessing:
        det.X_mean, det.X_std = column_mean_std(X)
    rows = _ae_rows(det, X)
    loader = torch.utils.data.DataLoader(range(det.data_num), batch_size=det.batch_size, shuffle=True,
                                         drop_last=True)  # PyOD's loader's draws, over indices
    for epoch in range(det.epoch_num):
        losses = []
        for idx in loader:
            batch = rows.batch(idx)
            det.optimizer.zero_grad()
            loss = det.criterion(det.model(batch), batch.dense())
            loss.backward()
            det.optimizer.step()
            losses.append(loss.item())
        if det.verbose == 2:
            print(f"Epoch {epoch + 1}/{det.epoch_num}, loss={np.mean(losses):.4f}")


def _ae_rows(det, X) -> StandardizedRows:
    if det.preprocessing:
        return StandardizedRows(X, det.X_mean, det.X_std + STD_EPS, det.device)
    return StandardizedRows(X, None, None, det.device)


def score_autoencoder(det, X: sp.csr_matrix) -> np.ndarray:
    """PyOD's AutoEncoder score: the Euclidean distance of each standardised row to its
    reconstruction, in eval mode."""
    det.model.eval()
    out = []
    with torch.no_grad():
        for batch in _ae_rows(det, X).chunks():
            recon = det.model(batch)
            out.append(pairwise_distances_no_broadcast(batch.dense().cpu().numpy(), recon.cpu().numpy()))
    return np.concatenate(out)


# -- DeepSVDD ---------------------------------------------------------------------------------------
def _svdd_rows(det, X) -> StandardizedRows:
    if det.preprocessing:
        return StandardizedRows(X, det.scaler_.mean_, det.scaler_.scale_)
    return StandardizedRows(X, None, None)


def _svdd_forward(model, rows: StandardizedRows, order=None) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        if order is None:
            return torch.cat([model(b) for b in rows.chunks()])
        order = torch.as_tensor(order)
        return torch.cat([model(rows.batch(order[i:i + SCORE_ROWS])) for i in range(0, len(order), SCORE_ROWS)])


def _svdd_center(det, model, rows: StandardizedRows, order) -> torch.Tensor:
    """PyOD's hypersphere centre: ``_init_c`` (the untrained network's mean output over the
    shuffled rows, pushed away from 0) or the given ``c``, with PyOD's checks."""
    if det.c is None:
        eps = 0.1
        center = torch.mean(_svdd_forward(model, rows, order), dim=0)
        center[(torch.abs(center) < eps) & (center < 0)] = -eps
        center[(torch.abs(center) < eps) & (center > 0)] = eps
    else:
        center = torch.as_tensor(det.c, dtype=torch.float32)
    width = det.n_features if det.use_ae else det.hidden_neurons[-1]
    if center.ndim == 0:
        center = center.repeat(width)
    elif center.ndim != 1 or center.numel() != width:
        raise ValueError(f'DeepSVDD: c must be a scalar or a vector of length {width}, '
                         f'got shape {tuple(center.shape)}.')
    if not torch.isfinite(center).all():
        raise ValueError('DeepSVDD: c must contain only finite values.')
    if not torch.any(center != 0):
        raise ValueError('DeepSVDD: the hypersphere center is all zeros, which makes the trivial '
                         'all-zero-weights solution optimal and collapses the hypersphere. Pass c=None '
                         'to initialize the center from the data, or supply a non-zero center.')
    return center.detach().clone()


def fit_deepsvdd(det, X: sp.csr_matrix) -> None:
    """PyOD's ``DeepSVDD.fit`` on sparse rows, up to the scores: sets ``n_samples_``,
    ``n_features_``, ``scaler_`` (when preprocessing), ``model_``, ``c_``, ``best_model_dict``."""
    det.n_samples_, det.n_features_ = X.shape
    if det.preprocessing:
        det.scaler_ = dense_scaler(X)
    rows = _svdd_rows(det, X)
    order = np.arange(det.n_samples_)
    np.random.shuffle(order)  # PyOD shuffles the standardised rows (same draws): the centre's order
    if np.min(det.hidden_neurons) > det.n_features_ and det.use_ae:
        raise ValueError("The number of neurons should not exceed the number of features")
    det.model_ = InnerDeepSVDD(det.n_features, use_ae=det.use_ae, hidden_neurons=det.hidden_neurons,
                               hidden_activation=det.hidden_activation, output_activation=det.output_activation,
                               dropout_rate=det.dropout_rate, l2_regularizer=det.l2_regularizer)
    det.model_.model.input_layer = SparseInputLinear(det.model_.model.input_layer)
    det.c_ = _svdd_center(det, det.model_, rows, order)
    det.best_model_dict = _svdd_train(det, det.model_, rows)
    if det.best_model_dict is not None:
        det.model_.load_state_dict(det.best_model_dict)


def _norm_grad_coef(norm: torch.Tensor) -> float:
    """1e-6 / ||W||, what PyOD's penalty 1e-6 ||W|| contributes to W's gradient per unit of W
    (0 for a zero W, as autograd's norm backward gives)."""
    n = float(norm)
    return 1e-6 / n if n > 0 else 0.0


def _svdd_train(det, model, rows: StandardizedRows):
    """PyOD's training loop; returns the state of the epoch with the lowest summed loss."""
    loader = torch.utils.data.DataLoader(range(rows.n_rows), batch_size=det.batch_size, shuffle=True)
    optimizer = _fused(SVDD_OPTIMIZERS[det.optimizer], model.parameters(), lr=det.learning_rate,
                       weight_decay=det.l2_regularizer)
    first = model.model.input_layer  # its norm's gradient is added by its backward, in one pass
    at = [w is first.weight_t for w in model.parameters()].index(True)
    best_loss, best = float("inf"), None
    for epoch in range(det.epochs):
        model.train()
        epoch_loss = 0
        for idx in loader:
            batch = rows.batch(idx)
            optimizer.zero_grad()
            norms = [torch.linalg.norm(w.detach() if w is first.weight_t else w) for w in model.parameters()]
            first.norm_coef = _norm_grad_coef(norms[at])  # d(1e-6 ||W||)/dW = 1e-6 W / ||W||
            outputs = model(batch)
            dist = torch.sum((outputs - det.c_) ** 2, dim=-1)
            loss = torch.mean(dist) + 1e-6 * sum(norms)
            if det.use_ae:
                loss = loss + torch.mean(torch.square(outputs - batch.dense()))
            loss.backward()
            optimizer.step()
            epoch_loss += loss.item()
        if epoch_loss < best_loss:
            best_loss, best = epoch_loss, copy.deepcopy(model.state_dict())
        if det.verbose >= 1:
            print(f"Epoch {epoch + 1}/{det.epochs}, Loss: {epoch_loss}")
    return best


def score_deepsvdd(det, X: sp.csr_matrix) -> np.ndarray:
    """PyOD's DeepSVDD score: the squared distance of each row's output to the centre (eval mode)."""
    outputs = _svdd_forward(det.model_, _svdd_rows(det, X))
    return torch.sum((outputs - det.c_) ** 2, dim=-1).numpy()
