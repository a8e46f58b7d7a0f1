"""Placement under grid limits: the contingency loop, what the plan records, and infeasibility in words."""

from __future__ import annotations

import json

import pytest

from placer.errors import InfeasibleError
from placer.io import load_scenario
from placer.verify import verify
from solvers import solve
from tests.helpers import DATA, SHARED_GRIDS


@pytest.fixture(scope="module")
def binding():
    return load_scenario(DATA / "grid_binding.yaml")


@pytest.fixture(scope="module")
def milp_plan(binding):
    return solve(binding, "milp")


def test_grid_limits_move_load_off_the_weak_bus(binding, milp_plan):
    unaware = solve(binding, "cpsat")
    # Without flows, all load goes to the cheap site and overloads B-C after losing P-B.
    assert {s.site for s in unaware.sites} == {"cheap"}
    assert unaware.grid.n_minus_1 == "insecure"
    assert ("B-C", "P-B") in {(v.line, v.outage) for v in unaware.grid.violations}
    report = verify(binding, unaware)
    assert not report.valid and "LINE_OVERLOAD_N1" in {v.code for v in report.violations}
    # The MILP moves part of it to the dear site and is N-1 secure.
    loads = {s.site: s.facility_power_mw for s in milp_plan.sites}
    assert loads.get("dear", 0) > 0.5
    assert milp_plan.grid.n_minus_1 == "secure" and milp_plan.grid.enforced_by_solver
    assert milp_plan.summary.objective > unaware.summary.objective  # security costs money
    assert verify(binding, milp_plan).valid


def test_the_loop_adds_only_violated_rows(milp_plan):
    g = milp_plan.grid
    assert len(g.iterations) >= 2
    assert g.iterations[-1].base_constraints_added + g.iterations[-1].contingency_constraints_added == 0
    assert g.constraints_added == sum(i.base_constraints_added + i.contingency_constraints_added for i in g.iterations)
    # far fewer rows than the full N-1 set (lines x outages)
    assert 0 < g.constraints_added < len(g.lines) * len(g.lines)


def test_plan_records_enough_to_recompute_flows(binding, milp_plan):
    g = milp_plan.grid
    assert set(g.injections_mw) == {"B", "C", "P"}
    assert abs(sum(g.injections_mw.values())) < 1e-6  # a DC network is lossless
    assert {l.line for l in g.lines} == {"P-B", "P-C1", "P-C2", "B-C"}
    assert all(l.rating_mw > 0 for l in g.lines)
    assert g.worst_contingencies and g.worst_contingencies[0].loading_pct <= 100 + 1e-6
    assert sum(r.mw for r in g.redispatch) == pytest.approx(milp_plan.summary.facility_power_mw)
    assert g.preexisting.dispatch_mw == {"P": pytest.approx(40.0)}
    names = [c.name for c in milp_plan.cost_breakdown]
    assert "redispatch" in names


def test_scip_agrees_with_highs(binding, milp_plan):
    scip = solve(binding, "scip")
    assert scip.summary.status == "OPTIMAL"
    assert scip.summary.objective == pytest.approx(milp_plan.summary.objective, rel=1e-6)
    assert scip.summary.solver == "scip" and "scip" in scip.summary.solver_version


def test_grid_that_cannot_carry_the_load_is_explained(binding):
    weak = binding.model_copy(deep=True)
    # one P-C circuit only: losing it pushes all load over P-B whatever the placement
    weak.topology.edges = [e for e in weak.topology.edges if e.id != "P-C2"]
    with pytest.raises(InfeasibleError) as info:
        solve(weak, "milp")
    assert "grid" in str(info.value)
    assert any("after losing line" in r for r in info.value.reasons)


def test_security_none_ignores_flows(binding):
    relaxed = binding.model_copy(deep=True)
    relaxed.policy.grid.security = "none"
    plan = solve(relaxed, "milp")
    assert {s.site for s in plan.sites} == {"cheap"}
    assert plan.grid is None or not plan.grid.enforced_by_solver


def test_monitoring_threshold_by_voltage(binding):
    high = binding.model_copy(deep=True)
    high.policy.grid.monitor_min_kv = 500  # lines carry no kv here: they stay monitored
    assert solve(high, "milp").grid.monitored_lines == 4
    for e in high.topology.edges:
        if e.kind == "line":
            e.kv = 345.0
    plan = solve(high, "milp")
    assert plan.grid.monitored_lines == 0
    assert {s.site for s in plan.sites} == {"cheap"}  # nothing monitored: nothing binds


@pytest.mark.skipif(not SHARED_GRIDS.is_dir(), reason="../shared/grids/pglib not present")
@pytest.mark.parametrize("case", ["pglib_opf_case57_ieee.m", "pglib_opf_case118_ieee.m"])
def test_pglib_import_then_milp_is_secure_and_verified(case, tmp_path, cli):
    scenario = tmp_path / "s.json"
    result = cli(
        "import-grid", str(SHARED_GRIDS / case), "--sites", "20", "--seed", "1", "--gpus", "5040", "-o", str(scenario)
    )
    assert result.returncode == 0, result.stderr
    plan = tmp_path / "p.json"
    result = cli("solve", str(scenario), "--solver", "milp", "-o", str(plan))
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(plan.read_text())
    assert data["grid"]["n_minus_1"] == "secure"
    assert cli("verify", str(scenario), str(plan)).returncode == 0


def test_import_grid_bad_file_is_one_line(tmp_path, cli):
    bad = tmp_path / "bad.m"
    bad.write_text("function mpc = bad\nmpc.baseMVA = 100;\n")
    out = tmp_path / "s.json"
    result = cli("import-grid", str(bad), "-o", str(out))
    assert result.returncode == 2
    assert "bad.m" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "name, text", [("korea.json", '{"name": "korea-2025"}'), ("notes.m", "% just a comment\n"), ("dir", None)]
)
def test_import_grid_on_a_file_that_is_not_matpower_says_so_in_one_line(tmp_path, cli, name, text):
    path = tmp_path / name
    if text is None:
        path.mkdir()
    else:
        path.write_text(text)
    result = cli("import-grid", str(path), "-o", str(tmp_path / "s.json"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and str(path) in lines[0], result.stderr
    # a directory is refused by the CLI's own file check before the importer reads anything
    assert ("not a MATPOWER case" if text is not None else "is a directory, not a file") in lines[0]
    assert "FileNotFoundError" not in lines[0]


@pytest.mark.skipif(not SHARED_GRIDS.is_dir(), reason="../shared/grids/pglib not present")
def test_case14_cannot_take_load_without_harm_and_says_which_lines(tmp_path, cli):
    """PGLib case14 is N-1 insecure before any new load (br:2 after losing br:1, ~200 %) and nearly
    all generation sits behind that line: no placement avoids worsening it. The planner hears why."""
    scenario = tmp_path / "s.json"
    assert (
        cli(
            "import-grid",
            str(SHARED_GRIDS / "pglib_opf_case14_ieee.m"),
            "--sites",
            "6",
            "--seed",
            "1",
            "--gpus",
            "5040",
            "-o",
            str(scenario),
        ).returncode
        == 0
    )
    plan = tmp_path / "p.json"
    result = cli("solve", str(scenario), "--solver", "milp", "-o", str(plan))
    assert result.returncode == 3
    assert "not while the grid carries the new load" in result.stderr
    assert "line br:2 after losing line br:1" in result.stderr
    assert not plan.exists()
