"""Marginal values (solvers/duals.py, placer/verify_marginals.py): LP duals of the binding limits with
the plan's binaries fixed, checked against re-solves with the limit moved, and the verifier's
MARGINAL_* codes, each tripped alone by an injection."""

from __future__ import annotations

import pytest

from placer.io import load_scenario
from placer.verify import verify
from solvers import solve
from solvers.duals import fixed_lp, lp_objective_with, racks_of_plan
from solvers.problem import build_problem
from tests.helpers import DATA, only

GAP = 1e-6  # the re-solves compare objectives: tighter than the default 1e-4 of ~1e8 USD


def _scenario(name: str):
    sc = load_scenario(DATA / name)
    sc.policy.solver.relative_gap = GAP
    return sc


@pytest.fixture(scope="module")
def tiny_case():
    sc = _scenario("tiny.yaml")
    return sc, solve(sc, "milp", marginals=True, time_limit_s=20)


@pytest.fixture(scope="module")
def mesh_case():
    sc = _scenario("grid_mesh.yaml")
    return sc, solve(sc, "milp", marginals=True, time_limit_s=20)


def _moved(sc, site: str, attr: str, step: float):
    out = sc.model_copy(deep=True)
    for node in out.topology.nodes:
        if node.id == site:
            setattr(node, attr, getattr(node, attr) + step)
    return out


def test_tiny_feed_limit_value_agrees_with_the_lp_re_solve_and_the_milp_is_close(tiny_case):
    sc, plan = tiny_case
    mv = plan.marginal_values
    assert verify(sc, plan).valid
    assert [v.limit for v in mv.limits] == ["feed_capacity[south]"]
    v = mv.limits[0]
    assert v.unit == "MW" and v.step == 10 and v.value_per_unit > 0
    assert "10 more MW here would save" in v.text and "local" in v.text
    assert mv.lp_objective <= plan.summary.objective
    (c,) = mv.checks
    # the probe (0.1 MW) checks the dual itself: agrees to 1e-6
    assert c.agrees and c.probe_lp_saving == pytest.approx(c.probe_predicted_saving, rel=1e-6)
    # the whole 10 MW crosses a kink of the LP's (convex) cost: it saves less than the linear prediction
    assert not c.linear_over_step and 0.9 * c.predicted_saving < c.lp_saving < c.predicted_saving
    # an independent re-solve of the same LP, rebuilt, with the limit moved: the same saving
    problem = build_problem(sc)
    lp = fixed_lp(problem, racks_of_plan(problem, plan))
    base = lp.solve().objective_value()
    assert base == pytest.approx(mv.lp_objective, rel=1e-9)
    assert base - lp_objective_with(lp, v.limit, 10.0) == pytest.approx(c.lp_saving, rel=1e-6)
    # the full MILP with both south feeds 10 MW larger (its N-1 limit 30 -> 40 MW): within 5 % of the
    # LP's 10 MW saving (5.28M against 5.30M when written; integer racks)
    moved = sc.model_copy(deep=True)
    for e in moved.topology.edges_of_kind("feed"):
        if "south" in (e.from_node, e.to_node):
            e.capacity_mw += 10
    milp = solve(moved, "milp", time_limit_s=20)
    saving = plan.summary.objective - milp.summary.objective
    assert saving == pytest.approx(c.lp_saving, rel=0.05)


def test_mesh_site_capacity_full_milp_saves_more_than_the_local_value(mesh_case):
    sc, plan = mesh_case
    mv = plan.marginal_values
    assert verify(sc, plan).valid
    v = next(v for v in mv.limits if v.limit == "site_it_capacity[north]")
    c = next(c for c in mv.checks if c.limit == v.limit)
    assert c.agrees
    milp = solve(_moved(sc, "north", "it_capacity_mw", 10.0), "milp", time_limit_s=20)
    saving = plan.summary.objective - milp.summary.objective
    # local (sites fixed): 0.84M/yr by the dual, 0.50M/yr by the LP over the whole 10 MW; the MILP,
    # free to re-place across sites, saves 1.50M/yr (when written): the dual is local, as labelled
    assert c.lp_saving <= v.saving_per_step + 1.0
    assert saving > v.saving_per_step


def test_line_limit_with_a_tied_limit_says_so():
    sc = _scenario("grid_binding.yaml")
    plan = solve(sc, "milp", marginals=True, time_limit_s=20)
    assert verify(sc, plan).valid  # the line limit is binding by the verifier's own flows
    v = next(v for v in plan.marginal_values.limits if v.family == "line_limit_n1")
    c = next(c for c in plan.marginal_values.checks if c.limit == v.limit)
    # the lazy loop holds one of two tied N-1 rows: more room on it alone saves nothing, and the plan says so
    assert not c.agrees and "a tied limit holds too" in v.text


@pytest.mark.slow  # two korea-2025 MILP solves at gap 1e-6 and one more per limit (about a minute)
def test_korea_latency_shares_against_the_full_milp():
    from benchmarks.marginal_check import moved_scenario
    from topologies import builtin_scenario

    sc = builtin_scenario("korea-2025")
    sc.policy.solver.relative_gap = GAP
    plan = solve(sc, "milp", marginals=True, time_limit_s=120)
    assert verify(sc, plan).valid
    for v in plan.marginal_values.limits[:2]:
        c = next(c for c in plan.marginal_values.checks if c.limit == v.limit)
        assert c.agrees and c.linear_over_step
        moved = moved_scenario(sc, v.family, v.entities, v.step)
        assert moved is not None
        milp = solve(moved, "milp", time_limit_s=120)
        assert plan.summary.objective - milp.summary.objective == pytest.approx(v.saving_per_step, rel=0.05)


