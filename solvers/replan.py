"""Re-planning from a previous plan (``placer solve SCENARIO --from PLAN``), as Meta's Rebalancer does.

Input: a :class:`~solvers.problem.Problem` of the new facts and the previous
:class:`~placer.plan.Plan`; output: a :class:`Replan` on the problem (``problem.replan``) that the
engines read through the ``moves`` formulation family here:

* ``moves[t,k,s]`` (structure): ``moved[i] + x[i] >= previous[i]`` for every candidate that held racks
  before, with ``moved[i] >= 0``: the racks below the previous count at that site. The objective adds
  ``move_cost_usd_per_rack * CRF * moved[i]`` (:func:`move_terms`): the one-off cost annualised by the
  capital recovery factor, so a single period's objective stays USD per year (the plan's ``moves``
  cost term; the one-off total is reported apart in ``plan.replan.move_cost_usd``). A rollout's
  objective is a net present value in USD: there the one-off cost enters as it is, now (the first
  quarter, undiscounted: the re-plan is made at the start of the rollout), the NPV's ``moves`` term;
  the moves are those of the final build-out against the previous plan's;
* ``frozen[t,k,s]`` (a planner's rule, named in infeasibility cores): at a frozen site
  ``x[i] >= previous[i]``; a frozen site's racks never count as moves.

Previous racks with no candidate in the new problem (the tenant no longer asks for that SKU, the
site's region is no longer allowed, the rack no longer fits) leave their site whatever the engine
does: they are constant moves (:attr:`Replan.forced`), and at a frozen site they make the problem
infeasible, said so by :func:`check_frozen`. On a rollout, frozen sites keep their racks in the final
build-out (when each goes live is re-planned).

Complexity: O(A + C) for A previous assignments and C candidates.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from placer.errors import InfeasibleError, InputError
from placer.plan import Move, Plan, ReplanReport, plan_digest
from solvers.formulation import Formulation, Ref, Row
from solvers.problem import Problem

DEFAULT_MOVE_COST_USD_PER_RACK = 100_000.0  # est.: crating, freight, re-cabling, burn-in of one rack; no downtime


@dataclass(frozen=True)
class Replan:
    """What a re-plan holds the engines to. ``previous``: candidate index -> racks in the previous plan;
    ``forced``: (tenant, sku, site) ids -> previous racks without a candidate now (they must move)."""

    previous: dict[int, int]
    frozen: frozenset[int]  # site indices
    move_cost_usd_per_rack: float  # one-off, USD
    crf: float  # per year
    previous_plan_digest: str
    previous_scenario_digest: str
    forced: dict[tuple[str, str, str], int] = field(default_factory=dict)

    @property
    def move_usd_per_rack_year(self) -> float:
        """The one-off move cost annualised (USD per year per rack moved): a single period's coefficient."""
        return self.move_cost_usd_per_rack * self.crf


def replan_from(problem: Problem, previous: Plan, move_cost_usd_per_rack: float, freeze: list[str]) -> Replan:
    """The re-plan of ``problem`` from ``previous`` at ``move_cost_usd_per_rack`` (one-off USD per rack
    moved), with the sites ``freeze`` keeping their racks. Raises :class:`InputError` (a rollout, an
    unknown frozen site, a negative or non-finite cost) and :class:`InfeasibleError` (frozen racks that
    cannot stay). O(A + C)."""
    if not math.isfinite(move_cost_usd_per_rack) or move_cost_usd_per_rack < 0:
        raise InputError(
            f"the move cost must be a finite number >= 0, not {move_cost_usd_per_rack}", where="--move-cost"
        )
    site_index = {s.id: j for j, s in enumerate(problem.sites)}
    for sid in freeze:
        if sid not in site_index:
            raise InputError(f"unknown site '{sid}'; sites are {', '.join(sorted(site_index))}", where="--freeze")
    by_ids = {
        (problem.tenants[c.t].id, problem.skus[c.k].id, problem.sites[c.s].id): i
        for i, c in enumerate(problem.candidates)
    }
    prev: dict[int, int] = {}
    forced: dict[tuple[str, str, str], int] = {}
    for a in previous.assignments:
        if a.racks <= 0:
            continue
        key = (a.tenant, a.sku, a.site)
        if key in by_ids:
            prev[by_ids[key]] = prev.get(by_ids[key], 0) + a.racks
        else:
            forced[key] = forced.get(key, 0) + a.racks
    replan = Replan(
        previous=prev,
        frozen=frozenset(site_index[s] for s in freeze),
        move_cost_usd_per_rack=float(move_cost_usd_per_rack),
        crf=problem.crf,
        previous_plan_digest=plan_digest(previous),
        previous_scenario_digest=previous.scenario_digest,
        forced=forced,
    )
    check_frozen(problem, replan, freeze)
    return replan


