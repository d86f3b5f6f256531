"""constraints.txt is the tested set: every pin it names that is installed here is the version
installed (PEP 440 matching: ``torch==2.13.0`` accepts this machine's ``2.13.0+cpu``), and the
pins the standards call for are there."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from packaging.requirements import Requirement

from support import ROOT

PINS = ROOT / "constraints.txt"


def _pins() -> list[Requirement]:
    lines = (line.split("#")[0].strip() for line in PINS.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def test_installed_versions_are_the_pinned_ones():
    wrong, checked = [], 0
    for req in _pins():
        try:
            installed = version(req.name)
        except PackageNotFoundError:  # an optional extra's pin (ray, minilm, ...)
            continue
        checked += 1
        if not req.specifier.contains(installed, prereleases=True):
            wrong.append(f"{req.name}: installed {installed}, constraints.txt says {req.specifier}")
    assert checked > 50 and not wrong, wrong


def test_torch_is_pinned_by_its_public_version_and_prefect_below_fastapi_0_155():
    pins = {r.name.lower(): r for r in _pins()}
    assert str(pins["torch"].specifier) == "==2.13.0"  # a local tag (+cpu) would not install elsewhere
    assert pins["prefect"].specifier.contains("3.8.8")
    assert not pins["fastapi"].specifier.contains("0.155.0")
