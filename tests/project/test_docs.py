"""The documentation a newcomer navigates: a short README that links into the docs site, and a
site (mkdocs.yml, docs/) whose every page is in the navigation and whose strict build passes.

What the strict build covers (mkdocs.yml sets ``strict: true`` and ``validation``): broken links
and anchors between pages, nav entries without a page, and pages left out of the nav
(``omitted_files: warn``). The tests below check the nav directly as well, so that a changed
validation setting cannot hide an orphan page."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest
import yaml

from support import ROOT

DOCS = ROOT / "docs"
README = ROOT / "README.md"
USER_FACING = ("get-started", "tutorials", "how-to", "reference", "explanation")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def _nav_pages(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [p for item in node for p in _nav_pages(item)]
    if isinstance(node, dict):
        return [p for value in node.values() for p in _nav_pages(value)]
    return []


def _readme_links() -> list[str]:
    return LINK.findall(README.read_text())


def test_readme_has_at_most_200_lines():
    n = len(README.read_text().splitlines())
    assert n <= 200, f"README.md has {n} lines; move detail into docs/"


def test_every_docs_page_is_in_the_nav_and_every_nav_entry_exists():
    nav = _nav_pages(_config()["nav"])
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert not [p for p in pages if p not in nav], "pages missing from mkdocs.yml's nav"
    assert not [p for p in nav if not (DOCS / p).is_file()], "nav entries without a page"
    assert len(nav) == len(set(nav)), "a page is in the nav twice"


def test_the_strict_build_fails_on_broken_links_and_orphan_pages():
    config = _config()
    assert config["docs_dir"] == "docs" and config["strict"] is True
    validation = config["validation"]
    for key in ("omitted_files", "anchors", "unrecognized_links", "absolute_links"):
        assert validation[key] == "warn", key  # a warning fails a strict build


def test_readme_links_to_the_how_to_pages_for_a_detector_and_a_dataset():
    links = _readme_links()
    for page in ("docs/how-to/add-a-detector.md", "docs/how-to/add-a-dataset.md"):
        assert page in links, f"README.md does not link to {page}"
        assert (ROOT / page).is_file()


def test_readme_links_into_the_docs_resolve_and_it_says_how_to_cite():
    links = _readme_links()
    broken = [link for link in links if link.startswith("docs/") and not (ROOT / link.split("#")[0]).is_file()]
    assert not broken, broken
    assert "CITATION.cff" in links
    text = README.read_text()
    assert "make table" in text and "make test" in text and "make smoke" in text and "sla2p-bench ui" in text
    assert "Python 3.11" in text


def test_the_readme_sections_the_docs_include_exist():
    text = README.read_text()
    used = {m for p in DOCS.rglob("*.md") for m in re.findall(r'--8<-- "README\.md:([\w-]+)"', p.read_text())}
    assert used, "the docs include no README section (the headline tables)"
    for name in used:
        assert f"--8<-- [start:{name}]" in text and f"--8<-- [end:{name}]" in text, name


def test_user_facing_pages_have_no_issue_numbers_or_machine_remarks():
    bad = re.compile(r"\bissues? #?\d+|this machine|on this (?:vm|host)|\b\d+ cores here\b|\bmeasured here\b", re.I)
    found = [f"{p.relative_to(ROOT)}: {m.group(0)!r}"
             for part in USER_FACING for p in (DOCS / part).rglob("*.md")
             for m in bad.finditer(p.read_text())]
    assert not found, found


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs is not installed (the dev extra)")
def test_the_site_builds_in_strict_mode(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (tmp_path / "site" / "how-to" / "add-a-detector" / "index.html").is_file()
