"""Assemble a :class:`placer.plan.Plan` from an engine's result: the one place plans are built.

Input: a :class:`~solvers.problem.Problem`, an :class:`~solvers.engine.EngineResult` (rack
counts keyed by candidate index, schedule, the engine's status, bound, timings) and the
engine's :class:`~solvers.engine.Capabilities`. Output: a plan with every derived figure
(assignments, site and substation loads, cost terms) computed in floating point from the
racks, so the reported objective is the true cost, not the engine's scaled integer one. What
an engine's capabilities leave open is decided here: the re-dispatch after a grid-blind
placement, its cost term and bound floor, ``placement_status`` and the whole plan's status.

Complexity: O(C + S·F) for C candidates, S sites and F feeds per site, plus one re-dispatch
LP for a grid-blind engine on a grid.
"""

from __future__ import annotations

import numpy as np

from placer.plan import (
    Assignment,
    CostTerm,
    GridReport,
    NpvReport,
    Plan,
    SiteCriticalPath,
    SiteLoad,
    Status,
    SubstationLoad,
    Summary,
)
from solvers.critical_path import critical_paths
from solvers.engine import Capabilities, EngineResult
from solvers.npv import investment_schedule, npv_report
from solvers.options import built_periods, with_options
from solvers.problem import HOURS_PER_YEAR, Problem, final_scenario
from solvers.replan import move_cost_usd_per_year, replan_report
from solvers.schedule import schedule_report, stranded_gpu_quarters


