"""Expected wall time of a job, printed before it starts (``sla2p-bench table --dry-run``).

Where the figures come from:

* Every detector but SLA2P/SLA: the per-cell seconds ``bench/bench_baselines.py`` MEASURED on one
  representative cell of each paper dataset, read from ``bench/measured_costs.json`` (the bench
  writes it; nobody copies constants by hand). A cell of n rows costs the measured fit scaled by
  the rows it fits (``baselines`` registry: ``max_fit_rows`` caps them, ``complexity`` says
  linear or quadratic; a detector class with ``fit_work(n_rows)`` says its own: SLAD's training
  pairs an epoch, :func:`fit_work`), plus, when a cell is subsampled, a scoring pass linear in n.
  A pair that
  was not measured (an extra dataset, a plug-in detector) is scaled from the same detector on the
  nearest measured dataset by rows and features, and listed under ``unmeasured``. Features scale
  it along the detector's own width curve (:func:`width_scale`): its measured seconds per fitted
  row against features, interpolated between its measured datasets, flat below the narrowest
  (hidden layers, neighbour graphs and trees cost as much on 6 columns as on 118) and along
  its widest segment's slope above the widest (between flat and proportional); a detector
  measured at one width only scales linearly.
* SLA2P/SLA: the scoring seconds measured on the dataset at the cell's settings (``bench_baselines.py
  --only sla2p,sla``: fit minus training, linear in the rows), else FLOPs (three MLP passes per
  (sample, projection) pair for SLA2P, one for SLA, plus the projection GEMM, over the nonzeros of
  a row for TF-IDF; ``sla2p.network.pair_flops``) at this machine's GEMM rate times the scoring
  efficiency ``bench/bench_core.py`` measured (about 0.65), plus training: the seconds per step
  measured on that dataset (``bench_baselines.py --only sla2p,sla``) times the mean steps per cell
  that real runs took over all of its classes (the costs file's ``run_steps``, copied from a run's
  ``training.csv`` by ``bench_baselines.py --steps-from``; text sets vary 100-fold between
  classes), else the measured cell's own steps, else the threshold stop the published settings
  are meant to reach (:data:`ASSUMED_TRAIN_STEPS` batches; images one epoch at most).
* Speed: where this machine has a calibration (:mod:`tasks.cpu_calibration`, written by
  ``bench/bench_baselines.py --calibrate W``: reference cells fitted W at a time here, against the
  figures' CPU), a figure is multiplied by its detector's measured factor (the overall one for a
  detector outside the reference set); a calibration for the run's workers and threads is
  preferred. Without one: on the CPU model (and core count) a figure was measured on (each figure
  records its machine; older ones the file's), measured seconds are used as they are; on another,
  they are rescaled by the ratio of the GEMM probe taken with that figure to the one measured now
  (:func:`gemm_core_rate`, best of 40 short single-threaded probes), which read an AMD EPYC 2.1x
  slower than the Intel Xeon while its cells ran 1.3x slower (the estimate was +59%), so the dry
  run says when it falls back to it. SLA2P/SLA's FLOPs always go at the rate measured now.
* What runs: the job's :class:`tasks.plan.Plan`, the one the flow executes. A cell that reuses
  another seed's fit (one fit per split) costs nothing; a cell riding on a shared fit (SLA's and
  sla2p_bigstep's on SLA2P's at equal parameters) costs what it adds to that fit, the registry's
  ``shared.cost`` times the source cell's cost (SLA 0, sla2p_bigstep a third: one more classifier
  pass of the three). A dry run plans with nothing cached.
* A detector registered with a ``preset`` costs what its class costs at the preset's values
  (an SLA2P preset is SLA2P at those settings).
* Images not yet embedded add their embedding time (the measured images/s from the costs file's
  ``embedding`` entry when present, converted from the threads it was measured on to those a run
  embeds on, :func:`embed_threads`, but not rescaled by the GEMM probe; else
  :data:`DEFAULT_IMAGES_PER_S`).

A missing or corrupt costs file is refused with :class:`CostsFileError` naming the command that
rewrites it: an estimate from made-up constants is what this module replaced.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sla2p.network import pair_flops

from . import cpu_calibration


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


def _costs_file() -> Path:
    """The checkout's costs file; an installed copy (no pyproject.toml beside its code) reads the
    project's (``SLA2P_PROJECT_ROOT``, the folder with data.dvc), where the bench writes it."""
    from .env import in_checkout, project_root

    if in_checkout():
        return COSTS_FILE
    try:
        return project_root() / "bench" / "measured_costs.json"
    except FileNotFoundError:
        return COSTS_FILE


