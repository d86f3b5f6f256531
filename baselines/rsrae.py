"""RSRAE (Lai, Zou and Lerman, "Robust Subspace Recovery Layer for Unsupervised Anomaly
Detection", ICLR 2020) as a PyOD detector.

encoder E: x -> y (D = hidden_sizes[-1])
RSR layer:  y -> y_rsr = y A, A of shape D x d (d = ``intrinsic_dim``), then z = y_rsr / ||y_rsr||
            (the official code's renormalisation, on by default)
decoder:    z -> x_tilde

Losses, with row vectors (the paper writes A as d x D and A y; the same thing transposed)::

    L_AE   = mean_i ||x_i - x_tilde_i||_2                 (L2,1 reconstruction, not squared)
    L_RSR1 = mean_i ||y_i - y_i A A^T||_2                 (projection residual, L2,1)
    L_RSR2 = ||A^T A - I_d||_F^2                           (orthogonality; paper: ||A A^T - I_d||_F^2)
    lambda1 = lambda2 = 0.1                                (paper, Sec. 4)

``optimization="alternating"`` (default) is the paper's alternating minimisation as in the
official code (``all_alt=1, enforce_proj=1``): per batch, an Adam step on L_AE (all weights,
lr), then on lambda2 L_RSR2 (A, 10 lr), then on lambda1 L_RSR1 (encoder and A, 10 lr), each
with its own optimiser. ``"joint"`` takes one Adam step on L_AE + lambda1 L_RSR1 + lambda2 L_RSR2.

Score: ``score="l2"`` (default) is the reconstruction error ||x - x_tilde||_2 of each row;
``"cosine"`` is minus the cosine similarity of x and x_tilde, the official experiments' score.

Speed (docs/explanation/text-baselines-speed.md). On text cells (10,000-24,349 TF-IDF columns)
more than half of a plain-autograd training step is not its matrix products but the elementwise
passes over the (batch x columns) blocks of the decoder's output layer and L_AE, each into a
freshly allocated block (page faults). Training computes that part with :class:`_OutputLayerL21`: autograd's own
operations, in its order (so the same bits), in place over buffers reused from step to step, with
the batch gathered into a reused buffer too, and :class:`sla2p.adam.Adam` (torch's per-tensor update
to the bit, a wide layer in cache-sized slices). Losses and scores are bit-identical to plain autograd
(tests/unit/baselines/test_baselines_rsrae.py compares them; ``bench/bench_rsrae_pca.py`` times both).
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
from sla2p.validation import StrictInterval, check_widths

_ACTIVATIONS = ("auto", "relu", "tanh", "leaky_relu")
LEAKY_SLOPE = 0.2  # tf.nn.leaky_relu's default alpha (the official code is TensorFlow)


def rsr_projection_error(y: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """L_RSR1 = mean_i ||y_i - y_i A A^T||_2 for y (n, D) and A (D, d)."""
    return torch.linalg.vector_norm(y - (y @ A) @ A.t(), dim=1).mean()


def rsr_orthogonality_error(A: torch.Tensor) -> torch.Tensor:
    """L_RSR2 = ||A^T A - I_d||_F^2 for A (D, d): zero exactly when A's columns are orthonormal."""
    d = A.shape[1]
    return ((A.t() @ A - torch.eye(d, dtype=A.dtype, device=A.device)) ** 2).sum()


def l21_reconstruction_error(x: torch.Tensor, x_tilde: torch.Tensor) -> torch.Tensor:
    """L_AE = mean_i ||x_i - x_tilde_i||_2."""
    return torch.linalg.vector_norm(x - x_tilde, dim=1).mean()


class _Buffers:
    """Blocks of (at most ``rows``) x width float tensors reused from one training step to the
    next: a fresh block of that size costs page faults on every step."""

    def __init__(self, rows: int):
        self.rows = rows
        self._blocks: dict[str, torch.Tensor] = {}

    def take(self, name: str, rows: int, like: torch.Tensor) -> torch.Tensor:
        """The first ``rows`` rows (contiguous) of buffer ``name``, of ``like``'s width, dtype and device."""
        buf = self._blocks.get(name)
        if buf is None or buf.shape[1:] != like.shape[1:] or buf.dtype != like.dtype or buf.device != like.device:
            buf = self._blocks[name] = like.new_empty((max(self.rows, rows),) + tuple(like.shape[1:]))
        return buf[:rows]


def _activation_(name: str, t: torch.Tensor) -> None:
    """_Act(name) in place (the same kernel, so the same values)."""
    if name == "relu":
        torch.relu_(t)
    elif name == "tanh":
        torch.tanh_(t)
    else:
        F.leaky_relu_(t, LEAKY_SLOPE)


