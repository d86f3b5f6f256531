"""A training fit's progress, seen from outside the process that fits it.

A cell runs in a Prefect task: a thread of the flow, or a Dask worker process on another machine.
Its detector reports each training step (``SLA2P.fit(..., on_step=)``); :class:`ProgressFile`
keeps the latest one in ``<results>/progress/<cell key>.json`` (at most every ``every`` seconds,
written atomically), and the flow's watch (:class:`flows.progress.FitWatch`) reads it
(:func:`read_progress`) to say how far a long fit has got. The file is removed when the fit ends.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import time
from pathlib import Path

from ..files import atomic_write_text

PROGRESS_DIR = "progress"


def progress_path(results_dir: str | Path, key: str) -> Path:
    return Path(results_dir) / PROGRESS_DIR / f"{key}.json"


def takes_progress(det) -> bool:
    """Whether ``det.fit`` reports its training steps (an ``on_step`` argument)."""
    try:
        return "on_step" in inspect.signature(det.fit).parameters
    except (AttributeError, TypeError, ValueError):
        return False


class ProgressFile:
    """``on_step`` for a fit: the latest (steps, running accuracy) and the threshold it trains to,
    written to the cell's progress file at most every ``every`` seconds (a step is milliseconds)."""

    def __init__(self, results_dir: str | Path, key: str, threshold: float | None, every: float = 2.0,
                 clock=time.monotonic):
        self.path = progress_path(results_dir, key)
        self.threshold, self.every, self.clock = threshold, every, clock
        self._last = None

    def __call__(self, steps: int, running_accuracy: float) -> None:
        now = self.clock()
        # the step that passes the threshold (the last one) is always kept: scoring comes next and
        # may take minutes, during which the file must not show an early step
        done = self.threshold is not None and running_accuracy > self.threshold
        if self._last is not None and now - self._last < self.every and not done:
            return
        self._last = now
        doc = {"steps": int(steps), "running_accuracy": float(running_accuracy), "threshold": self.threshold,
               "updated": time.time()}
        with contextlib.suppress(OSError):  # progress is worth no failed cell (a full disk stops the run elsewhere)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(doc))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)


def read_progress(results_dir: str | Path, key: str) -> dict | None:
    """The latest progress of the fit of cell ``key``, or None (not a training fit, not started,
    or finished)."""
    try:
        return json.loads(progress_path(results_dir, key).read_text())
    except (OSError, ValueError):
        return None


def progress_text(p: dict | None) -> str:
    """e.g. "step 12,400, running accuracy 0.412 (stops above 0.75)"."""
    if not p:
        return ""
    if p.get("threshold") is not None and p["running_accuracy"] > p["threshold"]:
        return f"trained: {p['steps']:,} steps, running accuracy {p['running_accuracy']:.3f}; scoring"
    text = f"step {p['steps']:,}, running accuracy {p['running_accuracy']:.3f}"
    return text + (f" (stops above {p['threshold']:g})" if p.get("threshold") is not None else "")
