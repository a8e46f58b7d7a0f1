"""Verifier: a rollout's grid in every quarter, each against its own network and load.

A rollout on a checked grid (lines, security not ``none``) reports one DC power flow per quarter:
``schedule[q].grid`` for every quarter but the last, whose flow is ``plan.grid`` (the final
build-out's). Each is checked by :func:`placer.verify_grid.check_grid`, the single period's checks
(pre-existing dispatch, re-dispatch limits, balance, line limits, N-1, every reported figure), with:

* that quarter's network: the line ratings and feed capacities its fixed upgrades give then
  (:func:`placer.verify_schedule.with_capacities`, with the options built by then), the no-harm
  limits of a reinforced line (a ``line`` option in service) at its reinforced ratings;
* that quarter's load: each site's facility MW from the racks live then (its ``installed_racks``,
  IT x PUE in the verifier's own arithmetic), less the on-site or contracted supply built and in
  service at the site then (which serves that much of its load off the grid).

Findings keep the grid checks' codes; their entity and message name the quarter
(``2027Q1:line:a-b``). ``GRID_MISSING`` also fires for a quarter without its grid report.

Each quarter's re-dispatch cost (USD per year, only raised output charged) is returned for the
NPV's ``redispatch`` term, which charges it for that quarter, discounted.

Complexity: one grid check per quarter (see :mod:`placer.verify_grid`): O(P x (one sparse LU, one
LP and an N-1 screen)).
"""

from __future__ import annotations

import math

from placer.plan import Plan
from placer.scenario import Scenario
from placer.verify_grid import AddFn, check_grid, grid_checked, redispatch_cost_usd_per_year
from placer.verify_schedule import capacities_in_period, with_capacities


def grid_draw_mw(scenario: Scenario, installed_racks: dict[str, int], onsite_mw: dict[str, float]) -> dict[str, float]:
    """Per site, facility MW of the racks ``installed_racks`` ('tenant/sku/site' -> racks) less the
    supply ``onsite_mw`` built there (never below 0: a supply the load does not absorb feeds nothing
    back; OPTION_ABSORBED reports that). Keys that name no SKU or site are skipped (the schedule
    checks report them)."""
    skus = {k.id: k for k in scenario.catalog}
    sites = {s.id: s for s in scenario.topology.sites}
    parts: dict[str, list[float]] = {}
    for key, n in installed_racks.items():
        bits = key.split("/")
        if len(bits) != 3 or bits[1] not in skus or bits[2] not in sites:
            continue
        parts.setdefault(bits[2], []).append(n * skus[bits[1]].it_kw_per_rack / 1000.0 * sites[bits[2]].pue)
    return {s: max(0.0, math.fsum(v) - onsite_mw.get(s, 0.0)) for s, v in parts.items()}


def check_period_grids(
    scenario: Scenario, plan: Plan, built: dict[str, str], add: AddFn
) -> tuple[list[str], list[float | None] | None]:
    """The grid checks of every quarter before the last (the last is ``plan.grid``, checked with the
    final build-out). Returns (codes checked, each quarter's re-dispatch cost in USD per year with the
    last quarter's from ``plan.grid``, None for a quarter without its report; None when the grid is
    not checked or the schedule does not name the rollout's quarters)."""
    r = scenario.rollout
    if r is None or plan.schedule is None or [rep.period for rep in plan.schedule] != list(r.periods):
        return [], None  # SCHEDULE_MISSING / SCHEDULE_PERIODS report a schedule that does not name them
    checked = grid_checked(scenario)  # (under security 'none' a plan may still report, and pay, re-dispatch)
    codes: list[str] = []
    costs: list[float | None] = []
    for rep in plan.schedule[:-1]:
        period = rep.period

        def add_q(code, entity, message, measured=None, limit=None, unit="", _p=period) -> None:
            add(code, f"{_p}:{entity}", f"{_p}: {message}", measured=measured, limit=limit, unit=unit)

        network = with_capacities(scenario, period, built)
        if rep.grid is None:
            if checked:
                add_q(
                    "GRID_MISSING",
                    "grid",
                    f"the rollout's grid is checked every quarter, but schedule[{period}] has no grid report",
                )
                codes.append("GRID_MISSING")
            costs.append(None if checked else 0.0)  # None: the NPV takes the plan's own figure (one fault, one finding)
            continue
        quarter = plan.model_copy(update={"grid": rep.grid})
        if checked:
            cap = capacities_in_period(scenario, period, built)
            draw = grid_draw_mw(scenario, rep.installed_racks, cap.onsite)
            found, _ = check_grid(network, quarter, draw, add_q, cap.line_limits)
            codes += found
        costs.append(redispatch_cost_usd_per_year(network, quarter) or 0.0)
    costs.append(redispatch_cost_usd_per_year(with_capacities(scenario, r.periods[-1], built), plan) or 0.0)
    return sorted(set(codes)), costs
