"""Scoring with adversarial perturbation (method.md section 3), all K projections at once.

For a block of samples the K transformed copies are made by one GEMM, the classifier runs on
all (sample, projection) rows together, and the per-row input gradients come from ONE backward
pass of the SUM of per-row losses: in eval mode rows do not interact, so d(sum_r L_r)/dz_r is
row r's own gradient. The step is defined per row, which makes every score independent of the
block it was computed in, of the block size and of the row order.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import warnings

import torch
from torch.nn import functional as F

from .network import FoldedMLP
from .settings import PRECISIONS as PRECISION_NAMES
from .sparse_rows import SparseRows
from .validation import check_choice


def perturb(f: FoldedMLP, z: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """z' = z + step * grad_z CE(f(z), predicted label), one row at a time in effect.

    The gradient comes from ONE backward pass of the SUM of per-row losses: in eval mode rows
    do not interact, so each row gets the gradient of its own loss, whatever else is in the
    block. It raises the loss of the predicted label, so it lowers that label's softmax.
    """
    grad, _ = input_gradient(f, z)
    return z.detach() + step.unsqueeze(1) * grad


def input_gradient(f: FoldedMLP, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(grad_z CE(f(z), predicted label) per row, the logits f(z) of its forward pass, detached):
    what every step size shares; the unperturbed logits come free with it (SLA's normality)."""
    with torch.enable_grad():
        zg = z.detach().requires_grad_(True)
        logits = f(zg)
        predicted = logits.detach().argmax(dim=1)
        loss = F.cross_entropy(logits, predicted, reduction="sum")
        (grad,) = torch.autograd.grad(loss, zg)
    return grad, logits.detach()