class CostsFileError(RuntimeError):
    """The measured-costs file is missing or unreadable; the message says how to rewrite it."""


def load_costs(path: str | Path | None = None) -> dict:
    """The measured per-cell costs written by ``bench/bench_baselines.py`` (validated)."""
    p = Path(path) if path is not None else _costs_file()
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
        for c in doc.get("calibrations") or []:
            f = [float(c["factor"]), *map(float, c["by_detector"].values())]
            if not all(math.isfinite(v) and v > 0 for v in f):
                raise ValueError(f"calibration of {c.get('cpu')!r}: factors must be > 0")
            g = float(c.get("gemm_core_gflops", 1.0))
            if not (math.isfinite(g) and g > 0):
                raise ValueError(f"calibration of {c.get('cpu')!r}: gemm_core_gflops must be > 0")
            str(c["reference_cpu"]), int(c["reference_cores"]), int(c["cores"]), int(c["workers"]), int(c["threads"])
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

    return detector_info(c.detector_name).params(**c.param_dict)


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


def _run_steps(c, costs: dict) -> float | None:
    """Mean training steps per cell that real runs measured for this cell's detector (or the SLA2P
    class it is a preset of) on its dataset, at its threshold and epoch bound; None if none.
    Steps vary 100-fold between the classes of one text set (20 Newsgroups: 404 to 40,440), so one
    representative cell cannot stand for them; a run over every class can."""
    per = costs.get("run_steps") or {}
    params = _params(c)
    for name in (c.detector_name, _sla_kind(c.detector_name)):
        r = (per.get(name) or {}).get(c.dataset)
        if r and r.get("acc_threshold") == params.get("acc_threshold") and r.get("max_epochs") == params.get("max_epochs"):
            return float(r["mean_steps"])
    return None


def expected_train_steps(c, costs: dict | None = None) -> float | None:
    """The training steps a fit of cell ``c`` is expected to take (SLA2P/SLA and their presets;
    None for other detectors): the mean of real runs on its dataset, else the measured cell's,
    else :data:`ASSUMED_TRAIN_STEPS`. The run's watch compares a fit's steps with it."""
    if _sla_kind(c.detector_name) is None:
        return None
    costs = load_costs() if costs is None else costs
    steps = _run_steps(c, costs)
    if steps is None:
        tr = (_sla_measurement(c, costs) or {}).get("training") or {}
        steps = tr.get("steps") or ASSUMED_TRAIN_STEPS
    return float(steps)


def _training_seconds(c, n: int, d: float, modality: str, costs: dict, rate: float, speed: float) -> float:
    """SLA2P/SLA training: the measured seconds per step on this dataset (costs file) times the
    steps real runs took on it (``run_steps``) or, without those, the steps of the measured cell;
    else the assumed threshold stop at the GEMM rate."""
    params = _params(c)
    m = _sla_measurement(c, costs)
    # A synthetic proxy (features not cached when measured) has the shape but not the data: its
    # training does not reach the threshold the real features do, so its steps are not these.
    tr = (m or {}).get("training") if not (m or {}).get("proxy") else None
    steps = _run_steps(c, costs)
    if tr and tr.get("steps") and tr.get("train_seconds") is not None:
        per_step = float(tr["train_seconds"]) / float(tr["steps"])
        if steps is not None:
            return steps * per_step * speed
        scale = n / m["n"] if tr.get("stop_reason") == "max_epochs" else 1.0  # a full run grows with n
        return float(tr["train_seconds"]) * scale * speed
    K, mm = params.get("n_projections", 256), params.get("proj_dim", 256)
    batch = params.get("batch_size", 128)
    steps = steps if steps is not None else ASSUMED_TRAIN_STEPS
    if modality == "image":
        steps = min(steps, math.ceil(n * K / batch))  # one epoch at most
    # a batch-128 step runs at about a third of the scoring efficiency (small GEMMs)
    return steps * batch * pair_flops(d, mm, K, passes=3) / (rate / 3)


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


