"""Expected wall time of a job, printed before it starts.

SLA2P/SLA cells are costed by FLOPs (three MLP passes per (sample, projection) pair for SLA2P,
one for SLA, plus the projection GEMM; see bench/bench_core.py) at the GEMM rate measured here times
the scoring efficiency bench/bench_core.py measured (about 0.65); on text datasets training to
max_epochs is added (their acc_threshold is not reached). Other methods use per-row costs
measured by bench/bench_baselines.py on Arrhythmia/Thyroid (rough: their cost depends on the data).
Images not yet embedded add their embedding time (about 20 images/s on 2 CPU cores).
"""

from __future__ import annotations

from collections import Counter

from sla2p.network import classifier_flops, pair_flops

# seconds per 1,000 rows at d ~ 300 (bench/bench_baselines.py); quadratic methods are scaled by n^2.
_LINEAR = {"iforest": 0.05, "ecod": 0.05, "copod": 0.05, "hbos": 0.02, "pca": 0.05, "autoencoder": 1.0,
           "deepsvdd": 2.5, "goad": 4.0, "rsrae": 5.0}
_QUADRATIC = {"ocsvm": 0.05, "lof": 0.02, "knn": 0.02}  # seconds per (1,000 rows)^2
_EFFICIENCY = 0.65
_IMAGES_PER_S = 20.0


def gemm_rate(seconds: float = 0.5, rows: int = 4096) -> float:
    """Best float32 GEMM rate (GFLOP/s) here, on shapes like SLA2P's scoring layers."""
    import time

    import torch

    a, b = torch.randn(rows, 512), torch.randn(512, 1024)
    a @ b
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * rows * 512 * 1024 / (time.perf_counter() - t) / 1e9)
    return best


def _sla_flops(n: int, d: int, params: dict, perturbed: bool) -> float:
    K, m = params.get("n_projections", 256), params.get("proj_dim", 256)
    return n * K * pair_flops(d, m, K, passes=3 if perturbed else 1)


def _text_training_seconds(n: int, params: dict, rate: float) -> float:
    """On TF-IDF inputs the published acc_threshold is not reached (running accuracy ~0.15
    after 1-2 epochs on 20News, measured), so training runs to max_epochs. A batch-128 step
    runs at about a third of the scoring efficiency (small GEMMs)."""
    K, m = params.get("n_projections", 256), params.get("proj_dim", 256)
    epochs = params.get("max_epochs", 20)
    return epochs * n * K * 3 * classifier_flops(m, K) / (rate / 3)


def cell_rows(job) -> dict:
    """Rows of each (dataset, class, ratio) split, from the labels alone (no embedding)."""
    from .datasets import get_spec, n_outliers
    from .embed import load_labels

    out = {}
    for ds in dict.fromkeys(c.dataset for c in job.cells):
        spec = get_spec(ds)
        y, classes, _ = load_labels(ds)
        counts = Counter(int(v) for v in y)
        for c in job.cells:
            if c.dataset != ds or (ds, c.normal_class, c.ratio) in out:
                continue
            if c.normal_class is None:
                n = len(y)
            else:
                n_norm = counts[classes.index(c.normal_class)]
                n = min(spec.max_rows, n_norm + n_outliers(spec, c.ratio, n_norm))  # the protocol's own rule
            out[(ds, c.normal_class, c.ratio)] = n
    return out


_DIMS = {"tfidf": {"20news": 10_000, "reuters": 24_069}, "efficientnet-lite0": 1280, "resnet50": 2048, "minilm": 384}


def _dim(ds: str, extractor: str | None) -> int:
    from .datasets import get_spec
    from .embed import load_features

    spec = get_spec(ds)
    ex = extractor or spec.default_extractor
    if ex == "identity":
        return load_features(ds, ex).shape[1]
    v = _DIMS.get(ex, 1000)
    return v.get(ds, 10_000) if isinstance(v, dict) else v


def estimate(job) -> dict:
    """Seconds by method, embedding seconds, and the total (all cores, one cell at a time)."""
    from .datasets import get_spec

    rate = gemm_rate() * 1e9 * _EFFICIENCY
    rows = cell_rows(job)
    dims = {(c.dataset, c.extractor): _dim(c.dataset, c.extractor) for c in job.cells}
    by_method: Counter = Counter()
    for c in job.distinct_cells():  # each distinct cell runs once
        n = rows[(c.dataset, c.normal_class, c.ratio)]
        d = dims[(c.dataset, c.extractor)]
        det = c.detector_name  # a labelled variant costs what its detector costs
        if det in ("sla2p", "sla"):
            by_method[c.method] += _sla_flops(n, d, c.param_dict, det == "sla2p") / rate
            if get_spec(c.dataset).modality == "text":
                by_method[c.method] += _text_training_seconds(n, c.param_dict, rate)
        elif det in _QUADRATIC:
            by_method[c.method] += _QUADRATIC[det] * (n / 1000) ** 2 * max(1.0, d / 300)
        else:
            by_method[c.method] += _LINEAR.get(det, 1.0) * n / 1000 * max(1.0, d / 300)
    embed = 0.0
    for ds in dict.fromkeys(c.dataset for c in job.cells):
        spec = get_spec(ds)
        if spec.modality == "image" and not _embedded(ds):
            embed += rows_total(ds) / _IMAGES_PER_S
    return {"by_method": dict(by_method), "embedding": embed, "total": sum(by_method.values()) + embed,
            "cells": len(job.cells)}


def rows_total(ds: str) -> int:
    from .embed import load_labels

    return len(load_labels(ds)[0])


def _embedded(ds: str) -> bool:
    """Whether the default features of ``ds`` are already in the cache (nothing is computed)."""
    from .embed import load_features

    return load_features(ds, only_if_cached=True) is not None


def human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
