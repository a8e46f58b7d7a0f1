"""Greedy baseline: cheapest feasible site first, tenant by tenant.

Input: a :class:`~solvers.problem.Problem`. Output: rack counts per candidate
(:func:`greedy_racks`) or an engine result (:func:`solve_greedy`); CP-SAT uses the racks as hints.

Tenants are taken largest first. For each, latency requirements are met first from the
cheapest eligible sites, then the rest of its demand goes to the cheapest sites; a new
site is opened only if it can take a whole training island, and never beyond the
tenant's maximum site count. Every rack respects the remaining site, cooling, feed,
substation, band and adequacy capacity. It does not backtrack, so it can fail where an
exact solver succeeds, and it does not aim for the band's minimum; a failure raises
:class:`~placer.errors.NoSolutionError` (exit 4) saying it is not a proof of infeasibility.

Complexity: O(T · S log S + C · F) for T tenants, S sites, C candidates, F feeds per site.
"""

from __future__ import annotations

import math
import time

from placer.errors import NoSolutionError
from solvers.engine import EngineResult
from solvers.options import greedy_options, with_options
from solvers.problem import Problem
from solvers.schedule import forward_schedule

EPS = 1e-9
# Greedy does not backtrack: its failure proves nothing (exit 4, not 3). Proven infeasibility comes
# from the pre-check (solvers/precheck.py, run before any engine) or an exact engine.
NOT_A_PROOF = "; this is not a proof that no placement exists (try --solver milp or cpsat)"


class _Residual:
    """Capacity left after the racks placed so far."""

    def __init__(self, p: Problem):
        self.p = p
        last = p.final  # the final build-out is judged against the last period's capacities
        self.it = list(p.periods.it_cap[last])
        self.liquid = list(p.periods.liquid_cap[last])
        self.air = list(p.periods.air_cap[last])
        self.feed = list(p.feed_limit_mw)
        self.sub = list(p.periods.headroom[last])
        self.band = p.scenario.policy.power_band_mw.max_mw
        plants = p.scenario.topology.plants
        self.spare = sum(pl.spare_mw for pl in plants) if plants else math.inf

    def copy(self) -> _Residual:
        other = _Residual.__new__(_Residual)
        other.__dict__ = {key: (list(val) if isinstance(val, list) else val) for key, val in self.__dict__.items()}
        return other

    def fit(self, k: int, s: int) -> int:
        p = self.p
        it, liq, air, fac = p.it_mw(k), p.liquid_mw(k), p.air_mw(k), p.facility_mw(k, s)
        limits = [self.it[s] / it, self.feed[s] / fac, self.band / fac, self.spare / fac]
        if liq > 0:
            limits.append(self.liquid[s] / liq)
        if air > 0:
            limits.append(self.air[s] / air)
        limits += [self.sub[b] / (fac * share) for b, share in p.feed_shares[s].items()]
        return max(0, math.floor(min(limits) + EPS))

    def take(self, k: int, s: int, n: int) -> None:
        p = self.p
        fac = n * p.facility_mw(k, s)
        self.it[s] -= n * p.it_mw(k)
        self.liquid[s] -= n * p.liquid_mw(k)
        self.air[s] -= n * p.air_mw(k)
        self.feed[s] -= fac
        self.band -= fac
        self.spare -= fac
        for b, share in p.feed_shares[s].items():
            self.sub[b] -= fac * share