def fit_work(det: str):
    """How detector ``det``'s fit cost grows with the rows it is fitted on, up to a constant: its
    class's own ``fit_work(n_rows)`` where it has one (a fit that trains on a sample of its own
    size: SLAD), else the registry's ``complexity``: n, or n squared."""
    from baselines import detector_info

    info = detector_info(det)
    own = getattr(info.factory, "fit_work", None)
    if callable(own):
        return lambda n: float(own(int(n)))
    power = 2 if info.complexity == "quadratic" else 1
    return lambda n: float(n) ** power


def width_curve(per: dict, work=float) -> list[tuple[float, float]]:
    """A detector's measured cost against features: (d, seconds per unit of fit work) of each of
    its measured datasets (``per``: the costs file's entries of that detector), real cells before
    synthetic proxies, sorted by d, one point per d (the geometric mean where two datasets share a
    width). The work of f fitted rows is ``work(f)``: the detector's :func:`fit_work`, f by default."""
    ok = [v for v in per.values() if v.get("status") == "ok" and v.get("fit_rows") and v.get("d")]
    ok = [v for v in ok if not v.get("proxy")] or ok
    by_d: dict[float, list[float]] = {}
    for v in ok:
        by_d.setdefault(float(v["d"]), []).append(float(v["fit_seconds"]) / float(work(float(v["fit_rows"]))))
    return [(d, math.exp(sum(math.log(max(x, 1e-12)) for x in xs) / len(xs))) for d, xs in sorted(by_d.items())]


def _cost_at(curve: list[tuple[float, float]], d: float) -> float:
    """The width curve at ``d``: log-log interpolation inside it, its narrowest point's cost
    below it (what does not shrink with columns dominates there), and above it the slope of its
    widest segment, between flat and proportional to d (SLAD's cost is flat in d past its
    representation step, a network's first layer proportional)."""
    (d0, c0), (d1, c1) = curve[0], curve[-1]
    if d <= d0:
        return c0
    if d >= d1:
        (da, ca) = curve[-2]
        slope = min(1.0, max(0.0, math.log(c1 / ca) / math.log(d1 / da)))
        return c1 * (d / d1) ** slope
    for (da, ca), (db, cb) in zip(curve, curve[1:]):
        if da <= d <= db:
            t = math.log(d / da) / math.log(db / da)
            return math.exp(math.log(ca) + t * (math.log(cb) - math.log(ca)))
    raise AssertionError("unreachable: d lies inside the curve")


def width_scale(curve: list[tuple[float, float]] | None, d: float, dm: float) -> float:
    """How much more a row of ``d`` features costs than one of ``dm`` (the measured dataset's):
    the ratio along ``curve`` (:func:`width_curve`), or d / dm when the detector was measured at
    fewer than two widths (nothing to say how its cost follows features)."""
    if not curve or len(curve) < 2 or d == dm:
        return d / dm
    return _cost_at(curve, d) / _cost_at(curve, dm)


def baseline_seconds(det: str, n: int, d: int, m: dict | None, curve: list[tuple[float, float]] | None = None) -> float:
    """One cell of ``n`` rows x ``d`` features of detector ``det``, scaled from measurement ``m``
    (at the measurement's machine speed); features scale along ``curve`` (:func:`width_scale`)."""
    from baselines import detector_info

    info = detector_info(det)
    if m is None:
        return _FALLBACK_S_PER_ROW * n * max(1.0, d / 300)
    work = fit_work(det)
    if m.get("status") == "timeout":  # a lower bound, scaled like a fit
        dscale = width_scale(curve, d, float(m["d"])) if m.get("d") else 1.0
        grown = work(info.fit_rows(n)) / work(max(1, info.fit_rows(m.get("n", n))))
        return float(m["seconds_at_least"]) * grown * dscale
    f, fm, nm = info.fit_rows(n), float(m["fit_rows"]), float(m["n"])
    dscale = width_scale(curve, d, float(m["d"]))
    fit = float(m["fit_seconds"]) * work(f) / work(fm) * dscale
    if f >= n:
        return fit
    if m["score_seconds"] > 0 and nm > fm:  # measured on a subsampled cell: its scoring pass
        per_row = float(m["score_seconds"]) / nm
    elif m.get("rescore_seconds") is not None:  # a second scoring pass over the measured rows
        per_row = float(m["rescore_seconds"]) / nm
    else:  # nothing better: scoring a row costs what fitting it did
        per_row = float(m["fit_seconds"]) / fm
    # scoring a row against the fitted rows grows with them for a quadratic detector
    return fit + per_row * (f / fm if info.complexity == "quadratic" else 1.0) * n * dscale


