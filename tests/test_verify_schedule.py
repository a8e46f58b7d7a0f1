"""Tests for the rollout (multi-period) checks of the verifier (placer.verify_schedule).

Valid plans come from the solvers (module-scoped, solved once). Each schedule check gets
tests that inject exactly that violation -- by editing the plan's installed racks or by
tightening the scenario -- after which ``resched`` (written here, independently of the
verifier) re-derives every reported schedule figure the way a solver would: going live,
GPUs delivered / live / stranded, the per-period site rows, the summary's stranded
GPU-quarters, the stranding cost term and the objective. The intended code is then the
only one reported.

Scenarios: ``rollout_toy.yaml`` (one site energized 2027Q1, 720 GPUs delivered 2026Q3) and
``rollout_multi.yaml`` (two sites, two tenants, a staged site, a feed and a substation
upgrade, a build rate and go-live windows), whose early periods have less capacity than
the last one, so that a breach there proves per-period capacities are used.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from placer.io import dump_model, load_scenario
from placer.plan import GoingLive, PeriodReport, Plan, SitePeriod
from placer.scenario import Delivery, GoLiveWindow, GridUpgrade, Rollout, Scenario, SiteStage
from placer.verify import ALL_CODES, GRID_CODES, Report, verify
from placer.verify_layout import CODES as LAYOUT_CODES
from placer.verify_marginals import CODES as MARGINAL_CODES
from placer.verify_options import CODES as OPTION_CODES
from placer.verify_replan import CODES as REPLAN_CODES
from placer.verify_schedule import CODES as SCHEDULE_CODES
from placer.verify_schedule import capacities_in_period, with_final_capacities
from placer.verify_worth import CODES as WORTH_CODES
from tests.helpers import codes, npv_term, only, renpv

DATA = Path(__file__).parent / "data"
PERIODS = ["2026Q3", "2026Q4", "2027Q1", "2027Q2", "2027Q3", "2027Q4"]
TOY_KEY = "t/nvl72/hall"


# --------------------------------------------------------------------------- helpers (independent of the verifier)


def period_caps(scenario: Scenario, period: str) -> dict[str, dict[str, float]]:
    """Capacities in force in ``period``: topology values, a staged site at zero before its
    first stage, then every stage and upgrade up to ``period`` applied in period order."""
    r = scenario.rollout
    order = {p: i for i, p in enumerate(r.periods)}
    topo = scenario.topology
    out = {
        "it": {s.id: s.it_capacity_mw for s in topo.sites},
        "liquid": {s.id: s.liquid_cooling_mw for s in topo.sites},
        "air": {s.id: s.air_cooling_mw for s in topo.sites},
        "feed": {e.id: e.capacity_mw for e in topo.edges_of_kind("feed")},
        "headroom": {b.id: b.headroom_mw for b in topo.substations},
    }
    sites = {s.id: s for s in topo.sites}
    for st in r.site_stages:
        out["it"][st.site] = out["liquid"][st.site] = out["air"][st.site] = 0.0
    for st in sorted(r.site_stages, key=lambda st: order[st.period]):
        if order[st.period] <= order[period]:
            share = st.it_capacity_mw / sites[st.site].it_capacity_mw
            out["it"][st.site] = st.it_capacity_mw
            out["liquid"][st.site] = (
                st.liquid_cooling_mw if st.liquid_cooling_mw is not None else sites[st.site].liquid_cooling_mw * share
            )
            out["air"][st.site] = (
                st.air_cooling_mw if st.air_cooling_mw is not None else sites[st.site].air_cooling_mw * share
            )
    for up in sorted(r.upgrades, key=lambda u: order[u.period]):
        if order[up.period] <= order[period]:
            if up.capacity_mw is not None:
                out["feed"][up.element] = up.capacity_mw
            if up.headroom_mw is not None:
                out["headroom"][up.element] = up.headroom_mw
    return out


def site_feed_ids(scenario: Scenario, site: str) -> list[str]:
    return [e.id for e in scenario.topology.edges_of_kind("feed") if site in (e.from_node, e.to_node)]


def n1_mw(caps: list[float]) -> float:
    return caps[0] if len(caps) == 1 else sum(caps) - max(caps)


def loads(scenario: Scenario, installed: dict[str, int]) -> dict[str, dict[str, float]]:
    """Per site: IT, liquid, air and facility MW of the racks in ``installed``."""
    skus = {k.id: k for k in scenario.catalog}
    sites = {s.id: s for s in scenario.topology.sites}
    out = {s: {"it": 0.0, "liquid": 0.0, "air": 0.0, "facility": 0.0} for s in sites}
    for key, n in installed.items():
        _, k, s = key.split("/")
        mw = n * skus[k].it_kw_per_rack / 1000
        out[s]["it"] += mw
        out[s]["liquid"] += mw * skus[k].liquid_share
        out[s]["air"] += mw * (1 - skus[k].liquid_share)
        out[s]["facility"] += mw * sites[s].pue
    return out


# An edited schedule changes the objective: the solver's bound and gap were about its own plan.
NO_PROOF = {"status": "FEASIBLE", "placement_status": None, "bound": None, "gap": None}


def installed(plan: Plan) -> list[dict[str, int]]:
    return [dict(rep.installed_racks) for rep in plan.schedule]


def resched(scenario: Scenario, plan: Plan, racks: list[dict[str, int]] | None = None) -> Plan:
    """``plan`` with its schedule's installed racks set to ``racks`` (default: unchanged) and every
    reported schedule figure re-derived from them as a solver would."""
    r = scenario.rollout
    racks = installed(plan) if racks is None else racks
    assert len(racks) == len(r.periods)
    skus = {k.id: k for k in scenario.catalog}
    order = {p: i for i, p in enumerate(r.periods)}
    reports: list[PeriodReport] = []
    prev: dict[str, int] = {}
    stranded = 0
    for q, (period, now) in enumerate(zip(r.periods, racks)):
        now = {k: n for k, n in now.items() if n > 0}
        going = []
        for key, n in now.items():
            t, k, s = key.split("/")
            if n > prev.get(key, 0):
                d = n - prev.get(key, 0)
                going.append(GoingLive(tenant=t, sku=k, site=s, racks=d, gpus=d * skus[k].gpus_per_rack))
        delivered = 0
        for dl in r.deliveries:
            if order[dl.period] <= q:
                delivered += dl.gpus
        live = sum(n * skus[key.split("/")[1]].gpus_per_rack for key, n in now.items())
        caps = period_caps(scenario, period)
        use = loads(scenario, now)
        rows = [
            SitePeriod(
                site=s.id,
                it_power_mw=use[s.id]["it"],
                it_available_mw=caps["it"][s.id],
                facility_power_mw=use[s.id]["facility"],
                facility_available_mw=n1_mw([caps["feed"][f] for f in site_feed_ids(scenario, s.id)]),
            )
            for s in scenario.topology.sites
            if use[s.id]["it"] > 0 or caps["it"][s.id] > 0
        ]
        reports.append(
            PeriodReport(
                period=period,
                going_live=going,
                installed_racks=now,
                gpus_delivered=delivered,
                gpus_live=live,
                gpus_stranded=delivered - live,
                sites=rows,
            )
        )
        stranded += delivered - live
        prev = now
    summary = plan.summary.model_copy(update={"stranded_gpu_quarters": stranded, **NO_PROOF})
    return renpv(scenario, plan.model_copy(update={"schedule": reports, "summary": summary}))


def set_period(plan: Plan, period: str, **changes) -> Plan:
    """``plan`` with fields of one period's report replaced (no re-derivation)."""
    rows = [rep.model_copy(update=changes) if rep.period == period else rep for rep in plan.schedule]
    return plan.model_copy(update={"schedule": rows})


