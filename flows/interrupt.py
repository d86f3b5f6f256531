"""Ctrl-C and SIGTERM for a run: the first one stops scheduling, the second one exits at once.

The CLI calls :meth:`Interrupt.install` in its main thread (signal handlers live there). Then

* the first SIGINT/SIGTERM sets :attr:`Interrupt.event` and says so on stderr; the flow stops
  submitting cells, waits for the running ones (their files are whole: writes are atomic), writes
  the tables of what finished, closes the MLflow parent as KILLED and returns; the CLI prints
  one line and exits 128 + the signal (130 for Ctrl-C, 143 for SIGTERM);
* until the flow starts on its cells (:meth:`Interrupt.cells_started`), there is nothing a wait
  would save (checking the config, the estimate, starting the Prefect server, fetching and
  embedding the data: an unfinished embedding is never cached), so the first signal already
  exits at once, as below;
* a second one runs the registered cleanups (the CLI's Prefect server) and leaves with
  ``os._exit`` (no traceback, no waiting for running cells; the next run resumes).

The signals come from :mod:`flows.supervise`: the run lives in a session of its own, so a
terminal's Ctrl-C reaches only this process, never the compilers or workers it started.

Prefect's flow engine puts its own SIGTERM handler in place while a flow runs; the flow body
re-arms these handlers for its duration (:meth:`Interrupt.armed`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Callable

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupt:
    def __init__(self):
        self.event = threading.Event()
        self.signum: int | None = None
        self.count = 0
        self.installed = False
        self.waiting_saves = False  # True once cells run: the first signal then waits for them
        self._cleanups: list[Callable[[], None]] = []
        self.status: dict = {}  # the flow keeps it current: results, finished, run

    def line(self, what: str) -> str:
        """The one line a stopped run prints: what is saved, and that a rerun resumes."""
        s = self.status
        if "finished" not in s:
            saved = "no cell ran in this run" + (f" (results: {s['results']})" if "results" in s else "")
        else:
            saved = f"{s['finished']} cells finished in {s['results']} ({s['run']} of them in this run)"
        return f"{what}: {saved}; rerun the same command to resume"

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)

    def cells_started(self) -> None:
        """From now on the first signal stops scheduling and waits for the running cells."""
        self.waiting_saves = True

    def on_exit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` before exiting at once on a second signal."""
        self._cleanups.append(fn)

    def install(self) -> Interrupt:
        """Handle SIGINT and SIGTERM in this (the main) thread."""
        for sig in SIGNALS:
            signal.signal(sig, self._handle)
        self.installed = True
        return self

    @contextlib.contextmanager
    def armed(self):
        """Re-install the handlers for a block (over Prefect's SIGTERM bridge), if the CLI
        installed them and this is the main thread; the previous handlers come back after."""
        if not self.installed or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
        for sig in SIGNALS:
            signal.signal(sig, self._handle)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _say(self, text: str) -> None:
        with contextlib.suppress(OSError):
            os.write(2, (text + "\n").encode())

    def _handle(self, signum, frame) -> None:
        self.count += 1
        if self.count == 1 and not self.waiting_saves:
            self.signum = signum
            self.event.set()
            self._exit_now("interrupted")
        if self.count == 1:
            self.signum = signum
            self.event.set()
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            self._say(f"\n{name}: stopping once the running cells finish (no new cell starts); "
                      f"{again_to_stop()} to stop at once")
            return
        self._exit_now("stopped at once")

    def _exit_now(self, what: str) -> None:
        for fn in reversed(self._cleanups):
            with contextlib.suppress(Exception):
                fn()
        with contextlib.suppress(Exception):
            self._say(self.line(what))
        os._exit(self.exit_code)


def again_to_stop(pid: int | None = None, supervisor: int | None = None, terminal: bool | None = None,
                  parent: int | None = None) -> str:
    """How a user sends the second signal: Ctrl-C where a terminal can send one to this run (through
    its supervisor, when there is one), else a SIGTERM to this process (the supervisor was killed,
    or no terminal: nohup, CI, a service)."""
    import sys

    from .supervise import SUPERVISED

    pid = os.getpid() if pid is None else pid
    supervisor = int(os.environ.get(SUPERVISED) or 0) if supervisor is None else supervisor
    if terminal is None:
        terminal = sys.stdin is not None and sys.stdin.isatty()
    supervisor_alive = not supervisor or (os.getppid() if parent is None else parent) == supervisor
    if terminal and supervisor_alive:
        return "Ctrl-C again"
    return f"`kill -TERM {pid}`"


# The one instance of a process (the CLI's), read by the flow.
INTERRUPT = Interrupt()
