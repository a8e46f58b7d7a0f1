"""Injection tests for the verifier's claim checks (placer.verify_claims) and GRID_COVERAGE.

Every test starts from a real plan that the real solver wrote and the verifier accepts, whose
labels are honest: CP-SAT on ``tiny.yaml`` with grid security 'none' (OPTIMAL, gap ~6e-6),
the MILP on ``grid_mesh.yaml`` and ``grid_binding.yaml`` (OPTIMAL, N-1 secure; on
grid_binding the contingency loop adds rows) and CP-SAT on ``rollout_toy.yaml``. It then
injects exactly one lie into the plan and asserts that exactly one code is raised.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from placer import verify as verify_module
from placer import verify_claims
from placer.io import load_scenario
from placer.plan import ContingencyLoading, Plan
from placer.scenario import Scenario
from placer.verify import ALL_CODES, verify
from tests.helpers import codes, only, run_cli

DATA = Path(__file__).parent / "data"


# --------------------------------------------------------------------------- honest plans


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    sc = load_scenario(DATA / "tiny.yaml")
    sc.policy.grid.security = "none"  # no grid: CP-SAT's bound is a bound of the whole objective
    return sc


@pytest.fixture(scope="module")
def tiny_plan(tiny) -> Plan:
    from solvers import solve

    plan = solve(tiny, solver="cpsat")
    assert plan.summary.status == "OPTIMAL" and plan.summary.bound is not None and plan.summary.gap is not None
    assert plan.summary.gap <= plan.summary.relative_gap
    assert verify(tiny, plan).valid
    return plan


@pytest.fixture(scope="module")
def mesh() -> Scenario:
    return load_scenario(DATA / "grid_mesh.yaml")


@pytest.fixture(scope="module")
def mesh_plan(mesh) -> Plan:
    from solvers import solve

    plan = solve(mesh, solver="milp")
    assert plan.summary.status == "OPTIMAL" and plan.grid.n_minus_1 == "secure"
    report = verify(mesh, plan)
    assert report.valid, report.violations
    return plan


@pytest.fixture(scope="module")
def binding() -> Scenario:
    return load_scenario(DATA / "grid_binding.yaml")


@pytest.fixture(scope="module")
def binding_plan(binding) -> Plan:
    from solvers import solve

    plan = solve(binding, solver="milp")
    report = verify(binding, plan)
    assert report.valid, report.violations
    assert plan.grid.constraints_added > 0 and len(plan.grid.iterations) >= 2  # the loop added rows
    return plan


@pytest.fixture(scope="module")
def toy() -> Scenario:
    return load_scenario(DATA / "rollout_toy.yaml")


@pytest.fixture(scope="module")
def toy_plan(toy) -> Plan:
    from solvers import solve

    plan = solve(toy, solver="cpsat")
    assert verify(toy, plan).valid
    return plan


def lie(plan: Plan, **summary) -> Plan:
    """``plan`` with summary fields replaced (no validation: Python-built plans may hold NaN)."""
    return plan.model_copy(update={"summary": plan.summary.model_copy(update=summary)})


def lie_grid(plan: Plan, **grid) -> Plan:
    return plan.model_copy(update={"grid": plan.grid.model_copy(update=grid)})


def one(report, code: str, entity: str | None = None):
    (v,) = only(report, code)
    if entity is not None:
        assert v.entity == entity, v
    return v


# --------------------------------------------------------------------------- the codes


def test_codes_are_listed_and_documented():
    for code in (*verify_claims.CLAIM_CODES, "GRID_COVERAGE"):
        assert code in ALL_CODES
        assert code in verify_module.__doc__
    assert (verify_claims.USD_REL_TOL, verify_claims.USD_ABS_TOL) == (
        verify_module.USD_REL_TOL,
        verify_module.USD_ABS_TOL,
    )


def test_honest_plans_check_every_claim(tiny, tiny_plan, binding, binding_plan):
    assert set(verify_claims.CLAIM_CODES) - {"GRID_LOOP_CLAIM"} <= set(verify(tiny, tiny_plan).checks)
    checks = verify(binding, binding_plan).checks
    assert set(verify_claims.CLAIM_CODES) | {"GRID_COVERAGE"} <= set(checks)


# --------------------------------------------------------------------------- STATUS_CLAIM


@pytest.mark.parametrize("status", ["INFEASIBLE", "UNKNOWN", "MODEL_INVALID"])
def test_a_plan_with_racks_is_not_infeasible(tiny, tiny_plan, status):
    v = one(verify(tiny, lie(tiny_plan, status=status)), "STATUS_CLAIM", "summary.status")
    assert status in v.message and f"{tiny_plan.summary.racks_placed:,} racks" in v.message


def test_placement_status_must_be_a_solved_status(tiny, tiny_plan):
    one(verify(tiny, lie(tiny_plan, placement_status="INFEASIBLE")), "STATUS_CLAIM", "summary.placement_status")


def test_optimal_without_a_bound(tiny, tiny_plan):
    v = one(verify(tiny, lie(tiny_plan, bound=None, gap=None)), "STATUS_CLAIM", "summary.status")
    assert "no bound" in v.message


def test_optimal_with_a_gap_above_relative_gap(tiny, tiny_plan):
    """korea-2025's lie: OPTIMAL with a true, consistently reported gap of 0.12 % > relative_gap 0.01 %."""
    obj = tiny_plan.summary.objective
    v = one(verify(tiny, lie(tiny_plan, bound=obj * (1 - 0.0012), gap=0.0012)), "STATUS_CLAIM", "summary.status")
    assert "0.120000%" in v.message and "0.010000%" in v.message


