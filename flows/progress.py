"""Progress of a run that a user can see, on a terminal or in a log file.

On a terminal: a rich progress bar (done/total, items per second, time left). Elsewhere (``make
smoke > log``, CI, nohup): plain lines on stdout, never wrapped, one per finished item when there
are at most 100 of them, else one per 1% of them, and at least one a minute while items finish;
each with the rate and the time left.
"""

from __future__ import annotations

import sys
import time


def human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def say(text: str) -> None:
    """One line on stdout, as it is (not through ``print``: the flow's ``log_prints`` would turn
    it into a Prefect log record, hidden below WARNING)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def rich_bar(what: str, console=None):
    """The terminal's bar: what, a short bar, done/total, the rate and the time left keep their
    width; the last item's name takes what is left of the line and is cut (an ellipsis) on a
    narrow terminal, never the count or the time left."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
    from rich.progress import Progress as Bar
    from rich.table import Column

    def kept() -> Column:
        return Column(no_wrap=True)

    return Bar(TextColumn(what, table_column=kept()), BarColumn(bar_width=12),
               MofNCompleteColumn(table_column=kept()), TextColumn("{task.fields[rate]}", table_column=kept()),
               TextColumn("{task.fields[left]}", table_column=kept()),
               TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
               console=console, expand=True)


