"""A rollout's net present value: the solver's figures by hand, and one injection test per NPV
check of the verifier (placer/verify_npv.py).

Valid plans come from CP-SAT on ``rollout_toy.yaml`` (10 racks delivered 2026Q3, live from
2027Q1, when the site is energized) and ``tiny.yaml`` (single period). Each injection edits
exactly one figure of a real plan; the verifier must report exactly that code.
"""

from __future__ import annotations

import pytest

from placer.contract import capital_charge_usd_per_quarter, quarter_discount_factor
from placer.io import load_scenario
from placer.plan import Plan
from placer.verify import verify
from tests.helpers import DATA, npv_term, only, run_cli

NO_PROOF = {"status": "FEASIBLE", "placement_status": None, "bound": None, "gap": None}
D = [1.08 ** (-q / 4) for q in range(6)]  # the toy's discount factors: 8 %/yr, quarters of 0.25 yr


@pytest.fixture(scope="module")
def toy():
    return load_scenario(DATA / "rollout_toy.yaml")


@pytest.fixture(scope="module")
def toy_plan(toy) -> Plan:
    from solvers import solve

    return solve(toy, "cpsat")


def with_npv(plan: Plan, **changes) -> Plan:
    return plan.model_copy(update={"npv": plan.npv.model_copy(update=changes)})


def test_contract_definitions():
    assert quarter_discount_factor(0, 0.08, 0.25) == 1.0
    assert quarter_discount_factor(4, 0.08, 0.25) == pytest.approx(1 / 1.08)
    # the level quarterly payment that repays 40,000 USD over 5 years at 8 %/yr
    i = 1.08**0.25 - 1
    assert capital_charge_usd_per_quarter(40_000, 5, 0.08, 0.25) == pytest.approx(40_000 * i / (1 - (1 + i) ** -20))
    assert capital_charge_usd_per_quarter(40_000, 5, 0.0, 0.25) == pytest.approx(2_000)


def test_toy_npv_by_hand(toy_plan):
    """capex 10 racks x 0.12 MW x 10 M USD/MW in 2027Q1; energy 1.44 MW x 0.8 x 8760 h x 100 USD/MWh
    per year, a quarter of it in each of 2027Q1-2027Q4; 720 GPUs idle in 2026Q3-Q4 at 1,000 USD."""
    npv = toy_plan.npv
    assert toy_plan.summary.objective_unit == "usd"
    capex = 12_000_000 * D[2]
    energy = 1.44 * 0.8 * 8760 * 100 * 0.25 * sum(D[2:])
    idle = 720 * 1000 * (D[0] + D[1])
    assert npv_term(toy_plan, "facility_capex") == pytest.approx(capex)
    assert npv_term(toy_plan, "energy") == pytest.approx(energy)
    assert npv_term(toy_plan, "idle_gpu_capital") == pytest.approx(idle)
    assert npv.total_usd == pytest.approx(capex + energy + idle)
    assert toy_plan.summary.objective == pytest.approx(npv.total_usd)
    assert [p.discount_factor for p in npv.periods] == pytest.approx(D)
    assert sum(p.total_usd for p in npv.periods) == pytest.approx(npv.total_usd)
    # the annual run rate stays annual and apart
    assert {t.name for t in toy_plan.cost_breakdown} >= {"capex", "energy"}


def test_toy_plan_is_valid(toy, toy_plan):
    report = verify(toy, toy_plan)
    assert report.valid, report.violations
    assert {"NPV_MISSING", "OBJECTIVE_UNIT", "NPV_PARAMETERS", "NPV_PERIOD", "NPV_TERM", "NPV_TOTAL"} <= set(
        report.checks
    )


def test_priced_sku_is_charged_its_capital_charge(toy):
    """A SKU with a price: its idle GPUs cost the annuity of the price, not the rollout's fallback."""
    from solvers import solve

    data = toy.model_dump(by_alias=True)
    data["catalog"][0].update(price_usd_per_gpu=40_000.0, life_years=4.0)
    data["rollout"]["stranding_usd_per_gpu_quarter"] = None
    sc = type(toy).model_validate(data)
    plan = solve(sc, "cpsat")
    charge = capital_charge_usd_per_quarter(40_000, 4, 0.08, 0.25)
    assert npv_term(plan, "idle_gpu_capital") == pytest.approx(720 * charge * (D[0] + D[1]))
    assert verify(sc, plan).valid


# --------------------------------------------------------------------------- injections, one code each


def test_npv_missing(toy, toy_plan):
    (v,) = only(verify(toy, toy_plan.model_copy(update={"npv": None})), "NPV_MISSING")
    assert v.entity == "npv"


def test_npv_on_a_single_period_plan(toy_plan):
    from solvers import solve

    tiny = load_scenario(DATA / "tiny.yaml")
    plan = solve(tiny, "cpsat").model_copy(update={"npv": toy_plan.npv})
    (v,) = only(verify(tiny, plan), "NPV_MISSING")
    assert "single-period" in v.message


def test_objective_unit(toy, toy_plan):
    bad = toy_plan.model_copy(
        update={"summary": toy_plan.summary.model_copy(update={"objective_unit": "usd_per_year"})}
    )
    (v,) = only(verify(toy, bad), "OBJECTIVE_UNIT")
    assert v.entity == "summary"


@pytest.mark.parametrize("field, value", [("discount_rate_per_year", 0.05), ("quarter_length_years", 1.0)])
def test_npv_parameters(toy, toy_plan, field, value):
    only(verify(toy, with_npv(toy_plan, **{field: value})), "NPV_PARAMETERS")


