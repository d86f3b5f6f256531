"""The suite's environment, one home for each rule: where the checkout is, and telemetry off.

``CODE_ROOT`` is the checkout this code runs from (configs, the code version's sources).
:func:`project_root` is the folder that holds ``data.dvc`` (the data, caches and default
results live below it); normally the same folder.
"""

from __future__ import annotations

import functools

import os
from pathlib import Path

CODE_ROOT = Path(__file__).resolve().parent.parent
DVC_FILE = "data.dvc"

# Everything the suite starts (Prefect, MLflow, DVC, and their servers) inherits these.
TELEMETRY_OFF = {
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",  # MLflow ignores the value "1"
    "DVC_NO_ANALYTICS": "1",
}


def in_checkout() -> bool:
    """Whether this code runs from a checkout (a clone, an editable install) rather than a
    non-editable install, which has no pyproject.toml beside its code."""
    return (CODE_ROOT / "pyproject.toml").is_file()


def telemetry_off(environ=None) -> dict:
    """Set the telemetry switches in ``environ`` (default ``os.environ``) unless the user set
    them; returns ``environ`` so a subprocess environment can be built in one line."""
    env = os.environ if environ is None else environ
    for k, v in TELEMETRY_OFF.items():
        env.setdefault(k, v)
    return env


def _find_up(start: Path) -> Path | None:
    for p in (start, *start.parents):
        if (p / DVC_FILE).is_file():
            return p
    return None


def project_root() -> Path:
    """``$SLA2P_PROJECT_ROOT``; else the nearest folder above this code that holds ``data.dvc``;
    else the nearest such folder above the current directory."""
    env = os.environ.get("SLA2P_PROJECT_ROOT")
    if env:
        return Path(env).resolve()
    found = _find_up(CODE_ROOT) or _find_up(Path.cwd().resolve())
    if found is None:
        raise FileNotFoundError(
            f"cannot find the project root (a folder with {DVC_FILE}) above {CODE_ROOT} "
            "or the current directory; set SLA2P_PROJECT_ROOT to the repository's root"
        )
    return found


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """This machine's CPU model (Linux: /proc/cpuinfo's "model name"), as every record of the
    machine writes it (MLflow tags, the measured-costs file) and the estimate compares it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown"
