"""Training of the SLA2P classifier: the grouped copies (one GEMM per projection over a chunk of
pairs) equal the per-pair gather, training sees the same pairs in the same order as the per-batch
reference loop, and a fit imports nothing heavy on first use."""

import json
import subprocess
import sys

import pytest
import torch
from torch.nn import functional as F
from torch.nn.utils import skip_init

from sla2p.network import ProjectionClassifier
from sla2p.training import (
    SparseRows,
    _chunk_batches,
    project_grouped,
    project_pairs,
    train_classifier,
)
from sla2p.validation import init_linear_


def reference_training(net, X, W, *, batch_size, lr, adam_eps, weight_decay, acc_threshold, max_epochs, generator):
    """The loop as it was before chunking: per batch, the pairs' copies by a per-pair gather of
    W_k, torch.optim.Adam. The history it returns is the specification of train_classifier."""
    n, K = X.shape[0], W.shape[0]
    opt = torch.optim.Adam(net.parameters(), lr=lr, eps=adam_eps, weight_decay=weight_decay)
    losses, accs, steps, acc_sum = [], [], 0, 0.0
    net.train()
    for _ in range(max_epochs):
        order = torch.randperm(n * K, generator=generator, dtype=torch.int32)
        for start in range(0, n * K, batch_size):
            idx = order[start:start + batch_size]
            if idx.numel() < 2:
                continue
            idx = idx.long()
            rows, ks = idx // K, idx % K
            logits = net(project_pairs(X, W, rows, ks))
            loss = F.cross_entropy(logits, ks)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            acc = (logits.detach().argmax(dim=1) == ks).float().mean().item()
            acc_sum += acc
            losses.append(float(loss.detach()))
            accs.append(acc)
            steps += 1
            if acc_sum / steps > acc_threshold:
                net.eval()
                return losses, accs
    net.eval()
    return losses, accs


def inputs(n, d, K, m, sparse=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=g)
    if sparse:
        X = X * (torch.rand(n, d, generator=g) < 0.05)
    X = X / X.norm(dim=1, keepdim=True).clamp_min(1e-12)
    W = torch.randn(K, d, m, generator=g)
    return X, W


@pytest.mark.parametrize("n_pairs", [1, 2, 128, 1000])
def test_grouped_copies_equal_the_per_pair_gather(n_pairs):
    X, W = inputs(50, 37, 9, 5)
    g = torch.Generator().manual_seed(n_pairs)
    rows = torch.randint(0, 50, (n_pairs,), generator=g)
    ks = torch.randint(0, 9, (n_pairs,), generator=g)
    ks[ks == 4] = 3  # a projection absent from the group
    grouped = project_grouped(X, W, rows, ks)
    assert grouped.shape == (n_pairs, 5)
    torch.testing.assert_close(grouped, project_pairs(X, W, rows, ks), atol=1e-5, rtol=1e-5)
    # ... and each copy is x_i W_k, in the pairs' own (shuffled) order
    exact = torch.stack([X[r].double() @ W[k].double() for r, k in zip(rows.tolist(), ks.tolist())])
    torch.testing.assert_close(grouped.double(), exact, atol=1e-5, rtol=1e-5)


