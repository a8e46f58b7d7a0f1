"""Power options of a rollout (``rollout.options``): indexed, and applied to the period tables.

Input: a :class:`~solvers.problem.Problem` (its scenario's options, sites, substations, feed
shares). Output: :class:`Option` records (indices instead of ids, effects in MW, money per
option), and :func:`apply_options`, the period capacities with a set of options built from
given quarters on. Three option sets are used:

* the engines' decision: binaries ``option[o, q]`` (built by quarter q) in the formulation;
* :func:`greedy_options`: a feasible set for the greedy baseline and CP-SAT's hint -- every option
  but on-site or contracted supply built at its earliest quarter (after its prerequisites, skipping
  any excluded by one taken before it, in scenario order); on-site supply is left out because it
  may only be built where the site's load already absorbs it;
* :func:`relaxed_periods`: every option at its earliest quarter, exclusions ignored, on-site supply
  credited in full -- capacities no plan can exceed, for pruning, the capacity cuts and the
  infeasibility pre-check (necessary conditions stay necessary).

Complexity: O(O + P·(S + B)) per application for O options, P periods, S sites, B substations.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from placer.contract import HOURS_PER_YEAR
from placer.scenario import Scenario

ONSITE = ("onsite_generation", "direct_supply")


@dataclass(frozen=True)
class Option:
    """One power option, by index: what it acts on, its effect (MW) and its money."""

    id: str
    kind: str
    site: int | None  # site index (feed, site_stage, onsite_generation, direct_supply)
    substation: int | None  # substation index (substation_expansion)
    earliest: int  # period index
    until: int  # period index its effect ends at (the period count when it stays)
    forced: bool
    requires: tuple[int, ...]
    excludes: tuple[int, ...]
    capex_usd: float
    fixed_usd_per_year: float
    it_mw: float = 0.0
    liquid_mw: float = 0.0
    air_mw: float = 0.0
    feed_mw: float = 0.0
    headroom_mw: float = 0.0
    generation_mw: float = 0.0
    # on-site energy in place of grid energy at the site: generation x utilization x 8760 h x
    # (its price - the site's grid price), weighted like energy; USD per year (negative when cheaper)
    energy_premium_usd_per_year: float = 0.0
    # a line reinforcement: the line id and its ratings once in service (MW)
    line: str | None = None
    rating_mw: float = 0.0
    emergency_mw: float = 0.0

    @property
    def onsite(self) -> bool:
        return self.kind in ONSITE

    def serves(self, q: int) -> bool:
        """Its effect is in force in period q, once built (a bridge's ends at ``until``)."""
        return q < self.until


def build_options(scenario: Scenario, site_ids: list[str], substation_ids: list[str]) -> list[Option]:
    """The scenario's options as :class:`Option` records, in scenario order. O(O)."""
    r = scenario.rollout
    if r is None:
        return []
    order = {p: q for q, p in enumerate(r.periods)}
    index = {o.id: j for j, o in enumerate(r.options)}
    site_of = {sid: s for s, sid in enumerate(site_ids)}
    sub_of = {bid: b for b, bid in enumerate(substation_ids)}
    sites = {s.id: s for s in scenario.topology.sites}
    pol = scenario.policy
    out: list[Option] = []
    for o in r.options:
        s = site_of.get(o.element)
        it = o.it_capacity_mw or 0.0
        liquid = air = 0.0
        if o.kind == "site_stage":
            site = sites[o.element]
            share = it / site.it_capacity_mw
            liquid = o.liquid_cooling_mw if o.liquid_cooling_mw is not None else site.liquid_cooling_mw * share
            air = o.air_cooling_mw if o.air_cooling_mw is not None else site.air_cooling_mw * share
        line = rating = emergency = None
        if o.kind == "line":
            edge = next(e for e in scenario.topology.edges_of_kind("line") if e.id == o.element)
            line, rating = o.element, float(o.rating_mw or edge.rating_mw)
            base_emergency = float(edge.emergency_rating_mw or edge.rating_mw)
            emergency = (
                float(o.emergency_rating_mw) if o.emergency_rating_mw is not None else max(base_emergency, rating)
            )
        premium = 0.0
        if o.kind in ONSITE:
            site = sites[o.element]
            premium = (
                pol.objective.energy_weight
                * (o.generation_mw or 0.0)
                * pol.cost.utilization
                * HOURS_PER_YEAR
                * ((o.energy_usd_per_mwh or 0.0) - site.energy_price_usd_per_mwh)
            )
        out.append(
            Option(
                id=o.id,
                kind=o.kind,
                site=s,
                substation=sub_of.get(o.element),
                earliest=order[o.earliest],
                until=order[o.until] if o.until is not None else len(r.periods),
                forced=o.forced,
                requires=tuple(index[x] for x in o.requires),
                excludes=tuple(index[x] for x in o.excludes),
                capex_usd=o.capex_usd,
                fixed_usd_per_year=o.fixed_usd_per_year,
                it_mw=it,
                liquid_mw=liquid,
                air_mw=air,
                feed_mw=o.feed_mw or 0.0,
                headroom_mw=o.headroom_mw or 0.0,
                generation_mw=o.generation_mw or 0.0,
                energy_premium_usd_per_year=premium,
                line=line,
                rating_mw=rating or 0.0,
                emergency_mw=emergency or 0.0,
            )
        )
    return out


def apply_options(periods, options: list[Option], built: dict[int, int], *, onsite_credit: bool = True):
    """A copy of ``periods`` (:class:`~solvers.problem.Periods`) with option o in service from period
    ``built[o]`` on: IT and cooling added to its site, feed MW (and on-site supply) to the site's N-1
    feed limit, headroom to its substation; with ``onsite_credit``, on-site supply also relieves the
    site's substations in its feed shares (the formulation's rule, valid where the load absorbs it)."""
    out = copy.copy(periods)
    out.it_cap = [list(row) for row in periods.it_cap]
    out.liquid_cap = [list(row) for row in periods.liquid_cap]
    out.air_cap = [list(row) for row in periods.air_cap]
    out.feed_limit = [list(row) for row in periods.feed_limit]
    out.headroom = [list(row) for row in periods.headroom]
    for o, first in built.items():
        opt = options[o]
        for q in range(first, opt.until):
            if opt.substation is not None:
                out.headroom[q][opt.substation] += opt.headroom_mw
            if opt.site is None:
                continue
            s = opt.site
            out.it_cap[q][s] += opt.it_mw
            out.liquid_cap[q][s] += opt.liquid_mw
            out.air_cap[q][s] += opt.air_mw
            out.feed_limit[q][s] += opt.feed_mw + opt.generation_mw
            if opt.onsite and onsite_credit:
                for b, share in periods.feed_shares[q][s].items():
                    out.headroom[q][b] += share * opt.generation_mw
    return out


def greedy_options(options: list[Option]) -> dict[int, int]:
    """A feasible option set (see the module docstring): option -> the period it is built. Forced
    options first, then the rest in scenario order. O(O²)."""
    built: dict[int, int] = {}
    for o in sorted(range(len(options)), key=lambda o: not options[o].forced):
        opt = options[o]
        if opt.onsite and not opt.forced:
            continue
        clash = any(x in built for x in opt.excludes) or any(o in options[b].excludes for b in built)
        if clash or any(r not in built for r in opt.requires):
            continue
        built[o] = max([opt.earliest, *(built[r] for r in opt.requires)])
    return built


def relaxed_periods(periods, options: list[Option]):
    """Capacities no plan can exceed: every option built at its earliest quarter. O(O·P)."""
    return apply_options(periods, options, {o: opt.earliest for o, opt in enumerate(options)})


def with_options(problem, built: dict[int, int], *, onsite_credit: bool = False):
    """A copy of ``problem`` whose ``periods`` have the options ``built`` (option -> first period) in
    service: what the greedy baseline, CP-SAT's hint and a plan's report read. Without on-site credit
    on the substations by default (the greedy side builds no on-site supply). O(O·P + S·P)."""
    import dataclasses

    if not problem.options:
        return problem
    return dataclasses.replace(
        problem, periods=apply_options(problem.periods, problem.options, built, onsite_credit=onsite_credit)
    )


def built_periods(options: dict[tuple[int, int], int] | None, n_options: int, n_periods: int) -> dict[int, int]:
    """(option, period) -> 0/1 as an engine returns it  ->  option -> the first period it is built. O(O·P)."""
    out: dict[int, int] = {}
    for o in range(n_options):
        for q in range(n_periods):
            if options and options.get((o, q), 0) >= 1:
                out[o] = q
                break
    return out
