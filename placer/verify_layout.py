"""Verifier of the rack-level layout (``plan.layout``), independent of ``solvers/``.

From the rack inventory alone (``plan.layout.racks``) and the scenario (each site's declared
interior, or :func:`placer.interior.default_interior`; the catalog; ``policy.layout``), it
recomputes every hall, power-path, loop and block load, the redundancy rules, SU contiguity,
island containment, water and each tenant's worst single-fault loss, and compares the plan's
reported tables with its own.

Check codes (each with its injection test in ``tests/test_verify_layout.py``):

* ``LAYOUT_RACK_COUNT`` -- the inventory holds exactly the plan's racks per (tenant, SKU, site);
* ``LAYOUT_UNKNOWN`` -- a rack names a site, hall, train, loop, block, tenant or SKU that does
  not exist;
* ``LAYOUT_POSITION`` -- a position outside its hall's rows, or two racks on one position;
* ``LAYOUT_SERVES`` -- the rack's trains, loop or block do not serve its hall, a liquid-cooled
  rack has no loop, or it is fed by something other than one 'n' train;
* ``LAYOUT_TRAIN_OVERLOAD`` -- an 'n' train carries more than its rating at the transient peak;
* ``LAYOUT_2N`` -- a rack on a 2N pair is fed by one side only, or one side alone cannot carry
  the pair's whole peak;
* ``LAYOUT_N1`` -- a rack on an N+1 group is not fed by the whole group, or the group's peak
  exceeds its ratings less the largest;
* ``LAYOUT_LOOP_OVERLOAD`` -- a loop's liquid heat exceeds its liquid MW;
* ``LAYOUT_AIR`` -- a hall's air heat exceeds its air cooling;
* ``LAYOUT_BLOCK_SLOTS`` -- a block holds more SUs than its slots;
* ``LAYOUT_SU_SPLIT`` -- an SU's racks are not of one tenant and SKU in one hall, row and block
  on consecutive positions, it has more racks than its SKU's SU, or a (tenant, SKU) at a site
  has more SUs than whole SUs and one remainder need;
* ``LAYOUT_ISLAND_SPLIT`` -- a tenant's SUs at a site span more blocks than
  :func:`placer.interior.island_block_limit` allows;
* ``LAYOUT_WATER`` -- evaporative loops use more water than the site's allowance;
* ``LAYOUT_FAULT_SHARE`` -- the loss of one 'n' train (or one side of a half-fed pair), loop or
  block costs a tenant more than :func:`placer.interior.fault_limit_gpus`;
* ``LAYOUT_REPORTED`` -- a reported table (hall, path, loop, block loads, water, exposure)
  differs from the recomputation, or a site with racks has no table.

Not checked (provenance): each site's status, objective, bound and seconds, and the notes.

Complexity: O(R log R) for R racks (sorting each SU's positions), O(R x T) memory-free passes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

from placer.contract import MW_ABS_TOL, MW_REL_TOL, limit_slack
from placer.interior import Interior, fault_limit_gpus, interior_of, island_block_limit, water_m3_per_day
from placer.plan import Plan
from placer.plan_layout import (
    BlockLoad,
    HallLoad,
    LoopLoad,
    PathLoad,
    RackPlacement,
    SiteLayout,
    TenantExposure,
)
from placer.scenario import Scenario

CODES = (
    "LAYOUT_RACK_COUNT",
    "LAYOUT_UNKNOWN",
    "LAYOUT_POSITION",
    "LAYOUT_SERVES",
    "LAYOUT_TRAIN_OVERLOAD",
    "LAYOUT_2N",
    "LAYOUT_N1",
    "LAYOUT_LOOP_OVERLOAD",
    "LAYOUT_AIR",
    "LAYOUT_BLOCK_SLOTS",
    "LAYOUT_SU_SPLIT",
    "LAYOUT_ISLAND_SPLIT",
    "LAYOUT_WATER",
    "LAYOUT_FAULT_SHARE",
    "LAYOUT_REPORTED",
)

Add = Callable[..., None]


def _over(measured: float, limit: float) -> bool:
    return measured > limit + limit_slack(limit)


def _close(a: float, b: float) -> bool:
    return math.isfinite(a) and math.isclose(a, b, rel_tol=MW_REL_TOL, abs_tol=MW_ABS_TOL)


def check_layout(scenario: Scenario, plan: Plan, add: Add) -> list[str]:
    """Run every layout check of ``plan.layout`` (none when absent); ``add(code, entity,
    message, measured=, limit=, unit=)`` records a violation. Returns the codes checked."""
    if plan.layout is None:
        return []
    sites = {s.id: s for s in scenario.topology.sites}
    skus = {k.id: k for k in scenario.catalog}
    tenants = {t.id for t in scenario.demand.tenants}
    by_site: dict[str, list[int]] = defaultdict(list)
    racks = plan.layout.racks
    for i, r in enumerate(racks):
        missing = [
            f"{kind} '{name}'"
            for kind, name, ok in (
                ("site", r.site, r.site in sites),
                ("tenant", r.tenant, r.tenant in tenants),
                ("sku", r.sku, r.sku in skus),
            )
            if not ok
        ]
        if missing:
            add("LAYOUT_UNKNOWN", f"rack:{i}", f"layout.racks[{i}] names unknown {', '.join(missing)}")
            continue
        by_site[r.site].append(i)
    # rack counts against the placement
    placed: dict[tuple[str, str, str], int] = defaultdict(int)
    for a in plan.assignments:
        placed[a.tenant, a.sku, a.site] += a.racks
    laid: dict[tuple[str, str, str], int] = defaultdict(int)
    for r in racks:
        laid[r.tenant, r.sku, r.site] += 1
    for key in sorted(set(placed) | set(laid)):
        if placed.get(key, 0) != laid.get(key, 0):
            add(
                "LAYOUT_RACK_COUNT",
                f"tenant:{key[0]}/sku:{key[1]}/site:{key[2]}",
                f"the inventory lays out {laid.get(key, 0):,} racks of '{key[1]}' for '{key[0]}' at '{key[2]}', "
                f"the plan places {placed.get(key, 0):,}",
                measured=laid.get(key, 0),
                limit=placed.get(key, 0),
                unit="racks",
            )
    reported = {s.site: s for s in plan.layout.sites}
    for site_id in sorted(by_site, key=list(sites).index):
        interior, declared = interior_of(sites[site_id], scenario.catalog)
        own = _SiteCheck(scenario, site_id, interior, declared, [(i, racks[i]) for i in by_site[site_id]], add)
        table = own.run()
        _compare(site_id, reported.get(site_id), table, add)
    return list(CODES)


class _SiteCheck:
    def __init__(self, scenario: Scenario, site: str, interior: Interior, declared: bool, racks, add: Add):
        self.scenario, self.site, self.it, self.declared, self.racks, self.add = (
            scenario,
            site,
            interior,
            declared,
            racks,
            add,
        )
        self.skus = {k.id: k for k in scenario.catalog}
        self.halls = {h.id: h for h in interior.halls}
        self.trains = {t.id: t for t in interior.power_trains}
        self.loops = {lp.id: lp for lp in interior.cooling_loops}
        self.blocks = {b.id: b for b in interior.network_blocks}
        self.storage = interior.storage_halls()
        self.policy = scenario.policy.layout

    def peak_mw(self, r: RackPlacement) -> float:
        sku = self.skus[r.sku]
        if r.hall in self.storage and self.it.energy_storage is not None:
            factor = self.it.energy_storage.peak_factor
        else:
            factor = sku.transient_factor or 1.0
        return sku.it_kw_per_rack * factor / 1000

    def run(self) -> SiteLayout:
        add, site = self.add, self.site
        ok: list[tuple[int, RackPlacement]] = []
        for i, r in self.racks:
            bad = [
                f"{kind} '{name}'"
                for kind, name, table in (
                    ("hall", r.hall, self.halls),
                    ("block", r.block, self.blocks),
                    *(("train", t, self.trains) for t in r.trains),
                    *((("loop", r.loop, self.loops),) if r.loop is not None else ()),
                )
                if name not in table
            ]
            if bad or not r.trains:
                what = ", ".join(bad) if bad else "no power train"
                add("LAYOUT_UNKNOWN", f"site:{site}/rack:{i}", f"layout.racks[{i}] at '{site}' names {what}")
                continue
            ok.append((i, r))
        self.check_positions(ok)
        self.check_serves(ok)
        paths = self.check_power(ok)
        loops = self.check_cooling(ok)
        blocks, island = self.check_sus_and_blocks(ok)
        exposure = self.check_faults(ok, island)
        halls = []
        for h in self.it.halls:
            mine = [r for _, r in ok if r.hall == h.id]
            halls.append(
                HallLoad(
                    hall=h.id,
                    racks=len(mine),
                    positions=h.rows * h.positions_per_row,
                    it_power_mw=math.fsum(self.skus[r.sku].it_kw_per_rack / 1000 for r in mine),
                    air_heat_mw=math.fsum(
                        self.skus[r.sku].it_kw_per_rack * (1 - self.skus[r.sku].liquid_share) / 1000 for r in mine
                    ),
                    air_cooling_mw=h.air_cooling_mw,
                )
            )
        for hl in halls:
            if _over(hl.air_heat_mw, hl.air_cooling_mw):
                add(
                    "LAYOUT_AIR",
                    f"site:{site}/hall:{hl.hall}",
                    f"hall '{hl.hall}' rejects {hl.air_heat_mw:.3f} MW of air heat; its air cooling is "
                    f"{hl.air_cooling_mw:.3f} MW",
                    measured=hl.air_heat_mw,
                    limit=hl.air_cooling_mw,
                    unit="MW",
                )
        water = math.fsum(lp.water_m3_per_day for lp in loops)
        allowance = self.it.water_allowance_m3_per_day
        if allowance is not None and _over(water, allowance):
            add(
                "LAYOUT_WATER",
                f"site:{site}",
                f"the loops at '{site}' use {water:,.1f} m3/day on a peak day; the allowance is {allowance:,.1f}",
                measured=water,
                limit=allowance,
                unit="m3/day",
            )
        return SiteLayout(
            site=site,
            interior="declared" if self.declared else "default",
            status="FEASIBLE",
            objective=0.0,
            bound=0.0,
            seconds=0.0,
            halls=halls,
            paths=paths,
            loops=loops,
            blocks=blocks,
            water_m3_per_day=water,
            water_allowance_m3_per_day=allowance,
            exposure=exposure,
        )

    def check_positions(self, ok) -> None:
        seen: dict[tuple[str, int, int], int] = {}
        for i, r in ok:
            h = self.halls[r.hall]
            where = f"site:{self.site}/hall:{r.hall}/row:{r.row}/position:{r.position}"
            if not (1 <= r.row <= h.rows and 1 <= r.position <= h.positions_per_row):
                self.add(
                    "LAYOUT_POSITION",
                    where,
                    f"layout.racks[{i}] stands at row {r.row}, position {r.position}; hall '{r.hall}' has "
                    f"{h.rows} rows of {h.positions_per_row}",
                )
                continue
            key = (r.hall, r.row, r.position)
            if key in seen:
                self.add("LAYOUT_POSITION", where, f"layout.racks[{i}] and [{seen[key]}] stand on one position")
            else:
                seen[key] = i

    def check_serves(self, ok) -> None:
        for i, r in ok:
            ent = f"site:{self.site}/rack:{i}"
            for kind, name, halls in (
                *(("train", t, self.trains[t].halls) for t in r.trains),
                ("block", r.block, self.blocks[r.block].halls),
                *((("loop", r.loop, self.loops[r.loop].halls),) if r.loop is not None else ()),
            ):
                if r.hall not in halls:
                    self.add("LAYOUT_SERVES", ent, f"layout.racks[{i}]: {kind} '{name}' does not serve hall '{r.hall}'")
            if r.loop is None and self.skus[r.sku].liquid_share > 0:
                self.add("LAYOUT_SERVES", ent, f"layout.racks[{i}]: a liquid-cooled '{r.sku}' rack has no cooling loop")
            modes = {self.trains[t].redundancy for t in r.trains}
            if (modes == {"n"} and len(r.trains) != 1) or len(modes) > 1:
                self.add(
                    "LAYOUT_SERVES",
                    ent,
                    f"layout.racks[{i}] is fed by {r.trains}: a rack is fed by one 'n' train, a 2N pair or an N+1 group",
                )

    def _whole_path(self, r: RackPlacement) -> bool:
        """The rack's feed is a whole 2N pair or N+1 group (it rides through one train's loss)."""
        first = self.trains[r.trains[0]]
        if first.group is None:
            return False
        members = {t.id for t in self.it.power_trains if t.group == first.group}
        return set(r.trains) == members

    def check_power(self, ok) -> list[PathLoad]:
        add, site = self.add, self.site
        side_peak: dict[str, float] = defaultdict(float)
        for i, r in ok:
            for t in set(r.trains):
                side_peak[t] += self.peak_mw(r)
            first = self.trains[r.trains[0]]
            if first.redundancy != "n" and not self._whole_path(r):
                code = "LAYOUT_2N" if first.redundancy == "2n" else "LAYOUT_N1"
                add(
                    code,
                    f"site:{site}/rack:{i}",
                    f"layout.racks[{i}] is fed by {sorted(set(r.trains))} only, not the whole "
                    f"{first.redundancy} group '{first.group}'",
                )
        out = []
        for path in self.it.power_paths():
            mine = [r for _, r in ok if set(r.trains) & set(path.trains)]
            steady = math.fsum(self.skus[r.sku].it_kw_per_rack / 1000 for r in mine)
            peak = math.fsum(self.peak_mw(r) for r in mine)
            out.append(
                PathLoad(
                    path=path.id,
                    redundancy=path.redundancy,
                    trains=list(path.trains),
                    steady_mw=steady,
                    peak_mw=peak,
                    capacity_mw=path.capacity_mw,
                )
            )
            ent = f"site:{site}/path:{path.id}"
            if path.redundancy == "n":
                if _over(peak, path.capacity_mw):
                    add(
                        "LAYOUT_TRAIN_OVERLOAD",
                        ent,
                        f"train '{path.id}' carries {peak:.3f} MW at its racks' transient peak ({steady:.3f} MW "
                        f"steady); its rating is {path.capacity_mw:.3f} MW",
                        measured=peak,
                        limit=path.capacity_mw,
                        unit="MW",
                    )
            elif path.redundancy == "2n":
                for t in path.trains:
                    rating = self.trains[t].mw
                    if _over(peak, rating):
                        add(
                            "LAYOUT_2N",
                            f"site:{site}/train:{t}",
                            f"2N side '{t}' alone must carry its pair's {peak:.3f} MW peak; it is rated {rating:.3f} MW",
                            measured=peak,
                            limit=rating,
                            unit="MW",
                        )
            else:
                ratings = [self.trains[t].mw for t in path.trains]
                cap = math.fsum(ratings) - max(ratings)
                if _over(peak, cap):
                    add(
                        "LAYOUT_N1",
                        ent,
                        f"N+1 group '{path.id}' carries {peak:.3f} MW at peak; after losing its largest train it "
                        f"has {cap:.3f} MW",
                        measured=peak,
                        limit=cap,
                        unit="MW",
                    )
        return out

    def check_cooling(self, ok) -> list[LoopLoad]:
        heat: dict[str, float] = defaultdict(float)
        for _, r in ok:
            if r.loop is not None:
                sku = self.skus[r.sku]
                heat[r.loop] += sku.it_kw_per_rack * sku.liquid_share / 1000
        out = []
        for lp in self.it.cooling_loops:
            q = heat.get(lp.id, 0.0)
            out.append(
                LoopLoad(
                    loop=lp.id,
                    liquid_heat_mw=q,
                    liquid_mw=lp.liquid_mw,
                    water_m3_per_day=water_m3_per_day(q, lp.wue_l_per_kwh),
                )
            )
            if _over(q, lp.liquid_mw):
                self.add(
                    "LAYOUT_LOOP_OVERLOAD",
                    f"site:{self.site}/loop:{lp.id}",
                    f"loop '{lp.id}' removes {q:.3f} MW of liquid heat; it is rated {lp.liquid_mw:.3f} MW",
                    measured=q,
                    limit=lp.liquid_mw,
                    unit="MW",
                )
        return out

    def check_sus_and_blocks(self, ok) -> tuple[list[BlockLoad], dict[str, set[str]]]:
        add, site = self.add, self.site
        sus: dict[str, list[RackPlacement]] = defaultdict(list)
        for _, r in ok:
            sus[r.su].append(r)
        per_key: dict[tuple[str, str], list[str]] = defaultdict(list)
        for su_id, members in sus.items():
            first = members[0]
            ent = f"site:{site}/su:{su_id}"
            same = {(r.tenant, r.sku, r.hall, r.row, r.block) for r in members}
            size = self.skus[first.sku].scalable_unit_racks
            positions = sorted(r.position for r in members)
            if len(same) > 1:
                add("LAYOUT_SU_SPLIT", ent, f"SU '{su_id}' is split over {len(same)} (tenant, SKU, hall, row, block)")
            elif positions != list(range(positions[0], positions[0] + len(positions))):
                add("LAYOUT_SU_SPLIT", ent, f"SU '{su_id}' stands on positions {positions}, not side by side")
            if len(members) > size:
                add(
                    "LAYOUT_SU_SPLIT",
                    ent,
                    f"SU '{su_id}' has {len(members)} racks; an SU of '{first.sku}' has {size}",
                    measured=len(members),
                    limit=size,
                    unit="racks",
                )
            per_key[first.tenant, first.sku].append(su_id)
        for (tenant, sku), ids in sorted(per_key.items()):
            n = sum(len(sus[s]) for s in ids)
            need = math.ceil(n / self.skus[sku].scalable_unit_racks)
            if len(ids) > need:
                add(
                    "LAYOUT_SU_SPLIT",
                    f"site:{site}/tenant:{tenant}/sku:{sku}",
                    f"'{tenant}' has {n:,} '{sku}' racks at '{site}' in {len(ids)} SUs; whole SUs need {need}",
                    measured=len(ids),
                    limit=need,
                    unit="SUs",
                )
        in_block: dict[str, set[str]] = defaultdict(set)
        tenant_blocks: dict[str, set[str]] = defaultdict(set)
        for su_id, members in sus.items():
            for r in members:
                in_block[r.block].add(su_id)
                tenant_blocks[r.tenant].add(r.block)
        out = []
        for b in self.it.network_blocks:
            n = len(in_block.get(b.id, ()))
            out.append(BlockLoad(block=b.id, sus=n, su_slots=b.su_slots))
            if n > b.su_slots:
                add(
                    "LAYOUT_BLOCK_SLOTS",
                    f"site:{site}/block:{b.id}",
                    f"block '{b.id}' connects {n} SUs; it has {b.su_slots} slots",
                    measured=n,
                    limit=b.su_slots,
                    unit="SUs",
                )
        self.tenant_sus = {t: {s for s, m in sus.items() if m[0].tenant == t} for t in tenant_blocks}
        self.su_gpus = {s: len(m) * self.skus[m[0].sku].gpus_per_rack for s, m in sus.items()}
        return out, tenant_blocks

    def check_faults(self, ok, tenant_blocks: dict[str, set[str]]) -> list[TenantExposure]:
        add, site = self.add, self.site
        largest_slots = max(b.su_slots for b in self.it.network_blocks)
        out = []
        for t in sorted(tenant_blocks):
            mine = [r for _, r in ok if r.tenant == t]
            gpus = sum(self.skus[r.sku].gpus_per_rack for r in mine)
            largest_su = max(self.su_gpus[s] for s in self.tenant_sus[t])
            limit = fault_limit_gpus(self.policy, gpus, largest_su)
            losses: dict[str, int] = defaultdict(int)
            for r in mine:
                g = self.skus[r.sku].gpus_per_rack
                losses[f"block:{r.block}"] += g
                if r.loop is not None:
                    losses[f"loop:{r.loop}"] += g
                if not self._whole_path(r):  # an 'n' train, or a half-fed pair/group: its trains drop it
                    for tr in set(r.trains):
                        losses[f"train:{tr}"] += g
            worst = max(sorted(losses), key=lambda f: losses[f]) if losses else "-"
            loss = losses.get(worst, 0)
            n_blocks = len(tenant_blocks[t])
            block_limit = island_block_limit(self.policy, len(self.tenant_sus[t]), largest_slots, limit, largest_su)
            out.append(
                TenantExposure(
                    tenant=t,
                    gpus=gpus,
                    worst_fault=worst,
                    worst_loss_gpus=loss,
                    worst_loss_share=loss / gpus if gpus else 0.0,
                    limit_gpus=limit,
                    blocks=n_blocks,
                    block_limit=block_limit,
                )
            )
            if loss > limit:
                add(
                    "LAYOUT_FAULT_SHARE",
                    f"site:{site}/tenant:{t}",
                    f"losing {worst} costs '{t}' {loss:,} of its {gpus:,} GPUs at '{site}' ({loss / gpus:.1%}); "
                    f"the policy allows {limit:,} ({self.policy.max_fault_share:.0%}, at least one SU)",
                    measured=loss,
                    limit=limit,
                    unit="GPUs",
                )
            if n_blocks > block_limit:
                add(
                    "LAYOUT_ISLAND_SPLIT",
                    f"site:{site}/tenant:{t}",
                    f"'{t}' spans {n_blocks} network blocks at '{site}'; its island may span {block_limit}",
                    measured=n_blocks,
                    limit=block_limit,
                    unit="blocks",
                )
        return out


def _compare(site: str, rep: SiteLayout | None, own: SiteLayout, add: Add) -> None:
    """Reported tables against the recomputation (LAYOUT_REPORTED)."""
    ent = f"site:{site}"
    if rep is None:
        add("LAYOUT_REPORTED", ent, f"layout.sites has no table for '{site}', where the inventory lays out racks")
        return
    diffs: list[str] = []

    def rows(name: str, a: list, b: list, key: str) -> None:
        ra = {getattr(x, key): x.model_dump() for x in a}
        rb = {getattr(x, key): x.model_dump() for x in b}
        if set(ra) != set(rb):
            diffs.append(f"{name} lists {sorted(ra)}, the interior has {sorted(rb)}")
            return
        for k, x in ra.items():
            for f, v in x.items():
                w = rb[k][f]
                same = _close(v, w) if isinstance(v, float) and isinstance(w, float) else v == w
                if not same:
                    diffs.append(f"{name}[{k}].{f} is {v!r}, recomputed {w!r}")

    rows("halls", rep.halls, own.halls, "hall")
    rows("paths", rep.paths, own.paths, "path")
    rows("loops", rep.loops, own.loops, "loop")
    rows("blocks", rep.blocks, own.blocks, "block")
    ea = {e.tenant: e for e in rep.exposure}
    eb = {e.tenant: e for e in own.exposure}
    if set(ea) != set(eb):
        diffs.append(f"exposure lists {sorted(ea)}, the inventory has {sorted(eb)}")
    else:
        for t, e in ea.items():
            o = eb[t]
            for f in ("gpus", "worst_loss_gpus", "limit_gpus", "blocks", "block_limit"):
                if getattr(e, f) != getattr(o, f):
                    diffs.append(f"exposure[{t}].{f} is {getattr(e, f)!r}, recomputed {getattr(o, f)!r}")
            if not _close(e.worst_loss_share, o.worst_loss_share):
                diffs.append(
                    f"exposure[{t}].worst_loss_share is {e.worst_loss_share!r}, recomputed {o.worst_loss_share!r}"
                )
    if rep.interior != own.interior:
        diffs.append(f"interior is '{rep.interior}', the scenario's is '{own.interior}'")
    if not _close(rep.water_m3_per_day, own.water_m3_per_day):
        diffs.append(f"water_m3_per_day is {rep.water_m3_per_day!r}, recomputed {own.water_m3_per_day!r}")
    if rep.water_allowance_m3_per_day != own.water_allowance_m3_per_day:
        diffs.append("water_allowance_m3_per_day differs from the scenario's")
    for d in diffs[:5]:
        add("LAYOUT_REPORTED", ent, f"layout.sites[{site}]: {d}")


def recompute_sites(scenario: Scenario, plan: Plan) -> list[SiteLayout]:
    """The verifier's own site tables for ``plan.layout`` (provenance fields copied from the
    plan's): what a consistent plan reports. Used to judge and by tests that inject one fault."""
    assert plan.layout is not None
    sites = {s.id: s for s in scenario.topology.sites}
    reported = {s.site: s for s in plan.layout.sites}
    racks = plan.layout.racks
    out = []
    order = list(sites)
    for site_id in sorted({r.site for r in racks if r.site in sites}, key=order.index):
        interior, declared = interior_of(sites[site_id], scenario.catalog)
        own = _SiteCheck(
            scenario, site_id, interior, declared, [(i, r) for i, r in enumerate(racks) if r.site == site_id], _ignore
        ).run()
        rep = reported.get(site_id)
        if rep is not None:
            own = own.model_copy(
                update={"status": rep.status, "objective": rep.objective, "bound": rep.bound, "seconds": rep.seconds}
            )
            # the fault a tie names is the reporter's choice: keep it when the loss is the same
            names = {e.tenant: e.worst_fault for e in rep.exposure}
            own.exposure = [
                e.model_copy(update={"worst_fault": names.get(e.tenant, e.worst_fault)}) for e in own.exposure
            ]
        out.append(own)
    return out


def _ignore(*_args, **_kwargs) -> None:
    return None


__all__ = ["CODES", "check_layout", "recompute_sites"]