def test_grouped_copies_of_one_projection_and_of_repeated_pairs():
    X, W = inputs(10, 8, 4, 3)
    rows = torch.tensor([3, 3, 0, 9, 3])
    ks = torch.tensor([2, 2, 2, 2, 2])
    torch.testing.assert_close(project_grouped(X, W, rows, ks), X[rows] @ W[2])


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("batch_size, max_epochs", [(9, 2), (128, 3)])
def test_training_sees_the_reference_pairs_in_the_reference_order(sparse, batch_size, max_epochs):
    """Same seed: the same loss and accuracy at every step as the per-batch gather loop, over
    several chunks (1, 2, 4, ... batches) and epochs, with a last batch of one pair (skipped) at
    batch_size 9 (40 x 16 = 640 = 71 x 9 + 1)."""
    n, d, K, m = 40, 30, 16, 8
    X, W = inputs(n, d, K, m, sparse=sparse)
    assert SparseRows.worth_it(X) == sparse
    kw = dict(batch_size=batch_size, lr=1e-3, adam_eps=1e-7, weight_decay=5e-4, acc_threshold=1.0,
              max_epochs=max_epochs)
    ref_net = ProjectionClassifier(m, K, generator=torch.Generator().manual_seed(1))
    ref_loss, ref_acc = reference_training(ref_net, X, W, generator=torch.Generator().manual_seed(2), **kw)
    net = ProjectionClassifier(m, K, generator=torch.Generator().manual_seed(1))
    hist = train_classifier(net, X, W, generator=torch.Generator().manual_seed(2), **kw)
    assert hist.steps == len(ref_loss) == max_epochs * (n * K // batch_size)
    assert hist.stop_reason == "max_epochs" and hist.epochs == max_epochs
    assert hist.accuracy == ref_acc
    torch.testing.assert_close(torch.tensor(hist.loss), torch.tensor(ref_loss), atol=1e-5, rtol=1e-5)
    # The copies differ from the reference's by float rounding only; after 140 Adam steps that
    # reaches 1.1e-5 on a weight near zero on some CPUs (AMD Zen 4, 2 threads: batch 9, dense).
    for a, b in zip(net.state_dict().values(), ref_net.state_dict().values()):
        torch.testing.assert_close(a.float(), b.float(), atol=5e-5, rtol=1e-4)


def test_accuracy_stop_and_max_steps():
    X, W = inputs(40, 12, 8, 8)
    kw = dict(batch_size=16, lr=1e-3, adam_eps=1e-7, weight_decay=5e-4, max_epochs=5)
    net = ProjectionClassifier(8, 8, generator=torch.Generator().manual_seed(0))
    h = train_classifier(net, X, W, acc_threshold=1.0, generator=torch.Generator().manual_seed(0), max_steps=7, **kw)
    assert (h.steps, h.stop_reason, net.training) == (7, "max_steps", False)
    h = train_classifier(net, X, W, acc_threshold=0.0, generator=torch.Generator().manual_seed(0), **kw)
    assert (h.steps, h.stop_reason) == (1, "acc_threshold")


def test_chunks_are_memory_bounded():
    # the Arrhythmia shape takes the largest chunks; 20News-wide dense rows a few batches; any
    # width at least one batch
    assert _chunk_batches(274, 256, 128) == 64
    assert 1 < _chunk_batches(10_000, 256, 128) < 16
    assert _chunk_batches(10_000_000, 256, 128) == 1
    for d in (274, 1280, 10_000):
        assert _chunk_batches(d, 256, 128) * 128 * (d + 2 * 256) * 4 <= 32 << 20


def test_classifier_initialisation_is_the_skip_init_one():
    """The Linear layers without their own initialisation draw exactly what skip_init + the
    generator drew before, and leave the global RNG alone."""
    torch.manual_seed(5)
    expected_global = torch.rand(2)
    torch.manual_seed(5)
    net = ProjectionClassifier(4, 3, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(torch.rand(2), expected_global)
    g = torch.Generator().manual_seed(9)
    ref = [skip_init(torch.nn.Linear, a, b) for a, b in [(4, 8), (8, 16), (16, 3)]]
    for layer in ref:
        init_linear_(layer, g)
    ours = [mod for mod in net.modules() if isinstance(mod, torch.nn.Linear)]
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a.weight, b.weight, atol=0, rtol=0)
        torch.testing.assert_close(a.bias, b.bias, atol=0, rtol=0)


FIT_SCRIPT = """
import json, sys
import numpy as np
from sla2p import SLA2P
before = set(sys.modules)
SLA2P(n_projections=8, proj_dim=8, random_state=0).fit(np.random.default_rng(0).random((200, 6)))
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_a_fit_imports_no_module_on_first_use():
    """torch.optim's first use imports torch._dynamo and skip_init's meta device sympy (seconds
    of a fresh-process fit): a fit after ``import sla2p`` imports nothing at all."""
    out = subprocess.run([sys.executable, "-c", FIT_SCRIPT], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
