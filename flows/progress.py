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
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
        from rich.progress import Progress as Bar

        self.bar = Bar(TextColumn(self.what), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                       TextColumn("{task.fields[left]}"), TextColumn("{task.description}"))
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
