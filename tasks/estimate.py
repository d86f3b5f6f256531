"""Expected wall time of a job, printed before it starts (``sla2p-bench table --dry-run``).

Where the figures come from:

* Every detector but SLA2P/SLA: the per-cell seconds ``bench/bench_baselines.py`` MEASURED on one
  representative cell of each paper dataset, read from ``bench/measured_costs.json`` (the bench
  writes it; nobody copies constants by hand). A cell of n rows costs the measured fit scaled by
  the rows it fits (``baselines`` registry: ``max_fit_rows`` caps them, ``complexity`` says
  linear or quadratic), plus, when a cell is subsampled, a scoring pass linear in n. A pair that
  was not measured (an extra dataset, a plug-in detector) is scaled from the same detector on the
  nearest measured dataset by rows and features, and listed under ``unmeasured``.
* SLA2P/SLA: the scoring seconds measured on the dataset at the cell's settings (``bench_baselines.py
  --only sla2p,sla``: fit minus training, linear in the rows), else FLOPs (three MLP passes per
  (sample, projection) pair for SLA2P, one for SLA, plus the projection GEMM, over the nonzeros of
  a row for TF-IDF; ``sla2p.network.pair_flops``) at this machine's GEMM rate times the scoring
  efficiency ``bench/bench_core.py`` measured (about 0.65), plus training: the steps measured on
  that dataset when the costs file has them (``bench_baselines.py --only sla2p,sla``), otherwise
  the threshold stop the published settings are meant to reach (:data:`ASSUMED_TRAIN_STEPS`
  batches; images one epoch at most).
* Speed: on the CPU model the costs were measured on, measured seconds are used as they are; on
  another, they are rescaled by the ratio of the bench's GEMM probe to the one measured now
  (:func:`gemm_core_rate`, best of 40 short single-threaded probes, stable within ~10% on a
  loaded machine). SLA2P/SLA's FLOPs always go at the rate measured now.
* One fit per split: the seeds of a split whose rows do not depend on the seed, for a
  ``seed_invariant`` detector (:func:`tasks.cells.reuse_plan`, the flow's own rule), cost one
  fit; ``reused`` counts the cells that reuse it.
* Shared fits: a cell whose scores come from another method's fit (:func:`tasks.cells.shared_fit_plan`,
  the flow's own rule: SLA's and sla2p_bigstep's from SLA2P's at equal parameters) costs what it
  adds to that fit, the registry's ``shared_cost`` times the source cell's cost (SLA 0,
  sla2p_bigstep a third: one more classifier pass of the three); ``shared`` counts them and
  ``shared_pairs`` names the methods ("SLA from SLA2P"). (The flow fits such a cell on its own when
  its source is cached and it is not: the estimate is for nothing cached.)
* A detector registered with a ``preset`` costs what its class costs at the preset's values
  (an SLA2P preset is SLA2P at those settings).
* Images not yet embedded add their embedding time (the measured images/s from the costs file's
  ``embedding`` entry when present, else :data:`DEFAULT_IMAGES_PER_S`).

A missing or corrupt costs file is refused with :class:`CostsFileError` naming the command that
rewrites it: an estimate from made-up constants is what this module replaced.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

from sla2p.network import classifier_flops, pair_flops

from .cells import reuse_plan, shared_fit_plan, shared_pairs_text

COSTS_FILE = Path(__file__).resolve().parent.parent / "bench" / "measured_costs.json"
COSTS_FORMAT = 1
REGENERATE = "nice -n 10 .venv/bin/python bench/bench_baselines.py"
_EFFICIENCY = 0.65
# SLA2P/SLA training when the costs file has no measured steps for a dataset: the published
# threshold stops it early (method.md s1: 20News with stop words kept, plain TF, passes 0.75 after
# 112 batches; Arrhythmia after about a dozen). 200 batches, rounded up, is the assumption.
ASSUMED_TRAIN_STEPS = 200
DEFAULT_IMAGES_PER_S = 20.0  # used only when the costs file has no measured embedding rate
_FALLBACK_S_PER_ROW = 1e-3  # a detector never measured anywhere: 1 s per 1,000 rows at d=300 (flagged)


class CostsFileError(RuntimeError):
    """The measured-costs file is missing or unreadable; the message says how to rewrite it."""


def load_costs(path: str | Path | None = None) -> dict:
    """The measured per-cell costs written by ``bench/bench_baselines.py`` (validated)."""
    p = Path(path) if path is not None else COSTS_FILE
    fix = f"; rewrite it with `{REGENERATE}` (or restore it from git)"
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise CostsFileError(f"the measured-costs file {p} is missing{fix}") from None
    except (OSError, ValueError) as exc:
        raise CostsFileError(f"the measured-costs file {p} is unreadable ({type(exc).__name__}: {exc}){fix}") from None
    try:
        if doc.get("format") != COSTS_FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, expected {COSTS_FORMAT}")
        if not isinstance(doc.get("costs"), dict) or not doc["costs"]:
            raise ValueError("no 'costs' entries")
        gemm = float(doc["gemm_core_gflops"])
        if not gemm > 0:
            raise ValueError("gemm_core_gflops must be > 0")
        for name, per in doc["costs"].items():
            for ds, r in per.items():
                if r.get("status") == "ok":
                    for k in ("fit_seconds", "score_seconds", "n", "d", "fit_rows"):
                        v = float(r[k])
                        if not (math.isfinite(v) and v >= 0) or (k in ("n", "d", "fit_rows") and v < 1):
                            raise ValueError(f"{name}/{ds}: {k}={r[k]!r}")
                elif r.get("status") == "timeout":
                    float(r["seconds_at_least"])
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise CostsFileError(f"the measured-costs file {p} is corrupt ({type(exc).__name__}: {exc}){fix}") from None
    return doc


PARALLEL_EFFICIENCY = 0.8  # measured: 2 threads reach ~1.6x one thread's GEMM rate on an idle 2-core VM


def gemm_core_rate(probes: int = 40, rows: int = 256) -> float:
    """One core's float32 GEMM rate (GFLOP/s) on SLA2P-like layer shapes: the BEST of ``probes``
    short single-threaded probes (~3 ms each, ~0.2 s in all).

    A shared, loaded machine makes a multi-threaded or long probe mostly a measure of the other
    processes (measured here under a load of 6 on 2 cores: one 2-thread probe of 0.5 s gave
    8-128 GFLOP/s). A short single-threaded probe fits in one time slice; its best of 40 repeats
    within about 10%.
    """
    import time

    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, b = torch.randn(rows, 512), torch.randn(512, 1024)
        a @ b  # warm-up: allocator, kernels
        best = 0.0
        for _ in range(probes):
            t = time.perf_counter()
            a @ b
            best = max(best, 2 * rows * 512 * 1024 / (time.perf_counter() - t) / 1e9)
    finally:
        torch.set_num_threads(old)
    return best


def gemm_rate(threads: int | None = None) -> float:
    """The GEMM rate (GFLOP/s) a cell gets from ``threads`` cores (default: torch's threads):
    :func:`gemm_core_rate` x threads x :data:`PARALLEL_EFFICIENCY`."""
    import torch

    t = threads or torch.get_num_threads()
    return gemm_core_rate() * (1.0 if t <= 1 else t * PARALLEL_EFFICIENCY)


def _params(c) -> dict:
    """The parameters a cell's detector runs with: its registered preset, then the cell's own."""
    from baselines import detector_info

    return {**detector_info(c.detector_name).preset, **c.param_dict}


def _sla_kind(det: str) -> str | None:
    """The SLA2P/SLA cost model a detector takes ("sla2p", "sla"; a preset of those classes too), or None."""
    from baselines import detector_info

    from sla2p import SLA, SLA2P

    factory = detector_info(det).factory
    return "sla" if factory is SLA else "sla2p" if factory is SLA2P else None


def _sla_flops(n: int, d: float, params: dict, perturbed: bool) -> float:
    K, m = params.get("n_projections", 256), params.get("proj_dim", 256)
    return n * K * pair_flops(d, m, K, passes=3 if perturbed else 1)


_SETTINGS = ("n_projections", "proj_dim", "batch_size", "acc_threshold", "max_epochs", "lr")


def _sla_measurement(c, costs: dict) -> dict | None:
    """The bench's SLA2P/SLA measurement on this cell's dataset at this cell's settings, if any."""
    m = costs["costs"].get(c.detector_name, {}).get(c.dataset)
    if not m or m.get("status") != "ok":
        return None
    if any(_params(c).get(k) != (m.get("params") or {}).get(k) for k in _SETTINGS):
        return None  # measured at other settings (an ablation's grid point)
    return m


def _sla_scoring_measured(c, n: int, costs: dict, speed: float) -> float | None:
    """SLA2P/SLA scoring seconds from the measured cell (fit minus training), linear in the rows
    (every row is scored against all K projections); None when not measured at these settings."""
    m = _sla_measurement(c, costs)
    tr = (m or {}).get("training") or {}
    if m is None or tr.get("train_seconds") is None or not m.get("n"):
        return None
    return max(0.0, float(m["fit_seconds"]) - float(tr["train_seconds"])) * n / float(m["n"]) * speed


def _training_seconds(c, n: int, d: float, modality: str, costs: dict, rate: float, speed: float) -> float:
    """SLA2P/SLA training: as measured on this dataset (costs file), else the assumed threshold stop."""
    params = _params(c)
    m = _sla_measurement(c, costs)
    # A synthetic proxy (features not cached when measured) has the shape but not the data: its
    # training does not reach the threshold the real features do, so its steps are not these.
    tr = (m or {}).get("training") if not (m or {}).get("proxy") else None
    if tr and tr.get("steps") and tr.get("train_seconds") is not None:
        scale = n / m["n"] if tr.get("stop_reason") == "max_epochs" else 1.0  # a full run grows with n
        return float(tr["train_seconds"]) * scale * speed
    K, mm = params.get("n_projections", 256), params.get("proj_dim", 256)
    batch = params.get("batch_size", 128)
    steps = ASSUMED_TRAIN_STEPS
    if modality == "image":
        steps = min(steps, math.ceil(n * K / batch))  # one epoch at most
    # a batch-128 step runs at about a third of the scoring efficiency (small GEMMs)
    return steps * batch * pair_flops(d, mm, K, passes=3) / (rate / 3)


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
                n = spec.intrinsic_rows(len(y))  # all rows, or the cap on a large extra
            else:
                n_norm = counts[classes.index(c.normal_class)]
                n = min(spec.max_rows, n_norm + n_outliers(spec, c.ratio, n_norm))  # the protocol's own rule
            out[(ds, c.normal_class, c.ratio)] = n
    return out


_DIMS = {"tfidf": {"20news": 10_000, "reuters": 24_349}, "efficientnet-lite0": 1280, "resnet50": 2048, "minilm": 384}


def _dim(ds: str, extractor: str | None, costs: dict) -> int:
    """Feature count of ``ds``: the measured cell's (costs file) for its default extractor, the
    extractor's known width, or, for an unmeasured identity dataset, its cached features (once)."""
    from .datasets import get_spec
    from .embed import load_features

    spec = get_spec(ds)
    ex = extractor or spec.default_extractor
    cell = costs.get("cells", {}).get(ds)
    if cell and cell.get("extractor") == ex and cell.get("d"):
        return int(cell["d"])
    if ex == "identity":
        return load_features(ds, ex).shape[1]
    v = _DIMS.get(ex, 1000)
    return v.get(ds, 10_000) if isinstance(v, dict) else v


def _projected_width(ds: str, d: int, costs: dict) -> float:
    """The d that SLA2P/SLA's projection costs on ``ds``: mostly-zero rows (TF-IDF, density under
    a quarter, as ``sla2p.sparse_rows.SparseRows.worth_it``) are projected from their nonzeros, so
    their measured nonzeros per row; dense rows, d."""
    cell = costs.get("cells", {}).get(ds) or {}
    nnz, n, dm = cell.get("nnz"), cell.get("n"), cell.get("d")
    if nnz and n and dm and nnz < 0.25 * n * dm:
        return nnz / n
    return float(d)


def _measured(costs: dict, det: str, ds: str) -> tuple[dict | None, bool]:
    """(the measurement to scale from, whether it is this dataset's own)."""
    per = costs["costs"].get(det, {})
    if per.get(ds, {}).get("status") in ("ok", "timeout"):
        return per[ds], True
    ok = {k: v for k, v in per.items() if v.get("status") == "ok" and not v.get("proxy")} or \
        {k: v for k, v in per.items() if v.get("status") == "ok"}
    if not ok:
        return None, False
    # the nearest measured dataset by feature count (the cost's main driver besides rows)
    d0 = costs.get("cells", {}).get(ds, {}).get("d")
    key = (lambda k: abs(math.log(ok[k]["d"] / d0))) if d0 else (lambda k: -ok[k]["n"])
    return ok[min(sorted(ok), key=key)], False


def baseline_seconds(det: str, n: int, d: int, m: dict | None) -> float:
    """One cell of ``n`` rows x ``d`` features of detector ``det``, scaled from measurement ``m``
    (at the measurement's machine speed)."""
    from baselines import detector_info

    info = detector_info(det)
    p = 2 if info.complexity == "quadratic" else 1
    if m is None:
        return _FALLBACK_S_PER_ROW * n * max(1.0, d / 300)
    if m.get("status") == "timeout":  # a lower bound, scaled like a fit
        dscale = d / float(m["d"]) if m.get("d") else 1.0
        return float(m["seconds_at_least"]) * (info.fit_rows(n) / max(1, info.fit_rows(m.get("n", n)))) ** p * dscale
    f, fm, nm = info.fit_rows(n), float(m["fit_rows"]), float(m["n"])
    dscale = d / float(m["d"])
    fit = float(m["fit_seconds"]) * (f / fm) ** p * dscale
    if f >= n:
        return fit
    if m["score_seconds"] > 0 and nm > fm:  # measured on a subsampled cell: its scoring pass
        per_row = float(m["score_seconds"]) / nm
    elif m.get("rescore_seconds") is not None:  # a second scoring pass over the measured rows
        per_row = float(m["rescore_seconds"]) / nm
    else:  # nothing better: scoring a row costs what fitting it did
        per_row = float(m["fit_seconds"]) / fm
    return fit + per_row * (f / fm) ** (p - 1) * n * dscale


def _distinct(cells) -> list:
    """Each distinct cell once (as ``Job.distinct_cells``: the device does not count), fast."""
    from .cells import canonical

    seen: dict = {}
    for c in cells:
        key = (c.dataset, c.normal_class, c.ratio, c.method, c.seed, c.extractor, c.detector, c.row_order)
        try:
            key = (*key, hash(c.params) and c.params)
        except TypeError:  # a list-valued parameter
            key = (*key, canonical(c.param_dict))
        seen.setdefault(key, c)
    return list(seen.values())


def _same_cpu(costs: dict) -> bool:
    """Whether this machine has the CPU model and core count the costs were measured on."""
    import os

    from .env import cpu_model

    m = costs.get("machine") or {}
    return m.get("cpu") == cpu_model() and m.get("cores") == os.cpu_count()


def _speed(costs: dict, core: float, same_cpu: bool) -> float:
    """Factor on measured seconds: 1 on the CPU they were measured on (the probe's noise would only
    add noise), else the ratio of the bench's GEMM probe to this machine's."""
    return 1.0 if same_cpu else float(costs["gemm_core_gflops"]) / core


def estimate(job, costs: dict | None = None, rate_gflops: float | None = None, same_cpu: bool | None = None) -> dict:
    """Seconds by method, embedding seconds, and the total (all cores, one cell at a time).

    ``costs``: the measured-costs document (default: :func:`load_costs`); ``rate_gflops``: one
    core's GEMM rate (default: measured now); ``same_cpu``: whether this is the CPU the costs were
    measured on (default: compared with the file's ``machine``). Returns ``by_method``, ``embedding``, ``total``,
    ``cells``, ``unmeasured`` (sorted "detector/dataset" scaled from another dataset),
    ``lower_bounds`` (pairs whose measurement ran out of time: their figure is a lower bound), ``subsampled``
    (method -> its fit rule, for the methods whose cells this job subsamples), ``fits`` (the fits
    the job makes), ``reused`` (the cells that reuse another seed's fit instead: one fit per split),
    ``shared`` and ``shared_pairs`` (the cells that take their scores from another method's fit, and
    which methods, e.g. "SLA from SLA2P") and ``costs_file``.
    """
    import torch

    from baselines import detector_info

    from .datasets import get_spec

    costs = load_costs() if costs is None else costs
    core = gemm_core_rate() if rate_gflops is None else float(rate_gflops)
    t = torch.get_num_threads()
    rate = core * (1.0 if t <= 1 else t * PARALLEL_EFFICIENCY) * 1e9 * _EFFICIENCY
    same_cpu = _same_cpu(costs) if same_cpu is None else same_cpu
    rows = cell_rows(job)
    dims = {}
    for c in job.cells:
        if (c.dataset, c.extractor) not in dims:
            dims[(c.dataset, c.extractor)] = _dim(c.dataset, c.extractor, costs)
    by_method: Counter = Counter()
    unmeasured, lower, subsampled = set(), set(), {}
    memo: dict = {}
    distinct = _distinct(job.cells)  # each distinct cell runs once
    reused = set(reuse_plan(distinct, lambda c: rows_total(c.dataset)))  # ... and some reuse a fit
    shared = shared_fit_plan(distinct, derived=reused)  # ... or take their scores from another method's

    def cost(c) -> float:
        n = rows[(c.dataset, c.normal_class, c.ratio)]
        d = dims[(c.dataset, c.extractor)]
        det = c.detector_name  # a labelled variant costs what its detector costs
        sla = _sla_kind(det)
        key = (det, c.dataset, n, d, c.params if sla else None)
        if key not in memo:
            if sla:
                modality = get_spec(c.dataset).modality
                speed = _speed(costs, core, same_cpu)
                dp = _projected_width(c.dataset, d, costs)
                scoring = _sla_scoring_measured(c, n, costs, speed)
                if scoring is None:
                    scoring = _sla_flops(n, dp, _params(c), sla == "sla2p") / rate
                memo[key] = scoring + _training_seconds(c, n, dp, modality, costs, rate, speed)
            else:
                m, own = _measured(costs, det, c.dataset)
                if not own:
                    unmeasured.add(f"{det}/{c.dataset}")
                if (m or {}).get("status") == "timeout":
                    lower.add(f"{det}/{c.dataset}")
                memo[key] = baseline_seconds(det, n, d, m) * _speed(costs, core, same_cpu)
        info = detector_info(det)
        if info.fit_rows(n) < n:
            subsampled[c.method] = info.fit_rule()
        return memo[key]

    for i, c in enumerate(distinct):
        if i in reused:
            continue
        if i in shared:  # what it adds to the fit it shares (SLA: nothing; sla2p_bigstep: one pass of three)
            by_method[c.method] += detector_info(c.detector_name).shared_cost * cost(distinct[shared[i]])
        else:
            by_method[c.method] += cost(c)
    embed, emb = 0.0, costs.get("embedding") or {}
    images_per_s = float(emb.get("images_per_s") or DEFAULT_IMAGES_PER_S)
    for ds in dict.fromkeys(c.dataset for c in job.cells):
        spec = get_spec(ds)
        if spec.modality == "image" and not _embedded(ds):
            embed += rows_total(ds) / images_per_s
    return {"by_method": dict(by_method), "embedding": embed, "total": sum(by_method.values()) + embed,
            "cells": len(job.cells), "unmeasured": sorted(unmeasured), "lower_bounds": sorted(lower),
            "subsampled": subsampled, "fits": len(distinct) - len(reused) - len(shared), "reused": len(reused),
            "shared": len(shared),
            "shared_pairs": shared_pairs_text((distinct[i], distinct[j]) for i, j in shared.items()),
            "images_per_s": images_per_s, "images_per_s_measured": bool(emb.get("images_per_s")),
            "gemm_core_gflops": core, "costs_file": str(COSTS_FILE), "costs_date": costs.get("date")}


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
