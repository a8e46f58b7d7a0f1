"""The optimising scheduler ('cpsat') and the optimised power response on small hand-built states.

Each test builds a fleet of HGX-like domains (sites > blocks > SUs > domains) and a
ClusterState by hand, so what the model must do is known: the short heavy job first, every
site's allowance held in every look-ahead step, block gangs in one block, quotas, the
look-ahead away from a site about to be curtailed, the optimised response paying fewer GPU-hours
than the proportional one, determinism; and one end-to-end run on the tiny laid-out plan whose
schedule the independent checker verifies.
"""

from __future__ import annotations

import numpy as np
import pytest

from placer.fleet import Fleet
from placer.workload import Job
from solvers.cluster_cpsat import CpsatScheduler, build_pool_index, build_window
from solvers.cluster_engine import ClusterState, QueuedJob, RunningJob, SkuPowerTable
from solvers.cluster_power_opt import OptimisedResponse

CAPS = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
SPEEDS = np.array([0.67, 0.78, 0.87, 0.94, 0.98, 1.0])
IDLE = 0.2
KW = 1.0  # kW per GPU at full power, PUE 1: one GPU at full power is 1 kW at the meter


def make_fleet(
    sites: int = 2, blocks: int = 2, sus: int = 2, doms: int = 2, gpus: int = 8, owners: list[str] | None = None
) -> Fleet:
    """sites x blocks x SUs x domains of ``gpus`` GPUs, one SKU; ``owners[s]`` owns site s (default 'a')."""
    owners = owners or ["a"] * sites
    tenants = sorted(set(owners))
    cols: dict[str, list[int]] = {k: [] for k in ("site", "block", "su", "tenant", "rack")}
    for s in range(sites):
        for b in range(blocks):
            for u in range(sus):
                for _d in range(doms):
                    cols["site"].append(s)
                    cols["block"].append(s * blocks + b)
                    cols["su"].append((s * blocks + b) * sus + u)
                    cols["tenant"].append(tenants.index(owners[s]))
                    cols["rack"].append(len(cols["rack"]))
    n = len(cols["site"])
    return Fleet(
        sites=[f"s{s}" for s in range(sites)],
        blocks=[f"s{s}/b{b}" for s in range(sites) for b in range(blocks)],
        sus=[f"s{s}/b{b}/u{u}" for s in range(sites) for b in range(blocks) for u in range(sus)],
        tenants=tenants,
        skus=["hgx"],
        racks=[f"r{i}" for i in range(n)],
        site=np.asarray(cols["site"], np.int32),
        block=np.asarray(cols["block"], np.int32),
        su=np.asarray(cols["su"], np.int32),
        tenant=np.asarray(cols["tenant"], np.int32),
        sku=np.zeros(n, np.int32),
        rack=np.asarray(cols["rack"], np.int32),
        gpus=np.full(n, gpus, np.int32),
        kw_per_gpu=np.full(n, KW),
        pue=np.ones(sites),
        base_mw=np.full(sites, blocks * sus * doms * gpus * KW / 1000.0),
        su_gpus=np.full(sites * blocks * sus, doms * gpus, np.int32),
        block_site=np.repeat(np.arange(sites, dtype=np.int32), blocks),
        plan_digest="test",
    )


def job(
    jid: str,
    gpus: int,
    dur: float,
    *,
    tenant: str = "a",
    prio: int = 1,
    gang: str = "any",
    arrival: float = 0.0,
    preemptible: bool = True,
    ckpt: float = 300.0,
) -> Job:
    return Job(
        id=jid,
        tenant=tenant,
        gpus=gpus,
        arrival_s=arrival,
        duration_s=dur,
        priority=prio,
        gang=gang,
        preemptible=preemptible,
        checkpoint_s=ckpt,
    )


