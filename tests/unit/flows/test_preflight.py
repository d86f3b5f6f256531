"""Memory before work (flows/preflight.py): the cells in flight are capped so that their fits fit
the memory available, and a single fit larger than it is refused; the estimate's model of a fit's
memory bounds what a fit really takes."""

from __future__ import annotations

import pytest

from flows.preflight import PreflightError, workers_that_fit

GIB = 2**30


def test_workers_are_capped_to_the_fits_that_fit():
    assert workers_that_fit(3 * GIB, "sla2p on reuters", 8, available=10 * GIB) == 3
    assert workers_that_fit(3 * GIB, "sla2p on reuters", 2, available=10 * GIB) == 2
    assert workers_that_fit(0, "", 8, available=1) == 8  # no detector estimated its memory: not capped


def test_a_fit_larger_than_the_memory_is_refused_naming_it():
    with pytest.raises(PreflightError, match=r"one fit of sla2p on arrhythmia needs about 27\.7 GiB and 16\.0 GiB"):
        workers_that_fit(int(27.7 * GIB), "sla2p on arrhythmia", 2, available=16 * GIB)


@pytest.mark.slow  # a fit in a fresh process: 9 s
def test_the_sla2p_memory_model_is_the_projections_and_bounds_a_real_fit():
    import os
    import subprocess
    import sys

    from sla2p import SLA2P

    # K x d x m floats dominate: K = 100,000 on Arrhythmia is the 28 GB allocation a fit would make
    assert SLA2P(n_projections=100_000).memory_bytes(452, 274) / GIB == pytest.approx(27.7, abs=0.05)
    # The fit's own peak: the kernel's high-water mark reset just before it (/proc/self/clear_refs
    # "5"), so that the imports' peak does not count; Linux only.
    script = ("import re, numpy as np; from sla2p import SLA2P; "
              "X = np.random.default_rng(0).standard_normal((452, 274)).astype(np.float32); "
              "kb = lambda f: int(re.search(f + r':\\s+(\\d+)', open('/proc/self/status').read()).group(1)); "
              "open('/proc/self/clear_refs', 'w').write('5'); b = kb('VmRSS'); "
              "SLA2P(random_state=0, max_epochs=1).fit(X); print((kb('VmHWM') - b) * 1024)")
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the peak")
    used = int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
               .stdout.split()[-1])
    assert 0 < used <= SLA2P().memory_bytes(452, 274), used
