"""Assemble a :class:`placer.plan.Plan` from rack counts.

Input: a :class:`~solvers.problem.Problem`, rack counts keyed by candidate index, and the
engine's metadata (status, bound, timings). Output: a plan with every derived figure
(assignments, site and substation loads, cost terms) computed in floating point from the
racks, so the reported objective is the true cost, not the engine's scaled integer one.

Complexity: O(C + S·F) for C candidates, S sites and F feeds per site.
"""

from __future__ import annotations

from typing import Any

from placer.contract import HOURS_PER_YEAR
from placer.plan import Assignment, CostTerm, GridReport, Plan, SiteLoad, Status, SubstationLoad, Summary
from solvers.problem import Problem
from solvers.schedule import schedule_report, stranded_gpu_quarters


def cost_terms(problem: Problem, racks: dict[int, int]) -> list[CostTerm]:
    """The objective, term by term, USD per year."""
    sc = problem.scenario
    w, cost = sc.policy.objective, sc.policy.cost
    capex = energy = surcharge = 0.0
    used_pairs: set[tuple[int, int]] = set()
    for i, n in racks.items():
        if n <= 0:
            continue
        c = problem.candidates[i]
        site = problem.sites[c.s]
        it, fac = n * problem.it_mw(c.k), n * problem.facility_mw(c.k, c.s)
        capex += it * site.capex_usd_per_mw * problem.crf
        energy += fac * cost.utilization * HOURS_PER_YEAR * site.energy_price_usd_per_mwh
        surcharge += fac * w.region_surcharge_usd_per_mw_year.get(site.region, 0.0)
        used_pairs.add((c.t, c.s))
    used_sites = {s for _, s in used_pairs}
    fixed = sum(problem.sites[s].fixed_usd_per_year for s in used_sites)
    return [
        CostTerm(name="capex", usd_per_year=w.capex_weight * capex, description="annualized capital cost of IT MW installed"),
        CostTerm(name="energy", usd_per_year=w.energy_weight * energy, description="facility energy at the policy utilization"),
        CostTerm(name="site_fixed", usd_per_year=w.site_fixed_weight * fixed, description="fixed cost of every site used"),
        CostTerm(
            name="tenant_spread",
            usd_per_year=w.tenant_site_usd_per_year * len(used_pairs),
            description="penalty per (tenant, site) pair used",
        ),
        CostTerm(name="region_surcharge", usd_per_year=surcharge, description="penalty per MW of facility power by region"),
    ]


def relative_gap(objective: float, bound: float | None) -> float | None:
    """(objective - bound) / |objective|, never negative; None without a bound or objective."""
    if bound is None or not objective:
        return None
    return max(0.0, (objective - bound) / abs(objective))


def proven_status(engine_status: Status, gap: float | None, target_gap: float) -> Status:
    """The status a plan may claim for the objective it reports.

    OPTIMAL only when the engine said so *and* the reported gap, measured against a valid
    bound of that whole objective, is within ``target_gap``; a solved plan is otherwise
    FEASIBLE. It never upgrades: an engine that calls its plan FEASIBLE (e.g. a grid loop
    that stopped with violations) keeps that label whatever the gap."""
    if engine_status != "OPTIMAL":
        return engine_status
    return "OPTIMAL" if gap is not None and gap <= target_gap else "FEASIBLE"


