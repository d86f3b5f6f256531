"""Files that are either whole or absent, and a lock between processes: one home for both.

:func:`atomic_write` writes to a temporary file in the target's folder, fsyncs it and renames it
into place, so a crash never leaves a half-written file under the final name (at most a
``.*.tmp`` file, never read). :func:`file_lock` is an exclusive ``flock`` on a lock file,
shared by threads and processes; a no-op where ``fcntl`` does not exist.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Callable, IO

_THREAD_LOCKS: dict[str, "_Held"] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(fh)`` on a temporary binary file, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:40]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text.encode()))


class _Held:
    """A path's lock within this process: a re-entrant thread lock, and how deep it is held."""

    def __init__(self):
        self.rlock = threading.RLock()
        self.depth = 0


@contextlib.contextmanager
def file_lock(lock_path: str | os.PathLike):
    """Hold an exclusive lock on ``lock_path`` (created if needed) across threads and processes.
    Re-entrant within a thread (flock on a second open file of the same path would deadlock)."""
    lock_path = Path(lock_path)
    with _THREAD_LOCKS_GUARD:  # flock is per open file: threads of one process need their own lock
        held = _THREAD_LOCKS.setdefault(str(lock_path.resolve()), _Held())
    with held.rlock:
        held.depth += 1
        try:
            if held.depth > 1:
                yield
                return
            try:
                import fcntl
            except ImportError:  # not POSIX
                yield
                return
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            with open(lock_path, "a+") as f:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        finally:
            held.depth -= 1
