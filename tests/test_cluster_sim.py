"""The simulator, the allocator and the baseline schedulers on the tiny laid-out fleet.

The fleet (tests/data/tiny_laid_plan.json): 2 sites, tenants alpha and beta; beta holds 7,200
nvl72 GPUs (100 domains of 72, 576-GPU SUs) at south only, in blocks 1 (1 SU), 2, 4, 6 (3 SUs
each) and 8 (a 288-GPU SU and two of 576). Each test writes the few jobs it needs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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
