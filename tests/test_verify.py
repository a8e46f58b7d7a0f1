"""Tests for the independent verifier (placer.verify).

A valid plan comes from the solver (module-scoped, solved once). Each check code gets a
test that injects exactly that violation -- by editing the plan's rack counts or the
scenario's limits -- and then re-derives every reported figure with ``rederive`` (written
here, independently of the verifier), so that the only violation left is the intended one.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from placer.errors import InputError
from placer.io import load_scenario
from placer.plan import Assignment, CostTerm, Plan, SiteLoad, SubstationLoad, Summary
from placer.scenario import Feed, Fiber, Scenario
from placer.verify import ALL_CODES, COST_TERMS, GRID_CODES, Report, fiber_rtt_ms, verify
from placer.verify_layout import CODES as LAYOUT_CODES
from placer.verify_marginals import CODES as MARGINAL_CODES
from placer.verify_options import CODES as OPTION_CODES
from placer.verify_replan import CODES as REPLAN_CODES
from placer.verify_schedule import CODES as SCHEDULE_CODES
from placer.verify_worth import CODES as WORTH_CODES
from tests.helpers import codes, only

DATA = Path(__file__).parent / "data"


# --------------------------------------------------------------------------- helpers


def rederive(scenario: Scenario, plan: Plan) -> Plan:
    """Recompute every reported figure of ``plan`` from its rack counts, as a solver would."""
    sites = {s.id: s for s in scenario.topology.sites}
    skus = {k.id: k for k in scenario.catalog}
    assignments = []
    it = {s: 0.0 for s in sites}
    liquid = {s: 0.0 for s in sites}
    air = {s: 0.0 for s in sites}
    racks = {s: 0 for s in sites}
    gpus = {s: 0 for s in sites}
    pairs = set()
    for a in plan.assignments:
        k, site = skus[a.sku], sites[a.site]
        mw = a.racks * k.it_kw_per_rack / 1000
        assignments.append(
            Assignment(
                tenant=a.tenant,
                sku=a.sku,
                site=a.site,
                racks=a.racks,
                gpus=a.racks * k.gpus_per_rack,
                it_power_mw=mw,
                facility_power_mw=mw * site.pue,
            )
        )
        it[a.site] += mw
        liquid[a.site] += mw * k.liquid_share
        air[a.site] += mw * (1 - k.liquid_share)
        racks[a.site] += a.racks
        gpus[a.site] += a.racks * k.gpus_per_rack
        if a.racks:
            pairs.add((a.tenant, a.site))
    facility = {s: it[s] * sites[s].pue for s in sites}
    feeds: dict[str, list] = {s: [] for s in sites}
    for e in scenario.topology.edges_of_kind("feed"):
        s, b = (e.from_node, e.to_node) if e.from_node in sites else (e.to_node, e.from_node)
        feeds[s].append((b, e.capacity_mw))
    sub_load = {b.id: 0.0 for b in scenario.topology.substations}
    for s, fs in feeds.items():
        total_cap = sum(c for _, c in fs)
        for b, c in fs:
            sub_load[b] += facility[s] * c / total_cap
    site_rows = [
        SiteLoad(
            site=s,
            racks=racks[s],
            gpus=gpus[s],
            it_power_mw=it[s],
            facility_power_mw=facility[s],
            liquid_heat_mw=liquid[s],
            air_heat_mw=air[s],
            it_capacity_mw=sites[s].it_capacity_mw,
            liquid_cooling_mw=sites[s].liquid_cooling_mw,
            air_cooling_mw=sites[s].air_cooling_mw,
            feed_n1_capacity_mw=(
                feeds[s][0][1] if len(feeds[s]) == 1 else sum(c for _, c in feeds[s]) - max(c for _, c in feeds[s])
            ),
        )
        for s in sites
        if racks[s] > 0
    ]
    sub_rows = [
        SubstationLoad(substation=b.id, load_mw=sub_load[b.id], headroom_mw=b.headroom_mw)
        for b in scenario.topology.substations
    ]
    pol = scenario.policy
    r, n = pol.cost.discount_rate, pol.cost.asset_life_years
    crf = r * (1 + r) ** n / ((1 + r) ** n - 1)
    used = {s for _, s in pairs}
    terms = {
        "capex": pol.objective.capex_weight * sum(it[s] * sites[s].capex_usd_per_mw * crf for s in sites),
        "energy": pol.objective.energy_weight
        * sum(facility[s] * pol.cost.utilization * 8760 * sites[s].energy_price_usd_per_mwh for s in sites),
        "site_fixed": pol.objective.site_fixed_weight * sum(sites[s].fixed_usd_per_year for s in used),
        "tenant_spread": pol.objective.tenant_site_usd_per_year * len(pairs),
        "region_surcharge": sum(
            facility[s] * pol.objective.region_surcharge_usd_per_mw_year.get(sites[s].region, 0.0) for s in sites
        ),
    }
    summary = plan.summary.model_copy(
        update={
            # an edited plan carries no proof: the solver's bound and gap were about other racks
            "status": "FEASIBLE",
            "placement_status": None,
            "bound": None,
            "gap": None,
            "objective": sum(terms.values()),
            "gpus_placed": sum(gpus.values()),
            "racks_placed": sum(racks.values()),
            "it_power_mw": sum(it.values()),
            "facility_power_mw": sum(facility.values()),
            "power_band_mw": (pol.power_band_mw.min_mw, pol.power_band_mw.max_mw),
        }
    )
    return plan.model_copy(
        update={
            "scenario_digest": scenario.digest(),
            "summary": summary,
            "assignments": assignments,
            "sites": site_rows,
            "substations": sub_rows,
            "cost_breakdown": [CostTerm(name=k, usd_per_year=v, description=k) for k, v in terms.items()],
        }
    )


def make_plan(scenario: Scenario, racks: dict[tuple[str, str, str], int]) -> Plan:
    """A plan from rack counts ``{(tenant, sku, site): racks}``, all figures derived."""
    skeleton = Plan(
        scenario=scenario.name,
        scenario_digest=scenario.digest(),
        summary=Summary(
            status="FEASIBLE",
            relative_gap=1e-4,
            solver="hand",
            solver_version="0",
            seed=0,
            workers=1,
            build_seconds=0.0,
            solve_seconds=0.0,
            objective=0.0,
            gpus_placed=0,
            racks_placed=0,
            it_power_mw=0.0,
            facility_power_mw=0.0,
            power_band_mw=(0.0, 0.0),
        ),
        assignments=[
            Assignment(tenant=t, sku=k, site=s, racks=n, gpus=0, it_power_mw=0.0, facility_power_mw=0.0)
            for (t, k, s), n in racks.items()
        ],
        sites=[],
        substations=[],
        cost_breakdown=[],
    )
    return rederive(scenario, skeleton)


def with_racks(scenario: Scenario, plan: Plan, changes: dict[tuple[str, str, str], int]) -> Plan:
    """``plan`` with the rack counts of some (tenant, sku, site) changed (added when new), re-derived."""
    counts = {(a.tenant, a.sku, a.site): a.racks for a in plan.assignments}
    counts.update(changes)
    rows = [
        Assignment(tenant=t, sku=k, site=s, racks=n, gpus=0, it_power_mw=0.0, facility_power_mw=0.0)
        for (t, k, s), n in counts.items()
    ]
    return rederive(scenario, plan.model_copy(update={"assignments": rows}))


def site_load(plan: Plan, site: str):
    return next(r for r in plan.sites if r.site == site)


def tenant_site_gpus(plan: Plan, tenant: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in plan.assignments:
        if a.tenant == tenant and a.racks > 0:
            out[a.site] = out.get(a.site, 0) + a.gpus
    return out


def variant(scenario: Scenario, edit) -> Scenario:
    """A deep copy of ``scenario`` edited in place by ``edit(copy)``."""
    copy = scenario.model_copy(deep=True)
    edit(copy)
    return copy


def node(scenario: Scenario, node_id: str):
    return next(n for n in scenario.topology.nodes if n.id == node_id)


def without_fiber(scenario: Scenario, a: str, b: str) -> list:
    """The scenario's edges minus the fiber(s) joining ``a`` and ``b``."""
    return [e for e in scenario.topology.edges if not (e.kind == "fiber" and {e.from_node, e.to_node} == {a, b})]