def make_state(
    fleet: Fleet,
    queue: list[Job],
    *,
    now: float = 0.0,
    running: tuple[tuple[Job, list, float], ...] | list[tuple[Job, list, float]] = (),
    allowance: list[list[tuple[float, float]]] | None = None,
    quota: dict[str, int] | None = None,
    weight: dict[str, float] | None = None,
) -> ClusterState:
    """The state with ``running`` jobs (job, allocation, cap) started at ``now`` and the rest free."""
    free = fleet.gpus.astype(np.int64).copy()
    held = {t: 0 for t in fleet.tenants}
    run: dict[str, RunningJob] = {}
    for j, alloc, cap in running:
        for d, g in alloc:
            free[d] -= g
        held[j.tenant] += sum(g for _, g in alloc)
        speed = float(SPEEDS[np.argmin(np.abs(CAPS - cap))])
        run[j.id] = RunningJob(
            job=j,
            allocation=alloc,
            cap=cap,
            speed=speed,
            since_s=now,
            remaining_s=j.duration_s,
            site=int(fleet.site[alloc[0][0]]),
            started_s=now,
        )
    mw_gpu = fleet.kw_per_gpu * fleet.pue[fleet.site] / 1000.0
    busy = np.zeros(fleet.domains)
    for r in run.values():
        for d, g in r.allocation:
            busy[d] += g * r.cap
    draw = np.bincount(fleet.site, weights=mw_gpu * (busy + free * IDLE), minlength=len(fleet.sites))
    allow = allowance or [[(0.0, float(b))] for b in fleet.base_mw]
    now_allow = np.asarray([[mw for t, mw in a if t <= now][-1] for a in allow])
    return ClusterState(
        now_s=now,
        fleet=fleet,
        free=free,
        queue=[QueuedJob(job=j, remaining_s=j.duration_s, order=i) for i, j in enumerate(queue)],
        running=run,
        held_by_tenant=held,
        quota_gpus=quota or {t: int(fleet.gpus[fleet.tenant == i].sum()) for i, t in enumerate(fleet.tenants)},
        weight=weight or {t: 1.0 for t in fleet.tenants},
        draw_mw=draw,
        allowance_mw=now_allow,
        allowance=allow,
        power=[SkuPowerTable(caps=CAPS, speeds=SPEEDS, idle_share=IDLE)],
    )


def scheduler(**kw) -> CpsatScheduler:
    return CpsatScheduler(response=OptimisedResponse(), time_limit_s=0.5, **kw)


def site_draw_after(state: ClusterState, starts) -> np.ndarray:
    """Each site's draw with the decision's starts added (their GPUs from idle to their cap)."""
    f = state.fleet
    draw = state.draw_mw.copy()
    for st in starts:
        for d, g in st.allocation:
            draw[f.site[d]] += g * f.kw_per_gpu[d] * f.pue[f.site[d]] / 1000.0 * (st.cap - IDLE)
    return draw


def test_short_heavy_job_first():
    f = make_fleet(sites=1, blocks=1, sus=1, doms=2)  # 16 GPUs
    q = [job("long", 16, 36_000.0, arrival=0.0), job("short", 16, 600.0, prio=5, arrival=10.0)]
    d = scheduler().decide(make_state(f, q, now=20.0))
    assert [s.job_id for s in d.starts] == ["short"]


def test_power_allowance_held_in_every_step():
    f = make_fleet(sites=1, blocks=1, sus=2, doms=2)  # 32 GPUs, full draw 32 kW, idle 6.4 kW
    # 20 kW now (cap 0.6 would fit: 19.2 kW), 16.5 kW from t = 1 h (only cap 0.5: 16 kW); the 2 h job spans both
    allow = [[(0.0, 0.020), (3600.0, 0.0165)]]
    q = [job("j", 32, 7200.0)]
    st = make_state(f, q, allowance=allow)
    sched = scheduler()
    d = sched.decide(st)
    assert len(d.starts) == 1
    cap = d.starts[0].cap
    assert 0.0064 + 0.032 * (cap - IDLE) <= 0.0165 + 1e-12  # holds in the curtailed step too
    assert cap == 0.5
    win = build_window(st, build_pool_index(f), sched.lookahead_s)
    assert list(win.steps_s) == [0.0, 3600.0]


