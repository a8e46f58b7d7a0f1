"""A rollout's grid in every quarter: each quarter's DC flow and N-1 against its own network and load."""

from __future__ import annotations

import pytest

from placer.verify import verify
from solvers import solve
from tests.helpers import DATA, codes, only, renpv


@pytest.fixture(scope="module")
def scenario():
    from placer.io import load_scenario

    return load_scenario(DATA / "rollout_grid.yaml")


@pytest.fixture(scope="module")
def milp_plan(scenario):
    return solve(scenario, "milp")


def _cheap_mw(rep) -> float:
    return sum(s.facility_power_mw for s in rep.sites if s.site == "cheap")


def test_every_quarter_meets_its_own_network(scenario, milp_plan):
    plan = milp_plan
    assert plan.schedule is not None and plan.grid is not None
    assert plan.summary.status == "OPTIMAL" and verify(scenario, plan).valid
    *early, last = plan.schedule
    assert all(rep.grid is not None and rep.grid.n_minus_1 == "secure" for rep in early)
    assert last.grid is None and plan.grid.n_minus_1 == "secure"  # the last quarter's is the plan's grid
    # before the rebuild, losing P-B leaves B-C (55 MW emergency) with B's 20 MW and the cheap site's load
    for rep in plan.schedule[:4]:
        assert _cheap_mw(rep) <= 35.0 + 1e-6
    assert _cheap_mw(last) > 35.0  # the rebuilt lines let the cheap site grow
    assert "every quarter" in " ".join(plan.summary.notes)


def test_a_grid_blind_rollout_breaks_the_early_quarters_and_the_verifier_names_them(scenario):
    plan = solve(scenario, "cpsat")
    assert plan.summary.status == "FEASIBLE" and plan.schedule is not None
    assert plan.schedule[0].grid.n_minus_1 == "insecure" and plan.grid.n_minus_1 == "secure"
    report = verify(scenario, plan)
    assert codes(report) == {"LINE_OVERLOAD", "LINE_OVERLOAD_N1"}
    quarters = {v.entity.split(":")[0] for v in report.violations}
    assert quarters == {"2026Q3", "2026Q4", "2027Q1", "2027Q2"}  # not 2027Q3, when the lines are rebuilt
    assert any(v.entity == "2026Q3:line:B-C/outage:P-B" for v in report.violations)


def test_a_quarter_without_its_grid_report_is_caught(scenario, milp_plan):
    bad = milp_plan.model_copy(deep=True)
    bad.schedule[1].grid = None
    (v,) = only(verify(scenario, bad), "GRID_MISSING")
    assert v.entity == "2026Q4:grid"


def test_a_quarter_whose_redispatch_does_not_balance_is_caught(scenario, milp_plan):
    bad = milp_plan.model_copy(deep=True)
    g = bad.schedule[2].grid
    g.redispatch[0].mw += 5.0  # the quarter's plants now serve 5 MW more than its new load
    report = verify(scenario, bad)
    # the grid findings name that quarter; the NPV and the claims on it then move with its re-dispatch cost
    grid = [v for v in report.violations if not v.entity.startswith(("npv", "summary"))]
    assert {v.code for v in grid} == {"GRID_BALANCE", "REPORTED_MISMATCH"}
    assert all(v.entity.startswith("2027Q1:") for v in grid)
    assert "NPV_TERM" in codes(report)


def test_each_quarter_pays_its_own_redispatch(scenario, milp_plan):
    plan = milp_plan
    per_quarter = [p.terms_usd["redispatch"] for p in plan.npv.periods]
    assert all(v > 0 for v in per_quarter)  # every quarter with new load re-dispatches the plant
    again = renpv(scenario, plan)  # the solver's NPV rule from the plan's own per-quarter grid reports
    assert again.npv.total_usd == pytest.approx(plan.npv.total_usd, rel=1e-9)


@pytest.fixture(scope="module")
def with_rebuild(scenario):
    """rollout-grid with the option to rebuild its two weak lines from 2026Q4 (USD 5 M each)."""
    from placer.scenario import Scenario

    data = scenario.model_dump(mode="json")
    data["rollout"]["options"] = [
        {
            "id": f"rebuild-{line.lower()}",
            "kind": "line",
            "element": line,
            "earliest": "2026Q4",
            "capex_usd": 5e6,
            "rating_mw": 200.0,
            "emergency_rating_mw": 200.0,
            "source": "test",
        }
        for line in ("P-B", "B-C")
    ]
    return Scenario.model_validate(data)


@pytest.fixture(scope="module")
def rebuild_plan(with_rebuild):
    return solve(with_rebuild, "milp", option_worth=False)


def test_a_line_reinforcement_is_chosen_and_lifts_that_quarters_limits(with_rebuild, rebuild_plan):
    plan = rebuild_plan
    assert verify(with_rebuild, plan).valid
    built = {inv.option: inv.period for inv in plan.investments or []}
    assert built == {"rebuild-p-b": "2026Q4", "rebuild-b-c": "2026Q4"}  # cheaper than the dear site
    assert _cheap_mw(plan.schedule[1]) > 35.0 + 1e-6  # the rebuilt lines carry the cheap site from 2026Q4
    assert _cheap_mw(plan.schedule[0]) <= 35.0 + 1e-6  # not before: the option's lead time
    lines = {row.line: row for row in plan.schedule[1].grid.lines}
    assert lines["B-C"].rating_mw == 200.0 and plan.schedule[0].grid.lines[-1].rating_mw == 50.0
    assert all(rep.grid.n_minus_1 == "secure" for rep in plan.schedule[:-1])


def test_a_plan_that_relies_on_a_reinforcement_it_does_not_build_is_caught(with_rebuild, rebuild_plan):
    bad = rebuild_plan.model_copy(deep=True)
    bad.investments = []  # the same schedule and flows, without the rebuilt lines
    report = verify(with_rebuild, renpv(with_rebuild, bad))
    assert {"LINE_OVERLOAD_N1"} <= codes(report)
    assert any(v.entity.startswith("2026Q4:line:") for v in report.violations if v.code == "LINE_OVERLOAD_N1")


def test_two_reinforcements_of_one_line_must_exclude_each_other(with_rebuild):
    from pydantic import ValidationError

    from placer.scenario import Scenario

    data = with_rebuild.model_dump(mode="json")
    data["rollout"]["options"][1]["element"] = "P-B"
    with pytest.raises(ValidationError, match="must exclude each other"):
        Scenario.model_validate(data)
    data["rollout"]["options"][0]["reactance_pu"] = 0.05
    with pytest.raises(ValidationError, match="reactance_pu is not modelled"):
        Scenario.model_validate(data)