def test_npv_period_discount_factor(toy, toy_plan):
    periods = list(toy_plan.npv.periods)
    periods[3] = periods[3].model_copy(update={"discount_factor": 1.0})
    (v,) = only(verify(toy, with_npv(toy_plan, periods=periods)), "NPV_PARAMETERS")
    assert v.entity == "npv:2027Q2"


def test_npv_period_term(toy, toy_plan):
    """Energy moved from 2027Q2 to 2027Q3: every total still adds up, the quarters do not."""
    periods = list(toy_plan.npv.periods)
    a, b = periods[3], periods[4]
    periods[3] = a.model_copy(update={"terms_usd": {**a.terms_usd, "energy": a.terms_usd["energy"] - 5_000}})
    periods[4] = b.model_copy(update={"terms_usd": {**b.terms_usd, "energy": b.terms_usd["energy"] + 5_000}})
    periods[3] = periods[3].model_copy(update={"total_usd": a.total_usd - 5_000})
    periods[4] = periods[4].model_copy(update={"total_usd": b.total_usd + 5_000})
    found = only(verify(toy, with_npv(toy_plan, periods=periods)), "NPV_PERIOD")
    assert {v.entity for v in found} == {"npv:2027Q2/energy", "npv:2027Q2", "npv:2027Q3/energy", "npv:2027Q3"}


def test_npv_term(toy, toy_plan):
    terms = [t.model_copy(update={"usd": t.usd * 1.01}) if t.name == "energy" else t for t in toy_plan.npv.terms]
    (v,) = only(verify(toy, with_npv(toy_plan, terms=terms)), "NPV_TERM")
    assert v.entity == "npv:energy"


def test_npv_term_unknown(toy, toy_plan):
    terms = [*toy_plan.npv.terms, toy_plan.npv.terms[0].model_copy(update={"name": "stranding", "usd": 0.0})]
    (v,) = only(verify(toy, with_npv(toy_plan, terms=terms)), "NPV_TERM")
    assert v.entity == "npv:stranding"


def test_npv_total(toy, toy_plan):
    (v,) = only(verify(toy, with_npv(toy_plan, total_usd=toy_plan.npv.total_usd + 10_000)), "NPV_TOTAL")
    assert v.limit == pytest.approx(toy_plan.npv.total_usd)


def test_objective_is_held_to_the_recomputed_npv(toy, toy_plan):
    """The objective says the annual run rate while the NPV section is true: REPORTED_MISMATCH only
    (the claims are stripped, so the lie is in one figure)."""
    run_rate = sum(t.usd_per_year for t in toy_plan.cost_breakdown)
    bad = toy_plan.model_copy(
        update={"summary": toy_plan.summary.model_copy(update={"objective": run_rate, **NO_PROOF})}
    )
    (v,) = only(verify(toy, bad), "REPORTED_MISMATCH")
    assert v.entity == "summary" and v.unit == "USD"


# --------------------------------------------------------------------------- bad input


def test_a_delivered_sku_without_a_cost_is_refused(tmp_path, toy):
    data = toy.model_dump(mode="json", by_alias=True)
    data["rollout"]["stranding_usd_per_gpu_quarter"] = None
    path = tmp_path / "noprice.json"
    import json

    path.write_text(json.dumps(data))
    proc = run_cli("solve", str(path))
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()]
    assert len(lines) == 1 and "catalog[0].price_usd_per_gpu" in lines[0] and "noprice.json" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_prints_npv_without_mixing_units(toy):
    proc = run_cli("solve", str(DATA / "rollout_toy.yaml"), "--solver", "cpsat")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    header = out.splitlines()[0] + out.splitlines()[1]
    assert "objective NPV $" in header and "/yr" not in header
    assert "Net present value" in out and "Final build-out, cost per year" in out
    assert "stranding" not in out.lower().replace("stranded", "")


def test_every_npv_code_has_an_injection():
    from placer.verify_npv import CODES

    tests = {
        "NPV_MISSING": test_npv_missing,
        "OBJECTIVE_UNIT": test_objective_unit,
        "NPV_PARAMETERS": test_npv_parameters,
        "NPV_PERIOD": test_npv_period_term,
        "NPV_TERM": test_npv_term,
        "NPV_TOTAL": test_npv_total,
    }
    assert set(tests) == set(CODES)


def test_cpsat_rounds_the_korea_rollout_npv_harmlessly():
    """CP-SAT rounds each NPV coefficient to whole dollars: on korea-2025-rollout they span
    ~2.4e4-1.2e7 USD per rack-quarter (an option's, up to its capex: 1.7e9 for the east-coast HVDC,
    well inside CP-SAT's int64), and the rounding moves a plan's objective by at most half a dollar
    per term: < 1e-5 of it (the plan itself is priced in floating point)."""
    from solvers.formulation import Formulation
    from solvers.problem import build_problem
    from topologies import builtin_scenario

    f = Formulation(build_problem(builtin_scenario("korea-2025-rollout")))
    terms, constants = f.objective()
    racks_coefs = [abs(c) for c, ref in terms if ref.kind == "y" and round(c)]
    assert 1e4 < min(racks_coefs) and max(racks_coefs) < 1e8
    option_coefs = [abs(c) for c, ref in terms if ref.kind == "option"]
    assert max(option_coefs) < 1e10  # whole dollars: exact in int64 with room for the sums
    racks = sum(f.p.demand_racks.values())
    worst = 0.5 * racks * f.p.periods.count + 0.5 * sum(ref.kind != "y" for _, ref in terms) + 0.5 * len(constants)
    assert worst < 1e-5 * sum(constants)  # the constants alone (idle GPUs if none went live) are below any plan
