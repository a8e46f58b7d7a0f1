"""Verifier: a rollout's net present value, recomputed term by term and period by period.

Input: a scenario with a ``rollout``, a plan, and the verifier's own re-dispatch cost of each
quarter (USD per year, from that quarter's grid report; none without a grid). Output: the recomputed NPV (USD) and
:class:`Finding` tuples. Never imports ``solvers/``: the discount factor and the capital charge
are the contract's definitions (:mod:`placer.contract`); the arithmetic is this module's own
(``math.fsum`` over the schedule's installed racks, the scenario's deliveries and the capacities
:func:`placer.verify_schedule.capacities_in_period` recomputes).

Money rule (the README's rollout objective): with d_q = (1 + r) ** -(q L) for quarter q (0 = the
first), L = ``policy.cost.quarter_length_years`` and r = ``policy.cost.discount_rate``:

* ``facility_capex``: d_q x capex_weight x capex_usd_per_mw x IT MW going live in q;
* ``energy``: d_q x L x energy_weight x facility MW live x utilization x 8760 h x price;
* ``region_surcharge``: d_q x L x facility MW live x the region's USD per MW-year;
* ``site_fixed``: d_q x L x site_fixed_weight x fixed_usd_per_year, for each site of the final
  build-out (``assignments``) in every quarter its IT capacity in service (topology and
  stages, options aside) is above 0;
* ``tenant_spread``: d_q x L x tenant_site_usd_per_year x (tenant, site) pairs of the final build-out;
* ``idle_gpu_capital``: d_q x (GPUs delivered by q - GPUs live in q) x the SKU's capital charge per
  quarter (its price over its life, :func:`placer.contract.capital_charge_usd_per_quarter`; the
  rollout's ``stranding_usd_per_gpu_quarter`` for a SKU without a price);
* ``redispatch``: d_q x L x quarter q's re-dispatch cost (USD per year, from its grid report:
  ``schedule[q].grid``, the last quarter's ``plan.grid``; :mod:`placer.verify_grid_periods`);
* ``option_capex``: d_q x the capex of the options the plan builds in q (``plan.investments``);
* ``option_fixed``: d_q x L x the fixed USD per year of the options in service in q (built by q and,
  for a bridge, before its ``until``);
* ``onsite_energy``: d_q x L x energy_weight x generation MW x utilization x 8760 h x (its price - the
  site's grid price) for the on-site and contracted supply in service in q.

Codes: ``NPV_MISSING`` (a rollout plan without ``npv``, or a single-period plan with one),
``OBJECTIVE_UNIT`` (``summary.objective_unit`` is not ``usd`` for a rollout, ``usd_per_year``
otherwise), ``NPV_PARAMETERS`` (discount rate, quarter length, the periods or a period's discount
factor differ from the scenario's), ``NPV_PERIOD`` (a period's term or total differs from the
recomputation), ``NPV_TERM`` (a term's total differs, or a term is missing, unknown or repeated),
``NPV_TOTAL`` (``npv.total_usd`` differs from the recomputed NPV). ``summary.objective`` is held to
the recomputed NPV by :mod:`placer.verify` (``REPORTED_MISMATCH``).

Complexity: O(P · (A + S)) for P periods, A installed-rack entries per period and S sites.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from placer.contract import (
    HOURS_PER_YEAR,
    MOVES_TERM,
    NPV_TERMS,
    USD_ABS_TOL,
    USD_REL_TOL,
    capital_charge_usd_per_quarter,
    quarter_discount_factor,
)
from placer.plan import Plan
from placer.scenario import Scenario
from placer.verify_finding import Finding
from placer.verify_options import built_options
from placer.verify_schedule import capacities_in_period

CODES = ["NPV_MISSING", "OBJECTIVE_UNIT", "NPV_PARAMETERS", "NPV_PERIOD", "NPV_TERM", "NPV_TOTAL"]


def _close(reported: float, expected: float) -> bool:
    return math.isfinite(reported) and math.isclose(reported, expected, rel_tol=USD_REL_TOL, abs_tol=USD_ABS_TOL)


def idle_charge_usd_per_gpu_quarter(scenario: Scenario) -> dict[str, float]:
    """SKU id -> the quarterly charge of a delivered GPU that is not live. O(K)."""
    cost, r = scenario.policy.cost, scenario.rollout
    fallback = (r.stranding_usd_per_gpu_quarter if r is not None else None) or 0.0
    return {
        k.id: fallback
        if k.price_usd_per_gpu is None
        else capital_charge_usd_per_quarter(
            k.price_usd_per_gpu, k.life_years, cost.discount_rate, cost.quarter_length_years
        )
        for k in scenario.catalog
    }


def recompute_npv(scenario: Scenario, plan: Plan, redispatch_usd_per_year: Sequence[float]) -> list[dict[str, float]]:
    """Per period (in the scenario's order), each term's discounted cash flow, USD, from the plan's
    schedule (entries that name no tenant/SKU/site are skipped: the schedule checks report them).
    A missing period's schedule counts as nothing live."""
    r = scenario.rollout
    assert r is not None, "only a rollout has an NPV"
    pol = scenario.policy
    cost, w = pol.cost, pol.objective
    years = cost.quarter_length_years
    skus = {k.id: k for k in scenario.catalog}
    sites = {s.id: s for s in scenario.topology.sites}
    tenants = {t.id for t in scenario.demand.tenants}
    idle = idle_charge_usd_per_gpu_quarter(scenario)
    by_period = {rep.period: rep.installed_racks for rep in plan.schedule or []}
    pairs = {(a.tenant, a.site) for a in plan.assignments if a.racks > 0 and a.site in sites}
    used = sorted({s for _, s in pairs})
    order = {p: i for i, p in enumerate(r.periods)}
    built = built_options(scenario, plan)
    options = {o.id: o for o in r.options}
    # on-site or contracted MWh in place of the site's grid MWh: generation x utilization x 8760 h x
    # (its price - the site's price), weighted like energy, USD per year
    premium = {
        o.id: w.energy_weight
        * (o.generation_mw or 0.0)
        * cost.utilization
        * HOURS_PER_YEAR
        * ((o.energy_usd_per_mwh or 0.0) - sites[o.element].energy_price_usd_per_mwh)
        for o in r.options
        if o.kind in ("onsite_generation", "direct_supply")
    }
    ends = {o.id: len(r.periods) if o.until is None else order[o.until] for o in r.options}  # a bridge's end
    out: list[dict[str, float]] = []
    before: dict[str, int] = {}
    for q, period in enumerate(r.periods):
        d = quarter_discount_factor(q, cost.discount_rate, years)
        now: dict[str, int] = {}
        for key, n in by_period.get(period, {}).items():
            parts = key.split("/")
            if len(parts) == 3 and parts[0] in tenants and parts[1] in skus and parts[2] in sites:
                now[key] = n
        capex, energy, surcharge, live = [], [], [], dict.fromkeys(skus, 0)
        for key, n in now.items():
            _t, k, s = key.split("/")
            sku, site = skus[k], sites[s]
            it_mw = sku.it_kw_per_rack / 1000.0
            fac_mw = it_mw * site.pue
            capex.append(max(0, n - before.get(key, 0)) * it_mw * site.capex_usd_per_mw)  # racks going live
            energy.append(n * fac_mw * cost.utilization * HOURS_PER_YEAR * site.energy_price_usd_per_mwh)
            surcharge.append(n * fac_mw * w.region_surcharge_usd_per_mw_year.get(site.region, 0.0))
            live[k] += n * sku.gpus_per_rack
        delivered = dict.fromkeys(skus, 0)
        for dl in r.deliveries:
            if order[dl.period] <= q:
                delivered[dl.sku] += dl.gpus
        in_service = capacities_in_period(scenario, period).it  # the data's stages: a linear rule for the solver
        # options in service this quarter: built by then and, a bridge, not yet replaced
        serving = [o for o, first in built.items() if order[first] <= q < ends[o]]
        flows = {
            "facility_capex": w.capex_weight * math.fsum(capex),
            "energy": w.energy_weight * math.fsum(energy) * years,
            "site_fixed": w.site_fixed_weight
            * math.fsum(sites[s].fixed_usd_per_year for s in used if in_service[s] > 0)
            * years,
            "tenant_spread": w.tenant_site_usd_per_year * len(pairs) * years,
            "region_surcharge": math.fsum(surcharge) * years,
            "idle_gpu_capital": math.fsum(idle[k] * (delivered[k] - live[k]) for k in skus),
            "redispatch": redispatch_usd_per_year[q] * years if q < len(redispatch_usd_per_year) else 0.0,
            "option_capex": math.fsum(options[o].capex_usd for o, first in built.items() if order[first] == q),
            "option_fixed": math.fsum(options[o].fixed_usd_per_year for o in serving) * years,
            "onsite_energy": math.fsum(premium.get(o, 0.0) for o in serving) * years,
        }
        if plan.replan is not None:  # the re-plan's one-off move cost, now: the first quarter, undiscounted
            flows[MOVES_TERM] = (
                sum(m.racks for m in plan.replan.moves) * plan.replan.move_cost_usd_per_rack if q == 0 else 0.0
            )
        out.append({name: d * v for name, v in flows.items()})
        before = now
    return out


def check_npv(
    scenario: Scenario, plan: Plan, redispatch_usd_per_year: Sequence[float]
) -> tuple[float | None, list[Finding]]:
    """(the recomputed NPV in USD, or None without a rollout; the findings). See the module docstring."""
    r = scenario.rollout
    found: list[Finding] = []
    unit = plan.summary.objective_unit
    want_unit = "usd" if r is not None else "usd_per_year"
    if unit != want_unit:
        found.append(
            Finding(
                "OBJECTIVE_UNIT",
                "summary",
                None,
                None,
                "",
                f"summary.objective_unit is '{unit}', but a {'rollout' if r else 'single-period'} plan's objective "
                f"is in '{want_unit}'",
            )
        )
    if r is None:
        if plan.npv is not None:
            found.append(
                Finding("NPV_MISSING", "npv", None, None, "", "a single-period plan has an npv section (no rollout)")
            )
        return None, found
    npv = plan.npv
    if plan.schedule is None or [rep.period for rep in plan.schedule] != list(r.periods):
        # SCHEDULE_MISSING / SCHEDULE_PERIODS report it; without the schedule the NPV cannot be
        # recomputed, so the objective is held to the plan's own NPV (one fault, one finding)
        if npv is None:
            found.append(
                Finding("NPV_MISSING", "npv", None, None, "USD", "the scenario has a rollout but the plan has no npv")
            )
            return plan.summary.objective, found
        return npv.total_usd, found
    flows = recompute_npv(scenario, plan, redispatch_usd_per_year)
    total = math.fsum(v for per in flows for v in per.values())
    if npv is None:
        found.append(
            Finding("NPV_MISSING", "npv", None, total, "USD", "the scenario has a rollout but the plan has no npv")
        )
        return total, found
    cost = scenario.policy.cost
    names = list(NPV_TERMS) + ([MOVES_TERM] if plan.replan is not None else [])  # (a re-plan's move cost)

    def add(code: str, entity: str, message: str, measured=None, limit=None) -> None:
        found.append(Finding(code, entity, measured, limit, "USD", message))

    for name, reported, expected in (
        ("discount_rate_per_year", npv.discount_rate_per_year, cost.discount_rate),
        ("quarter_length_years", npv.quarter_length_years, cost.quarter_length_years),
    ):
        if not (math.isfinite(reported) and math.isclose(reported, expected, rel_tol=1e-12, abs_tol=1e-12)):
            add(
                "NPV_PARAMETERS",
                "npv",
                f"npv.{name} is {reported!r}, the scenario's is {expected!r}",
                reported,
                expected,
            )
    if [p.period for p in npv.periods] != list(r.periods):
        add("NPV_PARAMETERS", "npv", "npv.periods are not the rollout's periods, in order")
    else:
        for q, (rep, exp) in enumerate(zip(npv.periods, flows)):
            ent = f"npv:{rep.period}"
            d = quarter_discount_factor(q, cost.discount_rate, cost.quarter_length_years)
            if not (math.isfinite(rep.discount_factor) and math.isclose(rep.discount_factor, d, rel_tol=1e-9)):
                add(
                    "NPV_PARAMETERS",
                    ent,
                    f"npv.periods[{q}].discount_factor is {rep.discount_factor!r}, recomputed {d!r}",
                    rep.discount_factor,
                    d,
                )
            if set(rep.terms_usd) != set(names):
                add("NPV_PERIOD", ent, f"npv.periods[{q}] names terms {sorted(rep.terms_usd)}, not {names}")
            for name, value in rep.terms_usd.items():
                if name in exp and not _close(value, exp[name]):
                    add(
                        "NPV_PERIOD",
                        f"{ent}/{name}",
                        f"npv.periods[{q}].terms_usd[{name}] is {value:,.2f} USD, recomputed {exp[name]:,.2f}",
                        value,
                        exp[name],
                    )
            expected_total = math.fsum(exp.values())
            if not _close(rep.total_usd, expected_total):
                add(
                    "NPV_PERIOD",
                    ent,
                    f"npv.periods[{q}].total_usd is {rep.total_usd:,.2f} USD, recomputed {expected_total:,.2f}",
                    rep.total_usd,
                    expected_total,
                )
    seen: set[str] = set()
    for j, term in enumerate(npv.terms):
        ent = f"npv:{term.name}"
        if term.name not in names or term.name in seen:
            why = "is reported twice" if term.name in seen else f"is unknown (known: {', '.join(names)})"
            add("NPV_TERM", ent, f"npv.terms[{j}] '{term.name}' {why}", term.usd)
            continue
        seen.add(term.name)
        expected = math.fsum(per[term.name] for per in flows)
        if not _close(term.usd, expected):
            add(
                "NPV_TERM",
                ent,
                f"npv term '{term.name}' is {term.usd:,.2f} USD, recomputed {expected:,.2f}",
                term.usd,
                expected,
            )
    for name in names:
        if name not in seen:
            add("NPV_TERM", f"npv:{name}", f"npv term '{name}' is missing", None, math.fsum(per[name] for per in flows))
    if not _close(npv.total_usd, total):
        add(
            "NPV_TOTAL",
            "npv",
            f"npv.total_usd is {npv.total_usd:,.2f} USD, recomputed {total:,.2f}",
            npv.total_usd,
            total,
        )
    return total, found


__all__ = ["CODES", "check_npv", "idle_charge_usd_per_gpu_quarter", "recompute_npv"]