def report_of(plan: Plan, period: str) -> PeriodReport:
    return next(rep for rep in plan.schedule if rep.period == period)


def entities(violations) -> set[str]:
    return {v.entity for v in violations}


def variant(scenario: Scenario, edit) -> Scenario:
    """A deep copy of ``scenario`` edited in place by ``edit(copy)``, re-validated."""
    copy = scenario.model_copy(deep=True)
    edit(copy)
    return Scenario.model_validate(copy.model_dump(by_alias=True))


def check_variant(scenario: Scenario, plan: Plan, edit) -> Report:
    """Verify ``plan`` against the scenario edited by ``edit``, its schedule figures re-derived for it."""
    var = variant(scenario, edit)
    return verify(var, resched(var, plan), check_digest=False)


def with_rate(scenario: Scenario, rate: int) -> Scenario:
    return variant(scenario, lambda s: setattr(s.rollout, "build_rate_racks_per_period", {"hall": rate}))


def stranding_term(plan: Plan) -> float:
    """The NPV of the idle delivered GPUs, USD."""
    return npv_term(plan, "idle_gpu_capital")


# the toy's discount factors (8 %/yr, quarters of 0.25 yr): 720 GPUs idle in 2026Q3 and 2026Q4 at 1,000 USD
D = [1.08 ** (-q / 4) for q in range(6)]
TOY_IDLE_USD = 720 * 1000 * (D[0] + D[1])


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def toy() -> Scenario:
    return load_scenario(DATA / "rollout_toy.yaml")


@pytest.fixture(scope="module")
def toy_plan(toy) -> Plan:
    from solvers import solve

    return solve(toy, "cpsat")


@pytest.fixture(scope="module")
def toy_rate(toy) -> Scenario:
    return with_rate(toy, 4)


@pytest.fixture(scope="module")
def toy_rate_plan(toy_rate) -> Plan:
    from solvers import solve

    return solve(toy_rate, "cpsat")


@pytest.fixture(scope="module")
def multi() -> Scenario:
    return load_scenario(DATA / "rollout_multi.yaml")


@pytest.fixture(scope="module")
def multi_plan(multi) -> Plan:
    from solvers import solve

    return solve(multi, "cpsat")


# --------------------------------------------------------------------------- the toy: exact stranding


def test_toy_strands_exactly_1440_gpu_quarters(toy, toy_plan):
    assert toy_plan.summary.stranded_gpu_quarters == 1440  # 720 GPUs x (2026Q3, 2026Q4)
    assert stranding_term(toy_plan) == pytest.approx(TOY_IDLE_USD)
    assert [rep.period for rep in toy_plan.schedule] == PERIODS
    live = [rep.gpus_live for rep in toy_plan.schedule]
    assert live == [0, 0, 720, 720, 720, 720]
    assert [rep.gpus_delivered for rep in toy_plan.schedule] == [720] * 6
    assert [rep.gpus_stranded for rep in toy_plan.schedule] == [720, 720, 0, 0, 0, 0]
    going = {
        rep.period: [(g.tenant, g.sku, g.site, g.racks, g.gpus) for g in rep.going_live] for rep in toy_plan.schedule
    }
    assert going["2027Q1"] == [("t", "nvl72", "hall", 10, 720)]
    assert all(not g for p, g in going.items() if p != "2027Q1")
    report = verify(toy, toy_plan)
    assert report.valid, report.violations
    # no power options in the toy: none of their checks run; no layout, no re-plan: none of theirs
    no_options = set(OPTION_CODES) | set(WORTH_CODES) | set(LAYOUT_CODES) | set(REPLAN_CODES) | set(MARGINAL_CODES)
    assert (
        set(report.checks) == set(ALL_CODES) - set(GRID_CODES) - {"GENERATION_ADEQUACY", "GRID_LOOP_CLAIM"} - no_options
    )