def _activation_backward_(name: str, grad: torch.Tensor, out: torch.Tensor) -> None:
    """Autograd's backward of _Act(name), in place on ``grad``, from the activation's OUTPUT
    ``out``: relu and tanh use it (ReluBackward0, TanhBackward0); leaky_relu tests its input's
    sign (LeakyReluBackward0), which for a positive slope is its output's sign."""
    if name == "relu":
        torch.ops.aten.threshold_backward.grad_input(grad, out, 0, grad_input=grad)
    elif name == "tanh":
        torch.ops.aten.tanh_backward.grad_input(grad, out, grad_input=grad)
    else:
        torch.ops.aten.leaky_relu_backward.grad_input(grad, out, LEAKY_SLOPE, False, grad_input=grad)


class _OutputLayerL21(torch.autograd.Function):
    """Per-row ||x - act(h W^T + b)||_2 (the decoder's output layer and L_AE's terms before the
    mean), computed and differentiated with the operations autograd runs for
    ``vector_norm(x - _Act(F.linear(h, W, b)), dim=1)``, in its order, but in place over
    ``buffers``. One sign flip: the block kept is x_tilde - x, not x - x_tilde; negation is exact,
    so the norm is the same and the gradient needs no separate ``neg`` pass (SubBackward0's)."""

    @staticmethod
    def forward(ctx, h, weight, bias, x, activation, buffers):
        x_tilde = buffers.take("x_tilde", x.shape[0], x)
        torch.addmm(bias, h, weight.t(), out=x_tilde)  # F.linear's addmm, into the buffer
        _activation_(activation, x_tilde)
        diff = torch.sub(x_tilde, x, out=buffers.take("diff", x.shape[0], x))
        norms = torch.linalg.vector_norm(diff, dim=1)
        ctx.save_for_backward(h, weight, norms)
        ctx.x_tilde, ctx.diff, ctx.activation = x_tilde, diff, activation
        return norms

    @staticmethod
    def backward(ctx, grad_norms):
        h, weight, norms = ctx.saved_tensors
        g = ctx.diff  # the block becomes the gradient, op by op (norm_backward for p = 2)
        n = norms.unsqueeze(1)
        g.div_(n)
        if bool((norms == 0).any()):  # masked_fill_ is a no-op without one: skip its pass
            g.masked_fill_(n == 0, 0)
        g.mul_(grad_norms.unsqueeze(1))
        _activation_backward_(ctx.activation, g, ctx.x_tilde)
        # AddmmBackward0 for a row-major h and weight.t() (mm_mat1_backward, mm_mat2_backward)
        grad_h = g.mm(weight) if ctx.needs_input_grad[0] else None
        return grad_h, g.t().mm(h), g.sum(0), None, None, None


def _batches_into(buffers: _Buffers, Xt: torch.Tensor, batch_size: int, n_epochs: int,
                  generator: torch.Generator):
    """TorchDetector._shuffled_batches' batches (the same permutations, drawn in the same order),
    each gathered into the same reused buffer: a batch is valid until the next one is drawn."""
    n = Xt.shape[0]
    for _ in range(n_epochs):
        order = torch.randperm(n, generator=generator).to(Xt.device)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            yield torch.index_select(Xt, 0, idx, out=buffers.take("batch", idx.shape[0], Xt))


class _Act(nn.Module):
    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def forward(self, x):
        if self.name == "relu":
            return F.relu(x)
        if self.name == "tanh":
            return torch.tanh(x)
        return F.leaky_relu(x, LEAKY_SLOPE)


