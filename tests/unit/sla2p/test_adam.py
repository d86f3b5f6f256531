"""The written-out Adam (sla2p.adam) is torch.optim.Adam's CPU update to the bit: on small
parameters (whole), on large ones (updated in slices, the last one short), with and without weight
decay, skipping a parameter without a gradient, and with the learning rate changed between steps
as a step schedule does."""

import pytest
import torch
from torch.nn import functional as F

from sla2p import adam as adam_module
from sla2p.adam import CHUNK, Adam


def _train(make, opt_of, steps=6, lr_at=None):
    net = make()
    opt = opt_of(net.parameters())
    g = torch.Generator().manual_seed(0)
    for step in range(steps):
        x, y = torch.randn(16, net[0].in_features, generator=g), torch.randint(0, 3, (16,), generator=g)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        if step == 2:  # a step where one parameter has no gradient
            net[0].bias.grad = None
        opt.step()
        if lr_at and step in lr_at:  # a step schedule: torch's StepLR halves param_groups' lr
            if isinstance(opt, Adam):
                opt.lr *= 0.5
            else:
                for group in opt.param_groups:
                    group["lr"] *= 0.5
    return net


def _same(make, weight_decay, lr_at=None):
    ours = _train(make, lambda p: Adam(p, lr=1e-2, eps=1e-7, weight_decay=weight_decay), lr_at=lr_at)
    theirs = _train(make, lambda p: torch.optim.Adam(p, lr=1e-2, eps=1e-7, weight_decay=weight_decay), lr_at=lr_at)
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_small_parameters_equal_torch_to_the_bit():
    def make():
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5), torch.nn.Linear(5, 3))
        net[2].bias.requires_grad_(False)  # a parameter torch's optimiser would also skip
        return net

    _same(make, 5e-4)


@pytest.mark.parametrize("weight_decay", [0.0, 1e-5])
def test_large_parameters_updated_in_slices_equal_torch_to_the_bit(weight_decay):
    # 100,003 x 3 inputs: a first-layer weight of 2.3 slices, its length a multiple of no SIMD width
    def make():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(100_003, 3))

    assert make()[0].weight.numel() > 2 * CHUNK
    _same(make, weight_decay, lr_at={1, 3})


def test_slices_of_any_length_equal_torch(monkeypatch):
    """Slices far shorter than a parameter, of a length that is no multiple of a vector width."""
    monkeypatch.setattr(adam_module, "CHUNK", 37)

    def make():
        torch.manual_seed(1)
        return torch.nn.Sequential(torch.nn.Linear(50, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))

    _same(make, 1e-4)