def _machine_of(m: dict | None, costs: dict) -> tuple:
    """(CPU model, cores) a figure was measured on: its own record, else the file's machine (figures
    written before each one carried its machine)."""
    file_machine = costs.get("machine") or {}
    m = m or {}
    return m.get("cpu") or file_machine.get("cpu"), m.get("cores") or file_machine.get("cores")


def _same_cpu(costs: dict, m: dict | None = None) -> bool:
    """Whether this machine has the CPU model and core count figure ``m`` (default: the file) was
    measured on."""
    import os

    from .env import cpu_model

    return _machine_of(m, costs) == (cpu_model(), os.cpu_count())


def thread_speedup(threads: int) -> float:
    """How much faster one cell runs on ``threads`` threads than on one (the GEMM probe's measured
    parallel efficiency; the model every figure is converted by)."""
    return 1.0 if threads <= 1 else threads * PARALLEL_EFFICIENCY


def threads_factor(costs: dict, m: dict | None, threads: int) -> float:
    """Factor on a figure measured on its threads (its own record, else the file's machine, else
    ``threads``) for a cell run on ``threads``."""
    measured = (m or {}).get("threads") or (costs.get("machine") or {}).get("torch_threads") or threads
    return thread_speedup(int(measured)) / thread_speedup(threads)


def _speed(costs: dict, core: float, same_cpu: bool | None, m: dict | None = None,
           detector: str = "", cal: dict | None = None) -> float:
    """Factor on measured seconds of figure ``m`` of ``detector``: this machine's calibrated factor
    when ``cal`` was measured against the figure's CPU; else 1 on the CPU it was measured on (the
    probe's noise would only add noise), else the ratio of the GEMM probe taken with it to this
    machine's. A file can mix machines (one dataset re-measured elsewhere), so each figure is
    scaled by its own. ``same_cpu`` set: the caller's answer for every figure (``estimate`` then
    reads no calibration)."""
    if cal is not None:
        f = cpu_calibration.factor(cal, detector, _machine_of(m, costs))
        if f is not None:
            return f
    same = _same_cpu(costs, m) if same_cpu is None else same_cpu
    return 1.0 if same else float((m or {}).get("gemm_core_gflops") or costs["gemm_core_gflops"]) / core


@dataclass(frozen=True)
class Estimate:
    """A job's expected wall time on this machine (seconds): ``by_method`` and :attr:`total` are
    wall time with the estimate's ``workers`` cells in flight; ``per_cell`` is each cell's own
    seconds on its threads."""

    by_method: dict[str, float]        # method -> seconds of its fits (and what sharing adds)
    embedding: float                   # images not yet embedded, once
    counts: dict[str, int]             # the plan's counts: cells, cached, fits, riders, reuses
    shared_pairs: list[str]            # which methods share whose fit, e.g. "SLA from SLA2P"
    unmeasured: list[str]              # "detector/dataset" pairs scaled from another dataset
    lower_bounds: list[str]            # pairs whose measurement ran out of time: at least
    subsampled: dict[str, str]         # method -> its fit-subsample rule, where a cell is capped
    images_per_s: float
    images_per_s_measured: bool
    gemm_core_gflops: float
    costs_file: str
    costs_date: str | None
    per_cell: tuple[float, ...] = ()   # each plan cell's seconds (0: cached, or reusing a fit)
    peak_bytes: int = 0                # the largest fit's memory, for detectors that estimate theirs
    peak_cell: str = ""                # which (method on dataset)
    scaling: str = ""                  # how figures from another CPU were scaled, when any were

    @property
    def total(self) -> float:
        return sum(self.by_method.values()) + self.embedding


