"""Layout verifier (placer.verify_layout): each LAYOUT_* code caught by an injection of exactly
that violation into a verified rack-level plan of the 200-rack campus (every redundancy rule,
storage, water). After each injection the plan's reported tables are brought in line with the
verifier's own (``recompute_sites``), so that only the injected fault remains to be found."""

from __future__ import annotations

import pytest

from placer.plan import Plan
from placer.verify import verify
from placer.verify_layout import CODES, recompute_sites
from solvers import solve
from solvers.layout import layout_plan
from tests.helpers import codes, only
from topologies.interior_campus import campus_scenario


@pytest.fixture(scope="module")
def laid():
    sc = campus_scenario(200)
    sc.policy.layout.time_limit_s = 3.0
    sc.policy.solver.workers = 1
    sc.policy.solver.deterministic = True  # the same fixture every run: the injections pick from it
    plan = layout_plan(sc, solve(sc, "cpsat", time_limit_s=10))
    report = verify(sc, plan)
    assert report.valid, report.violations
    assert set(CODES) <= set(report.checks)
    return sc, plan


def _fresh(laid):
    sc, plan = laid
    return sc.model_copy(deep=True), plan.model_copy(deep=True)


def _judge(sc, plan: Plan, *, refresh: bool = True):
    if refresh:
        assert plan.layout is not None
        plan.layout.sites = recompute_sites(sc, plan)
    return verify(sc, plan, check_digest=False)


def _su(plan, hall_prefix: str, *, liquid: bool = True, full: int = 8):
    """The racks of the first whole SU in a hall."""
    by_su: dict[str, list[int]] = {}
    for i, r in enumerate(plan.layout.racks):
        if r.hall == hall_prefix and (r.loop is not None) == liquid:
            by_su.setdefault(r.su, []).append(i)
    return next(ids for ids in by_su.values() if len(ids) == full)


def _slack_su(sc, plan, *, whole: bool = False) -> list[int]:
    """An SU of a tenant whose worst single-fault loss stays within its limit with one rack fewer
    (removing a rack lowers the tenant's GPUs and so its limit); ``whole``: of a (tenant, SKU)
    whose racks are whole SUs, so one rack fewer leaves a short SU, not an extra one."""
    from placer.interior import fault_limit_gpus

    site = plan.layout.sites[0]
    counts: dict[tuple[str, str], int] = {}
    for r in plan.layout.racks:
        counts[r.tenant, r.sku] = counts.get((r.tenant, r.sku), 0) + 1
    by_su: dict[str, list[int]] = {}
    for i, r in enumerate(plan.layout.racks):
        by_su.setdefault(r.su, []).append(i)
    for e in site.exposure:
        for ids in by_su.values():
            r = plan.layout.racks[ids[0]]
            if r.tenant != e.tenant or r.loop is None or len(ids) != 8:
                continue
            if whole and counts[r.tenant, r.sku] % 8:
                continue
            gpr = next(k.gpus_per_rack for k in sc.catalog if k.id == r.sku)
            if e.worst_loss_gpus <= fault_limit_gpus(sc.policy.layout, e.gpus - gpr, 8 * gpr):
                return ids
    raise AssertionError("no tenant with slack in the fixture")


def test_valid_plan_recomputes_to_itself(laid):
    sc, plan = _fresh(laid)
    assert _judge(sc, plan).valid


def test_2n_half_fed_rack(laid):
    sc, plan = _fresh(laid)
    i = _su(plan, "hall-1")[0]
    plan.layout.racks[i].trains = plan.layout.racks[i].trains[:1]
    (v,) = only(_judge(sc, plan), "LAYOUT_2N")
    assert "not the whole 2n group" in v.message


def test_2n_side_overloaded(laid):
    sc, plan = _fresh(laid)
    side = next(t for t in sc.topology.sites[0].interior.power_trains if t.id == "h1-a")
    peak = next(p.peak_mw for p in plan.layout.sites[0].paths if p.path == "h1-ab")
    side.mw = peak * 0.9
    (v,) = only(_judge(sc, plan), "LAYOUT_2N")
    assert v.entity.endswith("train:h1-a")