def assemble_plan(
    problem: Problem,
    racks: dict[int, int],
    *,
    status: Status,
    solver: str,
    solver_version: str,
    parameters: dict[str, Any],
    build_seconds: float,
    solve_seconds: float,
    bound: float | None,
    engine_objective: float | None = None,
    notes: list[str] | None = None,
    grid: GridReport | None = None,
    extra_terms: list[tuple[str, float, str]] | None = None,
    schedule: dict[tuple[int, int], int] | None = None,
) -> Plan:
    """Build the plan. ``bound`` is in the engine's objective units; when the engine's
    objective (``engine_objective``) differs from the float cost by rounding, the bound is
    shifted by the same offset so bound and objective compare like for like."""
    sc = problem.scenario
    opts = sc.policy.solver
    assignments: list[Assignment] = []
    n_sites = len(problem.sites)
    site_racks, site_gpus = [0] * n_sites, [0] * n_sites
    site_it, site_liq, site_air = [0.0] * n_sites, [0.0] * n_sites, [0.0] * n_sites
    for i in sorted(racks, key=lambda i: (problem.candidates[i].t, problem.candidates[i].k, problem.candidates[i].s)):
        n = racks[i]
        if n <= 0:
            continue
        c = problem.candidates[i]
        sku, site = problem.skus[c.k], problem.sites[c.s]
        it = n * problem.it_mw(c.k)
        assignments.append(
            Assignment(
                tenant=problem.tenants[c.t].id,
                sku=sku.id,
                site=site.id,
                racks=n,
                gpus=n * sku.gpus_per_rack,
                it_power_mw=it,
                facility_power_mw=it * site.pue,
            )
        )
        site_racks[c.s] += n
        site_gpus[c.s] += n * sku.gpus_per_rack
        site_it[c.s] += it
        site_liq[c.s] += n * problem.liquid_mw(c.k)
        site_air[c.s] += n * problem.air_mw(c.k)

    sites: list[SiteLoad] = []
    sub_load = [0.0] * len(problem.substation_ids)
    last = problem.final  # the final build-out is reported against the last period's capacities
    for s, site in enumerate(problem.sites):
        fac = site_it[s] * site.pue
        for b, share in problem.feed_shares[s].items():
            sub_load[b] += fac * share
        if site_racks[s] == 0:
            continue
        sites.append(
            SiteLoad(
                site=site.id,
                racks=site_racks[s],
                gpus=site_gpus[s],
                it_power_mw=site_it[s],
                facility_power_mw=fac,
                liquid_heat_mw=site_liq[s],
                air_heat_mw=site_air[s],
                it_capacity_mw=problem.periods.it_cap[last][s],
                liquid_cooling_mw=problem.periods.liquid_cap[last][s],
                air_cooling_mw=problem.periods.air_cap[last][s],
                feed_n1_capacity_mw=problem.feed_limit_mw[s],
            )
        )
    substations = [
        SubstationLoad(substation=bid, load_mw=sub_load[b], headroom_mw=problem.periods.headroom[last][b])
        for b, bid in enumerate(problem.substation_ids)
        if sub_load[b] > 0
    ]
    terms = cost_terms(problem, racks)
    terms += [CostTerm(name=n, usd_per_year=v, description=d) for n, v, d in extra_terms or []]
    stranded = 0
    periods = None
    if problem.periods.multi:
        if schedule is None:
            raise ValueError("a multi-period problem needs a schedule")
        stranded = stranded_gpu_quarters(problem, schedule)
        periods = schedule_report(problem, schedule)
        terms.append(CostTerm(
            name="stranding",
            usd_per_year=stranded * problem.periods.stranding_usd_per_gpu_quarter,
            description="penalty per GPU-quarter delivered but not live (whole rollout)",
        ))
    objective = sum(t.usd_per_year for t in terms)
    if bound is not None and engine_objective is not None:
        bound += objective - engine_objective
    gap = relative_gap(objective, bound) if objective > 0 else None
    it_total = sum(site_it)
    summary = Summary(
        status=proven_status(status, gap, opts.relative_gap),
        relative_gap=opts.relative_gap,
        solver=solver,
        solver_version=solver_version,
        seed=opts.seed,
        workers=opts.workers,
        parameters=parameters,
        build_seconds=round(build_seconds, 4),
        solve_seconds=round(solve_seconds, 4),
        objective=objective,
        bound=bound,
        gap=gap,
        gpus_placed=sum(site_gpus),
        racks_placed=sum(site_racks),
        it_power_mw=it_total,
        facility_power_mw=sum(s.facility_power_mw for s in sites),
        power_band_mw=(sc.policy.power_band_mw.min_mw, sc.policy.power_band_mw.max_mw),
        stranded_gpu_quarters=stranded,
        notes=list(problem.notes) + list(notes or []),
    )
    return Plan(
        scenario=sc.name,
        scenario_digest=sc.digest(),
        summary=summary,
        assignments=assignments,
        sites=sites,
        substations=substations,
        cost_breakdown=terms,
        grid=grid,
        schedule=periods,
    )