def cost_terms(problem: Problem, racks: dict[int, int]) -> list[CostTerm]:
    """The annual cost of ``racks``, term by term, USD per year: the single period's objective, a
    rollout's final run rate."""
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
        CostTerm(
            name="capex", usd_per_year=w.capex_weight * capex, description="annualized capital cost of IT MW installed"
        ),
        CostTerm(
            name="energy",
            usd_per_year=w.energy_weight * energy,
            description="facility energy at the policy utilization",
        ),
        CostTerm(
            name="site_fixed", usd_per_year=w.site_fixed_weight * fixed, description="fixed cost of every site used"
        ),
        CostTerm(
            name="tenant_spread",
            usd_per_year=w.tenant_site_usd_per_year * len(used_pairs),
            description="penalty per (tenant, site) pair used",
        ),
        CostTerm(
            name="region_surcharge", usd_per_year=surcharge, description="penalty per MW of facility power by region"
        ),
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
    problem: Problem, result: EngineResult, capabilities: Capabilities, *, engine_choice: str = ""
) -> Plan:
    """The plan for an engine's result: the one place every plan is built.

    Every derived figure comes from the racks in floating point. The engine's bound is shifted
    by the difference between this objective and the engine's own (``engine_objective``), so
    bound and objective compare like for like. For an engine without the ``grid`` capability on
    a scenario whose line flows matter, the least-cost re-dispatch is chosen here (an LP under
    the same no-harm loop) and priced; the bound then adds only the re-dispatch no placement can
    avoid; ``placement_status`` keeps the engine's verdict on the placement alone and ``status``
    covers the whole objective (:func:`proven_status`, and FEASIBLE unless N-1 secure).

    Complexity: O(C + S·F) plus, for a grid-blind engine on a grid, one re-dispatch LP."""
    sc = problem.scenario
    opts = sc.policy.solver
    racks, schedule = result.racks, result.schedule
    # power options: the capacities are reported with the engine's chosen options in service
    built = built_periods(result.options, len(problem.options), problem.periods.count)
    priced = problem  # the NPV prices the options from the problem's own records
    problem = with_options(problem, built, onsite_credit=True)
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
    terms += [CostTerm(name=n, usd_per_year=v, description=d) for n, v, d in result.extra_terms]
    if problem.replan is not None:  # re-plans: the one-off move cost, annualised (solvers/replan.py)
        terms.append(
            CostTerm(
                name="moves",
                usd_per_year=move_cost_usd_per_year(problem, racks),
                description=f"racks moved away from their previous site at {problem.replan.move_cost_usd_per_rack:,.0f} "
                f"USD each (one-off), annualised by the capital recovery factor {problem.replan.crf:.6f}",
            )
        )
    stranded = 0
    periods = None
    paths: list[SiteCriticalPath] | None = None
    npv: NpvReport | None = None
    if problem.periods.multi:
        # A rollout's objective is its NPV (USD); cost_breakdown stays annual: the final build-out's run rate.
        if schedule is None:
            raise ValueError("a multi-period problem needs a schedule")
        stranded = stranded_gpu_quarters(problem, schedule)
        periods = schedule_report(problem, schedule)
        for rep, grid_q in zip(periods, result.period_grids or []):
            rep.grid = grid_q
        moves_usd = None if problem.replan is None else replan_report(problem, racks).move_cost_usd
        npv = npv_report(priced, schedule, result.redispatch_by_period_usd_per_year or (), built, moves_usd)
        objective = npv.total_usd
    else:
        objective = sum(t.usd_per_year for t in terms)
    bound = result.bound
    if bound is not None and result.engine_objective is not None:
        bound += objective - result.engine_objective
    gap = relative_gap(objective, bound) if objective > 0 else None
    status = proven_status(result.status, gap, opts.relative_gap)
    placement_status: Status | None = None
    grid, notes = result.grid, list(problem.notes) + list(result.notes)
    redispatch = (
        None
        if capabilities.grid
        else _redispatch_afterwards(problem, [site_it[s] * site.pue for s, site in enumerate(problem.sites)])
        if not problem.periods.multi
        else _redispatch_per_period(problem, result, periods)
    )
    if redispatch is not None:
        grid, cost, floor = redispatch
        terms.append(
            CostTerm(
                name="redispatch",
                usd_per_year=cost,
                description="generation cost of the plants re-dispatched to serve the new load",
            )
        )
        money = problem.redispatch_money_factor  # USD per year -> the objective's unit
        if npv is not None:
            assert schedule is not None, "a rollout's NPV comes with its schedule"
            npv = npv_report(priced, schedule, result.redispatch_by_period_usd_per_year or (), built, moves_usd)
            objective = npv.total_usd
        else:
            objective += cost
        if bound is not None:
            # The engine's bound covers placement only. This plan's re-dispatch cost would overstate the
            # bound (another placement may need less); the merit-order floor holds for every placement.
            bound += money * floor
            gap = relative_gap(objective, bound)
        # The engine's status covers the placement alone; the plan's status must cover the whole
        # objective it reports (placement plus re-dispatch), against the whole bound.
        placement_status = status
        status = proven_status(status if grid.n_minus_1 == "secure" else "FEASIBLE", gap, opts.relative_gap)
        security = final_scenario(sc).policy.grid.security
        if problem.periods.multi:
            assert periods is not None, "a rollout's plan has its schedule"
            grids = [grid] + [rep.grid for rep in periods if rep.grid is not None]
            bad = [rep.period for rep in periods if rep.grid is not None and rep.grid.n_minus_1 != "secure"]
            if grid.n_minus_1 != "secure":
                bad.append(periods[-1].period)
            if bad:
                status = "FEASIBLE"
            notes.append(
                f"grid: every quarter's re-dispatch chosen afterwards ({len(grids)} quarters); "
                + (f"insecure in {', '.join(bad)}" if bad else "every quarter secure")
            )
        notes.append(
            f"grid: {result.solver} does not model line flows; re-dispatch chosen afterwards by an LP under the "
            f"'{security}' no-harm rule, verdict {grid.n_minus_1}"
            + ("" if grid.n_minus_1 == "secure" else " (use --solver milp to place under grid limits)")
            + f"; the placement alone is {placement_status}, the whole plan {status} "
            "(its bound adds the least re-dispatch any placement needs)"
        )
    if periods is not None:
        # the critical path reads each quarter's grid report: schedule[q].grid, the last quarter's the
        # plan's grid (a grid-blind engine's come from the re-dispatch above)
        assert schedule is not None
        paths = critical_paths(priced, schedule, built, [rep.grid for rep in periods[:-1]] + [grid])
    it_total = sum(site_it)
    summary = Summary(
        status=status,
        placement_status=placement_status,
        relative_gap=opts.relative_gap,
        interrupted=result.interrupted,
        solver=result.solver,
        engine_choice=engine_choice,
        solver_version=result.solver_version,
        seed=opts.seed,
        workers=opts.workers,
        parameters=result.parameters,
        build_seconds=round(result.build_seconds, 4),
        solve_seconds=round(result.solve_seconds, 4),
        objective=objective,
        objective_unit="usd_per_year" if npv is None else "usd",
        bound=bound,
        gap=gap,
        gpus_placed=sum(site_gpus),
        racks_placed=sum(site_racks),
        it_power_mw=it_total,
        facility_power_mw=sum(s.facility_power_mw for s in sites),
        power_band_mw=(sc.policy.power_band_mw.min_mw, sc.policy.power_band_mw.max_mw),
        stranded_gpu_quarters=stranded,
        notes=notes,
    )
    return Plan(
        scenario=sc.name,
        scenario_digest=sc.digest(),
        summary=summary,
        assignments=assignments,
        sites=sites,
        substations=substations,
        cost_breakdown=terms,
        npv=npv,
        investments=investment_schedule(problem, built) if problem.options else None,
        grid=grid,
        schedule=periods,
        replan=None if problem.replan is None else replan_report(problem, racks),
        critical_path=paths,
    )