@dataclass
class _Coster:
    """One cell's seconds, memoised per (detector, dataset, rows, features, settings)."""

    costs: dict
    core: float
    rate: float
    same_cpu: bool | None  # None: compare each figure's machine with this one
    dims: dict
    threads: int = 1       # torch threads a cell runs on
    cal: dict | None = None  # this machine's calibration (tasks.cpu_calibration), if any
    unmeasured: set = field(default_factory=set)
    lower: set = field(default_factory=set)
    subsampled: dict = field(default_factory=dict)
    memo: dict = field(default_factory=dict)

    def __call__(self, c, n: int) -> float:
        from baselines import detector_info

        d = self.dims[(c.dataset, c.extractor)]
        sla = _sla_kind(c.detector_name)  # a labelled variant costs what its detector costs
        key = (c.detector_name, c.dataset, n, d, c.params if sla else None)
        if key not in self.memo:
            self.memo[key] = self._sla(c, n, d, sla) if sla else self._baseline(c, n, d)
        info = detector_info(c.detector_name)
        if info.fit_rows(n) < n:
            self.subsampled[c.method] = info.fit_rule()
        return self.memo[key]

    def _sla(self, c, n: int, d: int, sla: str) -> float:
        from .datasets import get_spec

        m = _sla_measurement(c, self.costs)
        speed = _speed(self.costs, self.core, self.same_cpu, m, sla, self.cal) * threads_factor(self.costs, m, self.threads)
        dp = _projected_width(c.dataset, d, self.costs)
        scoring = _sla_scoring_measured(c, n, self.costs, speed)
        if scoring is None:
            scoring = _sla_flops(n, dp, _params(c), sla == "sla2p") / self.rate
        modality = get_spec(c.dataset).modality
        return scoring + _training_seconds(c, n, dp, modality, self.costs, self.rate, speed)

    def _baseline(self, c, n: int, d: int) -> float:
        det = c.detector_name
        m, own = _measured(self.costs, det, c.dataset)
        if not own:
            self.unmeasured.add(f"{det}/{c.dataset}")
        if (m or {}).get("status") == "timeout":
            self.lower.add(f"{det}/{c.dataset}")
        curve = width_curve(self.costs["costs"].get(det, {}), work=fit_work(det))
        return (baseline_seconds(det, n, d, m, curve) * _speed(self.costs, self.core, self.same_cpu, m, det, self.cal)
                * threads_factor(self.costs, m, self.threads))


def estimate(plan, costs: dict | None = None, rate_gflops: float | None = None,
             same_cpu: bool | None = None, workers: int = 1, threads: int | None = None) -> Estimate:
    """The :class:`Estimate` of a :class:`tasks.plan.Plan` (the flow executes the same plan).

    ``costs``: the measured-costs document (default: :func:`load_costs`); ``rate_gflops``: one
    core's GEMM rate (default: measured now); ``same_cpu``: whether this is the CPU the costs were
    measured on (default: compared with each figure's machine, and this machine's calibration
    applied where it has one; set, no calibration is read); ``workers``: cells in flight at
    once, each on ``threads`` torch threads (default: torch's threads now). A cell's seconds are
    those of its fit on ``threads`` threads (a figure measured on other threads is converted by
    :func:`thread_speedup`); a method's and the job's time is the wall time of ``workers`` cells at
    a time, the sum divided by ``workers``. Every fitted cell costs its fit; a
    cell that reuses another seed's fit costs nothing; a cell riding on a shared fit costs the
    registry's ``shared.cost`` times the fit it shares; a cached cell costs nothing.
    """
    import torch

    from baselines import detector_info

    costs = load_costs() if costs is None else costs
    t = torch.get_num_threads() if threads is None else int(threads)
    cal = _calibration(costs, same_cpu, int(workers), t)
    core = _core_rate(rate_gflops, cal)
    rate = core * thread_speedup(t) * 1e9 * _EFFICIENCY
    dims = {k: _dim(k[0], k[1], costs) for k in dict.fromkeys((c.dataset, c.extractor) for c in plan.cells)}
    cost = _Coster(costs, core, rate, same_cpu, dims, threads=t, cal=cal)
    per_cell = [0.0] * len(plan.cells)
    peak = (0, "")
    for i in plan.fits:
        per_cell[i] = cost(plan.cells[i], plan.rows[i])
        peak = max(peak, _fit_memory(plan.cells[i], plan.rows[i], dims[(plan.cells[i].dataset, plan.cells[i].extractor)]))
    for i, j in plan.rides.items():  # what it adds to the fit it shares (SLA: nothing; a second step: a pass)
        per_cell[i] = detector_info(plan.cells[i].detector_name).shared.cost * cost(plan.cells[j], plan.rows[j])
    by_method: Counter = Counter()
    for c, sec in zip(plan.cells, per_cell):
        by_method[c.method] += sec / max(1, int(workers))  # wall time: ``workers`` cells at once
    emb = costs.get("embedding") or {}
    images_per_s = float(emb.get("images_per_s") or DEFAULT_IMAGES_PER_S)
    if emb.get("images_per_s"):  # measured: converted to the threads a run embeds on. Not by the GEMM
        # probe: CIFAR-10 on two threads ran at 46 images/s on the Intel Xeon and 51 on an AMD EPYC
        # whose probe reads half as fast (decoding and depthwise convolutions, not large GEMMs)
        images_per_s /= threads_factor(costs, emb, embed_threads(workers, t))
    return Estimate(dict(by_method), _embedding_seconds(plan, images_per_s), plan.counts, plan.shared_pairs(),
                    sorted(cost.unmeasured), sorted(cost.lower), cost.subsampled, images_per_s,
                    bool(emb.get("images_per_s")), core, str(COSTS_FILE), costs.get("date"), tuple(per_cell), *peak,
                    scaling=_scaling_note(costs, same_cpu, cal, core, int(workers), t))