def greedy_racks(problem: Problem) -> tuple[dict[int, int], list[str]]:
    """Rack counts per candidate index, and the demand it could not place (empty when complete)."""
    p = problem
    res = _Residual(p)
    racks: dict[int, int] = {}
    unplaced: list[str] = []
    index = {(c.t, c.k, c.s): i for i, c in enumerate(p.candidates)}
    order = sorted(range(len(p.tenants)), key=lambda t: (-p.tenants[t].total_gpus, p.tenants[t].id))
    for t in order:
        tenant = p.tenants[t]
        remaining = {k: n for (tt, k), n in p.demand_racks.items() if tt == t}
        site_cost: dict[int, float] = {}
        for c in p.candidates:
            if c.t == t:
                per_gpu = c.annual_cost_usd_per_rack / p.skus[c.k].gpus_per_rack
                site_cost[c.s] = min(site_cost.get(c.s, math.inf), per_gpu)
        ranked = sorted(site_cost, key=lambda s: (site_cost[s], p.sites[s].id))
        used: dict[int, int] = {}  # site -> GPUs placed

        def trial_plan(s: int, budget: float) -> tuple[list[tuple[int, int]], int]:
            plan: list[tuple[int, int]] = []
            trial = res.copy()
            for k in sorted(remaining, key=lambda k: -p.skus[k].gpus_per_rack):
                if remaining[k] == 0 or (t, k, s) not in index:
                    continue
                g = p.skus[k].gpus_per_rack
                n = int(min(remaining[k], trial.fit(k, s), budget // g if budget != math.inf else remaining[k]))
                if n > 0:
                    trial.take(k, s, n)
                    plan.append((k, n))
                    budget -= n * g
            return plan, sum(n * p.skus[k].gpus_per_rack for k, n in plan)

        def place(s: int, gpu_cap: float) -> int:
            """Place up to gpu_cap GPUs of the tenant at s; return GPUs placed."""
            plan, placed = trial_plan(s, gpu_cap)
            left = sum(n * p.skus[k].gpus_per_rack for k, n in remaining.items()) - placed
            if 0 < left < tenant.min_island_gpus and placed - (tenant.min_island_gpus - left) > 0:
                # Leave a remainder big enough to open another site as a whole training island.
                plan, placed = trial_plan(s, placed - (tenant.min_island_gpus - left))
            if placed == 0:
                return 0
            if s not in used:
                if tenant.max_sites is not None and len(used) >= tenant.max_sites:
                    return 0
                if placed < tenant.min_island_gpus:
                    return 0
            for k, n in plan:
                res.take(k, s, n)
                racks[index[(t, k, s)]] = racks.get(index[(t, k, s)], 0) + n
                remaining[k] -= n
            used[s] = used.get(s, 0) + placed
            return placed

        for req in tenant.latency:
            near = p.latency_eligible(req.metro, req.max_rtt_ms)
            need = math.ceil(req.min_share * tenant.total_gpus - EPS) - sum(g for s, g in used.items() if s in near)
            for s in ranked:
                if need <= 0:
                    break
                if s in near:
                    need -= place(s, max(need, tenant.min_island_gpus))
        for s in sorted(ranked, key=lambda s: (s not in used, site_cost[s], p.sites[s].id)):
            if sum(remaining.values()) == 0:
                break
            place(s, math.inf)
        for k, n in remaining.items():
            if n:
                unplaced.append(f"{n * p.skus[k].gpus_per_rack:,} {p.skus[k].id} GPUs of tenant {tenant.id}")
    return racks, unplaced


def unmet_final_rules(problem: Problem, racks: dict[int, int]) -> list[str]:
    """Rules greedy does not guarantee by construction: latency shares and the band's minimum."""
    p, out = problem, []
    gpus: dict[tuple[int, int], int] = {}
    facility = 0.0
    for i, n in racks.items():
        c = p.candidates[i]
        gpus[(c.t, c.s)] = gpus.get((c.t, c.s), 0) + n * p.skus[c.k].gpus_per_rack
        facility += n * p.facility_mw(c.k, c.s)
    for t, tenant in enumerate(p.tenants):
        for req in tenant.latency:
            near = p.latency_eligible(req.metro, req.max_rtt_ms)
            have = sum(g for (tt, s), g in gpus.items() if tt == t and s in near)
            if have < req.min_share * tenant.total_gpus - EPS:
                out.append(
                    f"tenant {tenant.id}'s latency share: {have:,} GPUs within {req.max_rtt_ms:g} ms of "
                    f"{req.metro}, {req.min_share:.0%} needed"
                )
    band = p.scenario.policy.power_band_mw
    if facility < band.min_mw - 1e-6:
        out.append(f"the power band: {facility:.1f} MW facility power, at least {band.min_mw:g} MW needed")
    return out


def solve_greedy(problem: Problem) -> EngineResult:
    """The greedy placement (and its forward schedule on a rollout) as an engine result; raises
    :class:`~placer.errors.NoSolutionError` when it cannot place everything (not a proof)."""
    t0 = time.perf_counter()
    built = greedy_options(problem.options)  # the power options it builds, and the capacities they give
    problem = with_options(problem, built)
    racks, unplaced = greedy_racks(problem)
    seconds = time.perf_counter() - t0
    if unplaced:
        raise NoSolutionError("the greedy baseline could not place " + "; ".join(unplaced) + NOT_A_PROOF)
    short = unmet_final_rules(problem, racks)
    if short:
        raise NoSolutionError("the greedy baseline's placement breaks " + "; ".join(short) + NOT_A_PROOF)
    schedule = None
    if problem.periods.multi:
        schedule = forward_schedule(problem, racks)
        last = problem.final
        late = sum(racks[i] - schedule[(i, last)] for i in racks)
        if late:
            raise NoSolutionError(
                f"the greedy baseline's rollout leaves {late} racks uninstalled at the last period" + NOT_A_PROOF
            )
    return EngineResult(
        racks=racks,
        status="FEASIBLE",
        solver="greedy",
        solver_version="placer-greedy-1",
        parameters={"order": "tenants by size, sites by annual cost per GPU"},
        build_seconds=0.0,
        solve_seconds=seconds,
        bound=None,
        notes=[
            "greedy baseline: no optimality bound; it does not target the power band's minimum "
            "or model transmission-line flows"
        ],
        schedule=schedule,
        options={(o, q): int(q >= first) for o, first in built.items() for q in range(problem.periods.count)}
        if problem.options
        else None,
    )
