"""How much slower (or faster) cells run on this machine, as a run runs them, than the costs
file's figures say: measured, not inferred from a GEMM probe.

Why: the figures in ``bench/measured_costs.json`` were measured one cell at a time on one CPU. On
another CPU the estimate used to rescale them by the ratio of single-threaded GEMM probes, and on a
2-core AMD EPYC that ratio (2.10) was far from what whole cells did (1.32 over a paper-quick run):
cells are half small GEMMs and half elementwise work, framework overhead and sparse products, which
a GEMM probe does not see. Cells also slow down beside each other (two workers share caches and
memory bandwidth), which no one-cell figure includes.

A calibration is ``bench/bench_baselines.py --calibrate W`` on the machine: the reference cells
(:data:`REFERENCE_DETECTORS` on :data:`REFERENCE_DATASETS`, the cells the file already has) fitted
by W processes at once on ``--threads`` threads each, as a run with W workers fits them. Its
factors, measured seconds over the figure's (converted to the same threads), one per detector
(geometric mean over the datasets and processes) and one for all (geometric mean over every pair),
are kept in the costs file's ``calibrations`` under this CPU model, core count, workers and
threads. The estimate multiplies a figure by its detector's factor, or the overall one for a
detector not in the reference set, when a calibration of this CPU exists for figures of the CPU
the figure was measured on.
"""

from __future__ import annotations

import math

REFERENCE_DETECTORS = ("sla2p", "goad", "rsrae", "deepsvdd", "autoencoder", "pca")
REFERENCE_DATASETS = ("arrhythmia", "20news", "cifar10")


class CalibrationError(ValueError):
    """A calibration could not be computed (e.g. a reference figure is missing or failed)."""


def _geomean(xs) -> float:
    xs = list(xs)
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def machine_key(cpu: str, cores: int) -> tuple[str, int]:
    return str(cpu), int(cores)


def compute(figures: dict, measured: list[dict], figure_seconds) -> dict:
    """The factors of one calibration.

    ``figures``: the costs file's ``costs`` (detector -> dataset -> figure); ``measured``: one
    ``{detector: {dataset: seconds}}`` per process that ran at once; ``figure_seconds(figure)``:
    a figure's seconds converted to the threads the processes ran on. Raises
    :class:`CalibrationError` naming a pair without a usable figure or measurement."""
    ratios: dict[str, list[float]] = {}
    reference = set()
    for run in measured:
        for det, per in run.items():
            for ds, seconds in per.items():
                fig = figures.get(det, {}).get(ds)
                if not fig or fig.get("status") != "ok":
                    raise CalibrationError(f"{det}/{ds}: the costs file has no measured figure to calibrate against")
                if not (seconds and seconds > 0 and math.isfinite(seconds)):
                    raise CalibrationError(f"{det}/{ds}: this machine's measurement failed ({seconds!r})")
                reference.add(machine_key(fig.get("cpu"), fig.get("cores")))
                ratios.setdefault(det, []).append(seconds / figure_seconds(fig))
    if not ratios:
        raise CalibrationError("nothing was measured")
    if len(reference) != 1:  # one factor per pair of CPUs: figures from several CPUs need several
        raise CalibrationError(f"the reference figures come from several machines: {sorted(reference)}")
    (ref_cpu, ref_cores), = reference
    return {"factor": round(_geomean(r for rs in ratios.values() for r in rs), 4),
            "by_detector": {d: round(_geomean(rs), 4) for d, rs in sorted(ratios.items())},
            "pairs": sum(len(rs) for rs in ratios.values()),
            "reference_cpu": ref_cpu, "reference_cores": ref_cores}


def find(costs: dict, cpu: str, cores: int, workers: int, threads: int) -> dict | None:
    """This machine's calibration: the one for the run's workers and threads, else the newest of
    this CPU model and core count (another concurrency is better than a GEMM probe), else None."""
    mine = [c for c in costs.get("calibrations") or [] if (c.get("cpu"), c.get("cores")) == (cpu, cores)]
    exact = [c for c in mine if (c.get("workers"), c.get("threads")) == (workers, threads)]
    pool = exact or mine
    return max(pool, key=lambda c: str(c.get("date", ""))) if pool else None


def factor(cal: dict, detector: str, figure_machine: tuple) -> float | None:
    """The factor on a figure of ``detector`` measured on ``figure_machine`` (CPU, cores), or None
    when the calibration was measured against another machine's figures."""
    if machine_key(*figure_machine) != machine_key(cal["reference_cpu"], cal["reference_cores"]):
        return None
    return float(cal["by_detector"].get(detector, cal["factor"]))


def upsert(doc: dict, entry: dict) -> None:
    """Put ``entry`` in the costs document's ``calibrations``, replacing the one of the same
    machine, workers and threads."""
    key = ("cpu", "cores", "workers", "threads")
    kept = [c for c in doc.get("calibrations") or [] if tuple(c.get(k) for k in key) != tuple(entry[k] for k in key)]
    doc["calibrations"] = kept + [entry]
