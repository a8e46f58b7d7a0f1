"""The rack-level layout inside each site, with CP-SAT (issue 13 §2).

Given a plan's placed racks (tenant, SKU, site), assign every rack to a hall, a row
position, a power path (an 'n' train, a 2N A/B pair or an N+1 group), a cooling loop and a
network block of its site's interior (declared, or :func:`placer.interior.default_interior`),
and return the plan with ``plan.layout`` (:mod:`placer.plan_layout`).

Why aggregate, not rack by position
-----------------------------------
korea-2025 holds 4,175 racks on 7 sites; a model with one boolean per (rack, position,
train, loop, block) would have ~10^9 of them. Racks of one (tenant, SKU) are
interchangeable and an SU (``scalable_unit_racks`` racks, 8 for NVL72) moves as a whole,
so the model decides integer *counts of SUs* per SU class c = (tenant, SKU, SU size) and

* hall h: ``N[c,h]``;
* power path p serving h: ``xp[c,h,p]``, loop l serving h: ``xl[c,h,l]`` (liquid-cooled
  classes only), block b serving h: ``xb[c,h,b]``, each summing to ``N[c,h]``;
* row r of hall h: ``k[h,r,s]`` SUs of size s, with sum_s s k[h,r,s] <= positions per row.

Every constraint of the issue is a sum over one of these marginals (path, loop, block loads;
a tenant's loss when one path, loop or block fails), so the marginals suffice; any marginals
with equal totals have a joint (the north-west-corner rule), which :func:`_positions` builds
deterministically, then fills rows SU by SU in a fixed order, each SU on consecutive positions
of one row. A site's model is O(C x H x (P + L + B) + H x R x S) variables for C classes,
H halls, P/L/B paths/loops/blocks per hall, R rows and S distinct SU sizes -- a few hundred
to a few thousand integers, solved in well under a second to a few seconds.

Constraints (each family behind one enforcement literal, assumed true, so an infeasible site
names the families that conflict): ``space`` (rows), ``air`` (hall air cooling), ``liquid``
(loop liquid MW), ``power`` (path capacity under its redundancy rule at the transient peak:
SKU ``transient_factor``, or the energy storage's ``peak_factor`` in halls it covers),
``blocks`` (SU slots), ``water`` (evaporative loops against the allowance), ``fault`` (no
tenant loses more than :func:`placer.interior.fault_limit_gpus` to one 'n' train, loop or
block), ``island`` (a tenant spans at most :func:`placer.interior.island_block_limit` blocks).

Objective, lexicographic by weights: fewest (tenant, block) pairs (an island on as few
fabrics as the rules allow), then fewest (tenant, hall) pairs (cabling and spread), then the
most-loaded path's and loop's utilisation (per mille; balance).

Sites are independent: :func:`layout_plan` solves them in a process pool
(``policy.solver.workers`` processes, one CP-SAT worker each; in-process when one worker or
one site). A fixed seed and worker count give the same layout.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

from ortools.sat.python import cp_model

from placer.errors import InfeasibleError, NoSolutionError
from placer.interior import (
    Interior,
    LayoutPolicy,
    fault_limit_gpus,
    interior_of,
    island_block_limit,
    su_sizes,
    water_m3_per_day,
)
from placer.plan import Plan
from placer.plan_layout import (
    BlockLoad,
    HallLoad,
    LayoutReport,
    LoopLoad,
    PathLoad,
    RackPlacement,
    SiteLayout,
    TenantExposure,
)
from placer.scenario import Scenario

W_PER_MW = 1_000_000
FAMILIES = ("space", "air", "liquid", "power", "blocks", "water", "fault", "island")
W_BLOCKS, W_HALLS = 1_000_000, 1_000  # lexicographic weights: blocks >> halls >> balance (<= 2,000)
# A site's layout is OPTIMAL when proven within this much of the objective: 10 per mille of
# utilisation, i.e. the block and hall counts are proven optimal and the balance within 1 %.
ABSOLUTE_GAP = 10
CORE_TRIAL_S = 0.5  # each deletion test of an infeasible site's core (an undecided test keeps its family)


@dataclass(frozen=True)
class SuClass:
    """SUs of one (tenant, SKU) and one size at a site."""

    tenant: str
    sku: str
    size: int  # racks per SU of this class
    count: int  # SUs
    kw_per_rack: float
    liquid_share: float
    gpus_per_rack: int
    transient_factor: float
    first_su: int  # index of its first SU among the (tenant, SKU)'s SUs at the site


@dataclass
class SiteJob:
    """One site's layout problem (picklable: it crosses into a worker process)."""

    site: str
    interior: Interior
    declared: bool
    classes: list[SuClass]
    policy: LayoutPolicy
    seed: int
    workers: int
    deterministic: bool