def test_optimal_within_its_own_looser_relative_gap(tiny, tiny_plan):
    """The plan sets its own bar: relative_gap 5 % while the scenario asks for 0.01 %."""
    obj = tiny_plan.summary.objective
    bad = lie(tiny_plan, relative_gap=0.05, bound=obj * 0.97, gap=0.03)
    one(verify(tiny, bad), "STATUS_CLAIM", "summary.relative_gap")
    # the looser bar alone, with the plan's real (tight) gap, is flagged too
    one(verify(tiny, lie(tiny_plan, relative_gap=0.05)), "STATUS_CLAIM", "summary.relative_gap")


def test_feasible_within_the_gap_is_a_true_label(tiny, tiny_plan):
    assert verify(tiny, lie(tiny_plan, status="FEASIBLE")).valid


def test_placement_optimal_without_grid_needs_the_proof(tiny, tiny_plan):
    """No grid report: the placement is the whole objective, so a placement OPTIMAL needs the bound."""
    obj = tiny_plan.summary.objective
    bad = lie(tiny_plan, status="FEASIBLE", placement_status="OPTIMAL", bound=obj * 0.99, gap=0.01)
    one(verify(tiny, bad), "STATUS_CLAIM", "summary.placement_status")
    ok = lie(tiny_plan, status="FEASIBLE", placement_status="OPTIMAL")
    assert verify(tiny, ok).valid


def test_grid_blind_cpsat_plan_is_valid_once_labelled_honestly():
    """CP-SAT on tiny with its grid (N-1): the placement is proven, the re-dispatch chosen afterwards
    leaves a whole-objective gap above relative_gap. Labelled OPTIMAL it is rejected; labelled
    FEASIBLE with placement_status OPTIMAL (the honest pair) it verifies."""
    from solvers import solve

    sc = load_scenario(DATA / "tiny.yaml")
    plan = solve(sc, solver="cpsat")
    sm = plan.summary
    assert plan.grid is not None and sm.gap is not None and sm.gap > sm.relative_gap
    if sm.status == "OPTIMAL":  # the label before the solvers' change
        one(verify(sc, plan), "STATUS_CLAIM", "summary.status")
    honest = lie(plan, status="FEASIBLE", placement_status="OPTIMAL")
    report = verify(sc, honest)
    assert report.valid, report.violations


