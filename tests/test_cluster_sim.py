"""The simulator, the allocator and the baseline schedulers on the tiny laid-out fleet.

The fleet (tests/data/tiny_laid_plan.json): 2 sites, tenants alpha and beta; beta holds 7,200
nvl72 GPUs (100 domains of 72, 576-GPU SUs) at south only, in blocks 1 (1 SU), 2, 4, 6 (3 SUs
each) and 8 (a 288-GPU SU and two of 576). Each test writes the few jobs it needs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from placer.errors import InputError
from placer.fleet import fleet_from_plan
from placer.plan import Plan
from placer.workload import Job, Workload
from solvers.cluster_engine import ClusterScheduler, Decision, SchedulerBug, SchedulerCapabilities, Start
from solvers.cluster_power import ProportionalResponse
from solvers.cluster_schedulers import SCHEDULERS
from solvers.cluster_sim import simulate

PLAN = Path(__file__).parent / "data" / "tiny_laid_plan.json"


@pytest.fixture(scope="module")
def plan() -> Plan:
    return Plan.model_validate_json(PLAN.read_text())


def job(i: str, gpus: int, *, t: float = 0.0, d: float = 1000.0, tenant: str = "beta", **kw) -> Job:
    return Job(id=i, tenant=tenant, gpus=gpus, arrival_s=t, duration_s=d, **kw)


def run(plan: Plan, jobs: list[Job], name: str, **wl):
    w = Workload(jobs=jobs, **wl)
    fleet = fleet_from_plan(plan, w)
    return fleet, w, simulate(fleet, w, SCHEDULERS[name]())


def by_id(schedule) -> dict:
    return {j.id: j for j in schedule.jobs}


def test_fifo_head_blocks_and_easy_backfills_without_delaying_the_head(plan):
    jobs = [
        job("big", 7000, d=1000.0),  # leaves 200 of beta's GPUs free
        job("head", 1000, t=1.0, d=500.0),  # cannot start until 'big' ends
        job("short", 8, t=2.0, d=100.0, gang="domain"),  # fits now and ends long before
        job("long", 8, t=3.0, d=5000.0, gang="domain"),  # fits now, would outlast the shadow time
    ]
    _, _, fifo = run(plan, jobs, "fifo")
    _, _, easy = run(plan, jobs, "easy")
    f, e = by_id(fifo), by_id(easy)
    assert f["head"].first_start_s == e["head"].first_start_s == 1020.0  # big ends at 1000, next tick
    assert f["short"].first_start_s >= f["head"].first_start_s  # strict FIFO: behind the head
    assert e["short"].first_start_s == 60.0  # backfilled at the first tick after it arrived
    # 'long' runs past the shadow time: EASY starts it only off the domains reserved for the head
    head_doms = {d for d, _ in e["head"].segments[0].allocation}
    if e["long"].first_start_s < 1020.0:
        assert not head_doms & {d for d, _ in e["long"].segments[0].allocation}
    assert fifo.metrics.completed == easy.metrics.completed == 4
    assert easy.metrics.mean_jct_s < fifo.metrics.mean_jct_s


def _blocks_of(fleet, rec) -> set[str]:
    return {fleet.blocks[int(fleet.block[d])] for d, _ in rec.segments[0].allocation}


def test_block_aware_keeps_a_block_job_in_one_block_and_unaware_may_span(plan):
    # four 2-SU jobs leave one whole free SU in several blocks; a fifth 2-SU job then needs two
    fill = [job(f"x{i}", 1152, d=2000.0, gang="block") for i in range(4)]
    late = job("y", 1152, t=10.0, d=500.0, gang="block")
    fleet, _, aware = run(plan, [*fill, late], "fifo-blocks")
    _, _, unaware = run(plan, [*fill, late], "fifo")
    a, u = by_id(aware), by_id(unaware)
    for rec in aware.jobs:
        assert len(_blocks_of(fleet, rec)) == 1, rec.id
        assert sum(g for _, g in rec.segments[0].allocation) == 1152
    assert a["y"].first_start_s >= 2000.0  # no block has two free SUs until an x ends
    assert u["y"].first_start_s == 60.0  # whole SUs anywhere at the site: it starts at once
    assert any(len(_blocks_of(fleet, rec)) > 1 for rec in unaware.jobs)


class _BadScheduler(ClusterScheduler):
    """Starts its first queued job on domain 0 (alpha's, busy or not), whatever the job."""

    name = "bad"
    capabilities = SchedulerCapabilities(False, True, False, False, False)

    def __init__(self, allocation):
        self.response = ProportionalResponse()
        self.allocation = allocation

    def decide(self, state):
        if not state.queue:
            return Decision()
        return Decision(starts=[Start(job_id=state.queue[0].job.id, allocation=self.allocation)])


@pytest.mark.parametrize(
    ("allocation", "message"),
    [
        ([(0, 8)], "not owned by tenant 'beta'"),
        ([(10**6, 8)], "unknown domain"),
    ],
)
def test_a_bad_decision_raises_scheduler_bug(plan, allocation, message):
    w = Workload(jobs=[job("j", 8, gang="domain")])
    fleet = fleet_from_plan(plan, w)
    with pytest.raises(SchedulerBug, match=message):
        simulate(fleet, w, _BadScheduler(allocation))


def test_same_inputs_same_schedule(plan):
    rng = np.random.default_rng(3)
    jobs = [
        job(f"j{i}", int(g), t=float(rng.integers(0, 5000)), d=float(rng.integers(60, 4000)), gang=gang)
        for i, (g, gang) in enumerate(
            (int(rng.choice([8, 72, 144, 576, 1152])), str(rng.choice(["domain", "site", "any", "block"])))
            for _ in range(60)
        )
        if not (gang == "domain" and g > 72)
    ]
    one = run(plan, jobs, "easy-blocks")[2]
    two = run(plan, jobs, "easy-blocks")[2]
    strip = {"summary": {"wall_s"}, "decisions": True}
    assert one.model_dump(exclude=strip) == two.model_dump(exclude=strip)


# -- power ---------------------------------------------------------------------------------------


def _site_mw(fleet, site: str) -> tuple[float, float]:
    """A site's idle draw (every GPU idle) and one beta nvl72 GPU's full draw, MW, from the fleet's arrays."""
    s = fleet.sites.index(site)
    mw = fleet.pue[fleet.site] * fleet.kw_per_gpu / 1000.0
    at = fleet.site == s
    beta = at & (fleet.tenant == fleet.tenants.index("beta"))
    return float((mw[at] * fleet.gpus[at]).sum() * 0.2), float(mw[beta].max())


def test_a_job_waits_when_its_site_allowance_cannot_carry_it(plan):
    fleet = fleet_from_plan(plan, Workload(jobs=[job("x", 8)]))
    idle, per_gpu = _site_mw(fleet, "south")
    # room for one 576-GPU job at full power (0.8 of a GPU's draw above idle), not two
    base = idle + 1.5 * 576 * 0.8 * per_gpu
    jobs = [job("a", 576, d=1000.0, gang="block"), job("b", 576, t=5.0, d=100.0, gang="block")]
    for name in ("fifo-blocks", "easy-blocks", "bestfit"):
        _, _, sch = run(plan, jobs, name, power={"base_mw": {"south": base}})
        r = by_id(sch)
        assert r["b"].first_start_s >= r["a"].end_s, name
        south = next(s for s in sch.sites if s.site == "south")
        assert south.least_headroom_mw >= 0 and south.peak_mw <= base + 1e-6


def test_a_curtailment_is_met_by_a_uniform_cap_then_lifted(plan):
    fleet = fleet_from_plan(plan, Workload(jobs=[job("x", 8)]))
    idle, per_gpu = _site_mw(fleet, "south")
    # 7,200 beta GPUs at cap c draw idle + 7200 x per_gpu x (c - 0.2): allow c = 0.85 -> mode 0.8
    mw = idle + 7200 * per_gpu * (0.85 - 0.2)
    cut = {"curtailments": [{"site": "south", "start_s": 1000.0, "end_s": 3000.0, "mw": mw}]}
    fleet, w, sch = run(plan, [job("all", 7200, d=5000.0)], "easy-blocks", power=cut)
    segs = by_id(sch)["all"].segments
    assert [(s.start_s, s.cap, s.resumed) for s in segs] == [
        (0.0, 1.0, False),
        (1000.0, 0.8, False),
        (3000.0, 1.0, False),
    ]
    assert segs[-1].end_s == pytest.approx(5000.0 + 2000.0 * (1 - 0.94))  # two hours at speed 0.94
    assert sch.metrics.gpu_hours_capped == pytest.approx(7200 * 2000.0 * 0.06 / 3600)
    assert sch.metrics.pauses == 0
    assert verified(fleet, w, sch).valid


def test_a_deep_curtailment_pauses_the_latest_preemptible_job_and_resumes_it(plan):
    fleet = fleet_from_plan(plan, Workload(jobs=[job("x", 8)]))
    idle, per_gpu = _site_mw(fleet, "south")
    # 1,700 GPUs' worth above idle: all 5,832 GPUs at the lowest mode (0.5) need 1,750, so one
    # job stops; the other two (2,952 GPUs) then run at 0.7 (2,952 x 0.5 = 1,476 fits, x 0.6 does not)
    mw = idle + 1700 * per_gpu
    cut = {"curtailments": [{"site": "south", "start_s": 1000.0, "end_s": 2000.0, "mw": mw}]}
    jobs = [
        job("old", 2880, d=4000.0),
        job("new", 2880, t=100.0, d=4000.0),
        job("pinned", 72, t=200.0, d=4000.0, preemptible=False),
    ]
    fleet, w, sch = run(plan, jobs, "easy-blocks", power=cut)
    r = by_id(sch)
    assert [s.resumed for s in r["new"].segments] == [False, True]  # the latest preemptible one
    assert r["new"].segments[0].end_s == 1000.0 and r["new"].segments[1].start_s >= 2000.0
    assert all(not s.resumed for s in r["pinned"].segments) and not any(s.resumed for s in r["old"].segments)
    assert {s.cap for s in r["old"].segments if 1000.0 <= s.start_s < 2000.0} == {0.7}  # raised as far as it fits
    assert sch.metrics.pauses == 1 and sch.metrics.gpu_hours_paused > 0
    assert all(x.state == "completed" for x in sch.jobs)
    assert verified(fleet, w, sch).valid


def test_a_curtailment_below_the_idle_draw_is_refused_at_input(plan):
    w = Workload(
        jobs=[job("x", 8)], power={"curtailments": [{"site": "south", "start_s": 0.0, "end_s": 9.0, "mw": 1.0}]}
    )
    fleet = fleet_from_plan(plan, w)
    with pytest.raises(InputError, match=r"power.curtailments\[0\].*below the site's idle draw"):
        simulate(fleet, w, SCHEDULERS["fifo"]())


# -- placement, quota, rejects ------------------------------------------------------------------


def test_a_domain_job_fills_a_partly_used_domain(plan):
    jobs = [job("p", 40, d=1000.0, gang="domain"), job("q", 30, d=1000.0, gang="domain")]
    for name in ("fifo", "bestfit"):
        r = by_id(run(plan, jobs, name)[2])
        assert r["p"].segments[0].allocation[0][0] == r["q"].segments[0].allocation[0][0], name


def test_bestfit_fills_partly_used_domains_where_fifo_breaks_whole_ones(plan):
    # x takes the first domain and leaves at once; p sits in the second; then a small site job comes
    jobs = [
        job("x", 72, d=10.0, gang="domain"),
        job("p", 40, d=1000.0, gang="domain"),
        job("s", 30, t=100.0, d=1000.0, gang="site"),
    ]
    doms = {}
    for name in ("fifo-blocks", "bestfit"):
        r = by_id(run(plan, jobs, name)[2])
        doms[name] = (r["p"].segments[0].allocation[0][0], r["s"].segments[0].allocation)
    p, s = doms["bestfit"]
    assert s == [(p, 30)]  # into the 32 GPUs left free beside p
    p, s = doms["fifo-blocks"]
    assert s != [(p, 30)] and s[0][0] < p  # first fit: the whole domain x left, breaking it


def test_a_tenant_never_holds_more_than_its_quota(plan):
    jobs = [job("a", 576, d=1000.0, gang="block"), job("b", 576, t=1.0, d=1000.0, gang="block")]
    fleet, w, sch = run(plan, jobs, "easy-blocks", tenants=[{"tenant": "beta", "quota_gpus": 1000}])
    r = by_id(sch)
    assert r["b"].first_start_s >= r["a"].end_s
    beta = next(t for t in sch.tenants if t.tenant == "beta")
    assert beta.peak_gpus_held == 576 and beta.quota_gpus == 1000
    assert verified(fleet, w, sch).valid


def test_jobs_that_can_never_be_placed_are_rejected_at_arrival_with_the_reason(plan):
    jobs = [
        job("too-big-domain", 100, gang="domain"),
        job("no-such-tenant", 8, tenant="gamma"),
        job("over-quota", 8000),
        job("too-big-block", 5000, gang="block"),
        job("fine", 8, gang="domain"),
    ]
    fleet, w, sch = run(plan, jobs, "easy-blocks")
    r = by_id(sch)
    assert r["fine"].state == "completed"
    for jid, words in [
        ("too-big-domain", "one NVLink domain"),
        ("no-such-tenant", "gamma"),
        ("over-quota", "quota"),
        ("too-big-block", "whole SUs of one block"),
    ]:
        assert r[jid].state == "rejected" and words in r[jid].reason, (jid, r[jid].reason)
        assert not r[jid].segments
    assert sch.metrics.rejected == 4
    assert verified(fleet, w, sch).valid


# -- the checker agrees ---------------------------------------------------------------------------


def _mixed(n: int = 80, seed: int = 5) -> list[Job]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        gang = str(rng.choice(["domain", "site", "any", "block"]))
        g = int(rng.choice([8, 30, 72] if gang == "domain" else [8, 100, 576, 1152, 1700]))
        tenant = str(rng.choice(["alpha", "beta"]))
        out.append(
            job(
                f"j{i}",
                g,
                t=float(rng.integers(0, 6000)),
                d=float(rng.integers(60, 5000)),
                gang=gang,
                tenant=tenant,
                estimate_s=float(rng.integers(60, 8000)),
            )
        )
    return out


def test_baseline_schedules_verify_and_block_unaware_ones_break_only_the_block_rule(plan):
    fleet = fleet_from_plan(plan, Workload(jobs=[job("x", 8)]))
    idle, per_gpu = _site_mw(fleet, "south")
    cut = {"curtailments": [{"site": "south", "start_s": 2000.0, "end_s": 4000.0, "share": 0.55}]}
    for name in SCHEDULERS:
        if name not in ("fifo", "fifo-blocks", "easy", "easy-blocks", "bestfit"):
            continue
        fleet, w, sch = run(plan, _mixed(), name, power=cut)
        report = verified(fleet, w, sch)
        codes = {v.code for v in report.violations}
        if name in ("fifo", "easy"):
            assert codes <= {"GANG_BLOCK"}, (name, codes)
        else:
            assert report.valid, (name, [(v.code, v.message) for v in report.violations][:5])
        assert sch.metrics.completed + sch.metrics.rejected == len(w.jobs)


def verified(fleet, w, schedule):
    from placer.verify_cluster import verify_cluster

    return verify_cluster(fleet, w, schedule)


def test_pooled_sharing_runs_a_tenant_without_racks_within_its_quota(plan):
    jobs = [job("g1", 8, tenant="gamma", gang="domain"), job("g2", 72, tenant="gamma", gang="domain")]
    pooled = {"sharing": "pooled", "tenants": [{"tenant": "gamma", "quota_gpus": 79}]}
    fleet, w, sch = run(plan, jobs, "easy-blocks", **pooled)
    r = by_id(sch)
    assert r["g1"].state == r["g2"].state == "completed"
    assert r["g2"].first_start_s >= r["g1"].end_s  # 8 + 72 > 79: one at a time
    gamma = next(t for t in sch.tenants if t.tenant == "gamma")
    assert gamma.quota_gpus == 79 and gamma.peak_gpus_held == 72
    assert verified(fleet, w, sch).valid
    owned = run(plan, jobs, "easy-blocks", tenants=[{"tenant": "gamma", "quota_gpus": 80}])[2]
    assert {j.state for j in owned.jobs} == {"rejected"}


def test_best_fit_takes_the_tightest_block_and_first_fit_the_first(plan):
    from solvers.cluster_alloc import BEST, FIRST, find, fleet_index, never_fits

    fleet = fleet_from_plan(plan, Workload(jobs=[job("x", 8)]))
    ix = fleet_index(fleet, np.full(len(fleet.skus), 0.2))
    shape = ix.resolve(job("b", 1152, gang="block"), "owned")
    assert not isinstance(shape, str)
    pool = ix.empty_pool()
    first = find(pool, shape, blocks=True, fit=FIRST)
    best = find(pool, shape, blocks=True, fit=BEST)
    assert first is not None and best is not None
    blocks = [{fleet.blocks[int(fleet.block[d])] for d in a[0]} for a in (first, best)]
    assert blocks == [{"south/hall-1-block-2"}, {"south/hall-1-block-8"}]  # 1,728 free vs 1,440 (tightest)
    assert int(best[1].sum()) == 1152  # its two 576-GPU SUs, not the 288 one
    big = ix.resolve(job("b", 2000, gang="block"), "owned")
    assert not isinstance(big, str)
    assert never_fits(ix, big, 7200, tenant="beta") is not None
    assert never_fits(ix, big, 7200, blocks=False) is None


class _Migrator(ClusterScheduler):
    """Starts job m on the first beta domain; at t = 600 s (n's arrival) moves m to the second, starts n on the third."""

    name = "migrator"
    capabilities = SchedulerCapabilities(False, True, False, False, False)

    def __init__(self, fleet):
        self.response = ProportionalResponse()
        self.doms = [int(d) for d in np.flatnonzero(fleet.tenant == fleet.tenants.index("beta"))[:3]]

    def decide(self, state):
        if state.queue and state.now_s < 600.0:
            return Decision(starts=[Start(job_id=state.queue[0].job.id, allocation=[(self.doms[0], 8)])])
        if state.now_s == 600.0 and "m" in state.running:
            return Decision(
                pauses=["m"],
                starts=[
                    Start(job_id="m", allocation=[(self.doms[1], 8)]),
                    Start(job_id="n", allocation=[(self.doms[2], 8)]),
                ],
            )
        return Decision()


def test_a_pause_and_a_start_in_one_decision_is_a_migration_with_its_checkpoint(plan):
    w = Workload(jobs=[job("m", 8, d=1000.0, gang="domain", checkpoint_s=100.0), job("n", 8, t=599.0, d=10.0)])
    fleet = fleet_from_plan(plan, w)
    events: list[dict] = []
    sch = simulate(fleet, w, _Migrator(fleet), on_event=events.append)
    segs = by_id(sch)["m"].segments
    assert [(s.start_s, s.end_s, s.resumed) for s in segs] == [(0.0, 600.0, False), (600.0, 1100.0, True)]
    assert segs[0].allocation != segs[1].allocation
    assert sch.metrics.migrations == 1 and sch.metrics.pauses == 0
    assert sch.metrics.gpu_hours_paused == pytest.approx(8 * 100.0 / 3600)  # the checkpoint redone
    assert events and {"now_s", "queued", "running", "decision_s"} <= set(events[0])
    assert sch.decisions.events == len(events)
    report = verified(fleet, w, sch)
    assert report.valid, [(v.code, v.message) for v in report.violations]


def test_a_curtailment_no_response_can_meet_is_noted_and_the_checker_flags_it(plan):
    fleet = fleet_from_plan(plan, Workload(jobs=[job("x", 8)]))
    idle, per_gpu = _site_mw(fleet, "south")
    mw = idle + 7200 * per_gpu * (0.4 - 0.2)  # below the lowest mode (0.5) of a job that may not pause
    cut = {"curtailments": [{"site": "south", "start_s": 1000.0, "end_s": 2000.0, "mw": mw}]}
    fleet, w, sch = run(plan, [job("pinned", 7200, d=3000.0, preemptible=False)], "easy-blocks", power=cut)
    assert any("only non-preemptible jobs at their lowest power mode" in n for n in sch.summary.notes)
    assert {s.cap for s in by_id(sch)["pinned"].segments} == {1.0, 0.5}
    assert {v.code for v in verified(fleet, w, sch).violations} == {"SITE_POWER"}


def test_the_horizon_cuts_without_zero_length_segments(plan):
    from placer.verify_cluster import verify_cluster

    # 'b' arrives exactly at the horizon (a scheduling tick): it must not get a [600, 600) segment
    w = Workload(horizon_s=600.0, jobs=[job("a", 8, d=1000.0, gang="domain"), job("b", 8, t=600.0, d=10.0)])
    fleet = fleet_from_plan(plan, w)
    sch = simulate(fleet, w, SCHEDULERS["easy-blocks"]())
    rec = by_id(sch)
    assert rec["a"].state == "unfinished" and rec["a"].segments[-1].end_s == 600.0
    assert rec["b"].state == "unfinished" and rec["b"].segments == []
    assert all(s.end_s > s.start_s for r in sch.jobs for s in r.segments)
    assert verify_cluster(fleet, w, sch).valid


@pytest.mark.parametrize("name", ["easy-blocks", "bestfit"])
def test_a_baseline_with_the_optimised_response_uncaps_when_the_allowance_rises(plan, name):
    # the optimised response has no scheduler of its own to lift its caps: a baseline paired with it
    # must still run at full power once the curtailment ends (it kept the cap to the end of the job)
    fleet = fleet_from_plan(plan, Workload(jobs=[job("x", 8)]))
    idle, per_gpu = _site_mw(fleet, "south")
    mw = idle + 7200 * per_gpu * (0.85 - 0.2)
    w = Workload(
        jobs=[job("all", 7200, d=5000.0)],
        power={"curtailments": [{"site": "south", "start_s": 1000.0, "end_s": 3000.0, "mw": mw}]},
    )
    fleet = fleet_from_plan(plan, w)
    sch = simulate(fleet, w, SCHEDULERS[name](power_response="optimised"))
    segs = by_id(sch)["all"].segments
    assert segs[0].cap == 1.0 and min(s.cap for s in segs) < 1.0
    assert segs[-1].cap == 1.0 and segs[-1].start_s == 3000.0
    assert sch.metrics.migrations == 0
    assert verified(fleet, w, sch).valid