def test_toy_with_build_rate_strands_exactly_2016_gpu_quarters(toy_rate, toy_rate_plan):
    plan = toy_rate_plan
    # 720 + 720 before energization, then 432 (2027Q1) and 144 (2027Q2) still waiting
    assert plan.summary.stranded_gpu_quarters == 2016
    assert [rep.gpus_live for rep in plan.schedule] == [0, 0, 288, 576, 720, 720]
    assert [rep.installed_racks.get(TOY_KEY, 0) for rep in plan.schedule] == [0, 0, 4, 8, 10, 10]
    assert stranding_term(plan) == pytest.approx(1000 * (720 * (D[0] + D[1]) + 432 * D[2] + 144 * D[3]))
    report = verify(toy_rate, plan)
    assert report.valid, report.violations


@pytest.mark.parametrize("rate, expected", [(None, 1440), (4, 2016)])
def test_greedy_gives_the_same_counts_on_the_toy(toy, rate, expected):
    from solvers import solve

    sc = toy if rate is None else with_rate(toy, rate)
    plan = solve(sc, "greedy")
    assert plan.summary.stranded_gpu_quarters == expected
    assert verify(sc, plan).valid


def test_toy_stranding_does_not_depend_on_the_price(toy):
    from solvers import solve

    sc = variant(toy, lambda s: setattr(s.rollout, "stranding_usd_per_gpu_quarter", 0.0))
    plan = solve(sc, "cpsat")
    report = verify(sc, plan)
    assert report.valid, report.violations
    assert stranding_term(plan) == 0.0
    # without a price the schedule may install late, but never before 2027Q1
    assert plan.summary.stranded_gpu_quarters >= 1440


def test_final_build_out_is_judged_at_last_period_capacities(toy):
    """The topology's 1 MW is replaced by the 2 MW stage: 10 racks (1.2 MW IT) are valid."""
    from solvers import solve

    sc = variant(toy, lambda s: setattr(s.topology.nodes[0], "it_capacity_mw", 1.0))
    assert with_final_capacities(sc).topology.sites[0].it_capacity_mw == 2
    plan = solve(sc, "cpsat")
    assert plan.summary.racks_placed == 10
    report = verify(sc, plan)
    assert report.valid, report.violations


# --------------------------------------------------------------------------- the richer toy


def test_multi_plan_is_valid(multi, multi_plan):
    assert multi_plan.summary.status == "OPTIMAL"
    report = verify(multi, multi_plan)
    assert report.valid, report.violations
    assert set(SCHEDULE_CODES) <= set(report.checks)
    # the re-derivation helper agrees with the solver's report
    again = resched(multi, multi_plan)
    assert again.summary.model_dump(exclude=set(NO_PROOF)) == multi_plan.summary.model_dump(exclude=set(NO_PROOF))
    assert again.cost_breakdown == multi_plan.cost_breakdown
    assert again.schedule is not None and multi_plan.schedule is not None
    for mine, theirs in zip(again.schedule, multi_plan.schedule, strict=True):
        assert mine.model_dump(exclude={"sites"}) == theirs.model_dump(exclude={"sites"})
        assert [r.site for r in mine.sites] == [r.site for r in theirs.sites]
        for a, b in zip(mine.sites, theirs.sites):
            assert a.model_dump() == pytest.approx(b.model_dump())


def test_multi_greedy_plan_is_valid(multi):
    from solvers import solve

    plan = solve(multi, "greedy")
    report = verify(multi, plan)
    assert report.valid, report.violations


def test_multi_capacities_by_period(multi):
    """Hand-checked: east energized at 1.2 MW in 2026Q4, 3 MW from 2027Q2 (cooling pro rata),
    its feed 2.5 -> 5 MW and its substation 2 -> 5 MW in 2027Q2; west as in the topology."""
    east = {p: capacities_in_period(multi, p) for p in PERIODS}
    assert [east[p].it["east"] for p in PERIODS] == [0, 1.2, 1.2, 3, 3, 3]
    assert east["2026Q4"].liquid["east"] == pytest.approx(0.96)
    assert east["2026Q4"].air["east"] == pytest.approx(0.48)
    assert east["2026Q3"].liquid["east"] == east["2026Q3"].air["east"] == 0
    assert [east[p].feed["feed-e"] for p in PERIODS] == [2.5, 2.5, 2.5, 5, 5, 5]
    assert [east[p].headroom["ss-e"] for p in PERIODS] == [2, 2, 2, 5, 5, 5]
    assert all(east[p].it["west"] == 2 and east[p].headroom["ss-w"] == 3 for p in PERIODS)
    for p in PERIODS:  # the test's own helper agrees
        mine = period_caps(multi, p)
        assert mine["it"] == pytest.approx(east[p].it) and mine["liquid"] == pytest.approx(east[p].liquid)
        assert mine["air"] == pytest.approx(east[p].air) and mine["feed"] == east[p].feed
        assert mine["headroom"] == east[p].headroom


def test_multi_plan_uses_the_early_stage(multi, multi_plan):
    """Preconditions of the per-period injections below: the optimum installs at east while
    its first stage (1.2 MW, old feed, old substation headroom) is in force."""
    early = [loads(multi, report_of(multi_plan, p).installed_racks)["east"] for p in ("2026Q4", "2027Q1")]
    assert max(u["it"] for u in early) > 0
    assert max(u["liquid"] for u in early) > 0 and max(u["air"] for u in early) > 0


# --------------------------------------------------------------------------- SCHEDULE_MISSING / SCHEDULE_PERIODS


def test_schedule_missing(toy, toy_plan):
    bad = toy_plan.model_copy(update={"schedule": None})
    (v,) = only(verify(toy, bad), "SCHEDULE_MISSING")
    assert v.entity == "plan"