def check_frozen(problem: Problem, replan: Replan, freeze: list[str]) -> None:
    """Arithmetic proof that the frozen racks cannot stay, in the planner's words and numbers: racks the
    new facts give no place at their frozen site, more frozen racks than a tenant now asks for, frozen IT,
    cooling or feed load above the site's new limit. Raises :class:`InfeasibleError`. O(A + S)."""
    p = problem
    reasons: list[str] = []
    for (tid, kid, sid), n in sorted(replan.forced.items()):
        if sid in freeze:
            reasons.append(
                f"site {sid} is frozen with {n:,} racks of tenant {tid}'s {kid}, but the new scenario gives them no place "
                "there (the tenant no longer asks for that SKU, the site's region is not allowed, or a rack no longer fits)"
            )
    per_line: dict[tuple[int, int], int] = {}
    per_site: dict[int, list[int]] = {}
    for i, n in replan.previous.items():
        c = p.candidates[i]
        if c.s in replan.frozen:
            per_line[(c.t, c.k)] = per_line.get((c.t, c.k), 0) + n
            per_site.setdefault(c.s, []).append(i)
    for (t, k), n in sorted(per_line.items()):
        want = p.demand_racks.get((t, k), 0)
        if n > want:
            reasons.append(
                f"frozen sites keep {n:,} racks of tenant {p.tenants[t].id}'s {p.skus[k].id}, but it now asks for {want:,}"
            )
    for s, idx in sorted(per_site.items()):
        site = p.sites[s]
        ks = [(p.candidates[i].k, replan.previous[i]) for i in idx]
        for what, load, cap in (
            ("IT load", sum(n * p.it_mw(k) for k, n in ks), p.periods.it_cap[-1][s]),
            ("liquid heat", sum(n * p.liquid_mw(k) for k, n in ks), p.periods.liquid_cap[-1][s]),
            ("air heat", sum(n * p.air_mw(k) for k, n in ks), p.periods.air_cap[-1][s]),
            ("facility load on its feeds (N-1)", sum(n * p.facility_mw(k, s) for k, n in ks), p.feed_limit_mw[s]),
        ):
            if load > cap + 1e-6 * max(1.0, cap):
                reasons.append(
                    f"site {site.id} is frozen with {sum(n for _, n in ks):,} racks ({load:.1f} MW of {what}), "
                    f"but now holds at most {cap:g} MW"
                )
    if reasons:
        raise InfeasibleError("the frozen sites cannot keep their racks under the new facts:", reasons)


# ---- the formulation family ----------------------------------------------------------------------
def moved(i: int) -> Ref:
    """Racks of candidate i below its previous count (a continuous or integer variable >= 0)."""
    return Ref("moved", (i,))


def movable(f: Formulation) -> list[int]:
    """The candidates whose previous racks may move (not at a frozen site), sorted."""
    r = f.p.replan
    return [] if r is None else sorted(i for i in r.previous if f.p.candidates[i].s not in r.frozen)