def feeds_of(scenario: Scenario, site: str) -> list:
    """The feed edges of ``site``, in file order (ids are generated, so tests do not spell them)."""
    return [e for e in scenario.topology.edges_of_kind("feed") if site in (e.from_node, e.to_node)]


def tenant(scenario: Scenario, tenant_id: str):
    return next(t for t in scenario.demand.tenants if t.id == tenant_id)


def check_variant(scenario: Scenario, plan: Plan, edit) -> Report:
    """Verify ``plan`` (figures re-derived) against the scenario edited by ``edit``."""
    var = variant(scenario, edit)
    return verify(var, rederive(var, plan), check_digest=False)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    """tiny.yaml with grid security 'none': these tests are about the non-grid checks (the grid
    checks have their own injections in test_verify_grid.py), so plans carry no grid report."""
    sc = load_scenario(DATA / "tiny.yaml")
    sc.policy.grid.security = "none"
    return sc


@pytest.fixture(scope="module")
def plan(scenario) -> Plan:
    from solvers import solve

    return solve(scenario, solver="cpsat")


# Hand-checkable plan for tiny: all of alpha at north, beta at south.
HAND_RACKS = {
    ("alpha", "nvl72", "north"): 200,  # 24 MW IT, 19.2 liquid, 4.8 air
    ("alpha", "hgx", "north"): 100,  # 5.72 MW IT, all air
    ("beta", "nvl72", "south"): 100,  # 12 MW IT, 9.6 liquid, 2.4 air
}