def test_schedule_missing_from_a_single_period_solver(toy, toy_plan):
    """A plan that ignores the rollout altogether (no schedule, no NPV, an annual objective)."""
    terms = toy_plan.cost_breakdown
    bad = toy_plan.model_copy(
        update={
            "schedule": None,
            "npv": None,
            "summary": toy_plan.summary.model_copy(
                update={
                    "stranded_gpu_quarters": 0,
                    "objective": sum(t.usd_per_year for t in terms),
                    "objective_unit": "usd_per_year",
                    **NO_PROOF,
                }
            ),
        }
    )
    report = verify(toy, bad)
    assert {"SCHEDULE_MISSING", "NPV_MISSING", "OBJECTIVE_UNIT"} <= codes(report)
    assert codes(report) <= {"SCHEDULE_MISSING", "NPV_MISSING", "OBJECTIVE_UNIT", "REPORTED_MISMATCH"}


@pytest.mark.parametrize(
    "case",
    ["drop_last", "drop_first", "extra", "renamed", "swapped"],
)
def test_schedule_periods(toy, toy_plan, case):
    reps = list(toy_plan.schedule)
    if case == "drop_last":
        reps = reps[:-1]
    elif case == "drop_first":
        reps = reps[1:]
    elif case == "extra":
        reps = reps + [reps[-1].model_copy(update={"period": "2028Q1", "going_live": []})]
    elif case == "renamed":
        reps[1] = reps[1].model_copy(update={"period": "2030Q4"})
    else:
        reps[0], reps[1] = reps[1], reps[0]
    (v,) = only(verify(toy, toy_plan.model_copy(update={"schedule": reps})), "SCHEDULE_PERIODS")
    assert v.entity == "schedule"


# --------------------------------------------------------------------------- SCHEDULE_MONOTONE


def test_rack_that_disappears(toy, toy_plan):
    racks = installed(toy_plan)
    racks[3] = {}  # 2027Q2: the 10 racks vanish, to come back in 2027Q3
    (v,) = only(verify(toy, resched(toy, toy_plan, racks)), "SCHEDULE_MONOTONE")
    assert v.entity == f"{TOY_KEY}@2027Q2"
    assert (v.measured, v.limit) == (0, 10)


def test_rack_count_that_falls(toy, toy_plan):
    racks = installed(toy_plan)
    racks[3] = {TOY_KEY: 9}
    (v,) = only(verify(toy, resched(toy, toy_plan, racks)), "SCHEDULE_MONOTONE")
    assert v.entity == f"{TOY_KEY}@2027Q2"
    assert (v.measured, v.limit) == (9, 10)


def test_rack_that_moves_between_sites(multi, multi_plan):
    """Racks of west leave in 2027Q2 and come back in 2027Q3: a move, even if the total is kept."""
    racks = installed(multi_plan)
    key = next(k for k in racks[2] if k.endswith("/west"))
    assert racks[3][key] == racks[2][key] > 0
    racks[3] = {k: n for k, n in racks[3].items() if k != key}
    (v,) = only(verify(multi, resched(multi, multi_plan, racks)), "SCHEDULE_MONOTONE")
    assert v.entity == f"{key}@2027Q2"


# --------------------------------------------------------------------------- SCHEDULE_DELIVERY (issue acceptance)


@pytest.fixture(scope="module")
def split_toy(toy) -> Scenario:
    """The toy with its 10 racks arriving in two batches: 5 in 2026Q3, 5 in 2027Q2."""

    def edit(s):
        s.rollout.deliveries = [
            Delivery(tenant="t", sku="nvl72", period="2026Q3", gpus=360),
            Delivery(tenant="t", sku="nvl72", period="2027Q2", gpus=360),
        ]

    return variant(toy, edit)


@pytest.fixture(scope="module")
def split_plan(split_toy) -> Plan:
    from solvers import solve

    return solve(split_toy, "cpsat")


def test_split_toy_plan(split_toy, split_plan):
    assert [rep.installed_racks.get(TOY_KEY, 0) for rep in split_plan.schedule] == [0, 0, 5, 10, 10, 10]
    assert split_plan.summary.stranded_gpu_quarters == 360 * 2
    assert verify(split_toy, split_plan).valid


def test_rack_installed_before_it_is_delivered(split_toy, split_plan):
    racks = installed(split_plan)
    racks[2] = {TOY_KEY: 6}  # 2027Q1: one rack of the 2027Q2 batch goes live a quarter early
    bad = resched(split_toy, split_plan, racks)
    assert bad.summary.stranded_gpu_quarters == 720 - 72  # the reported figures follow the racks
    (v,) = only(verify(split_toy, bad), "SCHEDULE_DELIVERY")
    assert v.entity == "tenant:t/sku:nvl72@2027Q1"
    assert (v.measured, v.limit, v.unit) == (432, 360, "GPUs")


def test_delivery_moved_later_than_the_plan_installs(multi, multi_plan):
    """Tighten the scenario instead: tenant a's first batch arrives in 2026Q4, but the plan has
    some of it live in 2026Q3."""
    first = report_of(multi_plan, "2026Q3").installed_racks
    assert any(k.startswith("a/") for k in first)

    def edit(s):
        d = next(d for d in s.rollout.deliveries if d.tenant == "a" and d.period == "2026Q3")
        d.period = "2026Q4"

    (v,) = only(check_variant(multi, multi_plan, edit), "SCHEDULE_DELIVERY")
    assert v.entity == "tenant:a/sku:nvl72@2026Q3"
    assert v.limit == 0