@dataclass
class SiteResult:
    site: str
    layout: SiteLayout | None = None
    racks: list[RackPlacement] = field(default_factory=list)
    infeasible: list[str] = field(default_factory=list)  # reasons, when proven infeasible
    unknown: str = ""  # why no layout was found without a proof


def site_jobs(scenario: Scenario, plan: Plan) -> list[SiteJob]:
    """One job per site the plan places racks at, in site order. O(assignments + sites)."""
    skus = {k.id: k for k in scenario.catalog}
    racks: dict[str, dict[tuple[str, str], int]] = {}
    for a in plan.assignments:
        if a.racks > 0:
            racks.setdefault(a.site, {})
            racks[a.site][(a.tenant, a.sku)] = racks[a.site].get((a.tenant, a.sku), 0) + a.racks
    solver = scenario.policy.solver
    jobs = []
    for site in scenario.topology.sites:
        if site.id not in racks:
            continue
        interior, declared = interior_of(site, scenario.catalog)
        classes = []
        for (tenant, sku_id), n in sorted(racks[site.id].items()):
            sku = skus[sku_id]
            sizes = su_sizes(n, sku.scalable_unit_racks)
            full = sizes.count(sku.scalable_unit_racks)
            common: dict[str, Any] = dict(
                tenant=tenant,
                sku=sku_id,
                kw_per_rack=sku.it_kw_per_rack,
                liquid_share=sku.liquid_share,
                gpus_per_rack=sku.gpus_per_rack,
                transient_factor=sku.transient_factor or 1.0,
            )
            if full:
                classes.append(SuClass(size=sku.scalable_unit_racks, count=full, first_su=0, **common))
            if len(sizes) > full:
                classes.append(SuClass(size=sizes[-1], count=1, first_su=full, **common))
        jobs.append(
            SiteJob(
                site.id,
                interior,
                declared,
                classes,
                scenario.policy.layout,
                solver.seed,
                solver.workers,
                solver.deterministic,
            )
        )
    return jobs


# --------------------------------------------------------------------------- the model


def _w(mw: float) -> int:
    return int(math.floor(mw * W_PER_MW + 1e-6))


