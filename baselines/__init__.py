"""Baselines under one contract: every detector of the comparison table, by name.

    from baselines import make_detector, list_detectors, detector_info
    det = make_detector("goad", random_state=0).fit(X)   # a PyOD BaseDetector
    det.decision_scores_                                   # higher = more anomalous

Adding a detector is one ``register(...)`` line (see :mod:`baselines.registry`); a ``preset``
registers a documented parameter set of an existing class under its own name, and
``seed_invariant=True`` declares that its scores depend neither on the seed nor on the order of
the fitted rows, and ``shared=SharedFit(...)`` that its scores come with another detector's fit.
``check_invariance(name, X)`` checks that a detector's scores do not depend on the row order, and
verifies a ``seed_invariant`` declaration (see :mod:`baselines.invariance`). ``check_params(name,
params)`` checks a configuration's parameters by the detector's own rules before any work.
"""

from .by_name import ENTRY_POINT_GROUP, ContractError, check_contract, is_by_name
from .goad import GOAD
from .invariance import InvarianceResult, check_invariance
from .pyod_deep import AutoEncoder, DeepSVDD
from .registry import (CALL_PARAMS, DetectorInfo, SharedFit, check_params, detector_info, list_detectors,
                       make_detector, register, unregister)
from .rsrae import RSRAE

__all__ = ["make_detector", "list_detectors", "detector_info", "register", "unregister", "DetectorInfo",
           "SharedFit", "check_params", "CALL_PARAMS", "check_invariance", "InvarianceResult", "GOAD", "RSRAE",
           "AutoEncoder", "DeepSVDD", "ENTRY_POINT_GROUP", "ContractError", "check_contract", "is_by_name"]
