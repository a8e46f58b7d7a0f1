"""Power options as decisions (``rollout.options``): the engines choose them, the verifier checks
them. One injection test per OPTION_* code, each a real solver plan with exactly one lie.

Scenario: ``rollout_options.yaml`` (hall energized in 2027Q1 unless a build-out stage brings
1.2 MW forward; annex behind a 0.6 MW feed and a 0.5 MW substation, with a feed uprate,
transformers (the second needs the first, an alternative excludes the first), on-site generation
capped at 1 MW per site, a direct supply contract and a forced feed uprate at hall).
"""

from __future__ import annotations

import pytest

from placer.io import load_scenario
from placer.plan import Investment, Plan
from placer.scenario import Scenario
from placer.verify import verify
from placer.verify_options import CODES
from tests.helpers import DATA, codes, npv_term, only, run_cli

NO_PROOF = {"status": "FEASIBLE", "placement_status": None, "bound": None, "gap": None}


@pytest.fixture(scope="module")
def sc() -> Scenario:
    return load_scenario(DATA / "rollout_options.yaml")


@pytest.fixture(scope="module")
def plan(sc) -> Plan:
    from solvers import solve

    # without the option worth (tests/test_option_worth.py has its own): an injection here edits the
    # investments, and the worth's cross-checks of them would fire as well
    return solve(sc, "cpsat", option_worth=False)


def option(sc: Scenario, oid: str):
    return next(o for o in sc.rollout.options if o.id == oid)


def invest(sc: Scenario, oid: str, period: str) -> Investment:
    o = option(sc, oid)
    return Investment(
        option=oid, kind=o.kind, period=period, capex_usd=o.capex_usd, fixed_usd_per_year=o.fixed_usd_per_year
    )


def with_investments(sc: Scenario, plan: Plan, investments: list[Investment]) -> Plan:
    """``plan`` with other investments and every figure re-derived from them as a solver would: the
    same racks and schedule put through the solvers' one plan assembly (capacities with the options
    in service, NPV), without a bound (the claims are the original engine's). The investments list is
    then set as given (a repeated or unknown entry is the lie)."""
    from solvers.assemble import assemble_plan
    from solvers.engine import Capabilities, EngineResult
    from solvers.problem import build_problem

    problem = build_problem(sc)
    index = {
        f"{problem.tenants[c.t].id}/{problem.skus[c.k].id}/{problem.sites[c.s].id}": i
        for i, c in enumerate(problem.candidates)
    }
    racks = {index[f"{a.tenant}/{a.sku}/{a.site}"]: a.racks for a in plan.assignments}
    schedule = {(index[k], q): n for q, rep in enumerate(plan.schedule or []) for k, n in rep.installed_racks.items()}
    option_of = {o.id: j for j, o in enumerate(problem.options)}
    period_of = {p: q for q, p in enumerate(problem.periods.ids)}
    first: dict[int, int] = {}
    for inv in investments:
        if inv.option in option_of and inv.period in period_of:
            first.setdefault(option_of[inv.option], period_of[inv.period])
    options = {
        (o, q): int(o in first and q >= first[o]) for o in range(len(problem.options)) for q in period_of.values()
    }
    result = EngineResult(
        solver="edited", solver_version="test", status="FEASIBLE", racks=racks, schedule=schedule, options=options
    )
    caps = Capabilities(grid=False, rollouts=True, bounds=False, hints=False, deterministic=True)
    return assemble_plan(problem, result, caps).model_copy(update={"investments": investments})


def variant(sc: Scenario, edit) -> Scenario:
    data = sc.model_dump(by_alias=True)
    edit(data)
    return Scenario.model_validate(data)


# --------------------------------------------------------------------------- the engines choose


@pytest.mark.parametrize("solver", ["cpsat", "milp", "greedy"])
def test_every_engine_gives_a_verified_plan_with_its_investments(sc, solver):
    from solvers import solve

    p = solve(sc, solver)
    report = verify(sc, p)
    assert report.valid, report.violations
    assert set(CODES) <= set(report.checks)
    built = {i.option: i.period for i in p.investments}
    assert built["hall-feed-fixed"] == "2027Q2"  # forced on in its quarter
    assert built.get("hall-stage0") == "2026Q3"  # bringing 1.2 MW forward two quarters pays