def _core_rate(rate_gflops: float | None, cal: dict | None) -> float:
    """One core's GEMM rate for SLA2P's FLOPs: the caller's, else the probe this machine's
    calibration took (idle, beside the cells it measured), else a probe now. Why not always now: the
    best of 40 short probes still moved three estimates of the same cells on the same idle machine
    by 15% (stop 41), and whatever else runs beside it can only make it read lower."""
    if rate_gflops is not None:
        return float(rate_gflops)
    if cal is not None and cal.get("gemm_core_gflops"):
        return float(cal["gemm_core_gflops"])
    return gemm_core_rate()


def _calibration(costs: dict, same_cpu: bool | None, workers: int, threads: int) -> dict | None:
    """This machine's calibration for ``workers`` x ``threads`` (or its nearest, see
    :func:`tasks.cpu_calibration.find`); none when the caller decides ``same_cpu``."""
    import os

    from .env import cpu_model

    return None if same_cpu is not None else cpu_calibration.find(costs, cpu_model(), os.cpu_count(), workers, threads)


def _scaling_note(costs: dict, same_cpu: bool | None, cal: dict | None, core: float, workers: int, threads: int) -> str:
    """One line on how figures measured elsewhere were scaled ("" when every figure is this CPU's
    and there is no calibration)."""
    if cal is not None:
        return (f"calibrated on this machine {cal['date'][:10]} ({cal['workers']} x {cal['threads']}): cells "
                f"x{cal['factor']:.2f} against {cal['reference_cpu']}")
    figures = [m for per in costs["costs"].values() for m in per.values()]
    if same_cpu or (same_cpu is None and all(_same_cpu(costs, m) for m in figures)):
        return ""
    return (f"figures from another CPU scaled by GEMM probes (this core {core:.0f} GFLOP/s), which can be far off "
            f"(+59% on an AMD EPYC); `.venv/bin/python bench/bench_baselines.py --calibrate {workers} --threads {threads}` "
            f"(~3 min, idle) measures this machine")


def _fit_memory(c, n: int, d: int) -> tuple[int, str]:
    """(bytes, "method on dataset") of a cell's fit, for a detector whose class estimates its own
    memory (``memory_bytes(n_rows, n_features, sparse)``, SLA2P and SLA); (0, "") otherwise."""
    from baselines import detector_info

    from .datasets import get_spec

    info = detector_info(c.detector_name)
    if not callable(getattr(info.factory, "memory_bytes", None)):
        return 0, ""
    sparse = info.accepts_sparse and get_spec(c.dataset).modality == "text"  # TF-IDF rows stay sparse
    det = info.factory(**info.params(**c.param_dict))
    return int(det.memory_bytes(info.fit_rows(n), d, sparse)), f"{c.method} on {c.dataset}"


def embed_threads(workers: int, threads: int) -> int:
    """The torch threads a run embeds images on before its cells start: every core its
    ``workers`` cells of ``threads`` threads would share, at most this machine's
    (``flows.run.embed_threads`` resolves a run's options to this)."""
    import os

    return max(1, min(int(workers) * int(threads), os.cpu_count() or 1))


def _embedding_seconds(plan, images_per_s: float) -> float:
    """Images of the plan's datasets not embedded yet, at ``images_per_s``."""
    from .datasets import get_spec

    return sum(rows_total(ds) / images_per_s for ds in dict.fromkeys(c.dataset for c in plan.cells)
               if get_spec(ds).modality == "image" and not _embedded(ds))


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