def test_cli_rejects_a_rack_installed_before_delivery(tmp_path, split_toy, split_plan, cli):
    """`placer verify` exits 1 on the plan that installs a rack before it is delivered, 0 on the valid one."""
    scenario_file = tmp_path / "split.yaml"
    dump_model(split_toy, scenario_file)
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    dump_model(split_plan, good)
    racks = installed(split_plan)
    racks[2] = {TOY_KEY: 6}
    dump_model(resched(split_toy, split_plan, racks), bad)
    ok = cli("verify", str(scenario_file), str(good))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    res = cli("verify", str(scenario_file), str(bad), "--json")
    assert res.returncode == 1, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert [(v["code"], v["entity"]) for v in report["violations"]] == [
        ("SCHEDULE_DELIVERY", "tenant:t/sku:nvl72@2027Q1")
    ]


# --------------------------------------------------------------------------- SCHEDULE_FINAL


def test_last_period_differs_from_assignments(toy, toy_plan):
    racks = installed(toy_plan)
    racks = [{key: min(n, 9) for key, n in r.items()} for r in racks]  # one rack never goes live
    (v,) = only(verify(toy, resched(toy, toy_plan, racks)), "SCHEDULE_FINAL")
    assert v.entity == "schedule:2027Q4"


def test_last_period_differs_from_assignments_multi(multi, multi_plan):
    racks = installed(multi_plan)
    key = next(k for k in racks[-1] if k.startswith("b/"))  # b has no latest go-live
    racks = [{k: (n - 1 if k == key else n) for k, n in r.items()} for r in racks]
    (v,) = only(verify(multi, resched(multi, multi_plan, racks)), "SCHEDULE_FINAL")
    assert v.entity == "schedule:2027Q4"


def test_final_with_duplicate_assignment_rows_adds_them_up(toy, toy_plan):
    """Rows split in two (DUPLICATE_ASSIGNMENT) are one placement to the schedule: no SCHEDULE_FINAL."""
    (a,) = toy_plan.assignments
    half = a.model_copy(
        update={"racks": 5, "gpus": 360, "it_power_mw": a.it_power_mw / 2, "facility_power_mw": a.facility_power_mw / 2}
    )
    bad = toy_plan.model_copy(update={"assignments": [half, half]})
    only(verify(toy, bad), "DUPLICATE_ASSIGNMENT")


# --------------------------------------------------------------------------- per-period capacities


def test_installing_before_energization(toy, toy_plan):
    """All 10 racks live in 2026Q4, before the hall exists: IT and both cooling limits are 0 then.
    The feed and substation are not staged, so only the site's own limits fail, in 2026Q4 only."""
    racks = installed(toy_plan)
    racks[1] = {TOY_KEY: 10}
    report = verify(toy, resched(toy, toy_plan, racks))
    assert codes(report) == {"PERIOD_SITE_CAPACITY", "PERIOD_LIQUID_COOLING", "PERIOD_AIR_COOLING"}
    assert entities(report.violations) == {"site:hall@2026Q4"}
    assert all(v.limit == 0 for v in report.violations)


EARLY = ("2026Q4", "2027Q1")  # east's first stage, its old feed and its old substation headroom


def early_max(multi, plan, site, what, periods=EARLY) -> float:
    return max(loads(multi, report_of(plan, p).installed_racks)[site][what] for p in periods)


def breached(multi, plan, site, what, limit, periods=EARLY) -> set[str]:
    return {p for p in periods if loads(multi, report_of(plan, p).installed_racks)[site][what] > limit + 1e-9}


@pytest.mark.parametrize(
    "code, what",
    [("PERIOD_SITE_CAPACITY", "it"), ("PERIOD_LIQUID_COOLING", "liquid"), ("PERIOD_AIR_COOLING", "air")],
)
def test_site_limits_of_an_early_stage(multi, multi_plan, code, what):
    """East's first stage gets 0.01 MW less than the plan uses then; its final stage is untouched,
    so the final build-out stays valid and only early periods fail."""
    peak = early_max(multi, multi_plan, "east", what)
    limit = peak - 0.01
    stage0 = {"it": 1.2, "liquid": 0.96, "air": 0.48}  # pro rata of 3 MW / 2.4 / 1.2
    stage0[what] = limit

    def edit(s):
        st = next(st for st in s.rollout.site_stages if st.period == "2026Q4")
        st.it_capacity_mw, st.liquid_cooling_mw, st.air_cooling_mw = stage0["it"], stage0["liquid"], stage0["air"]

    found = only(check_variant(multi, multi_plan, edit), code)
    expected = breached(multi, multi_plan, "east", what, limit)
    assert expected and entities(found) == {f"site:east@{p}" for p in expected}
    assert all(v.limit == pytest.approx(limit) for v in found)


def test_feed_capacity_before_the_upgrade(multi, multi_plan):
    """East's single feed carries 0.01 MW less than the early facility load until its 2027Q2 upgrade."""
    limit = early_max(multi, multi_plan, "east", "facility") - 0.01

    def edit(s):
        next(e for e in s.topology.edges if e.id == "feed-e").capacity_mw = limit

    found = only(check_variant(multi, multi_plan, edit), "PERIOD_FEED_CAPACITY")
    expected = breached(multi, multi_plan, "east", "facility", limit)
    assert expected and entities(found) == {f"site:east@{p}" for p in expected}


def test_feed_capacity_n_minus_1_before_an_upgrade(multi, multi_plan):
    """West's two feeds: one lowered to 0.01 MW below the load until a 2027Q2 upgrade. Together
    they carry the load; after losing the larger one they do not (N-1)."""
    periods = ("2026Q3", "2026Q4", "2027Q1")
    peak = early_max(multi, multi_plan, "west", "facility", periods)
    limit = peak - 0.01
    assert 0 < limit < 2 and 2 + limit > peak

    def edit(s):
        next(e for e in s.topology.edges if e.id == "feed-w2").capacity_mw = limit
        s.rollout.upgrades.append(GridUpgrade(element="feed-w2", period="2027Q2", capacity_mw=2))

    found = only(check_variant(multi, multi_plan, edit), "PERIOD_FEED_CAPACITY")
    expected = breached(multi, multi_plan, "west", "facility", limit, periods)
    assert expected and entities(found) == {f"site:west@{p}" for p in expected}
    assert all(v.limit == pytest.approx(limit) for v in found)  # min(2, limit) survives losing the other