def test_placement_optimal_with_a_grid_is_not_checkable(mesh, mesh_plan):
    """With a grid report the plan has no bound of the placement alone: the label is taken as stated."""
    obj = mesh_plan.summary.objective
    honest_cpsat_like = lie(mesh_plan, status="FEASIBLE", placement_status="OPTIMAL", bound=obj * 0.9, gap=0.1)
    assert verify(mesh, honest_cpsat_like).valid


@pytest.mark.parametrize("value", [math.nan, math.inf, -0.1, 2.0])
def test_relative_gap_not_a_share(tiny, tiny_plan, value):
    """A Python-built plan can hold NaN: the OPTIMAL proof must not pass by NaN comparisons."""
    one(verify(tiny, lie(tiny_plan, relative_gap=value)), "STATUS_CLAIM", "summary.relative_gap")


def test_placement_optimal_needs_a_bound(mesh, mesh_plan):
    bad = lie(mesh_plan, status="FEASIBLE", placement_status="OPTIMAL", bound=None, gap=None)
    one(verify(mesh, bad), "STATUS_CLAIM", "summary.placement_status")


# --------------------------------------------------------------------------- BOUND_CLAIM


def test_bound_above_the_objective(tiny, tiny_plan):
    """The audit's lie: a bound of twice the objective (its recomputed gap clamps to 0, reported 0)."""
    obj = tiny_plan.summary.objective
    v = one(verify(tiny, lie(tiny_plan, bound=2 * obj, gap=0.0)), "BOUND_CLAIM", "summary.bound")
    assert v.measured == pytest.approx(2 * obj) and v.limit == pytest.approx(obj)


def test_bound_within_the_money_tolerance_is_accepted(tiny, tiny_plan):
    obj = tiny_plan.summary.objective
    assert verify(tiny, lie(tiny_plan, bound=obj + 0.5, gap=0.0)).valid


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_bound_not_finite(tiny, tiny_plan, value):
    one(verify(tiny, lie(tiny_plan, status="FEASIBLE", bound=value)), "BOUND_CLAIM", "summary.bound")


# --------------------------------------------------------------------------- GAP_CLAIM


@pytest.mark.parametrize("gap", [-0.5, math.nan, math.inf, 5.0, 0.01])
def test_gap_lies(tiny, tiny_plan, gap):
    """The audit's gaps of -0.5, NaN and 500 %, and a plain wrong one."""
    one(verify(tiny, lie(tiny_plan, gap=gap)), "GAP_CLAIM", "summary.gap")


def test_gap_zero_against_a_true_gap_of_012_percent(tiny, tiny_plan):
    obj = tiny_plan.summary.objective
    bad = lie(tiny_plan, status="FEASIBLE", bound=obj * (1 - 0.0012), gap=0.0)
    v = one(verify(tiny, bad), "GAP_CLAIM", "summary.gap")
    assert v.limit == pytest.approx(0.0012)


def test_gap_without_a_bound(tiny, tiny_plan):
    one(verify(tiny, lie(tiny_plan, status="FEASIBLE", bound=None, gap=0.0)), "GAP_CLAIM", "summary.gap")


def test_bound_without_a_gap(tiny, tiny_plan):
    one(verify(tiny, lie(tiny_plan, gap=None)), "GAP_CLAIM", "summary.gap")


def test_no_bound_no_gap_feasible_is_valid(tiny, tiny_plan):
    assert verify(tiny, lie(tiny_plan, status="FEASIBLE", bound=None, gap=None)).valid


@settings(max_examples=60, deadline=None)
@given(
    bound_share=st.one_of(st.none(), st.floats(-0.5, 2.5)),
    gap=st.one_of(st.none(), st.just("true"), st.floats(-1.0, 6.0), st.sampled_from([math.nan, math.inf])),
    status=st.sampled_from(["OPTIMAL", "FEASIBLE"]),
)
def test_status_bound_and_gap_agree(tiny, tiny_plan, bound_share, gap, status):
    """Random (status, bound, gap) claims on the real plan: the codes raised are exactly those the
    rules of the module docstring give, written out again here."""
    obj = tiny_plan.summary.objective
    bound = None if bound_share is None else obj * bound_share
    true_gap = None if bound is None else max(0.0, (obj - bound) / obj)
    if gap == "true":
        gap = true_gap
    tol = 1e-6 * max(abs(obj), abs(bound or 0.0)) + 1.0
    expected = set()
    if bound is not None and bound > obj + tol:
        expected.add("BOUND_CLAIM")
    if gap is None:
        if bound is not None:
            expected.add("GAP_CLAIM")
    elif bound is None or not math.isfinite(gap) or gap < 0 or abs(gap - true_gap) * obj > tol:
        expected.add("GAP_CLAIM")
    if status == "OPTIMAL" and (bound is None or obj - bound > 1e-4 * obj + tol):
        expected.add("STATUS_CLAIM")
    report = verify(tiny, lie(tiny_plan, status=status, bound=bound, gap=gap))
    assert codes(report) == expected, report.violations