class RSRAENet(nn.Module):
    """Dense encoder (hidden_sizes), RSR layer A, dense decoder (hidden_sizes reversed), with the
    activation after every dense layer, the output layer included (as the official code)."""

    def __init__(self, n_features: int, hidden_sizes, intrinsic_dim: int, activation: str,
                 renormalize: bool):
        super().__init__()
        sizes = [n_features] + list(hidden_sizes)
        enc = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            enc += [nn.Linear(a, b), _Act(activation)]
        self.encoder = nn.Sequential(*enc)
        self.A = nn.Parameter(torch.empty(sizes[-1], intrinsic_dim))
        dec_sizes = [intrinsic_dim] + list(reversed(sizes))
        dec = []
        for a, b in zip(dec_sizes[:-1], dec_sizes[1:]):
            dec += [nn.Linear(a, b), _Act(activation)]
        self.decoder = nn.Sequential(*dec)
        self.renormalize = renormalize

    def init_(self, generator: torch.Generator) -> None:
        # Official: A = tf.random_normal((D, d)), entries N(0, 1); Keras' dense defaults:
        # glorot_uniform weights, zero biases. All drawn from the local generator.
        with torch.no_grad():
            self.A.normal_(generator=generator)
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight, generator=generator)
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor):
        y = self.encoder(x)
        y_rsr = y @ self.A
        z = F.normalize(y_rsr, dim=1) if self.renormalize else y_rsr
        return y, y_rsr, self.decoder(z)

    def forward_ae(self, x: torch.Tensor, buffers: _Buffers):
        """Training's forward: (y, L_AE), with the output layer, its activation and L_AE in
        :class:`_OutputLayerL21` (the same values as ``forward`` then
        :func:`l21_reconstruction_error`, bit for bit, gradients included)."""
        y = self.encoder(x)
        y_rsr = y @ self.A
        h = F.normalize(y_rsr, dim=1) if self.renormalize else y_rsr
        *hidden, last, act = self.decoder
        for layer in hidden:
            h = layer(h)
        norms = _OutputLayerL21.apply(h, last.weight, last.bias, x, act.name, buffers)
        return y, norms.mean()


