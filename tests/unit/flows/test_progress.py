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


def test_at_80_columns_the_bar_keeps_the_count_and_the_time_left_and_cuts_the_cell_name():
    import io

    from rich.console import Console

    from flows.progress import rich_bar

    for width in (80, 60):
        out = io.StringIO()
        console = Console(file=out, width=width, force_terminal=True, color_system=None)
        bar = rich_bar("cells", console=console)
        name = "sla2p_official/20news/comp.sys.ibm.pc.hardware/p0.1/s2 ok (shares the fit of sla2p/20news)"
        task = bar.add_task(name, total=25948, rate="1.5 s each", left="2.7 h left")
        bar.update(task, completed=1234)
        console.print(bar.make_tasks_table(bar.tasks))
        line = out.getvalue().rstrip("\n")
        assert "\n" not in line and len(line) <= width, line
        assert "1234/25948" in line and "2.7 h left" in line and "1.5 s each" in line, line
        assert line.endswith("…") and (width < 80 or "sla2p_official/" in line), line


def test_a_fit_far_past_its_estimate_is_named_once():
    from flows.progress import FitWatch

    t, said = [0.0], []
    watch = FitWatch(said.append, factor=10, least=60, clock=lambda: t[0])
    watch.started("sla2p/random/s0", 30.0, "its training stops once the running accuracy exceeds acc_threshold 0.6")
    watch.started("iforest/random/s0", 2.0)
    watch.started("knn/random/s0", 0.0)  # no estimate: never watched
    t[0] = 59.0
    assert watch.check() == []  # 30x iforest's 2 s, but under the least a warning waits for
    t[0] = 61.0
    assert [w.split(" has")[0] for w in watch.check()] == ["cell iforest/random/s0"]
    t[0] = 301.0
    (w,) = watch.check()
    assert w.startswith("cell sla2p/random/s0 has been fitting for 5 min, over 10x its estimated 30 s: its training")
    t[0] = 9000.0
    assert watch.check() == [] and len(said) == 2  # once each
    watch.finished("sla2p/random/s0")
    assert "sla2p/random/s0" not in watch.fits