def solve_site(job: SiteJob, cpsat_workers: int = 1, relax: frozenset[str] = frozenset()) -> SiteResult:
    """Lay out one site. Returns its :class:`SiteResult`: the layout and rack rows, or the
    reasons it is infeasible (families in CP-SAT's assumption core, with aggregate figures),
    or why none was found in the time limit."""
    start = time.perf_counter()
    it = job.interior
    halls = [h.id for h in it.halls]
    hall_of = {h.id: h for h in it.halls}
    paths = it.power_paths()
    loops = it.cooling_loops
    blocks = it.network_blocks
    storage = it.storage_halls()
    C = job.classes
    m = cp_model.CpModel()
    on = {f: m.new_bool_var(f"on_{f}") for f in FAMILIES}

    def peak_w(c: SuClass, h: str) -> int:
        factor = it.energy_storage.peak_factor if h in storage and it.energy_storage else c.transient_factor
        return int(math.ceil(c.size * c.kw_per_rack * 1000 * factor - 1e-6))

    def su_w(c: SuClass, share: float) -> int:
        return int(math.ceil(c.size * c.kw_per_rack * 1000 * share - 1e-6))

    N = {(i, h): m.new_int_var(0, c.count, f"N{i}_{h}") for i, c in enumerate(C) for h in halls}
    xp, xl, xb = {}, {}, {}
    for i, c in enumerate(C):
        m.add(sum(N[i, h] for h in halls) == c.count)
        for h in halls:
            ps = [p for p in paths if h in p.halls]
            for p in ps:
                xp[i, h, p.id] = m.new_int_var(0, c.count, "")
            m.add(sum(xp[i, h, p.id] for p in ps) == N[i, h])
            bs = [b for b in blocks if h in b.halls]
            for b in bs:
                xb[i, h, b.id] = m.new_int_var(0, c.count, "")
            m.add(sum(xb[i, h, b.id] for b in bs) == N[i, h])
            if c.liquid_share > 0:
                ls = [lp for lp in loops if h in lp.halls]
                for lp in ls:
                    xl[i, h, lp.id] = m.new_int_var(0, c.count, "")
                if ls:
                    m.add(sum(xl[i, h, lp.id] for lp in ls) == N[i, h])
                else:  # no loop reaches this hall: liquid-cooled SUs cannot stand in it
                    m.add(N[i, h] == 0).only_enforce_if(on["liquid"])
    # space: rows of each hall hold SUs of each size
    sizes = sorted({c.size for c in C}, reverse=True)
    rows_k: dict[tuple[str, int, int], cp_model.IntVar] = {}
    for h in halls:
        hall = hall_of[h]
        for s in sizes:
            in_hall = sum(N[i, h] for i, c in enumerate(C) if c.size == s)
            if s > hall.positions_per_row:
                m.add(in_hall == 0).only_enforce_if(on["space"])
                continue
            cap = hall.positions_per_row // s
            for r in range(hall.rows):
                rows_k[h, r, s] = m.new_int_var(0, cap, "")
            m.add(sum(rows_k[h, r, s] for r in range(hall.rows)) == in_hall).only_enforce_if(on["space"])
        for r in range(hall.rows):
            used = [s * rows_k[h, r, s] for s in sizes if (h, r, s) in rows_k]
            if used:
                m.add(sum(used) <= hall.positions_per_row).only_enforce_if(on["space"])
        # air
        m.add(
            sum(su_w(c, 1 - c.liquid_share) * N[i, h] for i, c in enumerate(C)) <= _w(hall.air_cooling_mw)
        ).only_enforce_if(on["air"])
    # liquid per loop, water
    loop_load = {}
    for lp in loops:
        terms = [
            su_w(c, c.liquid_share) * xl[i, h, lp.id] for i, c in enumerate(C) for h in halls if (i, h, lp.id) in xl
        ]
        loop_load[lp.id] = sum(terms) if terms else 0
        if terms:
            m.add(loop_load[lp.id] <= _w(lp.liquid_mw)).only_enforce_if(on["liquid"])
    if it.water_allowance_m3_per_day is not None:
        # m3/day = heat MW x 24 x WUE: in W x WUE(1e-3 L/kWh) units against allowance x 1e9 / 24
        water_terms: list[Any] = []
        for lp in loops:
            wue_milli = int(round(lp.wue_l_per_kwh * 1000))
            if wue_milli and not isinstance(loop_load[lp.id], int):
                water_terms.append(wue_milli * loop_load[lp.id])
        if water_terms:
            limit = int(math.floor(it.water_allowance_m3_per_day / 24.0 * W_PER_MW * 1000 + 1e-6))
            m.add(sum(water_terms) <= limit).only_enforce_if(on["water"])
    # power paths at the transient peak
    path_load = {}
    for p in paths:
        terms = [peak_w(c, h) * xp[i, h, p.id] for i, c in enumerate(C) for h in p.halls if (i, h, p.id) in xp]
        path_load[p.id] = sum(terms) if terms else 0
        if terms:
            m.add(path_load[p.id] <= _w(p.capacity_mw)).only_enforce_if(on["power"])
    # block slots
    for b in blocks:
        terms = [xb[i, h, b.id] for i in range(len(C)) for h in b.halls if (i, h, b.id) in xb]
        if terms:
            m.add(sum(terms) <= b.su_slots).only_enforce_if(on["blocks"])
    # Symmetry: blocks (loops) with the same halls and slots (ratings) are interchangeable, so
    # order them by load; without this CP-SAT wanders among relabellings of one layout.
    block_sus = {
        b.id: sum(xb[i, h, b.id] for i in range(len(C)) for h in b.halls if (i, h, b.id) in xb) for b in blocks
    }
    _order_by_load(m, blocks, block_sus, lambda b: (tuple(sorted(b.halls)), b.su_slots))
    _order_by_load(m, loops, loop_load, lambda lp: (tuple(sorted(lp.halls)), lp.liquid_mw, lp.kind, lp.wue_l_per_kwh))
    # failure domains and islands, per tenant
    tenants = sorted({c.tenant for c in C})
    largest_slots = max(b.su_slots for b in blocks)
    limits, block_limits = {}, {}
    uses_block, uses_hall = [], []
    for t in tenants:
        mine = [i for i, c in enumerate(C) if c.tenant == t]
        gpus = sum(C[i].count * C[i].size * C[i].gpus_per_rack for i in mine)
        limits[t] = fault_limit_gpus(job.policy, gpus, max(C[i].size * C[i].gpus_per_rack for i in mine))
        n_sus = sum(C[i].count for i in mine)
        block_limits[t] = island_block_limit(
            job.policy, n_sus, largest_slots, limits[t], max(C[i].size * C[i].gpus_per_rack for i in mine)
        )
        for p in paths:
            if p.is_failure_domain:
                terms = [
                    C[i].size * C[i].gpus_per_rack * xp[i, h, p.id] for i in mine for h in p.halls if (i, h, p.id) in xp
                ]
                if terms:
                    m.add(sum(terms) <= limits[t]).only_enforce_if(on["fault"])
        for lp in loops:
            terms = [
                C[i].size * C[i].gpus_per_rack * xl[i, h, lp.id] for i in mine for h in lp.halls if (i, h, lp.id) in xl
            ]
            if terms:
                m.add(sum(terms) <= limits[t]).only_enforce_if(on["fault"])
        t_blocks = []
        for b in blocks:
            terms = [
                C[i].size * C[i].gpus_per_rack * xb[i, h, b.id] for i in mine for h in b.halls if (i, h, b.id) in xb
            ]
            if not terms:
                continue
            m.add(sum(terms) <= limits[t]).only_enforce_if(on["fault"])
            u = m.new_bool_var("")
            count = sum(xb[i, h, b.id] for i in mine for h in b.halls if (i, h, b.id) in xb)
            m.add(count <= n_sus * u)
            m.add(count <= b.su_slots * u).only_enforce_if(on["blocks"])  # the tight link, when slots bind
            t_blocks.append(u)
        uses_block += t_blocks
        m.add(sum(t_blocks) <= block_limits[t]).only_enforce_if(on["island"])
        # Valid lower bounds (a block holds at most its slots and, by the fault rule, at most
        # limit GPUs): they give CP-SAT the bound its big-M rows lack, so it proves optimality.
        lb = math.ceil(n_sus / largest_slots)
        m.add(sum(t_blocks) >= lb)
        per_block = min(largest_slots, limits[t] // min(C[i].size * C[i].gpus_per_rack for i in mine))
        m.add(sum(t_blocks) >= math.ceil(n_sus / max(1, per_block))).only_enforce_if(on["fault"])
        t_halls = []
        for h in halls:
            v = m.new_bool_var("")
            m.add(sum(N[i, h] for i in mine) <= n_sus * v)
            t_halls.append(v)
        uses_hall += t_halls
        # valid lower bound on the halls the tenant needs: by the most any one hall offers of
        # positions, power at the peak, liquid and air cooling
        need = [
            math.ceil(
                n_sus / max(1, max(hall_of[h].rows * (hall_of[h].positions_per_row // min(sizes)) for h in halls))
            )
        ]
        t_peak = sum(C[i].count * max(peak_w(C[i], h) for h in halls) for i in mine)
        hall_power = max(sum(_w(p.capacity_mw) for p in paths if h in p.halls) for h in halls)
        t_liquid = sum(C[i].count * su_w(C[i], C[i].liquid_share) for i in mine)
        hall_liquid = max(sum(_w(lp.liquid_mw) for lp in loops if h in lp.halls) for h in halls)
        t_air = sum(C[i].count * su_w(C[i], 1 - C[i].liquid_share) for i in mine)
        hall_air = max(_w(hall_of[h].air_cooling_mw) for h in halls)
        for fam, load_w, hall_w in (
            ("power", t_peak, hall_power),
            ("liquid", t_liquid, hall_liquid),
            ("air", t_air, hall_air),
        ):
            if load_w and hall_w:
                m.add(sum(t_halls) >= math.ceil(load_w / hall_w)).only_enforce_if(on[fam])
        m.add(sum(t_halls) >= max(need)).only_enforce_if(on["space"])
    # balance: the most loaded path and loop, per mille of capacity
    # the most loaded is at least the average (the bound CP-SAT would not find by itself)
    z = m.new_int_var(0, 1000, "max_util")
    peak_total = sum(peak_w(c, h) * N[i, h] for i, c in enumerate(C) for h in halls)
    cap_total = sum(_w(p.capacity_mw) for p in paths)
    if cap_total:
        m.add(1000 * peak_total <= z * cap_total).only_enforce_if(on["power"])
    for p in paths:
        if not isinstance(path_load[p.id], int) and p.capacity_mw > 0:
            m.add(1000 * path_load[p.id] <= z * _w(p.capacity_mw)).only_enforce_if(on["power"])
    zl = m.new_int_var(0, 1000, "max_loop_util")
    liquid_total = sum(su_w(c, c.liquid_share) * N[i, h] for i, c in enumerate(C) for h in halls if c.liquid_share > 0)
    loop_cap = sum(_w(lp.liquid_mw) for lp in loops)
    if loop_cap and not isinstance(liquid_total, int):
        m.add(1000 * liquid_total <= zl * loop_cap).only_enforce_if(on["liquid"])
    for lp in loops:
        if not isinstance(loop_load[lp.id], int) and lp.liquid_mw > 0:
            m.add(1000 * loop_load[lp.id] <= zl * _w(lp.liquid_mw)).only_enforce_if(on["liquid"])
    m.minimize(W_BLOCKS * sum(uses_block) + W_HALLS * sum(uses_hall) + z + zl)
    for f in relax:  # families switched off (diagnostics: which ones make a site hard or infeasible)
        m.add(on[f] == 0)
    m.add_assumptions([v for f, v in on.items() if f not in relax])

    solver = cp_model.CpSolver()
    prm = solver.parameters
    prm.num_workers = max(1, cpsat_workers)
    prm.random_seed = job.seed
    prm.max_time_in_seconds = job.policy.time_limit_s
    prm.absolute_gap_limit = ABSOLUTE_GAP
    if job.deterministic:
        # the stop counted in CP-SAT's own work units, not wall time (which depends on the load)
        prm.interleave_search = prm.num_workers > 1  # one worker is deterministic as it is
        prm.max_deterministic_time = job.policy.time_limit_s
        prm.max_time_in_seconds = 10.0 * job.policy.time_limit_s  # a safety net only
    status = solver.solve(m)
    res = SiteResult(job.site)
    if status == cp_model.INFEASIBLE:
        core = set(solver.sufficient_assumptions_for_infeasibility())
        names = [f for f in FAMILIES if on[f].index in core] or [f for f in FAMILIES if f not in relax]
        names = _minimise_core(m, on, names, job)
        res.infeasible = _explain(job, names, limits, block_limits)
        return res
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        res.unknown = (
            f"site {job.site}: no layout found in {job.policy.time_limit_s:g} s (CP-SAT {solver.status_name(status)})"
        )
        return res
    if relax:  # a diagnostic solve: its counts need not pack into rows
        res.unknown = f"relaxed {sorted(relax)}: {solver.status_name(status)} {solver.objective_value:g} >= {solver.best_objective_bound:g}"
        return res
    counts = {
        "N": {k: solver.value(v) for k, v in N.items()},
        "xp": {k: solver.value(v) for k, v in xp.items()},
        "xl": {k: solver.value(v) for k, v in xl.items()},
        "xb": {k: solver.value(v) for k, v in xb.items()},
        "rows": {k: solver.value(v) for k, v in rows_k.items()},
    }
    res.racks = _positions(job, counts)
    res.layout = site_tables(
        job,
        res.racks,
        status="OPTIMAL" if status == cp_model.OPTIMAL else "FEASIBLE",
        objective=solver.objective_value,
        bound=solver.best_objective_bound,
        seconds=time.perf_counter() - start,
        limits=limits,
        block_limits=block_limits,
    )
    return res


def _minimise_core(m: cp_model.CpModel, on: dict, core: list[str], job: SiteJob) -> list[str]:
    """Drop each family whose absence still leaves the site infeasible (deletion-based, one
    short CP-SAT solve per family; a family whose trial is undecided stays): CP-SAT's core
    is sufficient, not minimal. O(families) solves."""
    for f in list(core):
        trial = [g for g in core if g != f]
        m.clear_assumptions()
        m.add_assumptions([on[g] for g in trial])
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.random_seed = job.seed
        solver.parameters.max_time_in_seconds = min(CORE_TRIAL_S, job.policy.time_limit_s)
        if solver.solve(m) == cp_model.INFEASIBLE:
            core = trial
    return core


def _order_by_load(m: cp_model.CpModel, items: list, load: dict, signature) -> None:
    """load[a] >= load[b] for consecutive interchangeable items (same ``signature``). O(items)."""
    groups: dict = {}
    for x in items:
        groups.setdefault(signature(x), []).append(x)
    for group in groups.values():
        for a, b in zip(group, group[1:]):
            la, lb = load[a.id], load[b.id]
            if not isinstance(la, int) or not isinstance(lb, int):
                m.add(la >= lb)


def _explain(job: SiteJob, families: list[str], limits: dict, block_limits: dict) -> list[str]:
    """The conflicting families in the planner's words, with the site's aggregate figures."""
    it, C = job.interior, job.classes
    racks = sum(c.count * c.size for c in C)
    it_mw = sum(c.count * c.size * c.kw_per_rack for c in C) / 1000
    liquid = sum(c.count * c.size * c.kw_per_rack * c.liquid_share for c in C) / 1000
    air = it_mw - liquid
    storage = it.storage_halls()
    peak = sum(c.count * c.size * c.kw_per_rack * c.transient_factor for c in C) / 1000
    dry_mw = sum(lp.liquid_mw for lp in it.cooling_loops if lp.wue_l_per_kwh == 0)
    wet_wue = min((lp.wue_l_per_kwh for lp in it.cooling_loops if lp.wue_l_per_kwh > 0), default=0.0)
    words = {
        "space": f"space: {racks:,} racks in whole SUs on {sum(h.rows * h.positions_per_row for h in it.halls):,} "
        "positions (each SU on consecutive positions of one row)",
        "air": f"air cooling: {air:.1f} MW of air heat against {sum(h.air_cooling_mw for h in it.halls):.1f} MW of "
        "hall air cooling",
        "liquid": f"liquid cooling: {liquid:.1f} MW of liquid heat against {sum(lp.liquid_mw for lp in it.cooling_loops):.1f} MW "
        "of loops (in whole SUs per loop)",
        "power": f"power: {it_mw:.1f} MW IT, {peak:.1f} MW at the transient peak"
        + (" (storage smooths some halls)" if storage else "")
        + f", against {sum(p.capacity_mw for p in it.power_paths()):.1f} MW of power paths under their redundancy rules",
        "blocks": f"network: {sum(c.count for c in C):,} SUs against {sum(b.su_slots for b in it.network_blocks):,} "
        "block slots",
        "water": f"water: the {max(0.0, liquid - dry_mw):.1f} MW of liquid heat beyond the dry loops' {dry_mw:.1f} MW "
        f"needs at least {max(0.0, liquid - dry_mw) * 24 * wet_wue:,.0f} m3/day in evaporative loops, against the "
        f"allowance of {it.water_allowance_m3_per_day or 0:,.0f} m3/day",
        "fault": "failure domains: no tenant may lose more than "
        + ", ".join(f"{t} {g:,}" for t, g in sorted(limits.items()))
        + f" GPUs (max_fault_share {job.policy.max_fault_share:g}) to one train, loop or block",
        "island": "islands: tenants may span at most "
        + ", ".join(f"{t} {b}" for t, b in sorted(block_limits.items()))
        + " network blocks",
    }
    out = [f"site {job.site}: {words[f]}" for f in families]
    if len(families) > 1:  # each may hold in total: it is their combination, SU by SU, that fails
        out.append(f"site {job.site}: no layout holds these {len(families)} together (without any one it may)")
    return out


def _positions(job: SiteJob, counts: dict) -> list[RackPlacement]:
    """Every rack's place from the SU counts, deterministically.

    Per hall and class, the path, loop and block marginals are joined by the north-west-corner
    rule (SU k of the class in the hall takes the k-th entry of each expanded marginal). The
    hall's SUs fill its rows by first fit (:func:`_pack_rows`; CP-SAT's row counts when first
    fit fails); in each row the SUs stand side by side from position 1. O(racks + SUs x R)."""
    it, C = job.interior, job.classes
    paths = {p.id: p for p in it.power_paths()}
    out: list[RackPlacement] = []
    next_su = {i: c.first_su for i, c in enumerate(C)}
    for hall in it.halls:
        h = hall.id

        def expand(key: str, i: int, items: list[str], h: str = h) -> list[str | None]:
            seq: list[str | None] = []
            for x in items:
                seq += [x] * counts[key].get((i, h, x), 0)
            return seq

        sus = []  # (size, block, tenant, sku, su index, path, loop, class)
        for i, c in enumerate(C):
            n = counts["N"][i, h]
            if n == 0:
                continue
            ps = expand("xp", i, [p for p in paths])
            bs = expand("xb", i, [b.id for b in it.network_blocks])
            ls = expand("xl", i, [lp.id for lp in it.cooling_loops]) if c.liquid_share > 0 else [None] * n
            for k in range(n):
                sus.append((c.size, bs[k], c.tenant, c.sku, next_su[i], ps[k], ls[k], i))
                next_su[i] += 1
        placed = _pack_rows(hall.rows, hall.positions_per_row, sus)
        if placed is None:  # first fit failed: the packing CP-SAT proved, row by row
            sus.sort(key=lambda x: (-x[0], x[1], x[2], x[3], x[4]))
            by_size: dict[int, list[int]] = {}
            for r in range(hall.rows):
                for s in sorted({c.size for c in C}, reverse=True):
                    by_size.setdefault(s, []).extend([r] * counts["rows"].get((h, r, s), 0))
            placed = [(by_size[su[0]].pop(0), su) for su in sus]
        used = [0] * hall.rows
        placed.sort(key=lambda x: (x[0], x[1][1], x[1][2], x[1][3], x[1][4]))
        for row, (size, block, tenant, sku, k, path, loop, _i) in placed:
            su_id = f"{tenant}/{sku}/{job.site}/su-{k + 1}"
            for j in range(size):
                out.append(
                    RackPlacement(
                        site=job.site,
                        hall=h,
                        row=row + 1,
                        position=used[row] + j + 1,
                        trains=list(paths[path].trains),
                        loop=loop,
                        block=block,
                        tenant=tenant,
                        sku=sku,
                        su=su_id,
                    )
                )
            used[row] += size
    return out


def _pack_rows(rows: int, width: int, sus: list[tuple]) -> list[tuple[int, tuple]] | None:
    """Rows for the hall's SUs by first fit, in (block, tenant, SKU, SU) order, then, if that
    fails, first fit decreasing by size: compact rows, an island's SUs side by side. None
    when neither fits (the caller falls back to CP-SAT's own row counts). O(SUs x rows)."""
    for key in (lambda x: (x[1], x[2], x[3], x[4]), lambda x: (-x[0], x[1], x[2], x[3], x[4])):
        free = [width] * rows
        placed = []
        for su in sorted(sus, key=key):
            row = next((r for r in range(rows) if free[r] >= su[0]), None)
            if row is None:
                break
            free[row] -= su[0]
            placed.append((row, su))
        else:
            return placed
    return None


def site_tables(
    job: SiteJob,
    racks: list[RackPlacement],
    *,
    status: str,
    objective: float,
    bound: float,
    seconds: float,
    limits: dict[str, int],
    block_limits: dict[str, int],
) -> SiteLayout:
    """The site's reported tables from its rack rows (the verifier recomputes them on its own)."""
    it = job.interior
    cls = {(c.tenant, c.sku): c for c in job.classes}
    storage = it.storage_halls()
    hall_racks: dict[str, int] = {}
    hall_it: dict[str, float] = {}
    hall_air: dict[str, float] = {}
    path_of_trains = {p.trains: p for p in it.power_paths()}
    steady: dict[str, float] = {}
    peak: dict[str, float] = {}
    liquid: dict[str, float] = {}
    block_sus: dict[str, set[str]] = {}
    for r in racks:
        c = cls[r.tenant, r.sku]
        kw = c.kw_per_rack
        hall_racks[r.hall] = hall_racks.get(r.hall, 0) + 1
        hall_it[r.hall] = hall_it.get(r.hall, 0.0) + kw / 1000
        hall_air[r.hall] = hall_air.get(r.hall, 0.0) + kw * (1 - c.liquid_share) / 1000
        p = path_of_trains[tuple(r.trains)]
        factor = it.energy_storage.peak_factor if r.hall in storage and it.energy_storage else c.transient_factor
        steady[p.id] = steady.get(p.id, 0.0) + kw / 1000
        peak[p.id] = peak.get(p.id, 0.0) + kw * factor / 1000
        if r.loop is not None:
            liquid[r.loop] = liquid.get(r.loop, 0.0) + kw * c.liquid_share / 1000
        block_sus.setdefault(r.block, set()).add(r.su)
    loops = [
        LoopLoad(
            loop=lp.id,
            liquid_heat_mw=liquid.get(lp.id, 0.0),
            liquid_mw=lp.liquid_mw,
            water_m3_per_day=water_m3_per_day(liquid.get(lp.id, 0.0), lp.wue_l_per_kwh),
        )
        for lp in it.cooling_loops
    ]
    exposure = []
    for t in sorted(limits):
        mine = [r for r in racks if r.tenant == t]
        gpus = sum(cls[r.tenant, r.sku].gpus_per_rack for r in mine)
        losses: dict[str, int] = {}
        for r in mine:
            g = cls[r.tenant, r.sku].gpus_per_rack
            p = path_of_trains[tuple(r.trains)]
            faults = [f"block:{r.block}"] + ([f"loop:{r.loop}"] if r.loop else [])
            if p.is_failure_domain:
                faults.append(f"train:{p.trains[0]}")
            for f in faults:
                losses[f] = losses.get(f, 0) + g
        worst = max(sorted(losses), key=lambda f: losses[f]) if losses else "-"
        loss = losses.get(worst, 0)
        exposure.append(
            TenantExposure(
                tenant=t,
                gpus=gpus,
                worst_fault=worst,
                worst_loss_gpus=loss,
                worst_loss_share=loss / gpus if gpus else 0.0,
                limit_gpus=limits[t],
                blocks=len({r.block for r in mine}),
                block_limit=block_limits[t],
            )
        )
    return SiteLayout(
        site=job.site,
        interior="declared" if job.declared else "default",
        status=status,
        objective=float(objective),
        bound=float(bound),
        seconds=seconds,
        halls=[
            HallLoad(
                hall=h.id,
                racks=hall_racks.get(h.id, 0),
                positions=h.rows * h.positions_per_row,
                it_power_mw=hall_it.get(h.id, 0.0),
                air_heat_mw=hall_air.get(h.id, 0.0),
                air_cooling_mw=h.air_cooling_mw,
            )
            for h in it.halls
        ],
        paths=[
            PathLoad(
                path=p.id,
                redundancy=p.redundancy,
                trains=list(p.trains),
                steady_mw=steady.get(p.id, 0.0),
                peak_mw=peak.get(p.id, 0.0),
                capacity_mw=p.capacity_mw,
            )
            for p in it.power_paths()
        ],
        loops=loops,
        blocks=[
            BlockLoad(block=b.id, sus=len(block_sus.get(b.id, ())), su_slots=b.su_slots) for b in it.network_blocks
        ],
        water_m3_per_day=sum(lp.water_m3_per_day for lp in loops),
        water_allowance_m3_per_day=it.water_allowance_m3_per_day,
        exposure=exposure,
    )


# --------------------------------------------------------------------------- the fleet


def _run(job: SiteJob) -> SiteResult:
    return solve_site(job, cpsat_workers=1)


def layout_plan(scenario: Scenario, plan: Plan, *, workers: int | None = None) -> Plan:
    """``plan`` with ``plan.layout``: every placed rack laid out inside its site.

    Sites run in a process pool of ``workers`` processes (default ``policy.solver.workers``),
    one CP-SAT worker each; with one site or one worker, in this process with all workers for
    CP-SAT. Raises :class:`InfeasibleError` naming each site and constraint family that no
    layout can satisfy, :class:`NoSolutionError` when a site found none in its time limit.
    O(sites x per-site model)."""
    start = time.perf_counter()
    jobs = site_jobs(scenario, plan)
    n = workers or scenario.policy.solver.workers
    if n <= 1 or len(jobs) <= 1:
        results = [solve_site(j, cpsat_workers=n) for j in jobs]
    else:
        with ProcessPoolExecutor(max_workers=min(n, len(jobs)), mp_context=get_context("spawn")) as pool:
            results = list(pool.map(_run, jobs))
    reasons = [r for res in results for r in res.infeasible]
    if reasons:
        failed = [res.site for res in results if res.infeasible]
        raise LayoutInfeasible(f"no rack-level layout exists at {', '.join(failed)}", reasons, failed)
    unknown = [res.unknown for res in results if res.unknown]
    if unknown:
        raise NoSolutionError("; ".join(unknown))
    out = plan.model_copy(deep=True)
    out.layout = LayoutReport(
        racks=[r for res in results for r in res.racks],
        sites=[res.layout for res in results if res.layout is not None],
        seconds=time.perf_counter() - start,
        notes=[
            f"layout: {len(jobs)} site(s) by CP-SAT on SU counts per hall/path/loop/block/row, "
            f"{min(n, max(1, len(jobs)))} process(es); sites without an interior use the default derived from "
            "their MW figures"
        ],
    )
    return out


class LayoutInfeasible(InfeasibleError):
    """No layout for some sites: ``sites`` are their ids, ``reasons`` the families in conflict."""

    def __init__(self, message: str, reasons: list[str], sites: list[str]):
        super().__init__(message, reasons)
        self.sites = sites


def layout_with_cuts(
    scenario: Scenario,
    plan: Plan,
    resolve: Callable[[Scenario], Plan],
    *,
    rounds: int = 4,
    workers: int | None = None,
) -> Plan:
    """Lay out ``plan``; where a site's layout fails, cut and re-solve the placement (§3).

    The cut lowers each failing site's ``it_capacity_mw`` to its placed IT less 5 % (10 %, 20 %,
    ... in later rounds; at least its largest SU's IT, so one SU moves elsewhere) and ``resolve``
    re-solves the placement with it; up to ``rounds`` times. The cut is a heuristic, not a
    valid inequality (it may also cut off placements some layout could hold), so a plan found
    after a cut is labelled FEASIBLE with no bound (the cut problem's bound is not one of the original), and a note names each cut.
    Raises the last :class:`InfeasibleError` (which site, which constraints) when every round
    fails. O(rounds x (placement + layout))."""
    cuts: dict[str, float] = {}
    current = plan
    for attempt in range(rounds + 1):
        try:
            laid = layout_plan(scenario, current, workers=workers)
        except LayoutInfeasible as exc:
            if attempt == rounds:
                raise
            skus = {k.id: k for k in scenario.catalog}
            for site in exc.sites:
                mine = [a for a in current.assignments if a.site == site and a.racks]
                it_mw = sum(a.it_power_mw for a in mine)
                su_mw = max(skus[a.sku].it_kw_per_rack * min(a.racks, skus[a.sku].scalable_unit_racks) for a in mine)
                # each round cuts deeper (5 %, 10 %, 20 %, ... of the site's IT, at least one SU)
                cuts[site] = it_mw - max(su_mw / 1000, it_mw * 0.05 * 2**attempt)
            cut_sc = scenario.model_copy(deep=True)
            for node in cut_sc.topology.sites:
                if node.id in cuts:
                    node.it_capacity_mw = max(1e-6, min(node.it_capacity_mw, cuts[node.id]))
            try:
                current = resolve(cut_sc)
            except InfeasibleError as again:
                # the cut left no placement: report the layout's reasons, and the cut that failed
                cut_text = ", ".join(f"{site} IT <= {mw:.3f} MW" for site, mw in sorted(cuts.items()))
                raise LayoutInfeasible(
                    f"{exc}; the placement re-solved with the cut ({cut_text}) has no solution: {again}",
                    exc.reasons,
                    exc.sites,
                ) from None
            continue
        if cuts:
            reported = {row.site: row.it_capacity_mw for row in plan.sites}  # the scenario's, not the cut's
            for row in laid.sites:
                row.it_capacity_mw = reported.get(row.site, row.it_capacity_mw)
            sm = laid.summary
            sm.status, sm.placement_status, sm.bound, sm.gap = "FEASIBLE", None, None, None
            laid.scenario_digest = scenario.digest()
            laid.summary.notes.append(
                "layout cuts: "
                + ", ".join(f"{s} IT <= {mw:.3f} MW" for s, mw in sorted(cuts.items()))
                + f" after {attempt} failed layout(s); the placement was re-solved under them, so its "
                "status is FEASIBLE without a bound (a cut is not a valid inequality of the original)"
            )
        return laid
    raise AssertionError("unreachable")  # the loop returns or raises


__all__ = [
    "FAMILIES",
    "LayoutInfeasible",
    "SiteJob",
    "SiteResult",
    "layout_plan",
    "layout_with_cuts",
    "site_jobs",
    "solve_site",
]