def test_block_jobs_land_in_one_block():
    f = make_fleet(sites=1, blocks=2, sus=2, doms=2)  # 2 blocks of 2 SUs of 16 GPUs
    # block 0 has one whole SU free and one partly used; block 1 is wholly free
    small = job("small", 4, 36_000.0)
    q = [job("blk", 32, 3600.0, gang="block")]
    d = scheduler().decide(make_state(f, q, running=[(small, [(0, 4)], 1.0)]))
    assert len(d.starts) == 1
    blocks = {int(f.block[dd]) for dd, _ in d.starts[0].allocation}
    assert blocks == {1}
    assert sum(g for _, g in d.starts[0].allocation) == 32


def test_quota_is_respected():
    f = make_fleet(sites=1, blocks=1, sus=2, doms=2)  # 32 GPUs
    q = [job(f"j{i}", 8, 3600.0) for i in range(4)]
    d = scheduler().decide(make_state(f, q, quota={"a": 20}))
    assert sum(sum(g for _, g in s.allocation) for s in d.starts) <= 20
    assert len(d.starts) == 2


def test_lookahead_avoids_a_site_about_to_be_curtailed():
    f = make_fleet(sites=2, blocks=1, sus=1, doms=2)  # two sites of 16 GPUs
    base = float(f.base_mw[0])
    # site 0 drops to its idle draw in 1 h; site 1 is never curtailed
    allow = [[(0.0, base), (3600.0, 16 * IDLE / 1000.0)], [(0.0, base)]]
    busy = job("busy", 8, 36_000.0)
    st = make_state(
        f, [job("long", 8, 36_000.0, gang="site")], allowance=allow, running=[(busy, [(2, 8)], 1.0)]
    )  # site 1 half used: best fit alone would pick it anyway
    d = scheduler().decide(st)
    assert len(d.starts) == 1 and {int(f.site[x]) for x, _ in d.starts[0].allocation} == {1}
    # with site 1 full, the long job waits rather than start at site 0; a short one may start there
    busy2 = job("busy2", 8, 36_000.0)
    st = make_state(
        f,
        [job("long", 8, 36_000.0, gang="site"), job("short", 8, 1800.0, gang="site")],
        allowance=allow,
        running=[(busy, [(2, 8)], 1.0), (busy2, [(3, 8)], 1.0)],
    )
    d = scheduler().decide(st)
    assert [s.job_id for s in d.starts] == ["short"]
    assert {int(f.site[x]) for x, _ in d.starts[0].allocation} == {0}


def _loss_gpu_h(state: ClusterState, dec, horizon_s: float) -> float:
    """GPU-hours lost over the next ``horizon_s`` by a response's caps and pauses (migrations: checkpoint only)."""
    lost = 0.0
    moved = set(getattr(dec, "_migrated", ()))
    for jid, r in state.running.items():
        g = sum(x for _, x in r.allocation)
        if jid in dec.pauses:
            lost += g * (r.job.checkpoint_s if jid in moved else horizon_s + r.job.checkpoint_s) / 3600.0
        elif jid in dec.caps:
            speed = float(SPEEDS[np.argmin(np.abs(CAPS - dec.caps[jid]))])
            lost += g * (1.0 - speed) * min(horizon_s, r.remaining_s / speed) / 3600.0
    return lost


