"""A non-editable install finds the named configs: ``configs/`` ships as package data inside the
flows package (``flows/configs/*.yaml``, pyproject.toml's package-dir), and flows/config.py looks
there when it runs from no checkout. The whole fresh-venv check (every dependency installed from
constraints.txt, then ``sla2p-bench table --profile smoke --dry-run`` outside the checkout) takes
minutes: bench/bench_install.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from setuptools import find_packages

from flows import config

ROOT = Path(__file__).resolve().parents[2]
CONFIG_NAMES = sorted(p.name for p in (ROOT / "configs").glob("*.yaml"))


def test_listed_packages_are_the_packages_on_disk():
    """pyproject lists its packages (find cannot map configs/ into flows): a new subpackage must be
    listed, or a non-editable install would lack it."""
    st = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = find_packages(str(ROOT), include=["sla2p*", "baselines*", "tasks*", "flows*"])
    assert sorted(st["packages"]) == sorted(on_disk + ["flows.configs"])
    assert st["package-dir"] == {"flows.configs": "configs"} and st["package-data"] == {"flows.configs": ["*.yaml"]}


def test_the_checkout_configs_come_first_and_the_installed_copy_else(monkeypatch, tmp_path):
    assert config.CONFIG_DIR == ROOT / "configs"
    monkeypatch.setattr(config, "CODE_ROOT", tmp_path)  # site-packages: no pyproject.toml, no configs/
    assert config._config_dir() == Path(config.__file__).resolve().parent / "configs"


def _wheel(tmp_path: Path) -> Path:
    """Build the wheel from a copy of what pyproject packs (building in the checkout leaves build/)."""
    src, out = tmp_path / "src", tmp_path / "wheels"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    for name in ("sla2p", "baselines", "tasks", "flows", "configs"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(src)], check=True, capture_output=True, text=True)
    return next(out.glob("sla2p_bench-*.whl"))


@pytest.mark.slow
def test_a_wheel_install_finds_the_named_configs_outside_the_checkout(tmp_path):
    whl = _wheel(tmp_path)
    names = set(zipfile.ZipFile(whl).namelist())
    assert {f"flows/configs/{n}" for n in CONFIG_NAMES} <= names
    assert not [n for n in names if n.startswith("configs/")]  # no top-level 'configs' package
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(whl)],
                   check=True, capture_output=True, text=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = ("import flows.config as c\n"
             "print(c.__file__)\nprint(c.CONFIG_DIR)\nprint(c.resolve_config_path('smoke'))\n"
             "print(len(c.load_job('smoke').cells))\n")
    # the installed copy comes first on the path (the dependencies are this interpreter's)
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    module, config_dir, smoke, cells = out.stdout.split("\n")[:4]
    assert module.startswith(str(target)) and config_dir == str(target / "flows" / "configs")
    assert smoke == str(target / "flows" / "configs" / "smoke.yaml") and int(cells) > 0