def test_exact_engines_agree_and_beat_no_options(sc, plan):
    from solvers import solve

    milp = solve(sc, "milp")
    assert plan.summary.status == milp.summary.status == "OPTIMAL"
    assert milp.summary.objective == pytest.approx(plan.summary.objective, rel=1e-4)

    # without the build-out stage as an option (hall's 3.2 MW all come in 2027Q1) the rollout
    # strands more and costs more
    def bare_edit(d):
        d["rollout"]["options"] = [o for o in d["rollout"]["options"] if o["id"] != "hall-stage0"]
        d["rollout"]["site_stages"] = [{"site": "hall", "period": "2027Q1", "it_capacity_mw": 3.2}]

    bare = variant(sc, bare_edit)
    without = solve(bare, "cpsat")
    assert verify(bare, without).valid
    assert without.summary.stranded_gpu_quarters > plan.summary.stranded_gpu_quarters
    assert without.summary.objective > plan.summary.objective
    assert npv_term(plan, "option_capex") > npv_term(without, "option_capex")


def test_cheap_onsite_generation_is_built_where_its_load_absorbs_it(sc):
    from solvers import solve

    def cheap(d):
        fc = next(o for o in d["rollout"]["options"] if o["id"] == "annex-fuelcell")
        fc.update(capex_usd=100_000.0, energy_usd_per_mwh=50.0)

    v = variant(sc, cheap)
    p = solve(v, "cpsat")
    assert "annex-fuelcell" in {i.option for i in p.investments}
    assert npv_term(p, "onsite_energy") < 0  # cheaper than the grid at annex
    assert verify(v, p).valid


# --------------------------------------------------------------------------- injections, one code each


def test_option_unknown(sc, plan):
    bad = plan.model_copy(
        update={
            "investments": [*plan.investments, invest(sc, "ss2-alt", "2027Q3").model_copy(update={"option": "nope"})]
        }
    )
    (v,) = only(verify(sc, bad), "OPTION_UNKNOWN")
    assert v.entity == "option:nope"


def test_option_twice(sc, plan):
    bad = plan.model_copy(update={"investments": [*plan.investments, invest(sc, "hall-stage0", "2027Q1")]})
    (v,) = only(verify(sc, bad), "OPTION_TWICE")
    assert v.entity == "option:hall-stage0"


def test_option_early(sc, plan):
    """ss2-alt is not available before 2027Q3 (its lead time)."""
    bad = with_investments(sc, plan, [*plan.investments, invest(sc, "ss2-alt", "2027Q1")])
    (v,) = only(verify(sc, bad), "OPTION_EARLY")
    assert v.entity == "option:ss2-alt"


def test_option_forced(sc, plan):
    kept = [i for i in plan.investments if i.option != "hall-feed-fixed"]
    (v,) = only(verify(sc, with_investments(sc, plan, kept)), "OPTION_FORCED")
    assert v.entity == "option:hall-feed-fixed"


def test_option_forced_late(sc, plan):
    late = [i if i.option != "hall-feed-fixed" else i.model_copy(update={"period": "2027Q3"}) for i in plan.investments]
    only(verify(sc, with_investments(sc, plan, late)), "OPTION_FORCED")


def test_option_requires(sc, plan):
    """The second transformer without the first."""
    bad = with_investments(sc, plan, [*plan.investments, invest(sc, "ss2-tx2", "2027Q1")])
    (v,) = only(verify(sc, bad), "OPTION_REQUIRES")
    assert v.entity == "option:ss2-tx2"


def test_option_excludes(sc, plan):
    both = [*plan.investments, invest(sc, "ss2-tx1", "2026Q4"), invest(sc, "ss2-alt", "2027Q3")]
    (v,) = only(verify(sc, with_investments(sc, plan, both)), "OPTION_EXCLUDES")
    assert v.entity == "option:ss2-tx1"


def test_option_onsite_cap(sc):
    """A plan with a 0.5 MW fuel cell, checked against a 0.4 MW distributed-generation limit."""
    from solvers import solve

    def cheap(d):
        fc = next(o for o in d["rollout"]["options"] if o["id"] == "annex-fuelcell")
        fc.update(capex_usd=100_000.0, energy_usd_per_mwh=50.0)

    v = variant(sc, cheap)
    p = solve(v, "cpsat")
    tight = variant(v, lambda d: d["policy"].update(onsite_generation_max_mw=0.4))
    found = only(verify(tight, p, check_digest=False), "OPTION_ONSITE_CAP")
    assert {f.entity for f in found} == {f"site:annex@{q}" for q in tight.rollout.periods}
    assert {(f.measured, f.limit) for f in found} == {(0.5, 0.4)}