# --------------------------------------------------------------------------- STRANDING_CLAIM


@pytest.mark.parametrize("stranded", [999, -5])
def test_stranding_on_a_single_period_scenario(tiny, tiny_plan, stranded):
    v = one(verify(tiny, lie(tiny_plan, stranded_gpu_quarters=stranded)), "STRANDING_CLAIM")
    assert v.entity == "summary.stranded_gpu_quarters"


@pytest.mark.parametrize("stranded", [720, 1441, -1440])
def test_stranding_of_a_rollout(toy, toy_plan, stranded):
    assert toy_plan.summary.stranded_gpu_quarters == 1440
    v = one(verify(toy, lie(toy_plan, stranded_gpu_quarters=stranded)), "STRANDING_CLAIM")
    assert v.measured == stranded


# --------------------------------------------------------------------------- GRID_COVERAGE


def test_empty_grid_lines(mesh, mesh_plan):
    """The audit's lie: an empty grid.lines passed."""
    v = one(verify(mesh, lie_grid(mesh_plan, lines=[])), "GRID_COVERAGE", "grid.lines")
    assert "7 of the 7 monitored lines" in v.message


def test_one_monitored_line_left_out(mesh, mesh_plan):
    rows = [r for r in mesh_plan.grid.lines if r.line != "L4"]
    v = one(verify(mesh, lie_grid(mesh_plan, lines=rows)), "GRID_COVERAGE", "grid.lines")
    assert "L4" in v.message


def test_a_line_listed_twice(mesh, mesh_plan):
    rows = [*mesh_plan.grid.lines, mesh_plan.grid.lines[0]]
    one(verify(mesh, lie_grid(mesh_plan, lines=rows)), "GRID_COVERAGE", f"line:{rows[0].line}")


def test_monitored_lines_count(mesh, mesh_plan):
    one(verify(mesh, lie_grid(mesh_plan, monitored_lines=3)), "GRID_COVERAGE", "grid.monitored_lines")


def test_unmonitored_lines_need_not_be_listed(mesh, mesh_plan):
    """Only lines at or above 345 kV monitored: a plan that lists only those is complete."""
    from solvers import solve

    high = mesh.model_copy(deep=True)
    high.policy.grid.monitor_min_kv = 345.0
    plan = solve(high, solver="milp")
    monitored = [e.id for e in high.topology.edges_of_kind("line") if e.kv is None or e.kv >= 345.0]
    assert plan.grid.monitored_lines == len(monitored) < len(plan.grid.lines)
    trimmed = lie_grid(plan, lines=[r for r in plan.grid.lines if r.line in monitored])
    assert verify(high, trimmed).valid
    dropped = lie_grid(plan, lines=[r for r in plan.grid.lines if r.line != monitored[0]])
    one(verify(high, dropped), "GRID_COVERAGE", "grid.lines")
    # a base-case "violation" on an unmonitored line (its figures are the true ones) is no violation
    row = next(r for r in plan.grid.lines if r.line not in monitored)
    fake = ContingencyLoading(
        outage="-", line=row.line, flow_mw=row.flow_mw, limit_mw=row.limit_mw, loading_pct=row.loading_pct
    )
    v = one(verify(high, lie_grid(plan, violations=[fake])), "GRID_COVERAGE", f"line:{row.line}/outage:-")
    assert "not monitored" in v.message


