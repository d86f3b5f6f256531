"""One fit, several step sizes: ``SLA2P(extra_epsilons=...)`` scores the training rows at further
per-sample steps in the same scoring pass (training, the forward pass and the input gradient do
not depend on the step), and ``sla2p_bigstep``, which differs from SLA2P only in its step, takes
its cell from SLA2P's fit that way (registry: ``SharedFit``'s ``setup``/``scores``/``cost``, the
first two SLA2P's own methods).

Detector level: bit-identity with separate fits. Registry and estimate level: the declaration
and what a shared cell costs. The flow level is in ``test_shared_fit.py`` (its in-process flow)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

import tasks.estimate as est
from tasks.plan import plan_job
from baselines import SharedFit, detector_info, make_detector
from sla2p import SLA2P
from tasks.cells import make_cell, shared_fit_plan, shares_fit
from tasks.jobs import expand_job

_DENSE = np.random.default_rng(0).normal(size=(150, 12)).astype(np.float32)
_SPARSE = sp.random(150, 40, density=0.1, format="csr", random_state=1, dtype=np.float32)
KW = dict(n_projections=8, proj_dim=8, max_epochs=3, score_batch_size=40, device="cpu", random_state=3)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("extra", [dict(), dict(aggregate="median"), dict(compat="official"),
                                   dict(normalize="zscore_l2")], ids=["paper", "median", "official", "zscore_l2"])
def test_each_extra_step_gives_the_scores_of_a_fit_at_that_step_bit_for_bit(sparse, extra):
    X = _SPARSE if sparse else _DENSE
    steps = (78.125, 0.0, 2.0)
    both = SLA2P(epsilon=2.0, extra_epsilons=steps, **KW, **extra).fit(X)
    assert both.extra_scores_.shape == (3, 150) and both.extra_scores_.dtype == np.float64
    for i, eps in enumerate(steps):
        alone = SLA2P(epsilon=eps, **KW, **extra).fit(X)
        assert np.array_equal(both.extra_scores_[i], alone.decision_scores_), eps
        assert np.array_equal(both.scores_at_epsilon(eps), alone.decision_scores_)
    plain = SLA2P(epsilon=2.0, **KW, **extra).fit(X)
    # asking for more changes nothing the fit gave before
    for attr in ("decision_scores_", "unperturbed_scores_", "threshold_"):
        assert np.array_equal(getattr(both, attr), getattr(plain, attr))
    assert np.array_equal(both.decision_function(X[:30]), plain.decision_function(X[:30]))
    assert not np.array_equal(both.extra_scores_[0], both.decision_scores_)  # the step matters


def test_no_extra_steps_leave_an_empty_array_and_the_parameter_is_an_estimator_parameter():
    det = SLA2P(**KW).fit(_DENSE)
    assert det.extra_scores_.shape == (0, 150)
    assert det.get_params()["extra_epsilons"] == ()
    c = clone(SLA2P(extra_epsilons=(1.0, 5.0), **KW))
    assert c.extra_epsilons == (1.0, 5.0) and not hasattr(c, "extra_scores_")
    # the step the fit was made at, and SLA's zero, need no extra pass
    assert np.array_equal(det.scores_at_epsilon(det.epsilon), det.decision_scores_)
    assert np.array_equal(det.scores_at_epsilon(0), det.unperturbed_scores_)


def test_a_step_the_fit_did_not_score_is_named_with_those_it_did():
    # what a fit scores at is known before it: the step, 0 (compat none only), the extra steps
    assert SLA2P(epsilon=2.0, extra_epsilons=(5.0,), **KW).scored_epsilons() == [2.0, 0.0, 5.0]
    assert SLA2P(epsilon=2.0, extra_epsilons=(5.0,), compat="official", **KW).scored_epsilons() == [2.0, 5.0]
    det = SLA2P(epsilon=2.0, extra_epsilons=(5.0,), **KW).fit(_DENSE)
    with pytest.raises(ValueError, match=r"did not score at epsilon=3.0; it scored at \[0.0, 2.0, 5.0\]"):
        det.scores_at_epsilon(3.0)
    with pytest.raises(ValueError, match="epsilon must be"):
        det.scores_at_epsilon(-1.0)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SLA2P(**KW).scores_at_epsilon(2.0)


@pytest.mark.parametrize("bad, message", [
    ("78.125", "'extra_epsilons' parameter of SLA2P must be an array-like"),
    (78.125, "'extra_epsilons' parameter of SLA2P must be an array-like"),
    ((-1.0,), r"extra_epsilons must be in \[0.0, inf\]"), ((float("nan"),), "extra_epsilons must be in"),
    ((float("inf"),), "extra_epsilons must be in"), ((True,), "extra_epsilons must be a number"),
    (("a",), "extra_epsilons must be a number")])
def test_bad_extra_steps_are_refused_before_any_work(bad, message):
    with pytest.raises(ValueError, match=message):
        SLA2P(extra_epsilons=bad, **KW).fit(_DENSE)


def test_pickles_keep_the_extra_scores_and_old_pickles_load_without_them():
    det = SLA2P(epsilon=2.0, extra_epsilons=(5.0,), **KW).fit(_DENSE)
    back = pickle.loads(pickle.dumps(det))
    assert np.array_equal(back.extra_scores_, det.extra_scores_) and back.extra_epsilons == (5.0,)
    state = det.__getstate__()
    for k in ("extra_epsilons", "extra_scores_"):
        state.pop(k)
    old = SLA2P.__new__(SLA2P)
    old.__setstate__(state)  # a pickle from before the parameter
    assert old.extra_epsilons == () and np.array_equal(old.decision_function(_DENSE[:5]), det.decision_function(_DENSE[:5]))


# -- the registry, the pairing rule, the estimate -------------------------------------------------
ADB = {"n_projections": 256, "proj_dim": 256, "acc_threshold": 0.6}


def _cell(method, params, seed=0):
    return make_cell("adbench_wbc", None, None, method, params, seed)


def test_sla2p_bigstep_is_declared_to_share_sla2p_s_fit():
    shared = detector_info("sla2p_bigstep").shared
    assert (shared.source, shared.ignores, shared.attribute) == ("sla2p", ("epsilon",), None)
    assert shared.cost == pytest.approx(1 / 3)
    # the source's own methods: the registry holds no code of its own reaching into SLA2P
    assert (shared.setup, shared.scores) == (SLA2P.score_also_at_epsilon_of, SLA2P.scores_at_epsilon_of)
    src, own = make_detector("sla2p", random_state=0, **ADB), make_detector("sla2p_bigstep", random_state=0, **ADB)
    shared.setup(src, own)
    shared.setup(src, own)  # asked twice (two riders at one step): scored once
    assert src.extra_epsilons == (78.125,)
    # a step the fit makes anyway is not asked for: its own, and 0 (the unperturbed pass)
    for eps in (src.epsilon, 0.0):
        shared.setup(src, make_detector("sla2p_bigstep", random_state=0, **{**ADB, "epsilon": eps}))
    assert src.extra_epsilons == (78.125,)
    fitted = SLA2P(extra_epsilons=(78.125,), **KW).fit(_DENSE)
    assert np.array_equal(shared.scores_of(fitted, own), fitted.extra_scores_[0])


def test_the_rule_pairs_bigstep_with_sla2p_at_the_adbench_parameters_only():
    big, src = _cell("sla2p_bigstep", ADB), _cell("sla2p", {**ADB, "epsilon": 7.8125})
    assert shares_fit(big, src)
    assert not shares_fit(big, _cell("sla2p", {**ADB, "n_projections": 128}))
    assert not shares_fit(big, _cell("sla2p", {**ADB, "compat": "official"}))
    assert not shares_fit(big, _cell("sla2p", ADB, seed=1))
    assert not shares_fit(src, big)  # the declaration is one way
    cells = [big, _cell("sla", ADB), src]
    assert shared_fit_plan(cells) == {0: 2, 1: 2}


def test_the_estimate_costs_a_bigstep_cell_at_a_third_of_its_source():


    doc = {"kind": "table", "name": "shared-eps", "seeds": [0], "datasets": {"adbench_wbc": {}},
           "methods": {"sla2p": {"params": ADB}, "sla2p_bigstep": {"params": ADB}, "sla": {"params": ADB}}}
    both = expand_job(doc, "shared-eps.yaml")
    alone = expand_job({**doc, "methods": {"sla2p": {"params": ADB}}}, "shared-eps.yaml")
    costs = est.load_costs()
    e, e0 = (est.estimate(plan_job(j), costs=costs, rate_gflops=80.0, same_cpu=True) for j in (both, alone))
    assert (e.counts["fits"], e.counts["riders"]) == (1, 2)
    assert e.shared_pairs == ["SLA from SLA2P", "SLA2P_BIGSTEP from SLA2P"]
    assert e.by_method["sla"] == 0.0
    assert e.by_method["sla2p_bigstep"] == pytest.approx(e0.by_method["sla2p"] / 3)
    assert e.total == pytest.approx(e0.total * 4 / 3)


# -- one detector's cells among themselves: an epsilon sweep ----------------------------------------
def test_sla2p_shares_its_own_fit_across_steps_and_the_first_cell_is_fitted():
    shared = detector_info("sla2p").shared
    assert (shared.source, shared.ignores, shared.cost) == ("sla2p", ("epsilon",), pytest.approx(1 / 3))
    e = [_cell("sla2p", {**ADB, "epsilon": v}) for v in (7.8125, 0.0, 78.125)]
    assert shares_fit(e[1], e[0]) and shares_fit(e[0], e[1])
    assert shared_fit_plan(e) == {1: 0, 2: 0}
    assert shared_fit_plan(e[::-1]) == {1: 0, 2: 0}  # whichever comes first is fitted
    other_k = _cell("sla2p", {**ADB, "n_projections": 128, "epsilon": 1.0})
    assert shared_fit_plan([*e, other_k]) == {1: 0, 2: 0}
    # with SLA and the variant: every rider on the one fitted cell, no rider gives a fit
    sla, big = _cell("sla", ADB), _cell("sla2p_bigstep", ADB)
    assert shared_fit_plan([sla, e[1], e[0], big]) == {0: 1, 2: 1, 3: 1}
    assert shared_fit_plan([e[1], sla, big, e[0]]) == {1: 0, 2: 0, 3: 0}
    # a derived cell neither gives nor takes a fit
    assert shared_fit_plan(e, derived={0}) == {2: 1}


def test_a_self_sharing_declaration_names_what_its_cells_may_differ_in():
    from baselines import register, unregister

    with pytest.raises(ValueError, match=r"shares its own fit .* SharedFit\.ignores must name"):
        register("x_self", SLA2P, description="t", shared=SharedFit("x_self", scores=lambda s, o: None))
    with pytest.raises(ValueError, match="names no parameter"):
        register("x_self", SLA2P, description="t",
                 shared=SharedFit("x_self", scores=lambda s, o: None, ignores=("eps",)))
    # a source that shares only its own fit may be named; a rider may not
    info = register("x_rider", SLA2P, description="t",
                    shared=SharedFit("sla2p", ignores=("epsilon",), scores=lambda s, o: s.decision_scores_))
    try:
        assert info.shared.source == "sla2p"
        with pytest.raises(ValueError, match="shares the fit of 'sla2p' itself"):
            register("x_chain", SLA2P, description="t", shared=SharedFit("x_rider", attribute="a_"))
    finally:
        unregister("x_rider")


def test_the_estimate_costs_an_epsilon_sweep_at_one_fit_plus_a_third_per_extra_step():
    doc = {"kind": "ablation", "name": "eps", "seeds": [0], "datasets": {"adbench_wbc": {}}, "method": "sla2p",
           "base": {"params": {**ADB, "epsilon": 7.8125}}, "grid": {"epsilon": [7.8125, 0.0, 78.125, 781.25]}}
    sweep = expand_job(doc, "eps.yaml")
    one = expand_job({**doc, "grid": {"epsilon": [7.8125]}}, "eps.yaml")
    costs = est.load_costs()
    e, e0 = (est.estimate(plan_job(j), costs=costs, rate_gflops=80.0, same_cpu=True) for j in (sweep, one))
    assert (e.counts["cells"], e.counts["fits"], e.counts["riders"], e.shared_pairs) == (4, 1, 3, ["SLA2P from SLA2P"])
    assert e.total == pytest.approx(e0.total * 2)  # 1 + 3 x 1/3
