"""The README's single-seed example numbers are the code's: bench/bench_readme.py computes them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support import ROOT


@pytest.mark.slow
def test_readme_example_numbers_match_the_code():
    out = subprocess.run([sys.executable, "bench/bench_readme.py", "--check", "README.md"], cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
