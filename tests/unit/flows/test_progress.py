"""The time left of a run comes from its cells' estimated costs (the dry run's), scaled by how fast
the estimated work has gone once a twentieth of it is done; without costs, from the count."""

from __future__ import annotations

import flows.progress as progress
from flows.progress import Progress


def _clock(monkeypatch, t: list[float]):
    monkeypatch.setattr(progress.time, "perf_counter", lambda: t[0])


def test_the_time_left_is_the_estimated_work_left(monkeypatch):
    t = [0.0]
    _clock(monkeypatch, t)
    bar = Progress(3, "cells", "cells", terminal=False, work=300.0, workers=2)
    assert bar.seconds_left() == 150.0  # nothing done: the estimate over two workers
    t[0] = 1.0
    bar.advance(1, work=1.0)  # a cheap cell first: the count would say 2 s left, the costs say ~150 s
    assert bar.seconds_left() == 149.5
    t[0] = 40.0
    bar.advance(1, work=100.0)  # a third of the work in 40 s on 2 workers: 80 s of work per 101 estimated
    assert abs(bar.seconds_left() - (199.0 / 2) * (80.0 / 101.0)) < 1e-9


def test_without_costs_the_time_left_goes_by_the_count(monkeypatch):
    t = [0.0]
    _clock(monkeypatch, t)
    bar = Progress(4, "cells", "cells", terminal=False)
    t[0] = 10.0
    bar.advance(1)
    assert bar.eta() == "30 s"
