"""How a job is run (not what it computes): the CLI's options in one typed place, with their
defaults and their checks. What a job computes is its config plus :class:`Filters`.

Every check runs when the object is made (``__post_init__``) and raises :class:`OptionError`
naming the option, the value and what is accepted; the CLI prints that one line and exits 2
before any server, database, run or fit exists.
"""

from __future__ import annotations

import re
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

RUNNERS = ("threads", "dask", "ray")
DEVICES = "auto, cpu, cuda, cuda:N"
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def default_workers() -> int:
    """Cells in parallel when --workers is not given: one per core."""
    return os.cpu_count() or 1


# A local Dask cluster costs a run ~10-15 s (its workers start and import torch and the detectors;
# 2 cores, idle) and gains nothing on SLA2P's cells, up to 1.44x on Python-bound baselines: below
# this estimate a job runs about as soon in threads (docs/results/costs, stop 42).
PROCESSES_FROM_S = 120.0


def default_runner(workers: int, expected_s: float) -> str:
    """The runner when --runner is not given: a local Dask cluster of one-threaded worker processes
    when more than one cell runs at once and the job is expected to take ``PROCESSES_FROM_S`` or
    more; threads otherwise. Why processes: cells in threads of one process wait for each other's
    Python (the interpreter's lock); PyOD's DeepSVDD fits as slowly in two threads as one after
    the other (docs/results/costs, stop 41)."""
    return "dask" if workers > 1 and expected_s >= PROCESSES_FROM_S else "threads"


def default_threads(workers: int) -> int:
    """Torch threads a cell when --threads is not given: the cores shared by ``workers`` cells."""
    return max(1, (os.cpu_count() or 1) // workers)


class OptionError(ValueError):
    """A command-line option that cannot run; the message names it and the accepted values."""


def _items(option: str, text: str | None, conv, what: str, example: str) -> list | None:
    """A comma-separated option value, each item converted with ``conv`` (None: not given)."""
    if text is None:
        return None
    items = [x.strip() for x in str(text).split(",") if x.strip()]
    out = []
    for x in items:
        try:
            out.append(conv(x))
        except ValueError:
            raise OptionError(f"{option}: {x!r} is not {what}; give a comma-separated list, e.g. {option} {example}") \
                from None
    return out or None


@dataclass(frozen=True)
class Filters:
    """The CLI's narrowing of a config: only the cells whose values are listed (None: all)."""

    datasets: list[str] | None = None
    classes: list[str] | None = None
    ratios: list[float] | None = None
    seeds: list[int] | None = None
    methods: list[str] | None = None

    def __post_init__(self):
        from tasks.datasets import check_ratio

        for r in self.ratios or []:
            try:
                check_ratio(r)
            except ValueError:
                raise OptionError(f"--ratios: {r:g} is outside (0, 1]; contamination ratios are in (0, 1], "
                                  "e.g. --ratios 0.1,0.3") from None
        for s in self.seeds or []:
            if s < 0:
                raise OptionError(f"--seeds: {s} is negative; seeds are integers >= 0, e.g. --seeds 0,1,2")

    @classmethod
    def parse(cls, datasets: str | None = None, classes: str | None = None, ratios: str | None = None,
              seeds: str | None = None, methods: str | None = None) -> Filters:
        """From the CLI's comma-separated strings."""
        return cls(_items("--datasets", datasets, str, "a name", "arrhythmia,thyroid"),
                   _items("--classes", classes, str, "a class", "0,3"),
                   _items("--ratios", ratios, float, "a number", "0.1,0.3"),
                   _items("--seeds", seeds, int, "an integer", "0,1,2"),
                   _items("--methods", methods, str, "a name", "sla2p,iforest"))

    def as_dict(self) -> dict:
        """The filters that are set (what the parent run stores and reports re-apply)."""
        return {k: v for k, v in asdict(self).items() if v}


@dataclass(frozen=True)
class RunOptions:
    refresh: bool = False               # refit every cell and start a new MLflow parent run
    tracking_uri: str | None = None     # default: sqlite:///<project>/mlflow.db
    results_dir: str | None = None      # default: <project>/results
    device: str | None = None           # auto | cpu | cuda | cuda:N (default: the config's)
    workers: int | None = None          # cells in parallel, >= 1 (default: all cores)
    runner: str | None = "threads"      # threads | dask | ray; None: the CLI chooses (default_runner)
    address: str | None = None          # an existing Dask scheduler or Ray cluster
    dry_run: bool = False               # validate and estimate only
    progress: bool = False              # a progress bar (on a terminal)
    threads: int | None = None          # torch threads per cell (default: the cores shared by the workers)
    artifact_root: str | None = None    # a new experiment's artifact folder (None: the tracking store's own)

    def __post_init__(self):
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or self.workers < 1):
            raise OptionError(f"--workers: {self.workers!r} is not a number of cells in parallel; give an integer "
                              ">= 1 (default: all cores)")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise OptionError(f"--threads: {self.threads!r} is not a number of torch threads per cell; give an "
                              "integer >= 1 (default: the cores / --workers)")
        if self.runner is not None and self.runner not in RUNNERS:
            raise OptionError(f"--runner: {self.runner!r} is not a runner; choose one of {', '.join(RUNNERS)}")
        if self.device is not None and not _DEVICE.fullmatch(self.device):
            raise OptionError(f"--device: {self.device!r} is not a device; choose one of {DEVICES}")
        if self.address and self.runner == "threads":
            raise OptionError("--address: the threads runner runs here; give --runner dask or --runner ray "
                              "with an address")
        if self.address and self.runner is None:
            raise OptionError("--address: say which cluster is there: give --runner dask or --runner ray with it")
        if self.tracking_uri is not None and not self.tracking_uri.strip():
            raise OptionError("--tracking-uri: empty; give an MLflow URI, e.g. sqlite:///mlflow.db")

    @property
    def is_resolved(self) -> bool:
        return None not in (self.results_dir, self.tracking_uri, self.workers, self.threads, self.runner)

    def resolved(self) -> RunOptions:
        """These options with every default made concrete, once, by the CLI: the results folder
        (absolute: the workers of an existing Dask cluster write there from their own working
        directory), the tracking URI, the artifact folder, the workers and the torch threads per
        cell (the cores shared by the workers, so that they do not oversubscribe them)."""
        if self.is_resolved:
            return self
        from tasks.store import default_results_dir
        from tasks.track import default_tracking_uri, is_tracking_server

        results = (Path(self.results_dir) if self.results_dir else default_results_dir()).resolve()
        workers = self.workers or default_workers()
        threads = self.threads or default_threads(workers)
        uri = self.tracking_uri or default_tracking_uri()
        # beside the results for the default local store; for a tracking server (also one named by
        # MLFLOW_TRACKING_URI) or a store the user named, the store's own (artifacts never go to a
        # folder of this machine only)
        local = self.tracking_uri is None and not is_tracking_server(uri)
        # a runner still unchosen is the flow's own default (benchmark_flow without a task runner)
        return replace(self, results_dir=str(results), tracking_uri=uri, workers=workers, threads=threads,
                       runner=self.runner or "threads",
                       artifact_root=str(results / "mlartifacts") if local else None)