def test_substation_headroom_before_the_upgrade(multi, multi_plan):
    limit = early_max(multi, multi_plan, "east", "facility") - 0.01  # east's one feed: all of it on ss-e

    def edit(s):
        next(n for n in s.topology.nodes if n.id == "ss-e").headroom_mw = limit

    found = only(check_variant(multi, multi_plan, edit), "PERIOD_SUBSTATION_HEADROOM")
    expected = breached(multi, multi_plan, "east", "facility", limit)
    assert expected and entities(found) == {f"substation:ss-e@{p}" for p in expected}


def test_one_rack_more_in_an_early_period(toy_rate, toy_rate_plan):
    """Plan edit rather than scenario edit: a stage of 0.5 MW from 2027Q1 (4 racks = 0.48 MW fit, 5 do not)."""

    def edit(s):
        s.rollout.site_stages = [
            SiteStage(site="hall", period="2027Q1", it_capacity_mw=0.5, liquid_cooling_mw=2, air_cooling_mw=1),
            SiteStage(site="hall", period="2027Q2", it_capacity_mw=2),
        ]

    var = variant(toy_rate, edit)
    assert verify(var, resched(var, toy_rate_plan), check_digest=False).valid
    racks = installed(toy_rate_plan)
    racks[2] = {TOY_KEY: 5}
    rated = variant(var, lambda s: setattr(s.rollout, "build_rate_racks_per_period", {}))
    (v,) = only(verify(rated, resched(rated, toy_rate_plan, racks), check_digest=False), "PERIOD_SITE_CAPACITY")
    assert v.entity == "site:hall@2027Q1"
    assert (v.measured, v.limit) == (pytest.approx(0.6), 0.5)


# --------------------------------------------------------------------------- BUILD_RATE


def test_build_rate(toy_rate, toy_rate_plan):
    racks = installed(toy_rate_plan)
    racks[2] = {TOY_KEY: 5}  # 2027Q1: 5 racks at a site that installs 4 per quarter
    (v,) = only(verify(toy_rate, resched(toy_rate, toy_rate_plan, racks)), "BUILD_RATE")
    assert v.entity == "site:hall@2027Q1"
    assert (v.measured, v.limit) == (5, 4)


def test_build_rate_counts_the_first_period(toy_rate, toy_rate_plan):
    """Racks live in the first period were all installed in it."""

    def edit(s):
        s.rollout.site_stages = []

    var = variant(toy_rate, edit)
    racks = [{TOY_KEY: n} for n in (5, 8, 10, 10, 10, 10)]
    (v,) = only(verify(var, resched(var, toy_rate_plan, racks), check_digest=False), "BUILD_RATE")
    assert v.entity == "site:hall@2026Q3"


def test_build_rate_tightened_at_east(multi, multi_plan):
    per_period = []
    prev: dict[str, int] = {}
    for rep in multi_plan.schedule:
        now = rep.installed_racks
        per_period.append(sum(n - prev.get(k, 0) for k, n in now.items() if k.endswith("/east")))
        prev = now
    peak = max(per_period)
    assert peak > 1

    def edit(s):
        s.rollout.build_rate_racks_per_period["east"] = peak - 1

    found = only(check_variant(multi, multi_plan, edit), "BUILD_RATE")
    assert entities(found) == {f"site:east@{p}" for p, n in zip(PERIODS, per_period) if n == peak}


# --------------------------------------------------------------------------- GO_LIVE_WINDOW


def test_go_live_earliest_plan_edit(multi, multi_plan):
    """b may go live from 2026Q4; one of its racks goes live in 2026Q3 (at west, with room to spare)."""
    racks = installed(multi_plan)
    key = next(k for k in racks[1] if k.startswith("b/") and k.endswith("/west"))
    assert key not in racks[0]
    racks[0] = {**racks[0], key: 1}
    (v,) = only(verify(multi, resched(multi, multi_plan, racks)), "GO_LIVE_WINDOW")
    assert v.entity == "tenant:b@2026Q3"
    assert (v.measured, v.limit) == (32, 0)


def test_go_live_latest_plan_edit(multi, multi_plan):
    """a must be fully live by 2027Q3; one of its racks at west (no build rate) waits until 2027Q4."""
    racks = installed(multi_plan)
    key = next(k for k in racks[-1] if k.startswith("a/") and k.endswith("/west"))
    last = racks[-1][key]
    racks = [{**r, key: min(r.get(key, 0), last - 1)} if q < 5 else r for q, r in enumerate(racks)]
    (v,) = only(verify(multi, resched(multi, multi_plan, racks)), "GO_LIVE_WINDOW")
    assert v.entity == "tenant:a@2027Q3"
    assert (v.measured, v.limit) == (1440 - 72, 1440)


def test_go_live_earliest_scenario_edit(toy, toy_plan):
    sc = variant(toy, lambda s: s.rollout.go_live.append(GoLiveWindow(tenant="t", earliest="2027Q2")))
    # the plan's critical path re-derived for the edited scenario (its window now binds too)
    (v,) = only(verify(sc, renpv(sc, toy_plan), check_digest=False), "GO_LIVE_WINDOW")
    assert v.entity == "tenant:t@2027Q1"


def test_go_live_latest_scenario_edit(toy, toy_plan):
    sc = variant(toy, lambda s: s.rollout.go_live.append(GoLiveWindow(tenant="t", latest="2026Q3")))
    found = only(verify(sc, toy_plan, check_digest=False), "GO_LIVE_WINDOW")
    assert entities(found) == {"tenant:t@2026Q3", "tenant:t@2026Q4"}  # every period from the latest on