def test_n1_rack_not_on_whole_group(laid):
    sc, plan = _fresh(laid)
    i = _su(plan, "hall-3")[0]
    plan.layout.racks[i].trains = plan.layout.racks[i].trains[:3]
    only(_judge(sc, plan), "LAYOUT_N1")


def test_n_train_overload(laid):
    sc, plan = _fresh(laid)
    load = max(p.peak_mw for p in plan.layout.sites[0].paths if p.path == "h4-1")
    next(t for t in sc.topology.sites[0].interior.power_trains if t.id == "h4-1").mw = load * 0.8
    only(_judge(sc, plan), "LAYOUT_TRAIN_OVERLOAD")


def test_loop_overload(laid):
    sc, plan = _fresh(laid)
    loop = max(plan.layout.sites[0].loops, key=lambda lp: lp.liquid_heat_mw)
    next(lp for lp in sc.topology.sites[0].interior.cooling_loops if lp.id == loop.loop).liquid_mw = (
        loop.liquid_heat_mw * 0.9
    )
    (v,) = only(_judge(sc, plan), "LAYOUT_LOOP_OVERLOAD")
    assert loop.loop in v.entity


def test_hall_air(laid):
    sc, plan = _fresh(laid)
    hall = max(plan.layout.sites[0].halls, key=lambda h: h.air_heat_mw)
    next(h for h in sc.topology.sites[0].interior.halls if h.id == hall.hall).air_cooling_mw = hall.air_heat_mw * 0.9
    only(_judge(sc, plan), "LAYOUT_AIR")


def test_block_slots(laid):
    sc, plan = _fresh(laid)
    block = max(plan.layout.sites[0].blocks, key=lambda b: b.sus)
    next(b for b in sc.topology.sites[0].interior.network_blocks if b.id == block.block).su_slots = block.sus - 1
    only(_judge(sc, plan), "LAYOUT_BLOCK_SLOTS")


def test_water(laid):
    sc, plan = _fresh(laid)
    sc.topology.sites[0].interior.water_allowance_m3_per_day = plan.layout.sites[0].water_m3_per_day * 0.9
    only(_judge(sc, plan), "LAYOUT_WATER")


def test_su_split_across_rows(laid):
    sc, plan = _fresh(laid)
    ids = _su(plan, "hall-1")
    rack = plan.layout.racks[ids[-1]]
    hall = next(h for h in sc.topology.sites[0].interior.halls if h.id == rack.hall)
    taken = {(r.row, r.position) for r in plan.layout.racks if r.hall == rack.hall}
    rack.row, rack.position = next(
        (row, pos)
        for row in range(1, hall.rows + 1)
        for pos in range(hall.positions_per_row, 0, -1)
        if row != rack.row and (row, pos) not in taken
    )
    (v,) = only(_judge(sc, plan), "LAYOUT_SU_SPLIT")
    assert rack.su in v.entity


def test_position_outside_hall(laid):
    sc, plan = _fresh(laid)
    rows = next(h for h in sc.topology.sites[0].interior.halls if h.id == "hall-2").rows
    for i in _su(plan, "hall-2"):
        plan.layout.racks[i].row = rows + 1  # the whole SU moves, so it stays side by side
    assert codes(_judge(sc, plan)) == {"LAYOUT_POSITION"}


def test_liquid_rack_without_loop(laid):
    sc, plan = _fresh(laid)
    i = _su(plan, "hall-1")[0]
    plan.layout.racks[i].loop = None
    only(_judge(sc, plan), "LAYOUT_SERVES")


def test_unknown_block(laid):
    sc, plan = _fresh(laid)
    plan.layout.racks[_slack_su(sc, plan)[0]].block = "no-such-block"
    only(_judge(sc, plan), "LAYOUT_UNKNOWN")


