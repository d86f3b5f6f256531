"""Adam with L2 weight decay, written out: ``torch.optim.Adam``'s update (its single-tensor path,
the one it takes on CPU), the same arithmetic in the same order, so the same numbers to the bit
(tests/unit/sla2p/test_adam.py compares them step by step).

Why not ``torch.optim.Adam`` itself:

* ``torch.optim``'s optimisers import ``torch._dynamo`` on first use, about 1.5 s here: that was
  a fifth of a fresh-process Arrhythmia fit.
* Its update is eight memory-bound passes over each parameter and its two moments, three of them
  into new tensors. On a wide first layer that dominates the step: NeuTraL-AD at 20 Newsgroups'
  10,000 columns has 60 M parameters, and the update took 0.44 s of a 1.4 s step (1 thread). Here
  a large parameter is updated in slices of ``CHUNK`` elements: every operation on a slice while
  it is in cache, into two scratch buffers made once. Each element still goes through the same
  operations in the same order, so the result is the same; the memory traffic is about one pass
  (0.11 s on that step).
* torch's fused kernel (one pass, faster still) rounds differently, and on a trained network
  that difference grows into different scores (NeuTraL-AD on Arrhythmia: a Spearman correlation
  of 0.82 between the two runs' scores on one seed), so it is not used.

Duck-types what :func:`sla2p.torch_base.optimizer_step` uses (``zero_grad``, ``step``); ``lr``
may be changed between steps (a step schedule).
"""

from __future__ import annotations

import torch

# Elements of a slice: the fastest of 2^13, 2^15 and 2^17 measured on 60 M parameters (0.29, 0.16
# and 0.11 s a step, one thread, AMD EPYC; torch's whole-tensor update 0.44 s): a slice's six
# tensors (parameter, gradient, two moments, two scratch) take 3 MiB, in this CPU's L3, and the
# Python calls per slice stay few. A multiple of every SIMD width, so the slices' vector loops end
# where the whole tensor's would.
CHUNK = 1 << 17


class Adam:
    """Adam with L2 weight decay (``torch.optim.Adam(params, lr, betas, eps, weight_decay)``)."""

    def __init__(self, params, lr: float, eps: float = 1e-8, weight_decay: float = 0.0, betas=(0.9, 0.999)):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.eps, self.weight_decay = float(lr), float(eps), float(weight_decay)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.steps = [0] * len(self.params)
        self._scratch: dict = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        for i, p in enumerate(self.params):
            grad = p.grad
            if grad is None:  # as torch: a parameter without a gradient is left alone
                continue
            self.steps[i] += 1
            step = float(self.steps[i])
            bias_correction1 = 1 - self.beta1 ** step
            bias_correction2 = 1 - self.beta2 ** step
            step_size = self.lr / bias_correction1
            root2 = bias_correction2 ** 0.5
            m, v = self.exp_avg[i], self.exp_avg_sq[i]
            if p.numel() <= CHUNK or p.device.type != "cpu" or not all(
                    t.is_contiguous() for t in (p, grad, m, v)):
                self._update(p, grad, m, v, step_size, root2, None)
                continue
            flat = [t.view(-1) for t in (p, grad, m, v)]
            bufs = self._buffers(p)
            for a in range(0, p.numel(), CHUNK):
                self._update(*(t[a:a + CHUNK] for t in flat), step_size, root2, bufs)

    def _update(self, p, grad, m, v, step_size, root2, bufs) -> None:
        """The single-tensor update on one parameter or one slice of it; ``bufs`` (two scratch
        tensors at least as long) take its temporaries, else they are new tensors as in torch."""
        beta1, beta2 = self.beta1, self.beta2
        n = p.numel()
        if self.weight_decay != 0:
            grad = (grad.add(p, alpha=self.weight_decay) if bufs is None
                    else torch.add(grad, p, alpha=self.weight_decay, out=bufs[0][:n]))
        m.lerp_(grad, 1 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = v.sqrt() if bufs is None else torch.sqrt(v, out=bufs[1][:n])
        denom.div_(root2).add_(self.eps)
        p.addcdiv_(m, denom, value=-step_size)

    def _buffers(self, p: torch.Tensor):
        key = (p.dtype, p.device)
        if key not in self._scratch:
            self._scratch[key] = tuple(torch.empty(CHUNK, dtype=p.dtype, device=p.device) for _ in range(2))
        return self._scratch[key]