def move_rows(f: Formulation) -> Iterator[Row]:
    """The ``moves`` family: ``moved[i] + x[i] >= previous[i]`` per movable candidate (structure), and
    ``frozen`` rows ``x[i] >= previous[i]`` at frozen sites (planner's rules). Nothing without a re-plan."""
    p, r = f.p, f.p.replan
    if r is None:
        return
    for i in sorted(r.previous):
        c, n = p.candidates[i], r.previous[i]
        label = (p.tenants[c.t].id, p.skus[c.k].id, p.sites[c.s].id)
        if c.s in r.frozen:
            yield Row(
                "frozen",
                label,
                f"site {label[2]} is frozen: tenant {label[0]} keeps its {n:,} {label[1]} racks there",
                ((1, f.y(i)),),
                lo=n,
            )
        else:
            yield Row(
                "moves",
                label,
                f"racks of tenant {label[0]}'s {label[1]} moved away from {label[2]} (below its previous {n:,})",
                ((1, moved(i)), (1, f.y(i))),
                lo=n,
                explain=False,
            )


def move_terms(f: Formulation) -> list[tuple[float, Ref]]:
    """The objective's move terms on each ``moved``: the annualised move cost (USD per year per rack) of a
    single period; the one-off cost (USD now, present value) of a rollout, whose objective is its NPV."""
    r = f.p.replan
    coef = 0.0 if r is None else (r.move_cost_usd_per_rack if f.p.periods.multi else r.move_usd_per_rack_year)
    if coef <= 0:
        return []
    return [(coef, moved(i)) for i in movable(f)]


# ---- the plan's side ------------------------------------------------------------------------------
def moves_of(problem: Problem, racks: dict[int, int]) -> list[Move]:
    """Racks below the previous count per (tenant, SKU, site), forced ones included, sorted. O(A)."""
    r = problem.replan
    assert r is not None
    out: dict[tuple[str, str, str], int] = dict(r.forced)
    for i, n in r.previous.items():
        c = problem.candidates[i]
        gone = n - racks.get(i, 0)
        if gone > 0:
            key = (problem.tenants[c.t].id, problem.skus[c.k].id, problem.sites[c.s].id)
            out[key] = out.get(key, 0) + gone
    return [Move(tenant=t, sku=k, from_site=s, racks=n) for (t, k, s), n in sorted(out.items())]


def move_cost_usd_per_year(problem: Problem, racks: dict[int, int]) -> float:
    """The plan's ``moves`` cost term: racks moved times the annualised move cost, USD per year."""
    r = problem.replan
    assert r is not None
    return sum(m.racks for m in moves_of(problem, racks)) * r.move_usd_per_rack_year


def replan_report(problem: Problem, racks: dict[int, int]) -> ReplanReport:
    """The plan's ``replan`` section for ``racks``. O(A)."""
    r = problem.replan
    assert r is not None
    moves = moves_of(problem, racks)
    n_moved = sum(m.racks for m in moves)
    before = sum(r.previous.values()) + sum(r.forced.values())
    return ReplanReport(
        previous_plan_digest=r.previous_plan_digest,
        previous_scenario_digest=r.previous_scenario_digest,
        move_cost_usd_per_rack=r.move_cost_usd_per_rack,
        capital_recovery_factor=r.crf,
        frozen_sites=sorted(problem.sites[s].id for s in r.frozen),
        moves=moves,
        racks_moved=n_moved,
        racks_kept=before - n_moved,
        move_cost_usd=n_moved * r.move_cost_usd_per_rack,
    )


def previous_hint(problem: Problem) -> dict[int, int] | None:
    """The previous racks as a starting placement, when they still place every demand line exactly."""
    from solvers.engines import places_all_demand

    r = problem.replan
    if r is None or r.forced:
        return None
    return dict(r.previous) if places_all_demand(problem, r.previous) else None
