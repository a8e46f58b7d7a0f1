"""A rollout's net present value, term by term and period by period, from its schedule.

Input: a multi-period :class:`~solvers.problem.Problem`, the schedule (cumulative live racks
per (candidate, period)) and the final build-out's re-dispatch cost in USD per year (0 without
a grid) per period. Output: a :class:`placer.plan.NpvReport` whose total is the plan's objective; the
terms are those :meth:`solvers.formulation.Formulation.npv_objective` states as linear
coefficients, evaluated here in floating point from the racks (so the reported objective is the
true one, not an engine's rounded one):

* ``facility_capex``: capex of the IT MW going live in a quarter, discounted to it;
* ``energy``, ``region_surcharge``: per quarter of operation of the live racks;
* ``site_fixed``: a site used by the final build-out, in every quarter its capacity is in service;
* ``tenant_spread``: each (tenant, site) pair of the final build-out, every quarter;
* ``idle_gpu_capital``: each delivered GPU not live, at its quarterly capital charge;
* ``redispatch``: each quarter's re-dispatch for the load live then, against that quarter's network;
* ``option_capex``, ``option_fixed``, ``onsite_energy``: the power options built, their capex in
  the quarter built, their fixed cost and on-site energy premium per quarter in service.

Complexity: O(P·C) for P periods and C candidates.
"""

from __future__ import annotations

from collections.abc import Sequence

from placer.contract import MOVES_TERM, NPV_TERMS
from placer.plan import Investment, NpvPeriod, NpvReport, NpvTerm
from solvers.problem import Problem

DESCRIPTIONS = {
    "facility_capex": "capital cost of the IT MW going live, in the quarter it goes live",
    "energy": "facility energy of the live racks at the policy utilization, per quarter",
    "site_fixed": "fixed cost of every site used, in each quarter its capacity is in service",
    "tenant_spread": "penalty per (tenant, site) pair used, per quarter",
    "region_surcharge": "penalty per MW of live facility power by region, per quarter",
    "idle_gpu_capital": "capital charge (depreciation and financing) of every delivered GPU not yet live",
    "redispatch": "re-dispatch of the plants for each quarter's new load, per quarter",
    "option_capex": "capital cost of the power options, in the quarter each is built",
    "option_fixed": "fixed cost of the power options, per quarter in service",
    "onsite_energy": "on-site or contracted energy at its own price in place of grid energy, per quarter",
    MOVES_TERM: "a re-plan's racks moved away from their previous site, one-off, now (the first quarter)",
}


def investment_schedule(problem: Problem, built: dict[int, int]) -> list[Investment]:
    """The options built, in the order of their quarter (then scenario order). O(O log O)."""
    per = problem.periods
    return [
        Investment(
            option=problem.options[o].id,
            kind=problem.options[o].kind,
            period=per.ids[q],
            capex_usd=problem.options[o].capex_usd,
            fixed_usd_per_year=problem.options[o].fixed_usd_per_year,
        )
        for o, q in sorted(built.items(), key=lambda kv: (kv[1], kv[0]))
    ]


def npv_report(
    problem: Problem,
    schedule: dict[tuple[int, int], int],
    redispatch_usd_per_year: Sequence[float] = (),
    built: dict[int, int] | None = None,
    moves_usd: float | None = None,
) -> NpvReport:
    """The NPV of ``schedule`` with the power options ``built`` (option -> the period it is built;
    see the module docstring) and each period's re-dispatch cost (USD per year, one per period; none
    without a grid); ``moves_usd``: a re-plan's one-off move cost, a ``moves`` term in the first
    quarter (None: not a re-plan, no such term). O(P·(C + O))."""
    names = list(NPV_TERMS) + ([MOVES_TERM] if moves_usd is not None else [])
    built = built or {}
    p, per = problem, problem.periods
    pol = p.scenario.policy
    w = pol.objective
    d, years, n = per.discount, per.quarter_years, per.count
    final = {i: schedule.get((i, n - 1), 0) for i in range(len(p.candidates))}
    pairs = {(p.candidates[i].t, p.candidates[i].s) for i, r in final.items() if r > 0}
    used_sites = sorted({s for _, s in pairs})
    periods: list[NpvPeriod] = []
    for q in range(n):
        flows = dict.fromkeys(names, 0.0)
        if moves_usd is not None and q == 0:
            flows[MOVES_TERM] = moves_usd
        live_gpus: dict[int, int] = {}
        for i, c in enumerate(p.candidates):
            now = schedule.get((i, q), 0)
            new = max(0, now - (schedule.get((i, q - 1), 0) if q else 0))  # racks going live (monotone anyway)
            flows["facility_capex"] += new * p.capex_usd_per_rack(c.k, c.s)
            flows["energy"] += now * p.energy_usd_per_rack_year(c.k, c.s) * years
            flows["region_surcharge"] += now * p.surcharge_usd_per_rack_year(c.k, c.s) * years
            live_gpus[c.k] = live_gpus.get(c.k, 0) + now * p.skus[c.k].gpus_per_rack
        delivered_gpus: dict[int, int] = {}
        for (_t, k), cum in per.delivered_racks.items():
            delivered_gpus[k] = delivered_gpus.get(k, 0) + cum[q] * p.skus[k].gpus_per_rack
        flows["idle_gpu_capital"] = sum(
            per.idle_usd_per_gpu_quarter[k] * (delivered_gpus[k] - live_gpus.get(k, 0)) for k in delivered_gpus
        )
        flows["site_fixed"] = sum(
            w.site_fixed_weight * p.sites[s].fixed_usd_per_year * years for s in used_sites if per.it_cap[q][s] > 0
        )
        flows["tenant_spread"] = w.tenant_site_usd_per_year * len(pairs) * years
        if redispatch_usd_per_year:
            flows["redispatch"] = redispatch_usd_per_year[q] * years
        for o, first in built.items():
            opt = problem.options[o]
            if q == first:
                flows["option_capex"] += opt.capex_usd
            if first <= q < opt.until:
                flows["option_fixed"] += opt.fixed_usd_per_year * years
                flows["onsite_energy"] += opt.energy_premium_usd_per_year * years
        discounted = {name: d[q] * v for name, v in flows.items()}
        periods.append(
            NpvPeriod(
                period=per.ids[q],
                discount_factor=d[q],
                terms_usd=discounted,
                total_usd=sum(discounted.values()),
            )
        )
    terms = [
        NpvTerm(name=name, usd=sum(rep.terms_usd[name] for rep in periods), description=DESCRIPTIONS[name])
        for name in names
    ]
    return NpvReport(
        discount_rate_per_year=pol.cost.discount_rate,
        quarter_length_years=years,
        total_usd=sum(t.usd for t in terms),
        terms=terms,
        periods=periods,
    )