def logits_normality(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-row normality -||softmax(logits) - onehot(label)||^2."""
    with torch.no_grad():
        p = torch.softmax(logits, dim=1)
        p_true = p.gather(1, labels.unsqueeze(1)).squeeze(1)
        # ||p - e_k||^2 = sum p^2 - 2 p_k + 1
        return -((p * p).sum(dim=1) - 2.0 * p_true + 1.0)


def pair_normalities(f: FoldedMLP, z: torch.Tensor, labels: torch.Tensor, steps) -> list[torch.Tensor]:
    """Per-row normality s = -||softmax(f(z')) - onehot(label)||^2 at each of ``steps``.

    ``z``: (N, m) transformed copies; ``labels``: (N,) their projection index k; ``steps``: a
    sequence of (N,) per-row steps, ``None`` meaning no perturbation (z' = z). The forward pass
    and the input gradient do not depend on the step, so they are computed once: each further
    step costs one forward pass, and ``None`` costs nothing (the logits of the gradient's own
    forward pass). Each entry equals what a fit scoring at that step alone computes, bit for bit.
    """
    steps = list(steps)
    if all(st is None for st in steps):
        with torch.no_grad():
            s = logits_normality(f(z), labels)
        return [s] * len(steps)
    grad, logits = input_gradient(f, z)
    out, s0 = [], None
    for st in steps:
        if st is None:
            s0 = logits_normality(logits, labels) if s0 is None else s0
            out.append(s0)
        else:
            with torch.no_grad():
                out.append(logits_normality(f(z.detach() + st.unsqueeze(1) * grad), labels))
    return out


def pair_normality(f: FoldedMLP, z: torch.Tensor, labels: torch.Tensor, step: torch.Tensor | None):
    """:func:`pair_normalities` at one ``step`` (``None``: SLA)."""
    return pair_normalities(f, z, labels, (step,))[0]


def rows_per_block(n_projections: int, proj_dim: int, device: torch.device, budget_bytes: int | None = None) -> int:
    """How many samples to score at once so that the block's activations fit a memory budget.

    A (sample, projection) row holds about 13m + 3K floats while the gradient is taken
    (inputs, pre-activations, activations and their gradients). The budget is a speed/memory
    knob only: scores do not depend on it.
    """
    if budget_bytes is None:
        # CPU: small enough that each tensor stays below glibc's mmap threshold (no page faults
        # per block), large enough for efficient GEMMs (thousands of rows).
        budget_bytes = (2 << 30) if device.type == "cuda" else (64 << 20)
    per_row = (13 * proj_dim + 3 * n_projections) * 4
    return max(1, int(budget_bytes // (per_row * n_projections)))


def official_steps(n: int, epsilon: float, batch_size: int) -> torch.Tensor:
    """Per-sample steps of the authors' code (compat="official"), for the reports' order audit only.

    Their loss is the MEAN over a scoring batch of ``batch_size`` consecutive rows, so each row
    moves by eps_paper / len(its batch). With ``epsilon`` per sample (= eps_paper / batch_size)
    that is ``epsilon * batch_size / len(batch)``: full batches get ``epsilon``, the last,
    smaller batch gets more. This depends on the row order, which is the defect.
    """
    sizes = torch.full((n,), float(batch_size), dtype=torch.float64)
    rest = n % batch_size
    if rest:
        sizes[n - rest:] = float(rest)
    return (epsilon * batch_size / sizes).to(torch.float32)


def _glibc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc
        return None


_LIBC = _glibc()


def release_memory(device: torch.device) -> None:
    """Hand the heap pages freed by scoring back to the OS (CPU, glibc only).

    Blocks are kept small (see :func:`rows_per_block`) so their tensors stay under glibc's
    mmap threshold: later blocks reuse the same heap chunks instead of page-faulting fresh
    mmaps, and ``malloc_trim`` returns what is left once scoring is done.
    """
    if device.type == "cpu" and _LIBC is not None:
        _LIBC.malloc_trim(0)


@contextlib.contextmanager
def fast_matmul(device: torch.device):
    """On CUDA allow TF32 matmuls for the duration (restored afterwards); on CPU do nothing."""
    if device.type != "cuda":
        yield
        return
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


AGGREGATES = ("mean", "median")
#: ``precision`` of the scoring pass: the type its GEMMs run in (see :func:`normality_score_sets`).
PRECISIONS = dict(zip(PRECISION_NAMES, (torch.float32, torch.bfloat16)))  # name -> dtype


def aggregate_projections(s: torch.Tensor, how: str) -> torch.Tensor:
    """Per-sample aggregate of per-pair values ``s`` of shape (K, nb): ``"mean"`` (the paper) or
    ``"median"`` (for even K the mean of the two middle values, as ``numpy.median``). Each column
    is reduced on its own, so a sample's aggregate never depends on the others in its block."""
    if check_choice("aggregate", how, AGGREGATES) == "mean":
        return s.mean(dim=0)
    K = s.shape[0]
    v = s.sort(dim=0).values
    return (v[(K - 1) // 2] + v[K // 2]) * 0.5


def normality_scores(f: FoldedMLP, X: torch.Tensor, W: torch.Tensor, steps: torch.Tensor | None,
                     block: int, aggregate: str = "mean", precision: str = "float32",
                     center: torch.Tensor | None = None) -> torch.Tensor:
    """Mean (or median, ``aggregate``) over the K projections of the per-pair normality, for
    every row of ``X``, at per-sample ``steps`` ((n,), or ``None`` for no perturbation):
    :func:`normality_score_sets` at one step set."""
    return normality_score_sets(f, X, W, (steps,), block, aggregate, precision, center)[0]


def normality_score_sets(f: FoldedMLP, X: torch.Tensor, W: torch.Tensor, step_sets, block: int,
                         aggregate: str = "mean", precision: str = "float32",
                         center: torch.Tensor | None = None) -> list[torch.Tensor]:
    """:func:`normality_scores` at several step sizes in one scoring pass: one (n,) tensor of
    aggregated normalities per entry of ``step_sets`` ((n,) per-sample steps, or ``None``).

    ``X``: (n, d) normalised inputs on the model's device; ``W``: (K, d, m) projections;
    ``block``: samples per block (speed only); ``aggregate``: ``"mean"`` or ``"median"``
    (:func:`aggregate_projections`). The copies, the forward pass and the input gradient are
    computed once per block for all entries (:func:`pair_normalities`); an extra step costs one
    forward pass, ``None`` nothing. Mostly-zero rows (TF-IDF, :meth:`SparseRows.worth_it`) are
    projected from their nonzeros: a chunk of rows as CSR times each W_k (on 20 Newsgroups the
    dense product would be half of the scoring FLOPs, on Reuters two thirds). Each row's copies are
    computed from that row alone, whatever chunk or block it is in.

    ``precision``: ``"float32"`` (everything in float32) or ``"bf16"`` (:func:`_bf16_score_sets`:
    the copies and the classifier's passes in bfloat16, the rows centred on ``center`` first).
    """
    dtype = PRECISIONS[check_choice("precision", precision, tuple(PRECISIONS))]
    if dtype != torch.float32:
        return _bf16_score_sets(f, X, W, list(step_sets), block, aggregate, dtype, center)
    step_sets = list(step_sets)
    n, d = X.shape
    K, _, m = W.shape
    sparse = X.device.type == "cpu" and SparseRows.worth_it(X)
    # Sparse: rows projected per chunk (K x chunk x m floats, about 64 MB), scored per block.
    chunk = max(block, (64 << 20) // (4 * K * m)) if sparse else block
    outs = [torch.empty(n, dtype=torch.float32, device=X.device) for _ in step_sets]
    for c0 in range(0, n, chunk):
        if sparse:
            with warnings.catch_warnings():  # "sparse CSR support is in beta": the product is plain
                warnings.simplefilter("ignore", UserWarning)
                xc = X[c0:c0 + chunk].to_sparse_csr()
                Z = torch.stack([torch.sparse.mm(xc, W[k]) for k in range(K)])  # (K, rows, m)
        for start in range(c0, min(n, c0 + chunk), block):
            nb = min(block, n - start, c0 + chunk - start)
            # (K * nb, m): row r of the block = (projection r // nb, sample r % nb)
            if sparse:
                z = Z[:, start - c0:start - c0 + nb].reshape(K * nb, m)
            else:
                z = torch.matmul(X[start:start + nb].unsqueeze(0), W).view(K * nb, m)  # one batched GEMM
            _score_block(f, z, start, nb, K, step_sets, outs, aggregate)
            del z  # before the next block's copies are made
        Z = None
    release_memory(X.device)
    return outs


def _score_block(f: FoldedMLP, z: torch.Tensor, start: int, nb: int, K: int, step_sets: list,
                 outs: list[torch.Tensor], aggregate: str) -> None:
    """Score the copies ``z`` (K * nb, m) of rows start..start+nb at every step set into ``outs``."""
    labels = torch.arange(K, device=z.device).repeat_interleave(nb)
    block_steps = [None if st is None else st[start:start + nb].repeat(K) for st in step_sets]
    for out, s in zip(outs, pair_normalities(f, z, labels, block_steps)):
        out[start:start + nb] = aggregate_projections(s.view(K, nb), aggregate)


BF16_SUB_BYTES = 64 << 20     # copies a bf16 product and its blocks cover (the GEMMs' shapes)
BF16_CHUNK_BYTES = 256 << 20  # copies a bf16 chunk holds (W is rounded once per chunk)


def _bf16_score_sets(f: FoldedMLP, X: torch.Tensor, W: torch.Tensor, step_sets: list, block: int,
                     aggregate: str, dtype: torch.dtype, center: torch.Tensor | None) -> list[torch.Tensor]:
    """:func:`normality_score_sets` with the GEMMs in ``dtype`` (bfloat16).

    Rows normalised without centring (the paper's l2) can carry their information in small
    differences on top of a large common part (a column near 1.52 that varies by 0.01): rounded
    to bfloat16 (8 bits) the copies z = x W_k would lose it. So the rows are centred first:
    z_k = c W_k + (x - c) W_k, with ``center`` c (the training rows' mean; None: the mean of
    ``X``). Only the small part (x - c) W_k is made and perturbed in ``dtype``; the large part
    c W_k goes, in float32, into the first layer's bias, one per projection
    (:meth:`FoldedMLP.with_projection_bias`), where the folded BatchNorm cancels most of it.
    Rows are projected a chunk at a time (W is read once per chunk, not once per block). Each W_k
    is rounded into one reused (d, m) buffer and its products written into the chunk's
    preallocated copies: no bfloat16 copy of W (half of W's memory: 3.2 GB on Reuters) and no
    allocation per projection (256 freed 4 MB roundings grew glibc's heap by about 1 GB a chunk).
    The products and the blocks go by sub-chunks of the rows a chunk held before (64 MB of copies):
    the GEMMs' shapes, and so their rounding, are those of a pass that rounded W once.
    """
    n, d = X.shape
    K, _, m = W.shape
    c = X.mean(dim=0) if center is None else center.to(X.device, torch.float32)
    f = f.with_projection_bias(torch.matmul(c, W)).astype(dtype)  # c W_k: (K, m), float32
    size = torch.finfo(dtype).bits // 8
    sub = max(block, BF16_SUB_BYTES // (size * K * m))
    # W is rounded once per chunk: 256 MB of copies a chunk keep that to a few passes over W
    chunk = min(n, sub * max(1, BF16_CHUNK_BYTES // (size * K * m * sub)))
    Z = torch.empty(K, chunk, m, dtype=dtype, device=X.device)  # the chunk's copies x W_k
    wk = torch.empty(d, m, dtype=dtype, device=X.device)
    outs = [torch.empty(n, dtype=torch.float32, device=X.device) for _ in step_sets]
    for c0 in range(0, n, chunk):
        xc = (X[c0:c0 + chunk] - c).to(dtype)
        rows = xc.shape[0]
        subs = [(s0, min(s0 + sub, rows)) for s0 in range(0, rows, sub)]
        # one product per projection: a broadcast (1, rows, d) @ (K, d, m) would copy the rows K
        # times (16 GB at Reuters' 24,349 columns)
        for k in range(K):
            wk.copy_(W[k])
            for s0, s1 in subs:
                torch.matmul(xc[s0:s1], wk, out=Z[k, s0:s1])
        del xc
        for s0, s1 in subs:
            for start in range(s0, s1, block):
                nb = min(block, s1 - start)
                z = Z[:, start:start + nb].reshape(K * nb, m)  # row r: projection r // nb
                _score_block(f, z, c0 + start, nb, K, step_sets, outs, aggregate)
                del z
    del Z, wk
    release_memory(X.device)
    return outs