class RSRAE(StandardizedTorchDetector):
    """RSRAE (see the module docstring for the losses, the optimisation and the score).

    Defaults are the paper's (ICLR 2020, Sec. 4 "Implementation details") and, where the paper
    is silent, the official code's (github.com/dmzou/RSRAE, ``RSRAE/model.py`` and
    ``experiments.py``).

    Parameters
    ----------
    hidden_sizes : tuple of int, default (32, 64, 128)
        Encoder widths; the decoder mirrors them (official ``hidden_layer_sizes=(32,64,128)``).
    intrinsic_dim : int, default 10
        d, the RSR layer's output width (paper: d = 10; official ``--dim_latent`` 10).
    lambda1, lambda2 : float, default 0.1
        Weights of L_RSR1 and L_RSR2 (paper: lambda1 = lambda2 = 0.1).
    lr : float, default 2.5e-4
        Adam learning rate for L_AE; the two RSR steps use 10 lr (official ``learning_rate=0.00025``
        and ``AdamOptimizer(10 * learning_rate)``).
    epochs : int, default 200
        Training epochs (official ``epoch_size=200``).
    batch_size : int, default 128
        (official ``batch_size=128``).
    activation : {"auto", "relu", "tanh", "leaky_relu"}, default "auto"
        "auto" is the official rule on the (standardised) input: relu if min >= 0, tanh if
        max |x| <= 1, else leaky_relu (alpha 0.2).
    renormalize : bool, default True
        L2-normalise the RSR layer's output before decoding (official ``--renormalize`` 1).
    optimization : {"alternating", "joint"}, default "alternating"
        The paper's alternating minimisation (official ``all_alt=1``), or one combined loss.
    score : {"l2", "cosine"}, default "l2"
        Reconstruction error (this suite) or minus the cosine similarity (official experiments).
    standardize : bool, default True
        Scale each column to zero mean and unit variance with X's statistics (zero variance -> 1).
        The paper's data are images and documents, normalised per row; tabular columns need this.
    score_batch_size : int, default 1024
        Rows scored at once (never changes a score beyond float rounding).
    device : str, default "auto"
    random_state : int or None
        Seeds the initial weights and the shuffling (local generator only).
    contamination : float, default 0.1

    Not reproduced: the official code's batch normalisation. It calls TF1's
    ``batch_normalization`` without ``training=True``, so the layers normalise with their
    initial moving statistics (mean 0, variance 1) and act as a learnable per-unit affine map;
    left out here, which keeps scores independent of batch composition.
    """

    _parameter_constraints = {
        "hidden_sizes": ["array-like"],  # widths, each an int >= 1: _check_params_beyond_constraints
        "intrinsic_dim": [StrictInterval(Integral, 1, None, closed="left")],
        "lambda1": [StrictInterval(Real, 0, None, closed="left")],
        "lambda2": [StrictInterval(Real, 0, None, closed="left")],
        "lr": [StrictInterval(Real, 0, None, closed="neither")],
        "epochs": [StrictInterval(Integral, 1, None, closed="left")],
        "batch_size": [StrictInterval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "renormalize": ["boolean"],
        "optimization": [StrOptions({"alternating", "joint"})],
        "score": [StrOptions({"l2", "cosine"})],
        "standardize": ["boolean"],
        "score_batch_size": [StrictInterval(Integral, 1, None, closed="left")],
        "device": "no_validation",  # torch parses it in fit (resolve_device), knowing this host's devices
        "random_state": [None, StrictInterval(Integral, 0, None, closed="left")],
        "contamination": "no_validation",  # PyOD's constructor checks it (and takes a thresholder too)
    }

    def __init__(self, hidden_sizes=(32, 64, 128), intrinsic_dim=10, lambda1=0.1, lambda2=0.1,
                 lr=2.5e-4, epochs=200, batch_size=128, activation="auto", renormalize=True,
                 optimization="alternating", score="l2", standardize=True, score_batch_size=1024,
                 device="auto", random_state=None, contamination=0.1):
        super().__init__(contamination=contamination)
        self.hidden_sizes = hidden_sizes
        self.intrinsic_dim = intrinsic_dim
        self.lambda1 = lambda1
        self.lambda2 = lambda2
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.activation = activation
        self.renormalize = renormalize
        self.optimization = optimization
        self.score = score
        self.standardize = standardize
        self.score_batch_size = score_batch_size
        self.device = device
        self.random_state = random_state

    def _check_params_beyond_constraints(self) -> None:
        check_widths("hidden_sizes", self.hidden_sizes)

    # True: the reference training loop (plain autograd, Adam's per-tensor loop, a new batch tensor
    # per step), bit-identical and slower; kept for the tests and bench/bench_rsrae_pca.py.
    _plain_autograd = False

    def fit(self, X, y=None):
        """Train the network on X (transductive) and score X."""
        X, gen = self._begin_fit(X, y)
        d = X.shape[1]
        Xt = self._to_tensor(X)
        act = self.activation
        if act == "auto":  # the official rule, on the data the network sees
            act = "relu" if float(Xt.min()) >= 0 else ("tanh" if float(Xt.abs().max()) <= 1 else "leaky_relu")
        self.activation_ = act
        net = build_on_cpu(lambda: RSRAENet(d, tuple(int(s) for s in self.hidden_sizes),
                                            int(self.intrinsic_dim), act, bool(self.renormalize)),
                           gen).to(self.device_)
        self.history_ = self._train(net, Xt, gen)
        net.eval()
        self.net_ = net
        return self._finish_fit(Xt)

    def _train(self, net: RSRAENet, Xt: torch.Tensor, gen: torch.Generator) -> dict[str, list[float]]:
        """The training loop (module docstring); returns the loss history, one entry per step."""
        lr, l1, l2 = float(self.lr), float(self.lambda1), float(self.lambda2)
        alternating = self.optimization == "alternating"
        plain = self._plain_autograd
        # torch's Adam for the reference path; else the same update to the bit, updating a wide
        # layer in cache-sized slices (sla2p.adam: 18% of a 20 Newsgroups step was torch's update)
        adam = torch.optim.Adam if plain else Adam
        opt = adam(net.parameters(), lr=lr)
        if alternating:
            opt_orth = adam([net.A], lr=10 * lr)
            opt_proj = adam(list(net.encoder.parameters()) + [net.A], lr=10 * lr)
        hist = {"ae": [], "rsr1": [], "rsr2": []}
        bs, epochs = int(self.batch_size), int(self.epochs)
        buffers = _Buffers(min(bs, Xt.shape[0]))
        batches = (self._shuffled_batches(Xt, bs, epochs, gen) if plain
                   else _batches_into(buffers, Xt, bs, epochs, gen))
        net.train()
        for xb in batches:
            if plain:
                yb, _, x_tilde = net(xb)
                ae = l21_reconstruction_error(xb, x_tilde)
            else:
                yb, ae = net.forward_ae(xb, buffers)
            if alternating:
                optimizer_step(opt, ae)
                rsr2 = rsr_orthogonality_error(net.A)
                optimizer_step(opt_orth, l2 * rsr2)
                rsr1 = rsr_projection_error(net.encoder(xb), net.A)
                optimizer_step(opt_proj, l1 * rsr1)
            else:
                rsr1 = rsr_projection_error(yb, net.A)
                rsr2 = rsr_orthogonality_error(net.A)
                optimizer_step(opt, ae + l1 * rsr1 + l2 * rsr2)
            record_losses(hist, ae=ae, rsr1=rsr1, rsr2=rsr2)
        return hist

    @torch.no_grad()
    def _score(self, Xt: torch.Tensor) -> np.ndarray:
        out = []
        for xb in self._blocks(Xt, int(self.score_batch_size)):
            _, _, x_tilde = self.net_(xb)
            if self.score == "l2":
                s = torch.linalg.vector_norm(xb - x_tilde, dim=1)
            else:
                s = -F.cosine_similarity(xb, x_tilde, dim=1, eps=1e-6)
            out.append(s.double())
        return torch.cat(out).cpu().numpy()