# ---- verifier injections -------------------------------------------------------------------------
def test_marginal_codes_run_on_a_plan_with_marginal_values(tiny_case):
    sc, plan = tiny_case
    assert {"MARGINAL_UNKNOWN_LIMIT", "MARGINAL_NOT_BINDING", "MARGINAL_FIGURES"} <= set(verify(sc, plan).checks)


def test_injected_unknown_limit_is_caught(tiny_case):
    sc, plan = tiny_case
    bad = plan.model_copy(deep=True)
    v = bad.marginal_values.limits[0]
    v.entities, v.limit = ["atlantis"], "feed_capacity[atlantis]"
    bad.marginal_values.checks = []
    only(verify(sc, bad), "MARGINAL_UNKNOWN_LIMIT")


def test_injected_limit_that_is_not_binding_is_caught(tiny_case):
    sc, plan = tiny_case
    bad = plan.model_copy(deep=True)
    v = bad.marginal_values.limits[0]
    north = next(s for s in bad.sites if s.site == "north")  # far below its 30 MW of IT
    assert north.it_power_mw < north.it_capacity_mw - 1
    v.family, v.entities, v.limit = "site_it_capacity", ["north"], "site_it_capacity[north]"
    v.limit_value, v.plan_value = north.it_capacity_mw, north.it_power_mw
    bad.marginal_values.checks = []
    found = only(verify(sc, bad), "MARGINAL_NOT_BINDING")
    assert "not binding" in found[0].message


def test_injected_saving_arithmetic_is_caught(tiny_case):
    sc, plan = tiny_case
    bad = plan.model_copy(deep=True)
    bad.marginal_values.limits[0].saving_per_step *= 2
    bad.marginal_values.checks[0].predicted_saving *= 2  # the check agrees with the (wrong) figure
    bad.marginal_values.checks[0].linear_over_step = False
    only(verify(sc, bad), "MARGINAL_FIGURES")


def test_injected_agreement_claim_is_caught(tiny_case):
    sc, plan = tiny_case
    bad = plan.model_copy(deep=True)
    bad.marginal_values.checks[0].linear_over_step = True  # the 10 MW re-solve saved 5 % less
    found = only(verify(sc, bad), "MARGINAL_FIGURES")
    assert "linear_over_step" in found[0].message


def test_injected_negative_value_is_caught(tiny_case):
    sc, plan = tiny_case
    bad = plan.model_copy(deep=True)
    v = bad.marginal_values.limits[0]
    v.value_per_unit, v.saving_per_step = -v.value_per_unit, -v.saving_per_step
    bad.marginal_values.checks = []
    found = only(verify(sc, bad), "MARGINAL_FIGURES")
    assert "cannot cost more" in found[0].message


# ---- rollouts: limits per quarter, values in USD of NPV -------------------------------------------
@pytest.fixture(scope="module")
def rollout_case():
    sc = _scenario("rollout_multi.yaml")
    return sc, solve(sc, "milp", marginals=True, time_limit_s=20)


def test_rollout_limits_per_quarter_in_npv_units(rollout_case):
    sc, plan = rollout_case
    mv = plan.marginal_values
    assert verify(sc, plan).valid
    assert mv.objective_unit == "usd" and "NPV" in mv.value_unit
    assert mv.lp_objective <= plan.summary.objective  # (the NPV's constants included)
    v = next(v for v in mv.limits if v.limit == "site_it_capacity[east,2027Q1]")
    assert v.limit_value == pytest.approx(1.2) and "of NPV" in v.text and "per year" not in v.text
    c = next(c for c in mv.checks if c.limit == v.limit)
    assert c.agrees and c.probe_lp_saving == pytest.approx(c.probe_predicted_saving, rel=1e-6)
    # quarters a site is not yet in service (every limit 0 there, tied) are not reported
    assert any("not in service" in why for why in mv.skipped)


def test_rollout_limit_with_an_option_counts_the_option(tmp_path):
    sc = _scenario("rollout_options.yaml")
    plan = solve(sc, "milp", marginals=True, time_limit_s=20)
    assert verify(sc, plan).valid  # limit_value includes the built option's MW, as the verifier's capacities do
    assert plan.marginal_values.limits


def test_injected_unknown_quarter_is_caught(rollout_case):
    sc, plan = rollout_case
    bad = plan.model_copy(deep=True)
    v = next(v for v in bad.marginal_values.limits if v.limit == "site_it_capacity[east,2027Q1]")
    v.entities, v.limit = ["east", "2031Q1"], "site_it_capacity[east,2031Q1]"
    bad.marginal_values.checks = [c for c in bad.marginal_values.checks if c.limit != "site_it_capacity[east,2027Q1]"]
    only(verify(sc, bad), "MARGINAL_UNKNOWN_LIMIT")


def test_injected_quarter_that_is_not_binding_is_caught(rollout_case):
    sc, plan = rollout_case
    bad = plan.model_copy(deep=True)
    v = next(v for v in bad.marginal_values.limits if v.limit == "site_it_capacity[east,2027Q1]")
    final = plan.schedule[-1]  # east has 3 MW by 2027Q4 and room left
    period = final.period
    site = next(s for s in final.sites if s.site == "east")
    assert site.it_available_mw - site.it_power_mw > 0.2
    v.entities, v.limit = ["east", period], f"site_it_capacity[east,{period}]"
    v.limit_value, v.plan_value = site.it_available_mw, site.it_power_mw
    bad.marginal_values.checks = [c for c in bad.marginal_values.checks if c.limit != "site_it_capacity[east,2027Q1]"]
    only(verify(sc, bad), "MARGINAL_NOT_BINDING")