@pytest.fixture(scope="module")
def hand_plan(scenario) -> Plan:
    return make_plan(scenario, HAND_RACKS)


# --------------------------------------------------------------------------- valid plans


def test_solver_plan_is_valid(scenario, plan):
    report = verify(scenario, plan)
    assert report.violations == []
    assert report.valid
    assert report.scenario == "tiny"
    assert report.scenario_digest == scenario.digest()
    # security 'none': no grid checks (nor the grid's loop claims); single period: no schedule checks, and of
    # the NPV checks only that it has none and an annual objective; no layout: no layout checks
    npv_only = {"NPV_PARAMETERS", "NPV_PERIOD", "NPV_TERM", "NPV_TOTAL", *OPTION_CODES, *WORTH_CODES, *LAYOUT_CODES}
    npv_only |= {*REPLAN_CODES, *MARGINAL_CODES}  # (a re-plan and marginal values only)
    assert set(report.checks) == set(ALL_CODES) - set(GRID_CODES) - set(SCHEDULE_CODES) - {"GRID_LOOP_CLAIM"} - npv_only
    assert report.grid is None
    assert report.seconds >= 0


def test_hand_plan_is_valid_with_hand_computed_figures(scenario, hand_plan):
    report = verify(scenario, hand_plan)
    assert report.valid, report.violations
    north, south = site_load(hand_plan, "north"), site_load(hand_plan, "south")
    assert north.it_power_mw == pytest.approx(29.72)
    assert north.facility_power_mw == pytest.approx(29.72 * 1.3)
    assert north.liquid_heat_mw == pytest.approx(19.2)
    assert north.air_heat_mw == pytest.approx(10.52)
    assert north.feed_n1_capacity_mw == 40
    assert south.facility_power_mw == pytest.approx(13.8)
    assert south.feed_n1_capacity_mw == 30
    crf = 0.08 * 1.08**15 / (1.08**15 - 1)
    terms = {t.name: t.usd_per_year for t in hand_plan.cost_breakdown}
    assert terms["capex"] == pytest.approx((29.72 * 12e6 + 12 * 10e6) * crf)
    assert terms["energy"] == pytest.approx(0.8 * 8760 * (38.636 * 120 + 13.8 * 90))
    assert terms["site_fixed"] == 2e6
    assert terms["tenant_spread"] == 1e6
    assert terms["region_surcharge"] == pytest.approx(38.636 * 20000)


