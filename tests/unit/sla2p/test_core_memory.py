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
from baselines import make_detector
n, name = int(sys.argv[1]), sys.argv[2]
import psutil
X = np.random.default_rng(0).standard_normal(size=(n, %d), dtype=np.float32)
before_kb = psutil.Process().memory_info().rss / 1024
# acc_threshold=0 stops training at once: this measures scoring, the part that could copy.
make_detector(name, n_projections=%d, proj_dim=%d, max_epochs=1, acc_threshold=0.0, random_state=0,
              device="cpu").fit(X)
print(json.dumps({"peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kb}))
""" % (D, K, M)


def peak_rss_mb(n: int, name: str) -> float:
    """Peak RSS of the fit above the RSS it started from (MB), in a fresh process."""
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(n), name], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_kb"] / 1024


def _sla2p_and_its_variants() -> list[str]:
    from baselines import detector_info, list_detectors

    return ["sla2p"] + [n for n in list_detectors() if n.startswith("sla2p_") and detector_info(n).preset]


@pytest.mark.slow
@pytest.mark.parametrize("name", _sla2p_and_its_variants())
def test_peak_rss_grows_far_less_than_the_copies(name):
    small, large = peak_rss_mb(N_SMALL, name), peak_rss_mb(N_LARGE, name)
    copies_mb = (N_LARGE - N_SMALL) * K * M * 4 / 2**20  # what materialising the copies would add
    assert copies_mb > 180
    assert large - small < 0.25 * copies_mb, (small, large, copies_mb)
