"""Where the data and the embedding cache live (below the project root of :mod:`tasks.env`).

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

from ..env import DVC_FILE, project_root


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
