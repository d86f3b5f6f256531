"""Your own copy of the data: a second DVC remote (a local folder here), chosen the way the how-to
page says (docs/how-to/own-data.md), or a data folder of your own. The files are still checked
against the pins in data.dvc, wherever they come from."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.fetch import DataIntegrityError, paths, sources

ROOT = paths.project_root()
FILES = ("odds/wbc.mat", "odds/glass.mat", "SOURCES.md")
DVC = str(Path(sys.executable).with_name("dvc"))


def _team_remote() -> Path:
    import dvc.repo

    with dvc.repo.Repo(str(ROOT)) as repo:
        url = repo.config["remote"][repo.config["core"]["remote"]]["url"]
    return Path(url)


def _object(md5: str) -> Path:
    return Path("files", "md5", md5[:2], md5[2:])


@pytest.fixture
def own_remote(tmp_path) -> Path:
    """A remote of one's own: the pinned manifest and a few files, copied from the team's store in
    DVC's layout (what `dvc push -r <yours>` would write)."""
    team, mine = _team_remote(), tmp_path / "my-remote"
    pin, _ = sources.dvc_pin(ROOT)
    wanted = [pin + ".dir"] + [sources.manifest(ROOT)[f] for f in FILES]
    for md5 in wanted:
        (mine / _object(md5)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(team / _object(md5), mine / _object(md5))
    return mine


def _checkout(tmp_path: Path, monkeypatch) -> Path:
    """A fresh checkout whose committed remote does not exist on this machine."""
    fresh = tmp_path / "clone"
    (fresh / ".dvc").mkdir(parents=True)
    (fresh / ".dvc" / "config").write_text(
        "[core]\n    no_scm = true\n    analytics = false\n    remote = store\n"
        f"['remote \"store\"']\n    url = {tmp_path / 'nowhere'}\n")
    shutil.copy2(ROOT / "data.dvc", fresh / "data.dvc")
    monkeypatch.setenv("SLA2P_PROJECT_ROOT", str(fresh))
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.delenv("SLA2P_DATA_DIR", raising=False)
    return fresh


def _dvc(cwd: Path, *args: str) -> None:
    subprocess.run([DVC, *args], cwd=cwd, check=True, capture_output=True, text=True)


def test_the_remote_pointed_elsewhere_in_config_local(tmp_path, monkeypatch, own_remote):
    fresh = _checkout(tmp_path, monkeypatch)
    _dvc(fresh, "remote", "modify", "--local", "store", "url", str(own_remote))
    md5s = sources.ensure_files(["odds/wbc.mat"], cache_dir=tmp_path / "c")
    assert (fresh / "data" / "odds" / "wbc.mat").is_file()
    assert md5s["odds/wbc.mat"] == sources.manifest(ROOT)["odds/wbc.mat"]
    assert "nowhere" in (fresh / ".dvc" / "config").read_text()  # the committed config is untouched


def test_a_second_named_remote_made_the_default(tmp_path, monkeypatch, own_remote):
    fresh = _checkout(tmp_path, monkeypatch)
    _dvc(fresh, "remote", "add", "--local", "mine", str(own_remote))
    _dvc(fresh, "remote", "default", "--local", "mine")
    sources.ensure_files(["odds/glass.mat"], cache_dir=tmp_path / "c")
    assert (fresh / "data" / "odds" / "glass.mat").is_file()


def test_a_wrong_file_in_your_remote_is_refused(tmp_path, monkeypatch, own_remote):
    """Your remote is trusted no more than the team's: a blob that is not the pinned file is refused
    with the file named."""
    fresh = _checkout(tmp_path, monkeypatch)
    blob = own_remote / _object(sources.manifest(ROOT)["odds/wbc.mat"])
    blob.chmod(0o644)
    blob.write_bytes(b"not the file data.dvc pins")
    _dvc(fresh, "remote", "modify", "--local", "store", "url", str(own_remote))
    with pytest.raises(DataIntegrityError, match="wbc.mat"):
        sources.ensure_files(["odds/wbc.mat"], cache_dir=tmp_path / "c")


def test_your_own_data_folder(tmp_path, monkeypatch):
    """Data already on disk elsewhere (SLA2P_DATA_DIR): read and verified there, never pulled."""
    sources.ensure_files(["odds/wbc.mat"])
    mine = tmp_path / "my-data"
    (mine / "odds").mkdir(parents=True)
    shutil.copy2(ROOT / "data" / "odds" / "wbc.mat", mine / "odds" / "wbc.mat")
    monkeypatch.setenv("SLA2P_DATA_DIR", str(mine))
    assert paths.data_dir() == mine.resolve()
    md5s = sources.ensure_files(["odds/wbc.mat"], cache_dir=tmp_path / "c", pull=False)
    assert md5s["odds/wbc.mat"] == sources.manifest(ROOT)["odds/wbc.mat"]