def test_optimised_response_loses_less_than_proportional():
    from solvers.cluster_power import ProportionalResponse

    f = make_fleet(sites=1, blocks=1, sus=2, doms=2)  # 32 GPUs, full draw 32 kW
    # one long job and one about to end; the allowance drops by a quarter for 4 h
    a = job("ending", 16, 1200.0)
    b = job("long", 16, 86_400.0)
    allow = [[(0.0, 0.024), (14_400.0, 0.032)]]
    st = make_state(f, [], running=[(a, [(0, 8), (1, 8)], 1.0), (b, [(2, 8), (3, 8)], 1.0)], allowance=allow)
    assert st.draw_mw[0] > st.allowance_mw[0]
    opt = OptimisedResponse()
    d_opt = opt.respond(st, [0])
    assert opt.calls[-1].status == "OPTIMAL"
    greedy = OptimisedResponse(max_model_options=0)  # the hull greedy alone (what answers for big sites)
    d_greedy = greedy.respond(st, [0])
    assert greedy.calls[-1].status == "GREEDY"
    d_pro = ProportionalResponse().respond(st, [0])
    for d in (d_opt, d_greedy, d_pro):
        after = site_draw_after(st, [])
        for jid, cap in d.caps.items():
            r = st.running[jid]
            after[0] += sum(g for _, g in r.allocation) * KW / 1000.0 * (cap - r.cap)
        for jid in d.pauses:
            r = st.running[jid]
            after[0] -= sum(g for _, g in r.allocation) * KW / 1000.0 * (r.cap - IDLE)
        assert after[0] <= st.allowance_mw[0] + 1e-9
    lo, lp = _loss_gpu_h(st, d_opt, 14_400.0), _loss_gpu_h(st, d_pro, 14_400.0)
    assert lo < lp and _loss_gpu_h(st, d_greedy, 14_400.0) < lp
    assert d_opt.caps.get("ending", 1.0) < d_opt.caps.get("long", 1.0)  # the ending job takes the deep cut


def test_optimised_response_migrates_to_free_capacity():
    f = make_fleet(sites=2, blocks=1, sus=1, doms=2)  # two sites of 16 GPUs
    b = job("long", 16, 86_400.0)
    allow = [[(0.0, 0.008), (14_400.0, 0.016)], [(0.0, 0.016)]]
    st = make_state(f, [], running=[(b, [(0, 8), (1, 8)], 1.0)], allowance=allow)
    resp = OptimisedResponse()
    d = resp.respond(st, [0])
    assert d.pauses == ["long"] and not d.starts
    assert {int(f.site[x]) for x, _ in resp.pending["long"].allocation} == {1}


def test_deterministic_with_fixed_seed_and_workers():
    f = make_fleet(sites=2, blocks=2, sus=2, doms=2)
    rng = np.random.default_rng(3)
    q = [
        job(
            f"j{i}",
            int(rng.choice([4, 8, 16, 32])),
            float(rng.integers(600, 40_000)),
            prio=int(rng.integers(1, 5)),
            gang=str(rng.choice(["any", "site", "block", "domain"])) if i % 3 else "block",
            arrival=float(i),
        )
        for i in range(40)
    ]
    q = [j if j.gang != "domain" or j.gpus <= 8 else j.model_copy(update={"gang": "site"}) for j in q]
    runs = []
    for _ in range(2):
        d = CpsatScheduler(response=OptimisedResponse(), seed=7, workers=1, time_limit_s=0.5).decide(
            make_state(f, q, now=100.0)
        )
        runs.append([(s.job_id, s.allocation, s.cap) for s in d.starts])
    assert runs[0] == runs[1] and runs[0]


def test_records_every_call():
    f = make_fleet(sites=1, blocks=1, sus=1, doms=2)  # 16 GPUs: two 16-GPU jobs contend, so CP-SAT runs
    sched = scheduler()
    sched.decide(make_state(f, [job("a", 16, 600.0), job("b", 16, 900.0)]))
    c = sched.calls[-1]
    assert c.status == "OPTIMAL" and c.objective is not None and c.bound == c.objective and c.booleans > 0
    assert c.decide_s >= c.solve_s > 0
    # no contention: every candidate starts at full power, no model is solved and the record says so
    sched.decide(make_state(make_fleet(sites=1), [job("c", 8, 600.0)]))
    assert sched.calls[-1].status == "ALL_START" and sched.calls[-1].solve_s == 0.0
    assert sched.report()["calls"] == 2


