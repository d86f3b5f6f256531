"""sla2p: the SLA2P anomaly detector (Wang et al., CIKM 2022) as a plain PyOD-style library.

    from sla2p import SLA2P
    det = SLA2P(random_state=0).fit(X)
    scores = det.decision_scores_          # higher = more anomalous
"""

from .settings import MAX_ROWS, PAPER_SETTINGS, paper_params, paper_to_per_sample, per_sample_to_paper

__all__ = ["SLA2P", "SLA", "MAX_ROWS", "PAPER_SETTINGS", "paper_params", "paper_to_per_sample", "per_sample_to_paper"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # The detectors load torch (~2 s): imported on first use, so that the protocol's constants
    # (sla2p.settings, read by the data layer) come without it.
    if name in ("SLA2P", "SLA"):
        from . import detector

        return getattr(detector, name)
    raise AttributeError(f"module 'sla2p' has no attribute {name!r}")
