"""The projection classifier of SLA2P: an MLP m -> 2m -> 4m -> K (method.md section 2).

Training uses the module as is (BatchNorm in batch mode). Scoring uses :func:`fold_eval`, the
same network in eval mode with each BatchNorm folded into the Linear before it: the result is
the same function with fewer passes over memory, which matters because scoring runs the
network three times on every (sample, projection) pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import skip_init

from .validation import init_linear_

NEGATIVE_SLOPE = 0.01


class ProjectionClassifier(nn.Module):
    """Linear, BatchNorm1d, LeakyReLU(0.01) twice, then Linear to the K pseudo-classes."""

    def __init__(self, in_dim: int, n_classes: int, hidden=(2, 4), generator: torch.Generator | None = None):
        super().__init__()
        widths = [in_dim] + [int(h * in_dim) for h in hidden]
        blocks = []
        # skip_init: nn.Linear's own initialisation would draw from the global RNG.
        for a, b in zip(widths[:-1], widths[1:]):
            blocks += [skip_init(nn.Linear, a, b), nn.BatchNorm1d(b), nn.LeakyReLU(NEGATIVE_SLOPE)]
        self.hidden = nn.Sequential(*blocks)
        self.head = skip_init(nn.Linear, widths[-1], n_classes)
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                init_linear_(layer, generator)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(z))


@dataclass(frozen=True)
class FoldedMLP:
    """Eval-mode network as plain tensors: hidden layers (W, b) with BatchNorm folded in."""

    hidden: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    head: tuple[torch.Tensor, torch.Tensor]

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        h = z
        for w, b in self.hidden:
            h = F.leaky_relu(torch.addmm(b, h, w), NEGATIVE_SLOPE)
        w, b = self.head
        return torch.addmm(b, h, w)


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