def test_report_is_json_serialisable(scenario, hand_plan):
    bad = hand_plan.model_copy(update={"assignments": hand_plan.assignments[1:]})
    report = verify(scenario, bad)
    again = Report.model_validate_json(report.model_dump_json())
    assert again == report


def test_tiny_perturbations_within_tolerance_are_accepted(scenario, plan):
    s0 = plan.sites[0]
    nudged = plan.model_copy(
        update={
            "sites": [s0.model_copy(update={"it_power_mw": s0.it_power_mw * (1 + 1e-9)}), *plan.sites[1:]],
            "summary": plan.summary.model_copy(update={"objective": plan.summary.objective + 0.5}),
        }
    )
    assert verify(scenario, nudged).valid


def test_limit_met_exactly_is_not_a_violation(scenario, hand_plan):
    north = site_load(hand_plan, "north")

    def edit(s):
        node(s, "north").it_capacity_mw = north.it_power_mw
        node(s, "north").liquid_cooling_mw = north.liquid_heat_mw
        node(s, "north").air_cooling_mw = north.air_heat_mw

    assert check_variant(scenario, hand_plan, edit).valid


# --------------------------------------------------------------------------- digest


def test_digest_mismatch_raises_input_error(scenario, plan):
    other = plan.model_copy(update={"scenario_digest": "sha256:" + "0" * 64})
    with pytest.raises(InputError, match="plan was solved for scenario digest sha256:0+, not this scenario") as info:
        verify(scenario, other)
    assert info.value.where == "scenario_digest"
    assert info.value.exit_code == 2
    assert verify(scenario, other, check_digest=False).valid


def test_edited_scenario_changes_digest(scenario, plan):
    var = variant(scenario, lambda s: setattr(node(s, "north"), "pue", 1.31))
    with pytest.raises(InputError):
        verify(var, plan)


# --------------------------------------------------------------------------- structural checks


@pytest.mark.parametrize(
    "field, entity",
    [("tenant", "tenant:ghost"), ("sku", "sku:ghost"), ("site", "site:ghost")],
)
def test_unknown_entity(scenario, plan, field, entity):
    row = {"tenant": "alpha", "sku": "nvl72", "site": "north", field: "ghost"}
    extra = Assignment(**row, racks=0, gpus=0, it_power_mw=0.0, facility_power_mw=0.0)
    bad = plan.model_copy(update={"assignments": [*plan.assignments, extra]})
    (v,) = only(verify(scenario, bad), "UNKNOWN_ENTITY")
    assert v.entity == entity


def test_gpu_count(scenario, plan):
    i, a = next((i, a) for i, a in enumerate(plan.assignments) if a.racks > 0)
    rows = list(plan.assignments)
    rows[i] = a.model_copy(update={"gpus": a.gpus + 1})
    (v,) = only(verify(scenario, plan.model_copy(update={"assignments": rows})), "GPU_COUNT")
    assert v.entity == f"tenant:{a.tenant}/sku:{a.sku}/site:{a.site}"
    assert (v.measured, v.limit) == (a.gpus + 1, a.gpus)


