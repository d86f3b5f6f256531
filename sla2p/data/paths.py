"""Where things live: the project root, the data folder and the embedding cache.

Resolution order (first hit wins):

* project root: ``$SLA2P_PROJECT_ROOT``; else the nearest folder above this file that holds
  ``data.dvc``; else the nearest such folder above the current directory.
* data folder: an explicit ``data_dir=`` argument; else ``$SLA2P_DATA_DIR``; else
  ``<project root>/data`` (the folder ``data.dvc`` pins).
* embedding cache: an explicit ``cache_dir=`` argument; else ``$SLA2P_CACHE_DIR``; else
  ``<project root>/.cache/embeddings`` (git-ignored).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["project_root", "data_dir", "cache_dir", "DVC_FILE"]

DVC_FILE = "data.dvc"


def _find_up(start: Path) -> Path | None:
    for p in (start, *start.parents):
        if (p / DVC_FILE).is_file():
            return p
    return None


def project_root() -> Path:
    """The folder that holds ``data.dvc`` and ``.dvc/``."""
    env = os.environ.get("SLA2P_PROJECT_ROOT")
    if env:
        return Path(env).resolve()
    found = _find_up(Path(__file__).resolve().parent) or _find_up(Path.cwd().resolve())
    if found is None:
        raise FileNotFoundError(
            f"cannot find the project root (a folder with {DVC_FILE}) above {Path(__file__).parent} "
            "or the current directory; set SLA2P_PROJECT_ROOT to the repository's root"
        )
    return found


def _folder(override: str | os.PathLike | None, env_var: str, *default: str) -> Path:
    """``override``, else the environment variable, else the default below the project root."""
    if override is not None:
        return Path(override).resolve()
    env = os.environ.get(env_var)
    return Path(env).resolve() if env else project_root().joinpath(*default)


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The benchmark data folder (the layout of ``data/``)."""
    return _folder(override, "SLA2P_DATA_DIR", "data")


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The embedding cache folder (created on first write, not here)."""
    return _folder(override, "SLA2P_CACHE_DIR", ".cache", "embeddings")
