"""Per site, the critical path to energisation (``plan.critical_path``): what held each site back in
every quarter and what lifted it, computed by the solvers (``solvers/critical_path.py``) and
recomputed by the verifier (``placer/verify_critical_path.py``, code CRITICAL_PATH_MISMATCH).

Scenarios: ``rollout_multi.yaml`` (east staged 1.2 MW from 2026Q4 and 3 MW from 2027Q2, a feed and
a substation upgrade in 2027Q2, a build rate; tenant b goes live from 2026Q4) and variants of it and
of ``rollout_toy.yaml`` in which the feed, the substation or a power option is what binds; and
``rollout_grid.yaml``, where the grid does (a line within a rack of its no-harm limit until 2027Q3).
"""

from __future__ import annotations

import pytest
from rich.console import Console

from placer.io import load_scenario
from placer.plan import Plan
from placer.report import print_plan
from placer.scenario import Scenario
from placer.verify import verify
from tests.helpers import DATA, only

CODE = "CRITICAL_PATH_MISMATCH"


def variant(sc: Scenario, edit) -> Scenario:
    data = sc.model_dump(by_alias=True)
    edit(data)
    return Scenario.model_validate(data)


@pytest.fixture(scope="module")
def multi() -> Scenario:
    return load_scenario(DATA / "rollout_multi.yaml")


@pytest.fixture(scope="module")
def plan(multi) -> Plan:
    from solvers import solve

    return solve(multi, "cpsat")


def path_of(plan: Plan, site: str):
    return next(cp for cp in plan.critical_path or [] if cp.site == site)


def test_each_site_says_what_held_it_back_and_what_lifted_it(multi, plan):
    report = verify(multi, plan)
    assert report.valid, report.violations
    assert CODE in report.checks
    assert [cp.site for cp in plan.critical_path] == ["east", "west"]  # the scenario's site order
    east = path_of(plan, "east")
    assert (east.first_live, east.full, east.final_racks) == ("2026Q4", "2027Q2", 18)
    # 2026Q3: nothing energized at east (its first stage comes in 2026Q4); b may not go live before 2026Q4
    q3 = east.held_back[0]
    assert q3.period == "2026Q3" and q3.racks_live == 0 and q3.racks_to_come == 18
    first = q3.binding[0]
    assert (first.limit, first.available, first.lifted_in, first.lifted_to) == ("it_capacity", 0.0, "2026Q4", 1.2)
    assert first.lifted_by == ["rollout.site_stages[0]"]
    assert {b.limit for b in q3.binding} == {"it_capacity", "liquid_cooling", "air_cooling", "go_live"}
    # 2027Q1: the 1.2 MW stage is full until the 3 MW stage of 2027Q2
    q1 = next(h for h in east.held_back if h.period == "2027Q1")
    assert q1.binding[0].limit == "it_capacity" and q1.binding[0].lifted_by == ["rollout.site_stages[1]"]
    assert [s.limit for s in east.path] == ["it_capacity", "deliveries", "it_capacity"]
    assert east.text.startswith("east: IT capacity 0 MW (2026Q3), lifted to 1.2 MW in 2026Q4 by rollout.site_stages[0]")
    assert east.text.endswith("-> full 2027Q2")
    west = path_of(plan, "west")
    assert [(s.limit, s.element, s.lifted_in) for s in west.path] == [("go_live", "b", "2026Q4")]
    assert west.path[0].lifted_by == ["rollout.go_live[0]"]


@pytest.mark.parametrize(
    ("element", "field", "limit", "lifted_by", "lifted_to"),
    [
        ("ss-e", "headroom_mw", "substation_headroom", "rollout.upgrades[1]", 5.0),
        ("feed-e", "capacity_mw", "feed_n1", "rollout.upgrades[0]", 5.0),
    ],
)
def test_the_grid_binds_until_its_upgrade(multi, element, field, limit, lifted_by, lifted_to):
    """At 1 MW of headroom (or feed) east cannot fill its 1.2 MW stage until the 2027Q2 upgrade."""
    from solvers import solve

    def tighten(d):
        for item in d["topology"]["nodes"] + d["topology"]["edges"]:
            if item.get("id") == element:
                item[field] = 1.0

    sc = variant(multi, tighten)
    p = solve(sc, "cpsat", option_worth=False)
    assert verify(sc, p).valid
    q1 = next(h for h in path_of(p, "east").held_back if h.period == "2027Q1")
    b = q1.binding[0]
    assert (b.limit, b.available, b.lifted_in, b.lifted_to, b.lifted_by) == (
        limit,
        1.0,
        "2027Q2",
        lifted_to,
        [lifted_by],
    )
    assert 1.0 - 0.12 * 1.25 < b.used <= 1.0  # no room for one more 120 kW rack at PUE 1.25


