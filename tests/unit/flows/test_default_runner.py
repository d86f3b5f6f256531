"""Which runner a run gets when --runner is not given: worker processes (a local Dask cluster) for
jobs long enough to repay their start when more than one cell runs at once, threads otherwise; an
explicit --runner always wins, and the memory check counts a worker process's own imports."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from flows.cli import _cap_workers, _choose_runner, _runner_text
from flows.options import PROCESSES_FROM_S, OptionError, RunOptions, default_runner
from flows.preflight import WORKER_PROCESS_BYTES, workers_that_fit

GIB = 2**30


def test_processes_for_long_jobs_on_several_workers_threads_otherwise():
    assert default_runner(2, PROCESSES_FROM_S) == "dask"
    assert default_runner(2, 40 * 3600) == "dask"
    assert default_runner(2, PROCESSES_FROM_S - 1) == "threads"  # the cluster's start would not pay
    assert default_runner(1, 40 * 3600) == "threads"             # one cell at a time waits for no other


def test_an_explicit_runner_wins_and_an_unchosen_one_is_chosen_by_the_estimate():
    long, short = SimpleNamespace(total=3600.0), SimpleNamespace(total=10.0)
    assert _choose_runner(RunOptions(runner=None), long, 2).runner == "dask"
    assert _choose_runner(RunOptions(runner=None), short, 2).runner == "threads"
    assert _choose_runner(RunOptions(runner="threads"), long, 2).runner == "threads"
    assert _choose_runner(RunOptions(runner="dask"), short, 2).runner == "dask"
    assert _runner_text(RunOptions(runner="dask")) == "dask, a local cluster of worker processes"
    assert _runner_text(RunOptions(runner="dask", address="tcp://h:8786")) == "dask"
    # the library's flows run on Prefect's threads unless given a runner: an unchosen runner resolves to that
    assert RunOptions(runner=None, workers=2, threads=1).resolved().runner == "threads"


def test_an_address_needs_the_kind_of_cluster():
    with pytest.raises(OptionError, match="--address: say which cluster is there: give --runner dask or --runner ray"):
        RunOptions(runner=None, address="tcp://h:8786")


def test_a_worker_process_is_counted_in_the_memory_check(monkeypatch):
    assert workers_that_fit(3 * GIB, "c", 4, available=10 * GIB) == 3
    assert workers_that_fit(3 * GIB, "c", 4, available=10 * GIB, process_bytes=GIB) == 2
    assert workers_that_fit(0, "", 4, available=1, process_bytes=GIB) == 4  # no fit estimated its memory

    import flows.preflight as preflight

    monkeypatch.setattr(preflight.os, "cpu_count", lambda: 4)
    free = 4 * (2 * GIB) + GIB  # four 2-GiB fits fit in threads, not with a worker process each
    monkeypatch.setattr("psutil.virtual_memory", lambda: SimpleNamespace(available=free))
    lines = []
    console = SimpleNamespace(print=lines.append)
    est = SimpleNamespace(peak_bytes=2 * GIB, peak_cell="sla2p on reuters")
    assert _cap_workers(console, RunOptions(workers=4, runner="threads"), est).workers == 4 and not lines
    expected = free // (2 * GIB + WORKER_PROCESS_BYTES)
    assert _cap_workers(console, RunOptions(workers=4, runner=None), est).workers == expected < 4
    assert lines == [f"running {expected} cell(s) at once, not 4: a fit of sla2p on reuters may need "
                     f"{(2 * GIB + WORKER_PROCESS_BYTES) / GIB:.1f} GiB with its worker process"]