def test_option_absorbed(sc, plan):
    """A fuel cell at annex from 2026Q3, when annex has no load yet: it cannot run flat out."""
    bad = with_investments(sc, plan, [*plan.investments, invest(sc, "annex-fuelcell", "2026Q3")])
    found = only(verify(sc, bad), "OPTION_ABSORBED")
    assert "site:annex@2026Q3" in {v.entity for v in found}


def test_investment_cost_misreported(sc, plan):
    lie = [i.model_copy(update={"capex_usd": 1.0}) if i.option == "hall-stage0" else i for i in plan.investments]
    (v,) = only(verify(sc, plan.model_copy(update={"investments": lie})), "REPORTED_MISMATCH")
    assert v.entity == "option:hall-stage0"


def test_capacity_of_an_option_not_built(sc, plan):
    """Drop the build-out stage but keep the schedule: hall's 10 racks in 2026Q3 have no capacity."""
    kept = [i for i in plan.investments if i.option != "hall-stage0"]
    report = verify(sc, with_investments(sc, plan, kept))
    assert "PERIOD_SITE_CAPACITY" in codes(report)


def test_every_option_code_has_an_injection():
    tests = {
        "OPTION_UNKNOWN": test_option_unknown,
        "OPTION_TWICE": test_option_twice,
        "OPTION_EARLY": test_option_early,
        "OPTION_FORCED": test_option_forced,
        "OPTION_REQUIRES": test_option_requires,
        "OPTION_EXCLUDES": test_option_excludes,
        "OPTION_ONSITE_CAP": test_option_onsite_cap,
        "OPTION_ABSORBED": test_option_absorbed,
    }
    assert set(tests) == set(CODES)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "edit, where",
    [
        (lambda o: o.update(element="nowhere"), "rollout.options[0].element"),
        (lambda o: o.update(earliest="2031Q1"), "rollout.options[0].earliest"),
        (lambda o: o.update(requires=["ghost"]), "rollout.options[0].requires[0]"),
        (lambda o: o.update(kind="line", element="hall", rating_mw=10.0, it_capacity_mw=None), "rollout.options[0]"),
        (lambda o: o.update(capex_usd=-1.0), "rollout.options[0].capex_usd"),
    ],
    ids=["element", "earliest", "requires", "line", "capex"],
)
def test_bad_option_input_is_one_line_exit_2(tmp_path, sc, edit, where):
    import json

    data = sc.model_dump(mode="json", by_alias=True)
    edit(data["rollout"]["options"][0])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    proc = run_cli("solve", str(path), "--solver", "greedy")
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "bad.json" in lines[0] and where in lines[0], proc.stderr


def test_a_bridge_serves_until_the_permanent_stage(sc):
    """hall-stage0 as a bridge (a modular hall until 2027Q1): its 1.2 MW serve 2026Q3-2026Q4 only,
    so hall holds at most its 2 MW stage from 2027Q1; the plan verifies and reports exactly that."""
    from solvers import solve

    def bridge(d):
        st = next(o for o in d["rollout"]["options"] if o["id"] == "hall-stage0")
        st.update(until="2027Q1", fixed_usd_per_year=100_000.0)

    v = variant(sc, bridge)
    p = solve(v, "cpsat")
    assert verify(v, p).valid
    assert {i.option for i in p.investments} >= {"hall-stage0"}
    avail = {rep.period: {r.site: r.it_available_mw for r in rep.sites} for rep in p.schedule}
    assert avail["2026Q4"]["hall"] == pytest.approx(1.2) and avail["2027Q1"]["hall"] == pytest.approx(2.0)
    # its fixed cost runs while it serves: two quarters (plus annex-feed's from its quarter, if built)
    d = [1.08 ** (-q / 4) for q in range(6)]
    built = {i.option: v.rollout.periods.index(i.period) for i in p.investments}
    feed = 50_000 * 0.25 * sum(d[built["annex-feed"] :]) if "annex-feed" in built else 0.0
    assert npv_term(p, "option_fixed") == pytest.approx(100_000 * 0.25 * (d[0] + d[1]) + feed)
