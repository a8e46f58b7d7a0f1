"""Performance formulation pieces: capacity-link cuts and fix-and-reoptimise neighbourhoods.

Correctness only (no timings): the cuts hold for every plan the engines return and raise the
LP bound; a neighbourhood never loses the incumbent and leaves the model as it found it."""

from __future__ import annotations

import time

import pytest
from ortools.math_opt.python import mathopt

from placer.verify import verify
from solvers import solve
from solvers.assemble import assemble_plan
from solvers.cuts import capacity_cuts, per_rack_mw
from solvers.engine import REGISTRY, EngineResult
from solvers.greedy import greedy_racks
from solvers.lns import Neighbourhoods, fix_outside, restore
from solvers.milp import MilpModel, _Run
from solvers.problem import build_problem
from topologies.synthetic import generate


@pytest.fixture(scope="module")
def syn30():
    return generate(sites=30, gpus=100_000, seed=1)


def _racks(problem, plan) -> dict[int, int]:
    index = {
        (problem.tenants[c.t].id, problem.skus[c.k].id, problem.sites[c.s].id): i
        for i, c in enumerate(problem.candidates)
    }
    return {index[(a.tenant, a.sku, a.site)]: a.racks for a in plan.assignments}


@pytest.mark.parametrize("engine", ["cpsat", "milp"])
def test_every_cut_holds_for_the_engines_plans(syn30, engine):
    problem = build_problem(syn30)
    cuts = capacity_cuts(
        problem, open_sites=set(range(len(problem.sites))), pairs={(c.t, c.s) for c in problem.candidates}
    )
    assert cuts, "the 30-site case has sites whose candidates could overfill them"
    plan = solve(syn30, engine, time_limit_s=10)
    racks = _racks(problem, plan)
    for cut in cuts:
        used = sum(per_rack_mw(problem, cut.resource, i) * racks.get(i, 0) for i in cut.candidates)
        linked = any(racks.get(i, 0) > 0 for i in cut.candidates)
        assert used <= cut.cap_mw * linked + 1e-6, cut.name


def test_cuts_are_left_out_when_the_candidate_links_imply_them(syn30):
    problem = build_problem(syn30)
    for cut in capacity_cuts(
        problem, open_sites=set(range(len(problem.sites))), pairs={(c.t, c.s) for c in problem.candidates}
    ):
        reach = sum(per_rack_mw(problem, cut.resource, i) * problem.candidates[i].max_racks for i in cut.candidates)
        assert reach > cut.cap_mw


def _lp_bound(model: mathopt.Model) -> float:
    for v in model.variables():
        v.integer = False
    return mathopt.solve(model, mathopt.SolverType.HIGHS).objective_value()


def test_cuts_raise_the_lp_bound(syn30, monkeypatch):
    problem = build_problem(syn30)
    with_cuts = MilpModel(problem)
    with_cuts.set_objective()
    monkeypatch.setattr("solvers.milp.capacity_cuts", lambda *a, **k: [])
    without = MilpModel(problem)
    without.set_objective()
    assert _lp_bound(with_cuts.m) > _lp_bound(without.m) * 1.001


def test_fix_outside_pins_only_the_other_sites_and_restores(syn30):
    problem = build_problem(syn30)
    mm = MilpModel(problem)
    racks, _ = greedy_racks(problem)
    free = Neighbourhoods(problem, seed=0, size=5).next(racks)
    assert len(free) == 5
    before = {i: (v.lower_bound, v.upper_bound) for i, v in mm.x.items()}
    undo = fix_outside(mm.x, problem, free, racks)
    for i, v in mm.x.items():
        if problem.candidates[i].s in free:
            assert (v.lower_bound, v.upper_bound) == before[i]
        else:
            assert v.lower_bound == v.upper_bound == racks.get(i, 0)
    restore(undo)
    assert {i: (v.lower_bound, v.upper_bound) for i, v in mm.x.items()} == before


def test_neighbourhoods_are_seeded_and_adapt_their_size(syn30):
    problem = build_problem(syn30)
    racks, _ = greedy_racks(problem)
    a, b = Neighbourhoods(problem, seed=4, size=6), Neighbourhoods(problem, seed=4, size=6)
    assert [a.next(racks) for _ in range(5)] == [b.next(racks) for _ in range(5)]
    a.adapt(solved=True, seconds=0.1, budget_s=5.0)
    assert a.size == 9
    a.adapt(solved=False, seconds=5.0, budget_s=5.0)
    assert a.size == 6


def test_reoptimise_never_worsens_the_incumbent_and_its_plan_verifies(syn30):
    scenario = syn30.model_copy(deep=True)
    scenario.policy.grid.security = "none"  # the model below has no grid rows: judge the placement rules
    problem = build_problem(scenario)
    mm = MilpModel(problem)
    mm.set_objective()
    run = _Run(problem, mm, "highs", loop=None, enforce=False)
    racks, _ = greedy_racks(problem)
    undo = fix_outside(mm.x, problem, [], racks)  # every site pinned: the greedy plan's own objective
    res, _ = run.solve(5.0, racks)
    restore(undo)
    greedy = run.incumbent(res)
    best, stats = run.reoptimise(greedy, until=time.perf_counter() + 4.0)
    assert stats["neighbourhoods"] >= 1
    assert best.objective <= greedy.objective + 1e-6
    result = EngineResult(
        solver="milp", solver_version="test", status="FEASIBLE", racks=best.racks, engine_objective=best.objective
    )
    plan = assemble_plan(problem, result, REGISTRY["milp"].capabilities)
    assert verify(scenario, plan).valid
    assert plan.summary.objective == pytest.approx(best.objective, rel=1e-9)


def test_pairs_that_cannot_hold_the_island_are_pruned(tiny):
    scenario = tiny.model_copy(deep=True)
    north = next(n for n in scenario.topology.nodes if n.id == "north")
    # 1.5 MW holds 900 GB200 GPUs (the densest SKU, 72 per 120 kW): alpha's 1,152-GPU island cannot fit
    north.it_capacity_mw = 1.5
    problem = build_problem(scenario)
    alpha = next(t for t, ten in enumerate(problem.tenants) if ten.id == "alpha")
    north_s = next(s for s, site in enumerate(problem.sites) if site.id == "north")
    assert not [c for c in problem.candidates if (c.t, c.s) == (alpha, north_s)]
    assert any("training island" in n for n in problem.notes)
    north.it_capacity_mw = 2.0  # 1,200 GPUs: the island fits, the pair stays
    problem = build_problem(scenario)
    assert [c for c in problem.candidates if (c.t, c.s) == (alpha, north_s)]
