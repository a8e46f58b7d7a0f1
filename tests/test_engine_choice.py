"""The default engine ``auto`` and the honesty of the status label.

``auto`` runs the grid-aware MILP whenever line flows are part of the problem and CP-SAT
otherwise; every plan's ``status`` describes the whole objective it reports, so no plan
is OPTIMAL with a gap above its ``relative_gap``.
"""

from __future__ import annotations

import json

import pytest

from placer.io import load_scenario
from placer.verify import verify
from solvers import choose_engine, solve
from tests.helpers import DATA, SHARED_GRIDS, run_cli

FIXTURES = ["tiny.yaml", "grid_binding.yaml", "grid_mesh.yaml", "rollout_toy.yaml", "rollout_multi.yaml"]


def _no_grid(path):
    sc = load_scenario(DATA / path)
    sc = sc.model_copy(deep=True)
    sc.policy.grid.security = "none"
    return sc


def test_auto_picks_milp_when_lines_are_part_of_the_problem():
    engine, why = choose_engine(load_scenario(DATA / "grid_binding.yaml"))
    assert engine == "milp"
    assert "4 lines" in why and "'n-1'" in why


def test_auto_picks_cpsat_without_lines_or_without_grid_security():
    engine, why = choose_engine(load_scenario(DATA / "rollout_toy.yaml"))
    assert (engine, why) == ("cpsat", "auto: the topology has no lines, so CP-SAT places without line flows")
    engine, why = choose_engine(_no_grid("grid_binding.yaml"))
    assert engine == "cpsat" and "grid.security is 'none'" in why


def test_the_plan_records_the_choice():
    plan = solve(load_scenario(DATA / "grid_binding.yaml"), time_limit_s=20)
    assert plan.summary.solver == "milp"
    assert plan.summary.engine_choice.startswith("auto: ")
    assert plan.grid is not None and plan.grid.enforced_by_solver
    plan = solve(load_scenario(DATA / "grid_binding.yaml"), "greedy")
    assert plan.summary.engine_choice == "requested: --solver greedy"


@pytest.mark.parametrize("engine", ["cpsat", "milp", "greedy"])
@pytest.mark.parametrize("fixture", FIXTURES)
def test_no_plan_is_optimal_above_its_gap(engine, fixture):
    """The whole objective's gap decides the label, for every engine and fixture."""
    sc = load_scenario(DATA / fixture)
    plan = solve(sc, engine, time_limit_s=20)
    s = plan.summary
    assert s.relative_gap == sc.policy.solver.relative_gap
    if s.status == "OPTIMAL":
        assert s.gap is not None and s.gap <= s.relative_gap, (s.gap, s.relative_gap)
    if engine == "greedy":
        assert s.status == "FEASIBLE" and s.bound is None
    if plan.grid is not None and not plan.grid.enforced_by_solver:
        # re-dispatch was chosen after placing: the engine's status covers the placement only
        assert s.placement_status in ("OPTIMAL", "FEASIBLE")
    else:
        assert s.placement_status is None
    report = verify(sc, plan)
    if plan.grid is not None and plan.grid.n_minus_1 == "insecure":
        # a grid-blind placement that breaks a line limit (grid_binding is built for it): never OPTIMAL,
        # and the verifier rejects it
        assert s.status == "FEASIBLE" and not report.valid
    else:
        assert report.valid, report.violations


def test_grid_blind_optimum_is_feasible_once_redispatch_is_added():
    """grid_mesh: CP-SAT proves its placement optimal, but the plan's objective adds a re-dispatch
    chosen afterwards, so the plan as a whole is FEASIBLE unless that gap is within relative_gap."""
    sc = load_scenario(DATA / "grid_mesh.yaml")
    plan = solve(sc, "cpsat", time_limit_s=20)
    s = plan.summary
    assert s.placement_status == "OPTIMAL"
    assert s.status == ("OPTIMAL" if s.gap is not None and s.gap <= s.relative_gap else "FEASIBLE")
    assert any("the placement alone is OPTIMAL" in n for n in s.notes)


@pytest.mark.skipif(not SHARED_GRIDS.is_dir(), reason="../shared/grids/pglib not present")
def test_default_solve_of_an_imported_case118_is_the_secure_milp_plan(tmp_path):
    """The audit's case: `placer import-grid case118 && placer solve s.json` used to give a grid-blind
    CP-SAT plan labelled OPTIMAL at a 26.7 % gap."""
    scenario, plan = tmp_path / "s.json", tmp_path / "p.json"
    assert run_cli("import-grid", str(SHARED_GRIDS / "pglib_opf_case118_ieee.m"), "-o", str(scenario)).returncode == 0
    result = run_cli("solve", str(scenario), "--time-limit", "60", "-o", str(plan))
    assert result.returncode == 0, result.stderr
    summary = json.loads(plan.read_text())["summary"]
    assert summary["solver"] == "milp" and summary["engine_choice"].startswith("auto: ")
    assert json.loads(plan.read_text())["grid"]["n_minus_1"] == "secure"
    if summary["status"] == "OPTIMAL":
        assert summary["gap"] <= summary["relative_gap"]
    assert "auto:" in result.stdout