class Progress:
    """``advance(n, note)`` after each finished item; ``close()`` at the end."""

    def __init__(self, total: int, what: str, unit: str, terminal: bool, work: float = 0.0, workers: int = 1):
        self.total, self.what, self.unit = total, what, unit
        self.done = 0
        # The estimated seconds of the items (one core each, ``workers`` at once): the time left
        # comes from what is left of them, not from the count (cells differ by 1000x in cost).
        self.work, self.work_done, self.workers = float(work), 0.0, max(1, workers)
        self.t0 = time.perf_counter()
        self.last_line = self.t0
        self.every = max(1, total // 100)
        self.terminal = terminal
        self.bar = None
        if terminal and total:
            self._start_bar()

    def _start_bar(self) -> None:
        self.bar = rich_bar(self.what)
        self.bar.start()
        self.task = self.bar.add_task("", total=self.total, rate="", left="")

    def _print(self, text: str) -> None:
        say(text)

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.t0
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self) -> str:
        if self.work > 0:
            return human(self.seconds_left())
        r = self.rate()
        return human((self.total - self.done) / r) if r > 0 else "?"

    def seconds_left(self) -> float:
        """The estimated seconds left, scaled by how fast the estimated work went so far once a
        twentieth of it is done (before: the estimate as it is)."""
        left = max(0.0, self.work - self.work_done) / self.workers
        elapsed = time.perf_counter() - self.t0
        if self.work_done >= 0.05 * self.work and elapsed > 0:
            left *= min(5.0, max(0.2, elapsed * self.workers / self.work_done))
        return left

    def _rate_text(self) -> str:
        r = self.rate()
        return f"{r:.1f} {self.unit}/s" if r >= 1 else f"{1 / r:.1f} s each" if r > 0 else ""

    def advance(self, n: int = 1, note: str = "", work: float = 0.0) -> None:
        self.done = min(self.total, self.done + n)
        self.work_done += work
        if self.bar is not None:
            left = "" if self.done == self.total else f"{self.eta()} left"
            self.bar.update(self.task, completed=self.done, description=note, rate=self._rate_text(), left=left)
            return
        now = time.perf_counter()
        step = self.done // self.every != (self.done - n) // self.every
        if self.done == self.total or step or now - self.last_line >= 60:
            self.last_line = now
            left = "" if self.done == self.total else f", {self.eta()} left"
            self._print(f"{self.what}: {self.done}/{self.total} ({self._rate_text()}{left})"
                        + (f" {note}" if note else ""))

    def update_to(self, done: int, total: int | None = None) -> None:
        """For callers that report a running count (``progress(done, total)``)."""
        if total is not None and total != self.total:
            self.total = total
            self.every = max(1, total // 100)
            if self.terminal and self.bar is None:
                self._start_bar()
        self.advance(done - self.done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else human(seconds)


def _at(p: dict | None) -> str:
    """ " (at step 12,400, running accuracy 0.412, stops above 0.75)" from a fit's progress."""
    from tasks.detect.training_progress import progress_text

    return f" (at {progress_text(p)})" if p else ""


class FitWatch:
    """The fits in flight, each with its expected seconds; one that runs past ``factor`` times them
    (and at least ``least`` seconds) is warned about once, naming the cell and why it may be long
    (e.g. a training that does not reach its accuracy threshold goes on to ``max_epochs``).

    :meth:`watch` checks every ``every`` seconds on a thread of its own until the block ends
    (the flow's loop waits on its cells); :meth:`check` is one look (the tests call it)."""

    def __init__(self, warn, factor: float = 10.0, least: float = 120.0, clock=time.monotonic):
        import threading

        self.warn, self.factor, self.least, self.clock = warn, factor, least, clock
        self.fits: dict[str, tuple[float, float, str]] = {}  # cell -> (started, expected s, why it may be long)
        self.training: dict[str, tuple] = {}  # cell -> (its progress reader, expected training steps or None)
        self.warned: set[str] = set()
        self._lock = threading.Lock()

    def started(self, cell: str, expected: float, why: str = "", progress=None,
                expected_steps: float | None = None) -> None:
        """A fit began. ``progress``: a function giving its latest training progress (a dict with
        ``steps``, ``running_accuracy``, ``threshold``; None before the first step), for a fit that
        reports it; ``expected_steps``: the steps it is expected to train."""
        with self._lock:
            if expected > 0:
                self.fits[cell] = (self.clock(), float(expected), why)
            if progress is not None:
                self.training[cell] = (progress, expected_steps)

    def finished(self, cell: str) -> None:
        with self._lock:
            self.fits.pop(cell, None)
            self.training.pop(cell, None)

    def progress_of(self, cell: str) -> dict | None:
        """The latest training progress of a fit in flight (None: none reported)."""
        reader, _ = self.training.get(cell, (None, None))
        try:
            return reader() if reader else None
        except Exception:  # noqa: BLE001 - progress is a hint
            return None

    def check(self) -> list[str]:
        """Warn about each fit past its bound (time, or training steps), once; return the warnings
        given now."""
        now, said = self.clock(), []
        with self._lock:
            late = [(c, now - t0, exp, why) for c, (t0, exp, why) in self.fits.items()
                    if c not in self.warned and now - t0 > max(self.least, self.factor * exp)]
            self.warned.update(c for c, *_ in late)
            cells = [c for c in self.training if c not in self.warned]
        for cell, ran, expected, why in late:
            said.append(f"cell {cell} has been fitting for {_duration(ran)}, over {self.factor:g}x its estimated "
                        f"{_duration(expected)}" + _at(self.progress_of(cell)) + (f": {why}" if why else ""))
            self.warn(said[-1])
        for cell in cells:
            said.extend(self._past_steps(cell))
        return said

    def _past_steps(self, cell: str) -> list[str]:
        """The warning for a training past ``factor`` times its expected steps, once."""
        p, (_, expected) = self.progress_of(cell), self.training.get(cell, (None, None))
        if not p or not expected or p["steps"] <= self.factor * expected:
            return []
        with self._lock:
            if cell in self.warned:
                return []
            self.warned.add(cell)
        text = (f"cell {cell} has trained {p['steps']:,} steps, over {self.factor:g}x the {expected:,.0f} expected"
                + _at(p) + ": it has not reached its accuracy threshold and trains on to max_epochs")
        self.warn(text)
        return [text]

    def watch(self, every: float = 15.0):
        """A context in which :meth:`check` runs every ``every`` seconds."""
        import contextlib
        import threading

        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(every):
                with contextlib.suppress(Exception):  # a warning is not worth failing the run for
                    self.check()

        @contextlib.contextmanager
        def running():
            t = threading.Thread(target=loop, name="sla2p-fit-watch", daemon=True)
            t.start()
            try:
                yield self
            finally:
                stop.set()

        return running()