def test_rack_missing_from_inventory(laid):
    sc, plan = _fresh(laid)
    ids = _slack_su(sc, plan, whole=True)
    last = max(ids, key=lambda i: plan.layout.racks[i].position)
    del plan.layout.racks[last]
    (v,) = only(_judge(sc, plan), "LAYOUT_RACK_COUNT")
    assert v.measured == v.limit - 1


def test_fault_share(laid):
    sc, plan = _fresh(laid)
    # a share just below one tenant's worst loss but above 1/5: the island limits, which grow
    # with ceil(1 / share), only loosen, so the fault rule alone breaks
    e = next(e for e in plan.layout.sites[0].exposure if e.worst_loss_gpus > 576)
    sc.policy.layout.max_fault_share = (e.worst_loss_gpus - 1) / e.gpus
    assert sc.policy.layout.max_fault_share > 0.2
    found = only(_judge(sc, plan), "LAYOUT_FAULT_SHARE")
    assert any(v.entity.endswith(f"tenant:{e.tenant}") for v in found)


def test_island_split(laid):
    sc, plan = _fresh(laid)
    site = plan.layout.sites[0]
    # tighten island_extra_blocks until one tenant's limit equals the blocks it spans (none above)
    # (a tenant whose limit is its SU count cannot span more blocks: not that one)
    slack = {e.tenant: e.block_limit - e.blocks for e in site.exposure if e.block_limit < len(_sus_of(plan, e.tenant))}
    tenant = min(slack, key=lambda t: (slack[t], t))
    assert slack[tenant] <= sc.policy.layout.island_extra_blocks
    sc.policy.layout.island_extra_blocks -= slack[tenant]
    assert _judge(sc, plan.model_copy(deep=True)).valid
    # then move one of its SUs to a block of the same hall that it does not use (free slots there)
    used = {r.block for r in plan.layout.racks if r.tenant == tenant}
    # an SU sharing its block with another of the tenant's, so the old block stays in use
    sus = _sus_of(plan, tenant)
    per_block: dict[str, int] = {}
    for su in sus:
        per_block[plan.layout.racks[su[0]].block] = per_block.get(plan.layout.racks[su[0]].block, 0) + 1
    load = {b.block: b.sus for b in site.blocks}
    interior = sc.topology.sites[0].interior

    def free_block(ids: list[int]) -> str | None:
        hall = plan.layout.racks[ids[0]].hall
        return next(
            (b.id for b in interior.network_blocks if hall in b.halls and b.id not in used and load[b.id] < b.su_slots),
            None,
        )

    ids, free = next(
        (ids, free_block(ids))
        for ids in sus
        if len(ids) == 8 and per_block[plan.layout.racks[ids[0]].block] > 1 and free_block(ids)
    )
    for i in ids:
        plan.layout.racks[i].block = free
    only(_judge(sc, plan), "LAYOUT_ISLAND_SPLIT")


def _sus_of(plan, tenant: str) -> list[list[int]]:
    by_su: dict[str, list[int]] = {}
    for i, r in enumerate(plan.layout.racks):
        if r.tenant == tenant:
            by_su.setdefault(r.su, []).append(i)
    return list(by_su.values())


def test_reported_table_mismatch(laid):
    sc, plan = _fresh(laid)
    plan.layout.sites[0].halls[0].it_power_mw += 1.0
    (v,) = only(_judge(sc, plan, refresh=False), "LAYOUT_REPORTED")
    assert "halls[hall-1].it_power_mw" in v.message


def test_cli_verify_rejects_an_injected_2n_break(laid, tmp_path, cli):
    sc, plan = _fresh(laid)
    i = _su(plan, "hall-1")[0]
    plan.layout.racks[i].trains = plan.layout.racks[i].trains[:1]
    plan.layout.sites = recompute_sites(sc, plan)
    scenario = tmp_path / "campus.json"
    scenario.write_text(sc.model_dump_json(by_alias=True))
    path = tmp_path / "plan.json"
    path.write_text(plan.model_dump_json())
    result = cli("verify", str(scenario), str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "LAYOUT_2N" in result.stdout