def test_an_option_that_lifts_a_limit_is_named_with_its_lead_time():
    from solvers import solve

    toy = load_scenario(DATA / "rollout_toy.yaml")
    hall = {
        "id": "hall-early",
        "kind": "site_stage",
        "element": "hall",
        "earliest": "2026Q4",
        "until": "2027Q1",
        "it_capacity_mw": 0.6,
        "capex_usd": 100_000.0,
    }
    sc = variant(toy, lambda d: d["rollout"].update(options=[hall]))
    p = solve(sc, "cpsat", option_worth=False)
    assert [(i.option, i.period) for i in p.investments] == [("hall-early", "2026Q4")]
    assert verify(sc, p).valid
    first = path_of(p, "hall").path[0]
    assert (first.limit, first.lifted_in, first.lifted_by) == (
        "it_capacity",
        "2026Q4",
        ["option hall-early (earliest 2026Q4)"],
    )


def test_the_cli_summary_prints_the_table(multi, plan):
    console = Console(record=True, width=140, emoji=False)
    print_plan(console, multi, plan)
    out = console.export_text()
    assert "Critical path to energisation" in out
    assert "IT 0->1.2 MW 2026Q4" in out and "b go-live 2026Q4" in out


def test_a_single_period_plan_has_none(tiny):
    from solvers import solve

    assert solve(tiny, "greedy").critical_path is None


# --------------------------------------------------------------------------- injections


def test_injected_lift_is_caught(multi, plan):
    east = path_of(plan, "east")
    b = east.held_back[0].binding[0].model_copy(update={"lifted_in": "2027Q1"})
    held = [east.held_back[0].model_copy(update={"binding": [b, *east.held_back[0].binding[1:]]}), *east.held_back[1:]]
    bad_east = east.model_copy(update={"held_back": held})
    bad = plan.model_copy(update={"critical_path": [bad_east, *plan.critical_path[1:]]})
    (v,) = only(verify(multi, bad), CODE)
    assert v.entity == "site:east" and "lifted_in" in v.message


def test_injected_binding_limit_is_caught(multi, plan):
    """A quarter that claims the build rate held east back when the stage did."""
    east = path_of(plan, "east")
    q = next(j for j, h in enumerate(east.held_back) if h.period == "2027Q1")
    b = east.held_back[q].binding[0].model_copy(update={"limit": "build_rate"})
    held = list(east.held_back)
    held[q] = held[q].model_copy(update={"binding": [b]})
    bad = plan.model_copy(
        update={"critical_path": [east.model_copy(update={"held_back": held}), plan.critical_path[1]]}
    )
    (v,) = only(verify(multi, bad), CODE)
    assert v.entity == "site:east"


def test_injected_full_quarter_and_text_are_caught(multi, plan):
    west = path_of(plan, "west")
    for edit in ({"full": "2027Q1"}, {"text": west.text.replace("2026Q4", "2027Q3")}):
        bad = plan.model_copy(update={"critical_path": [plan.critical_path[0], west.model_copy(update=edit)]})
        (v,) = only(verify(multi, bad), CODE)
        assert v.entity == "site:west"


def test_a_missing_or_extra_site_is_caught(multi, plan, tiny):
    from solvers import solve

    (v,) = only(verify(multi, plan.model_copy(update={"critical_path": plan.critical_path[:1]})), CODE)
    assert v.entity == "site:west"
    (v,) = only(verify(multi, plan.model_copy(update={"critical_path": None})), CODE)
    assert v.entity == "plan"
    single = solve(tiny, "greedy")
    (v,) = only(verify(tiny, single.model_copy(update={"critical_path": plan.critical_path})), CODE)
    assert v.entity == "plan"


# --------------------------------------------------------------------------- the grid as a limit


@pytest.fixture(scope="module")
def grid_rollout() -> Scenario:
    return load_scenario(DATA / "rollout_grid.yaml")


@pytest.fixture(scope="module")
def grid_plan(grid_rollout) -> Plan:
    from solvers import solve

    return solve(grid_rollout, "milp", option_worth=False)


def test_the_grid_is_named_when_no_site_limit_binds(grid_rollout, grid_plan):
    """rollout_grid: the cheap site has room for all its racks, but B hangs on two 55 MW (emergency)
    lines until 2027Q3; the MILP holds it at 35 MW, so a line is at its no-harm limit each quarter."""
    assert verify(grid_rollout, grid_plan).valid
    cheap = path_of(grid_plan, "cheap")
    assert (cheap.first_live, cheap.full) == ("2026Q3", "2027Q3")
    assert [h.period for h in cheap.held_back] == ["2026Q3", "2026Q4", "2027Q1", "2027Q2"]
    for h in cheap.held_back:
        (b,) = h.binding
        assert b.limit == "grid_line" and b.element in ("P-B", "B-C") and b.outage is not None
        assert (b.available, b.lifted_in, b.lifted_to) == (55.0, "2027Q3", 200.0)
        assert b.lifted_by == ["rollout.upgrades[0]" if b.element == "P-B" else "rollout.upgrades[1]"]
        assert 55.0 - 0.144 < b.used <= 55.0 + 1e-6  # less than one 0.144 MW rack left
        # the quarter's own report says so: the same line after the same outage
        grid = next(r.grid for r in grid_plan.schedule if r.period == h.period)
        assert any(
            (c.line, c.outage, abs(c.flow_mw)) == (b.element, b.outage, b.used) for c in grid.worst_contingencies
        )
    (step,) = cheap.path
    assert (step.first_period, step.last_period) == ("2026Q3", "2027Q2")
    assert "no site limit binds; grid line" in cheap.text and "(the schedule waits)" not in cheap.text
    assert "lifted to 200 MW in 2027Q3 by rollout.upgrades[" in cheap.text


