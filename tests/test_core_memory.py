"""Peak memory of a fit (training + transductive scoring) grows with n far less than the
n x K x m transformed copies would need: they are never materialised."""

import json
import subprocess
import sys

import pytest

# Small K and m keep the three MLP passes per pair cheap while the copies stay large.
K, M, D = 64, 16, 32
N_SMALL, N_LARGE = 10_000, 60_000

SCRIPT = """
import json, resource, sys
import numpy as np
from sla2p import SLA2P
n = int(sys.argv[1])
import psutil
X = np.random.default_rng(0).standard_normal(size=(n, %d), dtype=np.float32)
before_kb = psutil.Process().memory_info().rss / 1024
# acc_threshold=0 stops training at once: this measures scoring, the part that could copy.
SLA2P(n_projections=%d, proj_dim=%d, max_epochs=1, acc_threshold=0.0, random_state=0).fit(X)
print(json.dumps({"peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kb}))
""" % (D, K, M)


def peak_rss_mb(n: int) -> float:
    """Peak RSS of the fit above the RSS it started from (MB), in a fresh process."""
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(n)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_kb"] / 1024


@pytest.mark.slow
def test_peak_rss_grows_far_less_than_the_copies():
    small, large = peak_rss_mb(N_SMALL), peak_rss_mb(N_LARGE)
    copies_mb = (N_LARGE - N_SMALL) * K * M * 4 / 2**20  # what materialising the copies would add
    assert copies_mb > 180
    assert large - small < 0.25 * copies_mb, (small, large, copies_mb)