def _redispatch_per_period(problem: Problem, result: EngineResult, periods) -> tuple[GridReport, float, float] | None:
    """For a grid-blind engine's rollout: each quarter's least-cost re-dispatch under that quarter's
    no-harm loop (:class:`solvers.grid_periods.PeriodGrid`); the reports go into ``periods`` (all but
    the last, which is returned as the plan's grid), the per-quarter costs into ``result``. Returns
    (last quarter's report, its re-dispatch cost USD/yr, the final build-out's floor USD/yr) or None
    without a checked grid. One LP per quarter and loop iteration."""
    from solvers.grid_periods import PeriodGrid
    from solvers.grid_security import has_grid, redispatch_floor_usd_per_year

    sc = final_scenario(problem.scenario)
    if not has_grid(sc) or sc.policy.grid.security == "none" or result.schedule is None:
        return None
    pg = PeriodGrid.build(problem)
    draws = pg.draws_mw(result.schedule, result.options)
    red = pg.record(draws, result.options, time_limit_s=sc.policy.solver.time_limit_s)
    reports, used = pg.reports(
        draws, red, result.options, enforced=False, loop_seconds=0.0, time_limit_s=sc.policy.solver.time_limit_s
    )
    for rep, grid_q in zip(periods, reports[:-1]):
        rep.grid = grid_q
    result.redispatch_by_period_usd_per_year = [pg.cost_usd_per_year(q, used[q]) for q in range(len(used))]
    # the floor: every placement's final build-out needs at least this much in the last quarter
    floor = redispatch_floor_usd_per_year(sc, problem.min_facility_mw())
    return reports[-1], result.redispatch_by_period_usd_per_year[-1], floor


def _redispatch_afterwards(problem: Problem, facility_mw: list[float]) -> tuple[GridReport, float, float] | None:
    """For a grid-blind engine: (grid report, re-dispatch cost, re-dispatch floor) of the least-cost
    re-dispatch for this placement, or None when line flows are not part of the problem (no lines,
    or security 'none'). The floor (USD/yr) is the re-dispatch every placement needs: the cheapest
    spare filled up to the least facility power any plan draws. One LP under the no-harm loop."""
    from solvers.grid_security import (
        dispatch_for_placement,
        has_grid,
        redispatch_cost_usd_per_year,
        redispatch_floor_usd_per_year,
    )

    sc = final_scenario(problem.scenario)  # the final build-out meets the grid as upgraded by then
    if not has_grid(sc) or sc.policy.grid.security == "none":
        return None
    site_ids = [s.id for s in problem.sites]
    report = dispatch_for_placement(sc, site_ids, np.array(facility_mw), time_limit_s=sc.policy.solver.time_limit_s)
    cost = redispatch_cost_usd_per_year(
        sc, [r.cost_usd_per_mwh for r in report.redispatch], [r.mw for r in report.redispatch]
    )
    return report, cost, redispatch_floor_usd_per_year(sc, problem.min_facility_mw())