@pytest.mark.parametrize("gang", ["domain", "site"])
def test_never_placeable_job_is_rejected(gang):
    f = make_fleet(sites=1, blocks=1, sus=1, doms=2)
    d = scheduler().decide(make_state(f, [job("huge", 64, 600.0, gang=gang)]))
    assert "huge" in d.rejects and not d.starts


def test_end_to_end_on_the_tiny_plan_verifies():
    """simulate() with cpsat on the tiny laid-out plan: a short synthetic stream with a curtailment the optimised
    response must meet; the independent checker finds no violation of the schedule's rules."""
    from pathlib import Path

    from placer.fleet import fleet_from_plan
    from placer.plan import Plan
    from placer.verify_cluster import verify_cluster
    from placer.workload import Curtailment
    from solvers.cluster_schedulers import SCHEDULERS
    from solvers.cluster_sim import simulate
    from topologies.jobs_synthetic import synthetic_workload

    plan = Plan.model_validate_json((Path(__file__).parent / "data" / "tiny_laid_plan.json").read_text())
    f0 = fleet_from_plan(plan)
    cut = [Curtailment(site="south", start_s=6 * 3600.0, end_s=9 * 3600.0, share=0.3, reason="test")]
    w = synthetic_workload(f0, days=0.4, load=1.2, seed=2, curtailments=cut)
    fleet = fleet_from_plan(plan, w)
    # a one-minute look-ahead: the drop is not seen coming, so the optimised response must meet it
    sched = SCHEDULERS["cpsat"](lookahead_s=60.0)
    assert isinstance(sched, CpsatScheduler) and isinstance(sched.response, OptimisedResponse)
    s = simulate(fleet, w, sched)
    report = verify_cluster(fleet, w, s)
    rules = [v for v in report.violations if v.code != "REPORTED_MISMATCH"]
    assert not rules, rules[:3]
    assert s.metrics.completed > 0 and s.summary.scheduler == "cpsat" and s.summary.power_response == "optimised"
    assert sched.report()["calls"] == len(sched.calls) > 0
    assert sched.response.calls, "the curtailment reached the optimised response"


def test_headroom_goes_to_a_queued_job_before_an_uncap():
    f = make_fleet(sites=1, blocks=1, sus=1, doms=2)  # 16 GPUs: full 16 kW, idle 3.2 kW
    run = job("capped", 8, 36_000.0)
    # the running job at cap 0.5 draws 3.2 + 8 x 0.3 = 5.6 kW; 10 kW leaves 4.4 kW: uncapping it to 1.0 would take
    # 3.2 kW, a new 8-GPU start at cap 0.7 takes 4.0 kW; only one fits, and the start is worth more
    st = make_state(f, [job("q", 8, 3600.0)], running=[(run, [(0, 8)], 0.5)], allowance=[[(0.0, 0.010)]], now=100.0)
    st.running["capped"].since_s = 0.0  # capped earlier, not at this instant
    d = scheduler().decide(st)
    assert [s.job_id for s in d.starts] == ["q"] and d.starts[0].cap == 0.7
    assert "capped" not in d.caps or d.caps["capped"] <= 0.6


def test_small_jobs_keep_whole_sus_whole():
    f = make_fleet(sites=1, blocks=1, sus=2, doms=2)  # SU 0: domains 0, 1; SU 1: domains 2, 3
    busy = job("busy", 4, 36_000.0)
    d = scheduler().decide(make_state(f, [job("dom", 8, 3600.0, gang="domain")], running=[(busy, [(2, 4)], 1.0)]))
    # domain 0 (SU 0, wholly free) and domain 3 (SU 1, partly used) both hold it: SU 1's is taken, SU 0 stays whole
    assert d.starts[0].allocation == [(3, 8)]