def test_a_plant_left_out_of_the_preexisting_dispatch(mesh, mesh_plan):
    """g2 runs at 0 MW before the new load: leaving it out changes no flow, but the section is incomplete."""
    assert mesh_plan.grid.preexisting.dispatch_mw["g2"] == pytest.approx(0.0, abs=1e-9)
    pre = mesh_plan.grid.preexisting
    bad = lie_grid(
        mesh_plan,
        preexisting=pre.model_copy(update={"dispatch_mw": {k: v for k, v in pre.dispatch_mw.items() if k != "g2"}}),
    )
    v = one(verify(mesh, bad), "GRID_COVERAGE", "grid.preexisting.dispatch_mw")
    assert "g2" in v.message


def test_plants_absent_from_redispatch_move_by_zero(mesh, mesh_plan):
    listed = {r.plant for r in mesh_plan.grid.redispatch}
    assert listed < {p.id for p in mesh.topology.plants}  # the solver lists only plants that move
    assert verify(mesh, mesh_plan).valid


def test_worst_contingencies_empty(mesh, mesh_plan):
    one(verify(mesh, lie_grid(mesh_plan, worst_contingencies=[])), "GRID_COVERAGE", "grid.worst_contingencies")


def test_worst_contingency_left_out(mesh, mesh_plan):
    worst = mesh_plan.grid.worst_contingencies
    v = one(
        verify(mesh, lie_grid(mesh_plan, worst_contingencies=worst[1:])), "GRID_COVERAGE", "grid.worst_contingencies"
    )
    assert f"{worst[0].line} after losing {worst[0].outage}" in v.message


def test_worst_contingencies_not_worst_first(mesh, mesh_plan):
    worst = mesh_plan.grid.worst_contingencies
    assert worst[0].loading_pct > worst[-1].loading_pct
    one(verify(mesh, lie_grid(mesh_plan, worst_contingencies=worst[::-1])), "GRID_COVERAGE", "grid.worst_contingencies")


def test_a_violation_listed_that_is_none(mesh, mesh_plan):
    """A true post-outage loading within its limit, listed as a violation (its figures are right)."""
    row = mesh_plan.grid.worst_contingencies[0]
    assert row.loading_pct < 100
    one(verify(mesh, lie_grid(mesh_plan, violations=[row])), "GRID_COVERAGE", f"line:{row.line}/outage:{row.outage}")


def test_violations_left_out_of_an_insecure_plan(binding):
    """CP-SAT places grid-blind on grid_binding: two N-1 overloads no re-dispatch removes. Listed, the
    plan is merely insecure; left out, the grid section also lies about them."""
    from solvers import solve

    plan = solve(binding, solver="cpsat")
    found = codes(verify(binding, plan)) - {"STATUS_CLAIM"}  # STATUS_CLAIM: until the lead's label change
    assert found == {"LINE_OVERLOAD_N1"} and len(plan.grid.violations) == 2
    report = verify(binding, lie_grid(plan, violations=plan.grid.violations[:1]))
    assert codes(report) - {"STATUS_CLAIM"} == {"LINE_OVERLOAD_N1", "GRID_COVERAGE"}
    (v,) = [v for v in report.violations if v.code == "GRID_COVERAGE"]
    assert v.entity == "grid.violations" and "1 of the 2" in v.message


# --------------------------------------------------------------------------- GRID_LOOP_CLAIM


def test_constraints_added_fewer_than_the_iterations_added(binding, binding_plan):
    n = binding_plan.grid.constraints_added
    one(verify(binding, lie_grid(binding_plan, constraints_added=n - 1)), "GRID_LOOP_CLAIM", "grid.constraints_added")


def test_constraints_added_more_than_exist(binding, binding_plan):
    v = one(
        verify(binding, lie_grid(binding_plan, constraints_added=10**6)), "GRID_LOOP_CLAIM", "grid.constraints_added"
    )
    assert "distinct rows that exist" in v.message


def test_iterations_out_of_order(binding, binding_plan):
    its = binding_plan.grid.iterations
    renumbered = [its[0].model_copy(update={"iteration": 2}), *its[1:]]
    one(verify(binding, lie_grid(binding_plan, iterations=renumbered)), "GRID_LOOP_CLAIM", "grid.iterations[0]")


