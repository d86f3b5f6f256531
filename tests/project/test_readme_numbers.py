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


def test_the_check_allows_one_unit_of_the_last_decimal_and_no_more(tmp_path):
    # CPUs round the same sums differently (bench_readme.TOLERANCE): 0.80248 on one, 0.80256 on another
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_readme", ROOT / "bench" / "bench_readme.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    page = tmp_path / "page.md"
    page.write_text("| default (order-invariant) | 0.803 |\n")
    assert bench.check(str(page), {"default": 0.80248}) == []
    assert bench.check(str(page), {"default": 0.80256}) == []
    assert bench.check(str(page), {"default": 0.8015}) != []


def test_the_published_settings_table_is_the_codes():
    """The one rendering of the published settings (the page's table) says what
    sla2p.settings.PAPER_SETTINGS holds, row for row."""
    import re

    from sla2p.settings import PAPER_SETTINGS

    names = {"CIFAR-10": "cifar10", "CIFAR-100": "cifar100", "Caltech-101": "caltech101",
             "20 Newsgroups": "20news", "Reuters": "reuters", "Arrhythmia": "arrhythmia", "KDDCup99": "kddcup99"}
    rows = {}
    for line in (ROOT / PAGE).read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] in names and len(cells) == 6:
            k, m, acc, eps_paper, eps = cells[1:]
            rows[names[cells[0]]] = (int(k), int(m), float(acc), float(eps_paper), float(eps))
    assert set(rows) == set(PAPER_SETTINGS)
    for ds, p in PAPER_SETTINGS.items():
        assert rows[ds] == (p["n_projections"], p["proj_dim"], p["acc_threshold"], p["eps_paper"], p["epsilon"]), ds
    assert not re.search(r"^CIFAR-10\s+1000\s+7\.8125", (ROOT / "sla2p" / "detector.py").read_text(), re.M)