def test_duplicate_assignment_split_in_two_rows(scenario, plan):
    """The same (tenant, sku, site) split over two consistent rows: racks add up, only the duplicate is flagged."""
    i, a = next((i, a) for i, a in enumerate(plan.assignments) if a.racks >= 2)
    sku, site = scenario.sku(a.sku), node(scenario, a.site)

    def part(n):
        mw = n * sku.it_kw_per_rack / 1000
        return a.model_copy(
            update={"racks": n, "gpus": n * sku.gpus_per_rack, "it_power_mw": mw, "facility_power_mw": mw * site.pue}
        )

    rows = [*plan.assignments[:i], part(a.racks // 2), part(a.racks - a.racks // 2), *plan.assignments[i + 1 :]]
    (v,) = only(verify(scenario, plan.model_copy(update={"assignments": rows})), "DUPLICATE_ASSIGNMENT")
    assert v.entity == f"tenant:{a.tenant}/sku:{a.sku}/site:{a.site}"


# --------------------------------------------------------------------------- constraint checks


def test_demand_short(scenario, plan):
    def edit(s):
        tenant(s, "alpha").lines[0].gpus += 72  # nvl72: one rack more than placed

    (v,) = only(check_variant(scenario, plan, edit), "DEMAND")
    assert v.entity == "tenant:alpha/sku:nvl72"
    assert (v.measured, v.limit) == (14400, 14472)


def test_demand_sku_not_asked_for(scenario, plan):
    def edit(s):
        t = tenant(s, "alpha")
        t.lines = [line for line in t.lines if line.sku != "hgx"]

    (v,) = only(check_variant(scenario, plan, edit), "DEMAND")
    assert v.entity == "tenant:alpha/sku:hgx"
    assert (v.measured, v.limit) == (3200, 0)


def test_one_rack_more_is_caught(scenario, plan):
    i, a = next((i, a) for i, a in enumerate(plan.assignments) if a.tenant == "alpha" and a.sku == "nvl72" and a.racks)
    rows = list(plan.assignments)
    rows[i] = a.model_copy(update={"racks": a.racks + 1, "gpus": a.gpus + 72})
    report = verify(scenario, plan.model_copy(update={"assignments": rows}))
    assert not report.valid
    demand = [v for v in report.violations if v.code == "DEMAND"]
    assert [v.entity for v in demand] == ["tenant:alpha/sku:nvl72"]
    assert demand[0].measured == 14472
    # the figures were not updated, so they are flagged too
    assert "REPORTED_MISMATCH" in codes(report)
    # ... and with figures re-derived, DEMAND remains
    assert "DEMAND" in codes(verify(scenario, rederive(scenario, plan.model_copy(update={"assignments": rows}))))


@pytest.mark.parametrize("site", ["north", "south"])  # every valid tiny plan uses both sites
@pytest.mark.parametrize(
    "code, limit_field, load_field",
    [
        ("SITE_IT_CAPACITY", "it_capacity_mw", "it_power_mw"),
        ("LIQUID_COOLING", "liquid_cooling_mw", "liquid_heat_mw"),
        ("AIR_COOLING", "air_cooling_mw", "air_heat_mw"),
    ],
)
def test_site_limits(scenario, plan, site, code, limit_field, load_field):
    load = getattr(site_load(plan, site), load_field)
    assert load > 0
    report = check_variant(scenario, plan, lambda s: setattr(node(s, site), limit_field, load * 0.9))
    (v,) = only(report, code)
    assert v.entity == f"site:{site}"
    assert v.measured == pytest.approx(load)
    assert v.limit == pytest.approx(load * 0.9)


def test_feed_capacity_single_feed(scenario, plan):
    load = site_load(plan, "north").facility_power_mw
    (feed,) = feeds_of(scenario, "north")
    report = check_variant(scenario, plan, lambda s: setattr(feeds_of(s, "north")[0], "capacity_mw", load * 0.9))
    (v,) = only(report, "FEED_CAPACITY")
    assert v.entity == f"feed:{feed.id}"
    assert v.limit == pytest.approx(load * 0.9)


def test_feed_capacity_n_minus_1(scenario, plan):
    """South has two 30 MW feeds; shrink the second to 1 MW: losing the first leaves 1 MW."""
    load = site_load(plan, "south").facility_power_mw
    assert load > 1
    first, _second = feeds_of(scenario, "south")
    report = check_variant(scenario, plan, lambda s: setattr(feeds_of(s, "south")[1], "capacity_mw", 1.0))
    (v,) = only(report, "FEED_CAPACITY")
    assert v.entity == f"feed:{first.id}"  # the lost feed
    assert f"'{first.id}'" in v.message and "site 'south'" in v.message
    assert (v.measured, v.limit) == (pytest.approx(load), 1.0)


def test_feed_capacity_three_feeds_every_contingency(scenario, hand_plan):
    """South (13.8 MW facility) on three feeds: 10/10/10 survives any loss; 2/10/10 fails when a 10 is lost."""

    def edit(caps):
        def apply(s):
            feeds_of(s, "south")[0].capacity_mw = caps[0]
            feeds_of(s, "south")[1].capacity_mw = caps[1]
            s.topology.edges.append(
                Feed.model_validate({"kind": "feed", "id": "f3", "from": "south", "to": "ss-s", "capacity_mw": caps[2]})
            )

        return apply

    assert check_variant(scenario, hand_plan, edit((10, 10, 10))).valid
    violations = only(check_variant(scenario, hand_plan, edit((2, 10, 10))), "FEED_CAPACITY")
    assert {v.entity for v in violations} == {"feed:f3", f"feed:{feeds_of(scenario, 'south')[1].id}"}
    assert {v.limit for v in violations} == {12.0}
    # and the reported N-1 capacity is 22 - 10 = 12
    var = variant(scenario, edit((2, 10, 10)))
    assert site_load(rederive(var, hand_plan), "south").feed_n1_capacity_mw == 12


@pytest.mark.parametrize("sub", ["ss-n", "ss-s"])
def test_substation_headroom(scenario, plan, sub):
    load = next(r.load_mw for r in plan.substations if r.substation == sub)
    report = check_variant(scenario, plan, lambda s: setattr(node(s, sub), "headroom_mw", load * 0.9))
    (v,) = only(report, "SUBSTATION_HEADROOM")
    assert v.entity == f"substation:{sub}"
    assert v.measured == pytest.approx(load)


def test_substation_load_is_split_by_feed_capacity(scenario, hand_plan):
    """Move south's second feed to ss-n: ss-n carries north (38.636 MW) plus half of south (13.8 / 2)."""

    def edit(s):
        feeds_of(s, "south")[1].to_node = "ss-n"

    (v,) = only(check_variant(scenario, hand_plan, edit), "SUBSTATION_HEADROOM")
    assert v.entity == "substation:ss-n"
    assert v.measured == pytest.approx(38.636 + 6.9)
    assert v.limit == 40


@pytest.mark.parametrize("side", ["below", "above"])
def test_power_band(scenario, plan, side):
    total = plan.summary.facility_power_mw

    def edit(s):
        band = s.policy.power_band_mw
        band.min_mw, band.max_mw = (total + 1, total + 2) if side == "below" else (0.0, total - 1)

    (v,) = only(check_variant(scenario, plan, edit), "POWER_BAND")
    assert v.entity == "power_band"
    assert side in v.message
    assert v.measured == pytest.approx(total)


def test_generation_adequacy(scenario, plan):
    total = plan.summary.facility_power_mw
    report = check_variant(scenario, plan, lambda s: setattr(node(s, "gen"), "spare_mw", total * 0.9))
    (v,) = only(report, "GENERATION_ADEQUACY")
    assert v.entity == "plants"
    assert v.limit == pytest.approx(total * 0.9)


def test_generation_adequacy_skipped_without_plants(scenario, plan):
    def edit(s):
        s.topology.nodes = [n for n in s.topology.nodes if n.kind != "plant"]
        s.topology.edges = [e for e in s.topology.edges if e.kind != "line" or "gen" not in (e.from_node, e.to_node)]

    report = check_variant(scenario, plan, edit)
    assert report.valid, report.violations
    assert "GENERATION_ADEQUACY" not in report.checks


def test_latency_share(scenario, plan):
    # north is 2 x 20 km x 0.0049 = 0.196 ms RTT from seoul; a 0.1 ms limit leaves no site near enough
    report = check_variant(scenario, plan, lambda s: setattr(tenant(s, "alpha").latency[0], "max_rtt_ms", 0.1))
    (v,) = only(report, "LATENCY_SHARE")
    assert v.entity == "tenant:alpha/metro:seoul"
    assert (v.measured, v.limit) == (0.0, 0.25)


def test_latency_share_partial(scenario, plan):
    near = tenant_site_gpus(plan, "alpha").get("north", 0) / sum(tenant_site_gpus(plan, "alpha").values())
    assert near >= 0.25
    if near > 0.999:
        pytest.skip("alpha is entirely at north in this plan")
    report = check_variant(scenario, plan, lambda s: setattr(tenant(s, "alpha").latency[0], "min_share", near + 0.001))
    (v,) = only(report, "LATENCY_SHARE")
    assert v.measured == pytest.approx(near)


def test_training_island(scenario, plan):
    per_site = tenant_site_gpus(plan, "alpha")
    smallest = min(per_site, key=lambda s: per_site[s])
    report = check_variant(
        scenario, plan, lambda s: setattr(tenant(s, "alpha"), "min_island_gpus", per_site[smallest] + 1)
    )
    violations = only(report, "TRAINING_ISLAND")
    assert f"tenant:alpha/site:{smallest}" in {v.entity for v in violations}


def test_max_sites(scenario, plan):
    alpha = tenant_site_gpus(plan, "alpha")
    if len(alpha) < 2:
        # Spread alpha over both sites: move one training island of nvl72 racks from north to south.
        key = ("alpha", "nvl72", "north")
        at_north = next(a.racks for a in plan.assignments if (a.tenant, a.sku, a.site) == key)
        plan = with_racks(scenario, plan, {("alpha", "nvl72", "north"): at_north - 16, ("alpha", "nvl72", "south"): 16})
        assert verify(scenario, plan).valid
    report = check_variant(scenario, plan, lambda s: setattr(tenant(s, "alpha"), "max_sites", 1))
    (v,) = only(report, "MAX_SITES")
    assert v.entity == "tenant:alpha"
    assert (v.measured, v.limit) == (2, 1)


def test_region(scenario, plan):
    # alpha always uses north (the only site within its latency limit)
    report = check_variant(scenario, plan, lambda s: setattr(tenant(s, "alpha"), "allowed_regions", ["south"]))
    (v,) = only(report, "REGION")
    assert v.entity == "tenant:alpha/site:north"
    assert "capital" in v.message


def test_zero_rack_rows_do_not_use_a_site(scenario, plan):
    """A racks == 0 row for beta at north is neither a region breach nor an island nor a spread cost."""
    extra = Assignment(
        tenant="beta", sku="nvl72", site="north", racks=0, gpus=0, it_power_mw=0.0, facility_power_mw=0.0
    )
    report = verify(scenario, plan.model_copy(update={"assignments": [*plan.assignments, extra]}))
    assert report.valid, report.violations


# --------------------------------------------------------------------------- shortest fiber paths


def test_rtt_tiny(scenario):
    rtt = fiber_rtt_ms(scenario)
    assert rtt["seoul"]["north"] == pytest.approx(2 * 20 * 0.0049)
    assert rtt["seoul"]["south"] == pytest.approx(2 * 420 * 0.0049)


def _fiber(frm, to, **kw):
    return Fiber.model_validate({"kind": "fiber", "from": frm, "to": to, **kw})


def test_rtt_parallel_fibers_take_the_minimum_and_latency_overrides_length(scenario):
    def edit(s):
        s.topology.edges.append(_fiber("south", "seoul", length_km=5000, latency_ms=0.5))
        s.topology.edges.append(_fiber("south", "seoul", length_km=10_000))

    rtt = fiber_rtt_ms(variant(scenario, edit))
    assert rtt["seoul"]["south"] == pytest.approx(1.0)


def test_rtt_multi_hop_and_unreachable(scenario):
    def edit(s):
        s.topology.edges = without_fiber(s, "south", "seoul")
        s.topology.edges.append(_fiber("south", "ss-s", latency_ms=0.3))
        s.topology.edges.append(_fiber("ss-s", "north", length_km=100))

    rtt = fiber_rtt_ms(variant(scenario, edit))
    assert rtt["seoul"]["south"] == pytest.approx(2 * (0.3 + 100 * 0.0049 + 20 * 0.0049))

    def cut(s):
        s.topology.edges = without_fiber(s, "south", "seoul")

    assert math.isinf(fiber_rtt_ms(variant(scenario, cut))["seoul"]["south"])


def test_latency_share_counts_unreachable_sites_as_far(scenario, plan):
    def edit(s):
        s.topology.edges = [e for e in s.topology.edges if e.kind != "fiber"]

    (v,) = only(check_variant(scenario, plan, edit), "LATENCY_SHARE")
    assert v.measured == 0.0


# --------------------------------------------------------------------------- reported figures


def _bump_assignment(field):
    def f(plan):
        i, a = next((i, a) for i, a in enumerate(plan.assignments) if a.racks > 0)
        rows = list(plan.assignments)
        rows[i] = a.model_copy(update={field: getattr(a, field) + 0.01})
        return plan.model_copy(update={"assignments": rows}), f"tenant:{a.tenant}/sku:{a.sku}/site:{a.site}"

    return f


def _bump_site(field, delta):
    def f(plan):
        rows = [r.model_copy(update={field: getattr(r, field) + delta}) if r.site == "north" else r for r in plan.sites]
        return plan.model_copy(update={"sites": rows}), "site:north"

    return f


def _bump_substation(field):
    def f(plan):
        rows = [
            r.model_copy(update={field: getattr(r, field) + 0.01}) if r.substation == "ss-s" else r
            for r in plan.substations
        ]
        return plan.model_copy(update={"substations": rows}), "substation:ss-s"

    return f


def _bump_summary(field, delta):
    def f(plan):
        value = getattr(plan.summary, field)
        return plan.model_copy(update={"summary": plan.summary.model_copy(update={field: value + delta})}), "summary"

    return f


def _bump_cost(name):
    def f(plan):
        rows = [
            t.model_copy(update={"usd_per_year": t.usd_per_year * 1.01 + 10}) if t.name == name else t
            for t in plan.cost_breakdown
        ]
        return plan.model_copy(update={"cost_breakdown": rows}), f"cost:{name}"

    return f


def _drop_site(plan):
    return plan.model_copy(update={"sites": [r for r in plan.sites if r.site != "north"]}), "site:north"


def _drop_cost(plan):
    rows = [t for t in plan.cost_breakdown if t.name != "energy"]
    return plan.model_copy(update={"cost_breakdown": rows}), "cost:energy"


def _extra_cost(plan):
    extra = CostTerm(name="bonus", usd_per_year=-1e6, description="")
    return plan.model_copy(update={"cost_breakdown": [*plan.cost_breakdown, extra]}), "cost:bonus"


MISMATCHES = {
    "assignment.it_power_mw": _bump_assignment("it_power_mw"),
    "assignment.facility_power_mw": _bump_assignment("facility_power_mw"),
    **{
        f"site.{name}": _bump_site(name, delta)
        for name, delta in [
            ("racks", 1),
            ("gpus", 1),
            ("it_power_mw", 0.01),
            ("facility_power_mw", 0.01),
            ("liquid_heat_mw", 0.01),
            ("air_heat_mw", 0.01),
            ("it_capacity_mw", 0.01),
            ("liquid_cooling_mw", 0.01),
            ("air_cooling_mw", 0.01),
            ("feed_n1_capacity_mw", 0.01),
        ]
    },
    "site.missing": _drop_site,
    "substation.load_mw": _bump_substation("load_mw"),
    "substation.headroom_mw": _bump_substation("headroom_mw"),
    "summary.gpus_placed": _bump_summary("gpus_placed", 72),
    "summary.racks_placed": _bump_summary("racks_placed", 1),
    "summary.it_power_mw": _bump_summary("it_power_mw", 0.01),
    "summary.facility_power_mw": _bump_summary("facility_power_mw", 0.01),
    "summary.objective": _bump_summary("objective", 1000.0),
    **{f"cost.{name}": _bump_cost(name) for name in COST_TERMS},
    "cost.missing": _drop_cost,
    "cost.unknown": _extra_cost,
}


@pytest.mark.parametrize("case", list(MISMATCHES))
def test_reported_mismatch(scenario, plan, case):
    bad, entity = MISMATCHES[case](plan)
    violations = only(verify(scenario, bad), "REPORTED_MISMATCH")
    assert [v.entity for v in violations] == [entity]
