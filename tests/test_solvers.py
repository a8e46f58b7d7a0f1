"""Solver behaviour on the small hand-checkable scenario: optimality, baselines, infeasibility, determinism."""

from __future__ import annotations

import pytest

from placer.errors import InfeasibleError
from placer.topology import from_graph
from placer.verify import verify
from solvers import solve
from solvers.scaling import ScalingError, check_linear


def test_cpsat_is_optimal_verified_and_no_worse_than_greedy(tiny):
    exact = solve(tiny, "cpsat")
    greedy = solve(tiny, "greedy")
    # tiny has lines: CP-SAT proves its placement optimal, and the plan's status covers the whole
    # objective (placement plus the re-dispatch chosen afterwards) against its whole bound
    assert exact.summary.placement_status == "OPTIMAL"
    assert exact.summary.gap is not None and exact.summary.bound is not None
    assert exact.summary.status == ("OPTIMAL" if exact.summary.gap <= exact.summary.relative_gap else "FEASIBLE")
    assert exact.summary.gpus_placed == sum(t.total_gpus for t in tiny.demand.tenants)
    assert verify(tiny, exact).valid
    assert verify(tiny, greedy).valid
    assert exact.summary.objective <= greedy.summary.objective + 1e-6
    # re-dispatch is chosen afterwards, so the bound only adds its floor.
    redispatch = next(c.usd_per_year for c in exact.cost_breakdown if c.name == "redispatch")
    assert exact.summary.bound <= exact.summary.objective
    assert (
        exact.summary.objective - exact.summary.bound
        <= redispatch + tiny.policy.solver.relative_gap * exact.summary.objective
    )
    assert sum(c.usd_per_year for c in exact.cost_breakdown) == pytest.approx(exact.summary.objective)


def test_every_engines_bound_is_below_the_grid_aware_optimum(tiny):
    """A bound is a claim about every plan: none may exceed the MILP's proven optimum (which
    weighs re-dispatch), and the grid-blind engines' bounds must not borrow their own re-dispatch."""
    optimum = solve(tiny, "milp")
    assert optimum.summary.status == "OPTIMAL"
    for engine in ("cpsat", "milp", "scip"):
        plan = solve(tiny, engine)
        assert plan.summary.bound is not None and plan.summary.bound <= optimum.summary.objective * (1 + 1e-6), engine


def test_plan_records_solver_provenance(tiny):
    plan = solve(tiny, "cpsat", seed=7, workers=1)
    s = plan.summary
    assert s.solver == "cpsat" and s.solver_version and s.seed == 7 and s.workers == 1
    assert s.parameters["random_seed"] == 7 and s.parameters["num_workers"] == 1
    assert plan.scenario_digest == tiny.digest()


def test_same_seed_and_workers_give_the_same_plan(tiny):
    a = solve(tiny, "cpsat", seed=3, workers=2)
    b = solve(tiny, "cpsat", seed=3, workers=2)
    assert a.assignments == b.assignments


def test_infeasible_demand_is_explained_in_words(tiny):
    bad = tiny.model_copy(deep=True)
    bad.demand.tenants[1].lines[0].gpus = 72_000  # beta may only use the 40 MW south site
    with pytest.raises(InfeasibleError) as info:
        solve(bad, "cpsat")
    # The aggregate pre-check answers before CP-SAT runs, with the arithmetic and the demand line.
    assert "72,000 GPUs of beta need 120.0 MW of IT; the one site open to them (south) holds 40.0 MW" in str(info.value)
    reasons = info.value.reasons
    assert reasons[0] == "demand lines involved: beta 72,000 nvl72"
    assert len(reasons) <= 4, reasons  # the shortfall and its demand, not the whole model


def test_infeasible_via_cli_exit_3(tiny_path, tmp_path, cli):
    text = tiny_path.read_text().replace("gpus: 7200}", "gpus: 72000}")
    path = tmp_path / "impossible.yaml"
    path.write_text(text)
    out = tmp_path / "plan.json"
    result = cli("solve", str(path), "-o", str(out))
    assert result.returncode == 3
    assert "no placement exists: 72,000 GPUs of beta need 120.0 MW of IT" in result.stderr
    assert "demand lines involved: beta 72,000 nvl72" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_overflow_guard_names_the_constraint():
    with pytest.raises(ScalingError, match="site_it_capacity"):
        check_linear("site_it_capacity[x]", [10**15], [10**5])


def test_graph_round_trip(tiny):
    graph = tiny.topology.to_graph()
    assert all("kind" in d for _, d in graph.nodes(data=True))
    assert all("kind" in d for *_, d in graph.edges(keys=True, data=True))
    again = from_graph(graph)
    assert {n.id for n in again.nodes} == {n.id for n in tiny.topology.nodes}
    assert {e.id for e in again.edges} == {e.id for e in tiny.topology.edges}


def test_deterministic_mode_reproduces_a_time_limited_plan():
    """Stopped by its time limit (not optimal), CP-SAT still gives the same plan twice when deterministic."""
    from topologies.synthetic import generate

    scenario = generate(sites=30, gpus=100_000, seed=1)
    a = solve(scenario, "cpsat", time_limit_s=3, workers=2, seed=1, deterministic=True)
    b = solve(scenario, "cpsat", time_limit_s=3, workers=2, seed=1, deterministic=True)
    assert a.summary.parameters["deterministic"] is True
    assert a.assignments == b.assignments
    assert a.summary.objective == b.summary.objective