@pytest.mark.parametrize(
    "field,value", [("base_constraints_added", -1), ("worst_violation_mw", -1.0), ("worst_violation_mw", math.nan)]
)
def test_iteration_figures(binding, binding_plan, field, value):
    its = binding_plan.grid.iterations
    bad = [its[0].model_copy(update={field: value}), *its[1:]]
    one(verify(binding, lie_grid(binding_plan, iterations=bad)), "GRID_LOOP_CLAIM", "grid.iterations[0]")


# --------------------------------------------------------------------------- TIMING_CLAIM


@pytest.mark.parametrize(
    "field,value", [("build_seconds", -1.0), ("solve_seconds", math.nan), ("solve_seconds", math.inf)]
)
def test_summary_seconds(tiny, tiny_plan, field, value):
    one(verify(tiny, lie(tiny_plan, **{field: value})), "TIMING_CLAIM", f"summary.{field}")


def test_loop_seconds_negative(binding, binding_plan):
    one(verify(binding, lie_grid(binding_plan, loop_seconds=-0.1)), "TIMING_CLAIM", "grid.loop_seconds")


def test_iterations_longer_than_the_loop(binding, binding_plan):
    its = binding_plan.grid.iterations
    long = [its[0].model_copy(update={"seconds": binding_plan.grid.loop_seconds + 1.0}), *its[1:]]
    one(verify(binding, lie_grid(binding_plan, iterations=long)), "TIMING_CLAIM", "grid.loop_seconds")


def test_iteration_seconds_negative(binding, binding_plan):
    its = binding_plan.grid.iterations
    bad = [its[0].model_copy(update={"seconds": -1.0}), *its[1:]]
    one(verify(binding, lie_grid(binding_plan, iterations=bad)), "TIMING_CLAIM", "grid.iterations[0].seconds")


# --------------------------------------------------------------------------- the CLI


def _write(tmp_path: Path, name: str, data: dict) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_cli_verify_accepts_the_honest_plan(tmp_path, mesh_plan):
    good = _write(tmp_path, "good.json", json.loads(mesh_plan.model_dump_json()))
    ok = run_cli("verify", str(DATA / "grid_mesh.yaml"), str(good))
    assert ok.returncode == 0, ok.stdout + ok.stderr


@pytest.mark.parametrize(
    "edit,code",
    [
        (lambda d: d["summary"].update(status="INFEASIBLE"), "STATUS_CLAIM"),
        (lambda d: d["summary"].update(gap=0.0, bound=d["summary"]["objective"] * 2), "BOUND_CLAIM"),
        (lambda d: d["summary"].update(stranded_gpu_quarters=999), "STRANDING_CLAIM"),
        (lambda d: d["grid"].update(lines=[]), "GRID_COVERAGE"),
    ],
    ids=["infeasible", "bound", "stranding", "empty-lines"],
)
def test_cli_verify_rejects_a_lying_plan(tmp_path, mesh_plan, edit, code):
    """`python -m placer verify SCENARIO LYING_PLAN` exits 1 and names the code."""
    data = json.loads(mesh_plan.model_dump_json())
    edit(data)
    bad = _write(tmp_path, "lying.json", data)
    res = run_cli("verify", str(DATA / "grid_mesh.yaml"), str(bad))
    assert res.returncode == 1, res.stdout + res.stderr
    assert code in res.stdout


def test_cli_verify_json_names_exactly_the_code(tmp_path, mesh_plan):
    data = json.loads(mesh_plan.model_dump_json())
    data["summary"]["gap"] = 0.5  # in range (a schema cannot refuse it), but not the gap of this bound
    bad = _write(tmp_path, "lying.json", data)
    res = run_cli("verify", str(DATA / "grid_mesh.yaml"), str(bad), "--json")
    assert res.returncode == 1, res.stdout + res.stderr
    assert {v["code"] for v in json.loads(res.stdout)["violations"]} == {"GAP_CLAIM"}