def test_grid_at_limit_is_within_one_rack(grid_plan):
    """A line binds for a rack of f facility MW when it has less than f MW left (a DC transfer of f
    moves at most f on any line); the rack here is 120 kW x PUE 1.2 = 0.144 MW."""
    from placer.critical_path import grid_at_limit

    report = grid_plan.schedule[0].grid
    found = grid_at_limit(report, 0.144)
    assert found is not None
    line, outage, flow, limit = found
    assert limit == 55.0 and outage is not None and limit - 0.144 < flow <= limit + 1e-6
    # a rack smaller than every line's margin finds room: nothing is named
    least = min(
        [lf.limit_mw - abs(lf.flow_mw) for lf in report.lines]
        + [c.limit_mw - abs(c.flow_mw) for c in report.worst_contingencies]
    )
    assert least > 1e-4 and grid_at_limit(report, 0.5 * least) is None
    # a 100 MW rack could break every line: the most loaded is named (first listed of equal loadings)
    named = grid_at_limit(report, 100.0)
    assert named is not None and named[:2] == (line, outage)
    assert grid_at_limit(grid_plan.grid, 0.144) is None  # rebuilt lines: 28.5 % at worst
    assert grid_at_limit(None, 0.144) is None


def _edit_first_binding(plan: Plan, site: str, update: dict) -> Plan:
    cp = path_of(plan, site)
    h = cp.held_back[0]
    held = [
        h.model_copy(update={"binding": [h.binding[0].model_copy(update=update), *h.binding[1:]]}),
        *cp.held_back[1:],
    ]
    paths = [c if c.site != site else cp.model_copy(update={"held_back": held}) for c in plan.critical_path]
    return plan.model_copy(update={"critical_path": paths})


@pytest.mark.parametrize(
    "update",
    [
        {
            "limit": "none",
            "element": "cheap",
            "outage": None,
            "used": None,
            "available": None,
            "unit": "",
            "lifted_in": None,
            "lifted_to": None,
            "lifted_by": [],
        },  # the false label this replaced
        {"outage": "P-C2"},
        {"lifted_by": []},
    ],
    ids=["says-the-schedule-waits", "another-outage", "no-upgrade-named"],
)
def test_injected_grid_binding_is_caught(grid_rollout, grid_plan, update):
    bad = _edit_first_binding(grid_plan, "cheap", update)
    (v,) = only(verify(grid_rollout, bad), CODE)
    assert v.entity == "site:cheap"


def test_the_grid_is_listed_with_the_site_limits_of_other_waiting_racks(grid_rollout):
    """A second tenant at the cheap site may not go live before 2027Q1: until then its racks wait on
    their go-live window and t's on the grid; the union is listed, the grid (lifted latest) first."""
    from solvers import solve

    def add_tenant(d):
        d["demand"]["tenants"].append({"id": "u", "lines": [{"sku": "rack", "gpus": 3600}]})
        d["rollout"]["deliveries"].append({"tenant": "u", "sku": "rack", "period": "2026Q3", "gpus": 3600})
        d["rollout"]["go_live"] = [{"tenant": "u", "earliest": "2027Q1"}]
        d["policy"]["power_band_mw"]["max_mw"] = 90

    sc = variant(grid_rollout, add_tenant)
    p = solve(sc, "milp", option_worth=False)
    assert verify(sc, p).valid
    cheap = path_of(p, "cheap")
    limits = {h.period: [b.limit for b in h.binding] for h in cheap.held_back}
    assert limits["2026Q3"] == limits["2026Q4"] == ["grid_line", "go_live"]
    assert limits["2027Q1"] == limits["2027Q2"] == ["grid_line"]
    # dropping the go-live window from a quarter's list is caught
    q = cheap.held_back[0]
    held = [q.model_copy(update={"binding": q.binding[:1]}), *cheap.held_back[1:]]
    paths = [c if c.site != "cheap" else cheap.model_copy(update={"held_back": held}) for c in p.critical_path]
    (v,) = only(verify(sc, p.model_copy(update={"critical_path": paths})), CODE)
    assert v.entity == "site:cheap"
