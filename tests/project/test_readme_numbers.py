"""The compat example numbers of the docs (docs/explanation/epsilon-and-compat.md, "Why the numbers
differ from the published ones") are the code's: bench/bench_readme.py computes them.

The test follows the table to the page that holds it; the README only links there."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support import ROOT

PAGE = "docs/explanation/epsilon-and-compat.md"


def test_the_page_holds_the_table_and_the_readme_links_to_it():
    assert "| default (order-invariant) |" in (ROOT / PAGE).read_text()
    assert PAGE in (ROOT / "README.md").read_text()


@pytest.mark.slow
def test_example_numbers_match_the_code():
    out = subprocess.run([sys.executable, "bench/bench_readme.py", "--check", PAGE], cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
