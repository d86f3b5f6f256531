"""Configs: a YAML file in ``configs/`` (or any path) read into a job. The format, its
validation and the expansion into cells are :mod:`tasks.jobs`'."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import yaml

from tasks.env import CODE_ROOT, in_checkout
from tasks.jobs import ConfigError, Job, expand_job


def _config_dir() -> Path:
    """The checkout's ``configs/`` when this code runs from a checkout (a clone, an editable
    install); else the copy a non-editable install ships as package data, ``flows/configs/``
    (pyproject.toml maps ``configs/`` there)."""
    checkout = CODE_ROOT / "configs"
    if in_checkout() and checkout.is_dir():
        return checkout
    return Path(str(files("flows").joinpath("configs")))


CONFIG_DIR = _config_dir()

__all__ = ["ConfigError", "Job", "CONFIG_DIR", "resolve_config_path", "load_yaml", "load_job"]


def resolve_config_path(config: str | Path) -> Path:
    """A path, or a name in ``configs/`` (``smoke`` -> ``configs/smoke.yaml``)."""
    p = Path(config)
    if p.exists():
        return p
    for cand in (CONFIG_DIR / f"{config}.yaml", CONFIG_DIR / str(config)):
        if cand.exists():
            return cand
    known = sorted(q.stem for q in CONFIG_DIR.glob("*.yaml"))
    raise ConfigError(f"config {config!r} not found (a path, or one of configs/: {', '.join(known)})")


def load_yaml(path: Path) -> dict:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a text file: a config is YAML text") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror or exc})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(raw).__name__}")
    return raw


def load_job(config: str | Path, *, device: str | None = None, **filters) -> Job:
    """Read, validate and expand a config (plus CLI filters) into its cells. Raises ConfigError."""
    path = resolve_config_path(config)
    return expand_job(load_yaml(path), path, device=device, **filters)