def test_go_live_windows_tightened_at_multi(multi, multi_plan):
    first_b = next(rep.period for rep in multi_plan.schedule if any(k.startswith("b/") for k in rep.installed_racks))
    later = PERIODS[PERIODS.index(first_b) + 1]

    def edit(s):
        next(w for w in s.rollout.go_live if w.tenant == "b").earliest = later

    (v,) = only(check_variant(multi, multi_plan, edit), "GO_LIVE_WINDOW")
    assert v.entity == f"tenant:b@{first_b}"


# --------------------------------------------------------------------------- REPORTED_MISMATCH


def _going(rep: PeriodReport, **changes) -> list[GoingLive]:
    (g,) = rep.going_live
    return [g.model_copy(update=changes)]


CASES = {
    "going_live_racks": (
        lambda p: set_period(p, "2027Q1", going_live=_going(report_of(p, "2027Q1"), racks=9, gpus=648)),
        f"{TOY_KEY}@2027Q1",
    ),
    "going_live_gpus": (
        lambda p: set_period(p, "2027Q1", going_live=_going(report_of(p, "2027Q1"), gpus=721)),
        f"{TOY_KEY}@2027Q1",
    ),
    "going_live_missing": (lambda p: set_period(p, "2027Q1", going_live=[]), f"{TOY_KEY}@2027Q1"),
    "going_live_spurious": (
        lambda p: set_period(p, "2027Q2", going_live=report_of(p, "2027Q1").going_live),
        f"{TOY_KEY}@2027Q2",
    ),
    "going_live_twice": (
        lambda p: set_period(p, "2027Q1", going_live=report_of(p, "2027Q1").going_live * 2),
        f"{TOY_KEY}@2027Q1",
    ),
    "gpus_delivered": (lambda p: set_period(p, "2026Q4", gpus_delivered=648), "schedule:2026Q4"),
    "gpus_live": (lambda p: set_period(p, "2027Q2", gpus_live=648), "schedule:2027Q2"),
    "gpus_stranded": (lambda p: set_period(p, "2026Q3", gpus_stranded=0), "schedule:2026Q3"),
    "site_it_power": (
        lambda p: set_period(
            p, "2027Q1", sites=[report_of(p, "2027Q1").sites[0].model_copy(update={"it_power_mw": 1.1})]
        ),
        "site:hall@2027Q1",
    ),
    "site_it_available": (
        lambda p: set_period(
            p, "2027Q1", sites=[report_of(p, "2027Q1").sites[0].model_copy(update={"it_available_mw": 0.0})]
        ),
        "site:hall@2027Q1",
    ),
    "site_facility_power": (
        lambda p: set_period(
            p, "2027Q1", sites=[report_of(p, "2027Q1").sites[0].model_copy(update={"facility_power_mw": 1.2})]
        ),
        "site:hall@2027Q1",
    ),
    "site_facility_available": (
        lambda p: set_period(
            p, "2027Q1", sites=[report_of(p, "2027Q1").sites[0].model_copy(update={"facility_available_mw": 4.0})]
        ),
        "site:hall@2027Q1",
    ),
    "site_row_missing": (lambda p: set_period(p, "2027Q1", sites=[]), "site:hall@2027Q1"),
    "site_row_unknown": (
        lambda p: set_period(
            p,
            "2027Q1",
            sites=[
                *report_of(p, "2027Q1").sites,
                SitePeriod(
                    site="ghost", it_power_mw=0, it_available_mw=0, facility_power_mw=0, facility_available_mw=0
                ),
            ],
        ),
        "site:ghost@2027Q1",
    ),
    "site_row_twice": (lambda p: set_period(p, "2027Q1", sites=report_of(p, "2027Q1").sites * 2), "site:hall@2027Q1"),
    "key_malformed": (
        lambda p: set_period(p, "2027Q1", installed_racks={**report_of(p, "2027Q1").installed_racks, "bogus": 0}),
        "schedule:2027Q1",
    ),
    "key_unknown_tenant": (
        lambda p: set_period(
            p, "2027Q1", installed_racks={**report_of(p, "2027Q1").installed_racks, "ghost/nvl72/hall": 0}
        ),
        "schedule:2027Q1",
    ),
    "key_unknown_site": (
        lambda p: set_period(
            p, "2027Q1", installed_racks={**report_of(p, "2027Q1").installed_racks, "t/nvl72/ghost": 0}
        ),
        "schedule:2027Q1",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_reported_mismatch(toy, toy_plan, case):
    edit, entity = CASES[case]
    found = only(verify(toy, edit(toy_plan)), "REPORTED_MISMATCH")
    assert entities(found) == {entity}


def _with_idle(plan: Plan, value: float | None, follow: bool = False) -> Plan:
    """The NPV's idle-GPU term set to ``value`` (dropped when None); the NPV total and the objective
    unchanged, or equal to the reported terms' sum when ``follow``."""
    npv = plan.npv
    terms = [t.model_copy(update={"usd": value}) if t.name == "idle_gpu_capital" else t for t in npv.terms]
    if value is None:
        terms = [t for t in npv.terms if t.name != "idle_gpu_capital"]
    npv = npv.model_copy(update={"terms": terms})
    summary = plan.summary
    if follow:
        total = sum(t.usd for t in terms)
        npv = npv.model_copy(update={"total_usd": total})
        summary = summary.model_copy(update={"objective": total, **NO_PROOF})
    return plan.model_copy(update={"npv": npv, "summary": summary})


@pytest.mark.parametrize("value", [0.0, TOY_IDLE_USD / 2, TOY_IDLE_USD + 1_000.0, None])
def test_idle_gpu_term_mismatch(toy, toy_plan, value):
    (v,) = only(verify(toy, _with_idle(toy_plan, value)), "NPV_TERM")
    assert v.entity == "npv:idle_gpu_capital"
    assert v.limit == pytest.approx(TOY_IDLE_USD)


def test_idle_gpu_term_total_and_objective_all_wrong(toy, toy_plan):
    """The total and the objective are checked against the recomputation: a wrong term they follow
    is three findings (term, NPV total, objective)."""
    report = verify(toy, _with_idle(toy_plan, 0.0, follow=True))
    assert codes(report) == {"NPV_TERM", "NPV_TOTAL", "REPORTED_MISMATCH"}
    assert {v.entity for v in report.violations if v.code == "REPORTED_MISMATCH"} == {"summary"}


def test_objective_without_the_idle_gpus(toy, toy_plan):
    bad = toy_plan.model_copy(
        update={
            "summary": toy_plan.summary.model_copy(
                update={"objective": toy_plan.summary.objective - stranding_term(toy_plan)}
            )
        }
    )
    (v,) = only(verify(toy, bad), "REPORTED_MISMATCH")
    assert v.entity == "summary"


def test_idle_gpu_term_within_money_tolerance_is_accepted(toy, toy_plan):
    assert verify(toy, _with_idle(toy_plan, TOY_IDLE_USD + 0.5)).valid


def test_consistent_but_later_schedule_is_valid(toy, toy_plan):
    """Installing later than optimal is allowed: everything re-derived, more stranding, still valid."""
    racks = [{}, {}, {}, {TOY_KEY: 3}, {TOY_KEY: 10}, {TOY_KEY: 10}]
    late = resched(toy, toy_plan, racks)
    assert late.summary.stranded_gpu_quarters == 720 * 3 + 720 - 216
    report = verify(toy, late)
    assert report.valid, report.violations


INJECTIONS = {
    "SCHEDULE_MISSING": ["test_schedule_missing"],
    "SCHEDULE_PERIODS": ["test_schedule_periods"],
    "SCHEDULE_MONOTONE": [
        "test_rack_that_disappears",
        "test_rack_count_that_falls",
        "test_rack_that_moves_between_sites",
    ],
    "SCHEDULE_DELIVERY": [
        "test_rack_installed_before_it_is_delivered",
        "test_delivery_moved_later_than_the_plan_installs",
    ],
    "SCHEDULE_FINAL": ["test_last_period_differs_from_assignments", "test_last_period_differs_from_assignments_multi"],
    "PERIOD_SITE_CAPACITY": ["test_site_limits_of_an_early_stage", "test_one_rack_more_in_an_early_period"],
    "PERIOD_LIQUID_COOLING": ["test_site_limits_of_an_early_stage"],
    "PERIOD_AIR_COOLING": ["test_site_limits_of_an_early_stage"],
    "PERIOD_FEED_CAPACITY": ["test_feed_capacity_before_the_upgrade", "test_feed_capacity_n_minus_1_before_an_upgrade"],
    "PERIOD_SUBSTATION_HEADROOM": ["test_substation_headroom_before_the_upgrade"],
    "BUILD_RATE": ["test_build_rate", "test_build_rate_counts_the_first_period", "test_build_rate_tightened_at_east"],
    "GO_LIVE_WINDOW": ["test_go_live_earliest_plan_edit", "test_go_live_latest_plan_edit"],
}


def test_every_schedule_code_has_an_injection():
    assert set(INJECTIONS) == set(SCHEDULE_CODES)
    for code, tests in INJECTIONS.items():
        for name in tests:
            assert callable(globals().get(name)), (code, name)


# --------------------------------------------------------------------------- single period


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    return load_scenario(DATA / "tiny.yaml")


@pytest.fixture(scope="module")
def tiny_plan(tiny) -> Plan:
    from solvers import solve

    return solve(tiny, "cpsat")


def test_single_period_plan_has_no_schedule(tiny, tiny_plan):
    assert tiny_plan.schedule is None
    assert tiny_plan.summary.stranded_gpu_quarters == 0
    assert tiny_plan.npv is None and tiny_plan.summary.objective_unit == "usd_per_year"
    report = verify(tiny, tiny_plan)
    assert report.valid, report.violations
    assert not set(SCHEDULE_CODES) & set(report.checks)


def test_one_period_rollout_gives_the_same_plan(tiny, tiny_plan):
    from solvers import solve

    def edit(s):
        s.rollout = Rollout(
            periods=["2026Q1"],
            deliveries=[
                Delivery(tenant=t.id, sku=line.sku, period="2026Q1", gpus=line.gpus)
                for t in s.demand.tenants
                for line in t.lines
            ],
            stranding_usd_per_gpu_quarter=1000,
        )

    wrapped = variant(tiny, edit)
    plan = solve(wrapped, "cpsat")
    # one quarter's NPV: the capex whole, a quarter of every annual cost, nothing idle
    assert plan.summary.objective_unit == "usd" and plan.summary.objective == pytest.approx(plan.npv.total_usd)
    annual = {t.name: t.usd_per_year for t in plan.cost_breakdown}
    crf = wrapped.policy.cost.capital_recovery_factor
    assert npv_term(plan, "facility_capex") == pytest.approx(annual["capex"] / crf)
    for name in ("energy", "site_fixed", "tenant_spread", "region_surcharge"):
        assert npv_term(plan, name) == pytest.approx(annual[name] * 0.25)
    assert plan.summary.stranded_gpu_quarters == 0 and stranding_term(plan) == 0
    assert plan.schedule is not None
    (rep,) = plan.schedule
    final = {f"{a.tenant}/{a.sku}/{a.site}": a.racks for a in plan.assignments if a.racks}
    assert rep.installed_racks == final
    assert rep.gpus_delivered == rep.gpus_live == 24_800 and rep.gpus_stranded == 0
    report = verify(wrapped, plan)
    assert report.valid, report.violations
