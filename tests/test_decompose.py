"""The LP-guided start for big MILPs (solvers/decompose.py), forced on for small synthetic cases by
lowering its site threshold: the LP bound never exceeds the exact optimum, the plan verifies and
says what the start did, and a fixed seed gives the same plan."""

from __future__ import annotations

import pytest

from placer.verify import verify
from solvers import decompose, solve
from solvers.greedy import greedy_racks
from solvers.milp import MilpModel
from solvers.problem import build_problem
from topologies.synthetic import generate


@pytest.fixture(scope="module")
def syn12():
    return generate(sites=12, gpus=26_000, seed=1)


@pytest.fixture(scope="module")
def syn30():
    return generate(sites=30, gpus=100_000, seed=1)


@pytest.fixture
def forced(monkeypatch):
    monkeypatch.setattr(decompose, "MIN_SITES", 0)


def test_lp_bound_is_at_most_the_exact_optimum(syn12):
    problem = build_problem(syn12)
    mm = MilpModel(problem)
    mm.set_objective()
    start = decompose.guided_start(problem, mm, time_limit_s=10)
    assert start.bound_usd is not None
    assert all(v.integer for v in mm.x.values()), "integrality is restored after the LP"
    exact = solve(syn12, "milp", time_limit_s=30)
    assert exact.summary.status == "OPTIMAL" and exact.summary.bound is not None
    # the engine objective has no constants here (single period), so the LP value compares directly
    assert start.bound_usd <= exact.summary.bound + 1e-6 * abs(exact.summary.bound)
    assert start.bound_usd <= exact.summary.objective


def test_steered_greedy_places_everything_and_does_not_cost_more(syn30):
    problem = build_problem(syn30)
    mm = MilpModel(problem)
    mm.set_objective()
    start = decompose.guided_start(problem, mm, time_limit_s=10)
    plain, unplaced = greedy_racks(problem)
    assert not unplaced and start.racks is not None
    placed = {key: 0 for key in problem.demand_racks}
    for i, n in start.racks.items():
        c = problem.candidates[i]
        assert 0 <= n <= c.max_racks
        placed[(c.t, c.k)] += n
    assert placed == problem.demand_racks
    assert decompose.placement_cost_usd(problem, start.racks) <= decompose.placement_cost_usd(problem, plain)


def test_forced_decomposition_plan_verifies_states_it_and_keeps_a_valid_bound(syn12, forced):
    plan = solve(syn12, "milp", time_limit_s=20)
    assert verify(syn12, plan).valid
    assert plan.grid is not None and plan.grid.n_minus_1 == "secure"
    assert any("LP relaxation solved" in n for n in plan.summary.notes)
    assert any(n.startswith("decomposition:") for n in plan.summary.notes)
    assert plan.summary.parameters["decomposition"] is True
    # (an OPTIMAL solve's bound is its objective, priced again in assembly: equal up to rounding)
    assert plan.summary.bound is not None and plan.summary.bound <= plan.summary.objective * (1 + 1e-9)
    # the recorded 12-site optimum (benchmarks/results/synthetic, milp and scip agree): 1.4657e8 USD/yr
    assert plan.summary.bound <= 1.4658e8


def test_forced_start_is_deterministic(syn12, forced):
    a = solve(syn12, "milp", time_limit_s=10, seed=3)
    b = solve(syn12, "milp", time_limit_s=10, seed=3)
    assert [(x.tenant, x.sku, x.site, x.racks) for x in a.assignments] == [
        (x.tenant, x.sku, x.site, x.racks) for x in b.assignments
    ]
    assert any("LP relaxation solved" in n for n in a.summary.notes)


def test_forced_decomposition_on_30_sites_improves_the_start_and_verifies(syn30, forced):
    plan = solve(syn30, "milp", time_limit_s=20)
    assert verify(syn30, plan).valid
    assert plan.grid is not None and plan.grid.n_minus_1 == "secure"
    # the recorded 30-site optimum (benchmarks/results/synthetic, milp and scip agree): 4.8320e8 USD/yr
    assert plan.summary.bound is not None and plan.summary.bound <= 4.8321e8 <= plan.summary.objective + 1e-6
    note = next(n for n in plan.summary.notes if n.startswith("decomposition:"))
    assert "large neighbourhoods" in note


def test_below_the_threshold_nothing_changes(syn12):
    plan = solve(syn12, "milp", time_limit_s=10)
    assert not any("LP relaxation" in n for n in plan.summary.notes)
    assert plan.summary.parameters["decomposition"] is False
