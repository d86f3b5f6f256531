"""sla2p: the SLA2P anomaly detector (Wang et al., CIKM 2022) as a plain PyOD-style library.

    from sla2p import SLA2P
    det = SLA2P(random_state=0).fit(X)
    scores = det.decision_scores_          # higher = more anomalous
"""

from .detector import SLA, SLA2P
from .settings import PAPER_SETTINGS, paper_params, paper_to_per_sample, per_sample_to_paper

__all__ = ["SLA2P", "SLA", "PAPER_SETTINGS", "paper_params", "paper_to_per_sample", "per_sample_to_paper"]
__version__ = "0.1.0"
