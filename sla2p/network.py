"""The projection classifier of SLA2P: an MLP m -> 2m -> 4m -> K (method.md section 2).

Training uses the module as is (BatchNorm in batch mode). Scoring uses :func:`fold_eval`, the
same network in eval mode with each BatchNorm folded into the Linear before it: the result is
the same function with fewer passes over memory, which matters because scoring runs the
network three times on every (sample, projection) pair.

The FLOP count of the network lives here too (:func:`classifier_flops`, :func:`pair_flops`):
the benchmarks and the run-time estimate count SLA2P's work with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .validation import init_linear_

NEGATIVE_SLOPE = 0.01
HIDDEN = (2, 4)  # hidden widths as multiples of the input width m: m -> 2m -> 4m -> K


class Linear(nn.Linear):
    """``nn.Linear`` without its own initialisation, which would draw from the global RNG: the
    weights are drawn by :func:`~sla2p.validation.init_linear_` from the fit's generator.

    (``torch.nn.utils.skip_init`` does the same through the meta device, whose first use imports
    sympy: about a second of a fresh-process fit.)"""

    def reset_parameters(self) -> None:
        pass


class ProjectionClassifier(nn.Module):
    """Linear, BatchNorm1d, LeakyReLU(0.01) twice, then Linear to the K pseudo-classes."""

    def __init__(self, in_dim: int, n_classes: int, hidden=HIDDEN, generator: torch.Generator | None = None):
        super().__init__()
        widths = [in_dim] + [int(h * in_dim) for h in hidden]
        blocks = []
        for a, b in zip(widths[:-1], widths[1:]):
            blocks += [Linear(a, b), nn.BatchNorm1d(b), nn.LeakyReLU(NEGATIVE_SLOPE)]
        self.hidden = nn.Sequential(*blocks)
        self.head = Linear(widths[-1], n_classes)
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                init_linear_(layer, generator)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(z))


@dataclass(frozen=True)
class FoldedMLP:
    """Eval-mode network as plain tensors: hidden layers (W, b) with BatchNorm folded in.

    What :func:`fold_eval` gives runs in float32. A copy from :meth:`astype` (``torch.bfloat16``)
    casts its input to that type, runs every layer in it (the GEMMs on bfloat16 units where the
    CPU has them) and returns the logits as float32, so that the softmax and the loss that follow
    stay in float32. One from :meth:`with_projection_bias` takes centred copies and adds the
    rest of each copy back in its first layer's bias, one bias per projection."""

    hidden: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    head: tuple[torch.Tensor, torch.Tensor]
    #: (K, width of the first hidden layer), or None: the first layer's bias for rows of projection
    #: k; the rows of an input are then K equal groups, projection k's the k-th (see scoring).
    projection_bias: torch.Tensor | None = None

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        w, b = self.head
        if w.dtype != torch.float32 or self.projection_bias is not None:
            return self._general(z)
        h = z
        for w, b in self.hidden:
            h = F.leaky_relu(torch.addmm(b, h, w), NEGATIVE_SLOPE)
        w, b = self.head
        return torch.addmm(b, h, w)

    def _general(self, z: torch.Tensor) -> torch.Tensor:
        """The forward pass in the weights' type, with :attr:`projection_bias` if set; float32 logits."""
        w, b = self.head
        h = z.to(w.dtype)
        for i, (wh, bh) in enumerate(self.hidden):
            if i == 0 and self.projection_bias is not None:
                K, width = self.projection_bias.shape
                h = torch.mm(h, wh).view(K, -1, width).add_(self.projection_bias.unsqueeze(1)).view(-1, width)
            else:
                h = torch.addmm(bh, h, wh)
            h = F.leaky_relu(h, NEGATIVE_SLOPE)
        return torch.addmm(b, h, w).float()

    @property
    def dtype(self) -> torch.dtype:
        return self.head[0].dtype

    def astype(self, dtype: torch.dtype) -> FoldedMLP:
        """This network with every weight and bias cast to ``dtype`` (itself if already so)."""
        if dtype == self.dtype:
            return self
        bias = None if self.projection_bias is None else self.projection_bias.to(dtype)
        return FoldedMLP(tuple((w.to(dtype), b.to(dtype)) for w, b in self.hidden),
                         tuple(t.to(dtype) for t in self.head), bias)

    @torch.no_grad()
    def with_projection_bias(self, offsets: torch.Tensor) -> FoldedMLP:
        """The network for inputs z - offsets[k] on rows of projection k (``offsets``: (K, m)): the
        same function of z, with offsets[k] W_1 + b_1 (computed in this network's type) as the
        first layer's bias for those rows."""
        w, b = self.hidden[0]
        return FoldedMLP(self.hidden, self.head, torch.addmm(b, offsets.to(w.dtype), w))


@torch.no_grad()
def fold_eval(net: ProjectionClassifier) -> FoldedMLP:
    """Fold each BatchNorm's running statistics and affine into the preceding Linear.

    BN_eval(xW^T + c) = (xW^T + c - mu) * s + beta with s = gamma / sqrt(var + eps), i.e. a Linear
    with weight W^T * s and bias (c - mu) * s + beta. Weights are returned transposed (in, out)
    so the forward pass is a single ``addmm`` per layer.
    """
    mods = list(net.hidden)
    hidden = []
    for i in range(0, len(mods), 3):
        lin, bn = mods[i], mods[i + 1]
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        w = (lin.weight.t() * s).contiguous()
        b = (lin.bias - bn.running_mean) * s + bn.bias
        hidden.append((w.detach().clone(), b.detach().clone()))
    head = (net.head.weight.t().contiguous().detach().clone(), net.head.bias.detach().clone())
    return FoldedMLP(tuple(hidden), head)


def classifier_flops(proj_dim: int, n_projections: int, hidden=HIDDEN) -> float:
    """FLOPs of one forward pass of the classifier m -> 2m -> 4m -> K for one input row.

    Two FLOPs (a multiply and an add) per weight of each Linear layer: for the default widths
    2 * (m*2m + 2m*4m + 4m*K). Biases, BatchNorm (folded into the Linear layers when scoring) and
    the activations are left out: they are O(m + K) per row against O(m^2 + mK).
    """
    m, K = int(proj_dim), int(n_projections)
    widths = [m] + [int(h * m) for h in hidden] + [K]
    return 2.0 * sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def pair_flops(n_features: int, proj_dim: int, n_projections: int, passes: int) -> float:
    """FLOPs of one (sample, projection) pair: the projection x W_k (2 * d * m) and ``passes``
    classifier passes. Scoring SLA2P takes 3 passes (forward, backward to the input, forward
    again), SLA 1; a training step about 3 (forward, backward to activations and weights)."""
    return passes * classifier_flops(proj_dim, n_projections) + 2.0 * n_features * proj_dim
