"""The cluster schedule checker (placer.verify_cluster): a valid hand-built schedule on the tiny laid-out fleet
passes, with its figures computed here by hand; each check catches exactly the violation injected into it.

The base schedule (``base``): six jobs on tests/data/tiny_laid_plan.json's fleet (north: alpha hgx domains 0-35,
alpha nvl72 from 36; south: beta nvl72 226-233), a horizon at 20,000 s and a curtailment at south:

* ``dom``: 8 GPUs in one hgx domain, [0, 3600) at full power;
* ``blk``: 1,000 GPUs as a block gang: SUs 9 and 10 (domains 36-51, 1,152 GPUs) of north block 2, [0, 3600) at
  cap 1, then capped to 0.8 (speed 0.94) until its 7,200 s of work are done;
* ``site``: beta's 144 GPUs at south (domains 226, 227), paused at 1,100 s, resumed at 2,000 s (300 s redo);
* ``mig``: 16 hgx GPUs (any), migrated at 500 s from domains 1-2 to 3-4 (100 s redo);
* ``big``: 100,000 GPUs, rejected (beyond any quota);
* ``late``: arrives at 10,000 s, runs 8 GPUs to the horizon, unfinished.

Injected schedules get their reported figures recomputed (``refigure``) so that only the broken rule shows;
the figure checks perturb one reported number of the valid schedule.
"""

from __future__ import annotations

import math

import pytest

from placer.cluster_schedule import ClusterSchedule, DecisionTimes, JobRecord, Metrics, ScheduleSummary, Segment
from placer.cluster_stats import percentile
from placer.fleet import fleet_from_plan
from placer.io import load_plan
from placer.verify_cluster import CODES, FINDINGS_PER_CODE, placement_on_empty_fleet, recomputed_figures, verify_cluster
from placer.workload import Workload, allowance_steps
from tests.helpers import DATA

HORIZON = 20_000.0
BLK_CAPPED_END = 3600.0 + 3600.0 / 0.94


def _workload(**changes) -> Workload:
    data = {
        "name": "check-base",
        "horizon_s": HORIZON,
        "jobs": [
            {"id": "dom", "tenant": "alpha", "gpus": 8, "sku": "hgx", "arrival_s": 0.0, "duration_s": 3600.0,
             "gang": "domain"},
            {"id": "blk", "tenant": "alpha", "gpus": 1000, "sku": "nvl72", "arrival_s": 0.0, "duration_s": 7200.0,
             "gang": "block", "kind": "training"},
            {"id": "site", "tenant": "beta", "gpus": 144, "arrival_s": 100.0, "duration_s": 2000.0, "gang": "site",
             "checkpoint_s": 300.0, "sites": ["south"]},
            {"id": "mig", "tenant": "alpha", "gpus": 16, "sku": "hgx", "arrival_s": 0.0, "duration_s": 1000.0,
             "gang": "any", "checkpoint_s": 100.0},
            {"id": "big", "tenant": "beta", "gpus": 100_000, "arrival_s": 0.0, "duration_s": 100.0, "gang": "any"},
            {"id": "late", "tenant": "alpha", "gpus": 8, "sku": "hgx", "arrival_s": 10_000.0, "duration_s": 1e6,
             "gang": "domain", "preemptible": False},
        ],
        "tenants": [{"tenant": "beta", "quota_gpus": 2000, "weight": 2.0}],
        "power": {"curtailments": [{"site": "south", "start_s": 4000.0, "end_s": 6000.0, "share": 0.5}]},
    }  # fmt: skip
    data.update(changes)
    return Workload.model_validate(data)


def _seg(start, end, alloc, cap=1.0, speed=1.0, resumed=False) -> Segment:
    return Segment(start_s=start, end_s=end, cap=cap, speed=speed, resumed=resumed, allocation=alloc)


def _records() -> list[JobRecord]:
    blk = [(d, 72) for d in range(36, 52)]
    return [
        JobRecord(id="dom", state="completed", segments=[_seg(0.0, 3600.0, [(0, 8)])], first_start_s=0.0, end_s=3600.0),
        JobRecord(
            id="blk",
            state="completed",
            segments=[_seg(0.0, 3600.0, blk), _seg(3600.0, BLK_CAPPED_END, blk, cap=0.8, speed=0.94)],
            first_start_s=0.0,
            end_s=BLK_CAPPED_END,
        ),
        JobRecord(
            id="site",
            state="completed",
            segments=[
                _seg(100.0, 1100.0, [(226, 72), (227, 72)]),
                _seg(2000.0, 3300.0, [(226, 72), (227, 72)], resumed=True),
            ],
            first_start_s=100.0,
            end_s=3300.0,
        ),
        JobRecord(
            id="mig",
            state="completed",
            segments=[_seg(0.0, 500.0, [(1, 8), (2, 8)]), _seg(500.0, 1100.0, [(3, 8), (4, 8)], resumed=True)],
            first_start_s=0.0,
            end_s=1100.0,
        ),
        JobRecord(id="big", state="rejected", reason="100,000 GPUs exceed beta's quota of 2,000"),
        JobRecord(id="late", state="unfinished", segments=[_seg(10_000.0, HORIZON, [(5, 8)])], first_start_s=10_000.0),
    ]


@pytest.fixture(scope="module")
def plan():
    return load_plan(DATA / "tiny_laid_plan.json")


@pytest.fixture(scope="module")
def fleet(plan):
    return fleet_from_plan(plan, _workload())


def refigure(fleet, workload, schedule: ClusterSchedule) -> ClusterSchedule:
    """The schedule with the checker's own figures (so an injected rule break is the only finding)."""
    metrics, tenants, sites = recomputed_figures(fleet, workload, schedule)
    return schedule.model_copy(update={"metrics": metrics, "tenants": tenants, "sites": sites})


def _schedule(fleet, workload, records) -> ClusterSchedule:
    summary = ScheduleSummary(
        scheduler="hand",
        scheduler_version="test",
        seed=0,
        workers=1,
        plan_digest=fleet.plan_digest,
        fleet_digest=fleet.digest(),
        workload_digest=workload.digest(),
        power_response="proportional",
        wall_s=0.1,
    )
    zero = Metrics(**{k: 0 if v.annotation is int else 0.0 for k, v in Metrics.model_fields.items()})
    decisions = DecisionTimes(events=4, mean_s=0.01, p99_s=0.02, max_s=0.02, total_s=0.04)
    sched = ClusterSchedule(summary=summary, metrics=zero, decisions=decisions, tenants=[], sites=[], jobs=records)
    return refigure(fleet, workload, sched)


@pytest.fixture
def base(fleet):
    wl = _workload()
    return wl, _schedule(fleet, wl, _records())


def _job(schedule: ClusterSchedule, jid: str) -> JobRecord:
    return next(r for r in schedule.jobs if r.id == jid)


def _inject(fleet, wl, schedule, jid, **record_changes) -> ClusterSchedule:
    """A copy with job ``jid``'s record changed, figures recomputed."""
    jobs = [r.model_copy(update=record_changes) if r.id == jid else r for r in schedule.jobs]
    return refigure(fleet, wl, schedule.model_copy(update={"jobs": jobs}))


def only(report, code: str) -> list:
    assert not report.valid
    found = {v.code for v in report.violations}
    assert found == {code}, report.violations
    return report.violations


# --------------------------------------------------------------------------- the valid base


def test_base_is_valid(fleet, base):
    wl, sched = base
    report = verify_cluster(fleet, wl, sched)
    assert report.valid, report.violations
    assert report.checks == list(CODES)


def test_base_figures_by_hand(fleet, base):
    """The recomputed figures of the base schedule against arithmetic done here."""
    wl, sched = base
    m = sched.metrics
    assert (m.jobs, m.completed, m.unfinished, m.rejected) == (6, 4, 1, 1)
    jct = [3600.0, BLK_CAPPED_END, 3300.0 - 100.0, 1100.0]
    assert m.mean_jct_s == pytest.approx(sum(jct) / 4)
    assert m.p99_jct_s == pytest.approx(BLK_CAPPED_END)  # nearest rank: ceil(0.99 x 4) = 4th
    assert m.mean_queue_s == pytest.approx(0.0)
    assert m.makespan_s == pytest.approx(HORIZON)
    held_s = 8 * 3600 + 1152 * BLK_CAPPED_END + 144 * (1000 + 1300) + 16 * 1100 + 8 * 10_000
    assert m.utilisation == pytest.approx(held_s / (fleet.total_gpus * HORIZON))
    capped = 1152 * 0.06 * (BLK_CAPPED_END - 3600.0)
    paused = 144 * 900 + 144 * 300 + 16 * 100
    assert m.gpu_hours_capped == pytest.approx(capped / 3600)
    assert m.gpu_hours_paused == pytest.approx(paused / 3600)
    assert m.gpu_hours_lost_to_power == pytest.approx((capped + paused) / 3600)
    assert (m.migrations, m.pauses) == (1, 1)
    # fragmentation: partly used domains are only the mig job's? no: every hand allocation holds whole domains
    assert m.fragmentation == pytest.approx(0.0)
    beta = next(t for t in sched.tenants if t.tenant == "beta")
    assert (beta.quota_gpus, beta.weight, beta.peak_gpus_held) == (2000, 2.0, 144)
    assert beta.gpu_hours == pytest.approx(144 * 2300 / 3600)
    assert beta.mean_gpus_held == pytest.approx(144 * 2300 / HORIZON)
    alpha = next(t for t in sched.tenants if t.tenant == "alpha")
    assert alpha.quota_gpus == 17_600 and alpha.peak_gpus_held == 8 + 1152 + 16
    # north's draw: idle everywhere, plus the running GPUs' cap minus their idle share
    n = fleet.sites.index("north")
    mw = fleet.pue[n] * fleet.kw_per_gpu / 1000.0  # per GPU, per domain
    idle = sum(float(mw[d]) * int(fleet.gpus[d]) * 0.2 for d in range(fleet.domains) if fleet.site[d] == n)
    peak = idle + float(mw[0]) * 0.8 * (8 + 16) + float(mw[36]) * 0.8 * 1152
    north = next(s for s in sched.sites if s.site == "north")
    assert north.peak_mw == pytest.approx(peak)
    assert north.base_mw == pytest.approx(float(fleet.base_mw[n]))
    south = next(s for s in sched.sites if s.site == "south")
    s_ = fleet.sites.index("south")
    idle_s = sum(float(fleet.pue[s_] * fleet.kw_per_gpu[d] / 1000) * int(fleet.gpus[d]) * 0.2
                 for d in range(fleet.domains) if fleet.site[d] == s_)  # fmt: skip
    assert south.least_headroom_mw == pytest.approx(0.5 * fleet.base_mw[s_] - idle_s)  # the curtailment
    assert south.energy_mwh == pytest.approx(
        (idle_s * HORIZON + 144 * float(fleet.pue[s_] * fleet.kw_per_gpu[226] / 1000) * 0.8 * 2300) / 3600
    )


def test_percentile_is_nearest_rank():
    assert percentile([], 99) == 0.0
    assert percentile(range(1, 101), 99) == 99
    assert percentile(range(1, 201), 99) == 198
    assert percentile([3, 1, 2], 50) == 2
    assert percentile([3, 1, 2], 0) == 1
    assert percentile([7.5], 99) == 7.5


def test_allowance_evaluation_matches_the_definition(fleet):
    """The checker's own allowance reading agrees with placer.workload.allowance_steps at every breakpoint."""
    import numpy as np

    from placer.verify_cluster import _allowance_at

    wl = _workload(
        power={
            "allowance": [{"site": "south", "start_s": 1000.0, "mw": 25.0}, {"site": "south", "start_s": 5000.0,
                                                                           "mw": 28.0}],
            "curtailments": [
                {"site": "south", "start_s": 4000.0, "end_s": 6000.0, "share": 0.5},
                {"site": "south", "start_s": 4500.0, "end_s": 4700.0, "mw": 10.0},
            ],
        }
    )  # fmt: skip
    base = float(fleet.base_mw[1])
    steps = allowance_steps(wl, "south", base)
    times = np.asarray(sorted({t for t, _ in steps} | {t + 0.5 for t, _ in steps}))
    mine = _allowance_at(wl, "south", base, times)
    for t, a in zip(times, mine, strict=True):
        want = [mw for s, mw in steps if s <= t][-1]
        assert a == pytest.approx(want)


# --------------------------------------------------------------------------- injections: structure


def test_digest_mismatch(fleet, base):
    wl, sched = base
    bad = sched.model_copy(update={"summary": sched.summary.model_copy(update={"workload_digest": "sha256:00"})})
    (v,) = only(verify_cluster(fleet, wl, bad), "DIGEST_MISMATCH")
    assert "workload" in v.message


def test_missing_duplicate_and_unknown_records(fleet, base):
    wl, sched = base
    jobs = [r for r in sched.jobs if r.id != "dom"]
    report = verify_cluster(fleet, wl, refigure(fleet, wl, sched.model_copy(update={"jobs": jobs})))
    (v,) = only(report, "JOB_RECORDS")
    assert "'dom'" in v.message and "no record" in v.message
    extra = sched.jobs + [JobRecord(id="ghost", state="rejected", reason="x"), sched.jobs[0]]
    vs = only(verify_cluster(fleet, wl, sched.model_copy(update={"jobs": extra})), "JOB_RECORDS")
    assert len(vs) == 2


def test_segment_form(fleet, base):
    wl, sched = base
    # before its arrival
    segs = _job(sched, "site").segments
    early = [segs[0].model_copy(update={"start_s": 50.0, "end_s": 1050.0}), segs[1]]
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "site", segments=early, first_start_s=50.0)),
                "SEGMENT_FORM")  # fmt: skip
    assert "before the job arrives" in v.message
    # past the horizon (the unfinished job runs on)
    late = [_job(sched, "late").segments[0].model_copy(update={"end_s": HORIZON + 10})]
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "late", segments=late)), "SEGMENT_FORM")
    assert "after the horizon" in v.message
    # empty interval
    dom = [_job(sched, "dom").segments[0].model_copy(update={"end_s": 0.0})]
    bad = _inject(fleet, wl, sched, "dom", segments=dom, state="unfinished", end_s=None)
    assert "SEGMENT_FORM" in {v.code for v in verify_cluster(fleet, wl, bad).violations}


def test_segment_overlap(fleet, base):
    wl, sched = base
    segs = _job(sched, "site").segments
    overlap = [segs[0], segs[1].model_copy(update={"start_s": 1000.0, "end_s": 2300.0})]
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "site", segments=overlap, end_s=2300.0)),
                "SEGMENT_FORM")  # fmt: skip
    assert "before segment 0 ends" in v.message


def test_segment_overlap_with_an_earlier_one(fleet, base):
    """Segment 2 starts after segment 1 ends but inside segment 0 (which segment 1 already overlapped)."""
    wl, sched = base
    segs = _job(sched, "site").segments
    three = [
        segs[0].model_copy(update={"end_s": 1100.0}),
        segs[1].model_copy(update={"start_s": 500.0, "end_s": 600.0}),
        segs[1].model_copy(update={"start_s": 700.0, "end_s": 700.0 + 1300.0 - 100.0 + 300.0}),
    ]
    vs = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "site", segments=three, end_s=2200.0)),
              "SEGMENT_FORM")  # fmt: skip
    assert [v.entity for v in vs] == ["job:site/segment:1", "job:site/segment:2"]
    assert "before segment 0 ends" in vs[1].message


def test_segment_mode(fleet, base):
    wl, sched = base
    segs = _job(sched, "blk").segments
    wrong_speed = [segs[0], segs[1].model_copy(update={"speed": 0.95})]
    # keep the work right at the wrong speed: only the mode is wrong
    end = 3600.0 + 3600.0 / 0.95
    wrong_speed[1] = wrong_speed[1].model_copy(update={"end_s": end})
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "blk", segments=wrong_speed, end_s=end)),
                "SEGMENT_MODE")  # fmt: skip
    assert "0.94" in v.message
    no_mode = [segs[0], segs[1].model_copy(update={"cap": 0.85})]
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "blk", segments=no_mode)), "SEGMENT_MODE")
    assert "not a power mode of nvl72" in v.message


def test_segment_continuity(fleet, base):
    wl, sched = base
    # the migration without a resume: another allocation, and the redo then is extra work... keep the work right
    segs = _job(sched, "mig").segments
    moved = [segs[0], segs[1].model_copy(update={"resumed": False, "end_s": 1000.0})]
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "mig", segments=moved, end_s=1000.0)),
                "SEGMENT_CONTINUITY")  # fmt: skip
    assert "another allocation" in v.message
    # a continuing segment with a gap
    segs = _job(sched, "blk").segments
    gap = [segs[0], segs[1].model_copy(update={"start_s": 3700.0, "end_s": BLK_CAPPED_END + 100})]
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "blk", segments=gap, end_s=BLK_CAPPED_END + 100)),
                "SEGMENT_CONTINUITY")  # fmt: skip
    assert "not where segment 0 ended" in v.message
    # a first segment marked resumed (its redo paid: the work adds up)
    first = [_job(sched, "dom").segments[0].model_copy(update={"resumed": True, "end_s": 3900.0})]
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "dom", segments=first, end_s=3900.0)),
                "SEGMENT_CONTINUITY")  # fmt: skip
    assert "nothing to resume" in v.message


def test_allocation(fleet, base):
    wl, sched = base
    seg = _job(sched, "mig").segments
    for alloc, words in (
        ([(1, 8), (10_000, 8)], "names domain 10000"),
        ([(1, 8), (2, 0), (6, 8)], "must be > 0"),
        ([(1, 8), (1, 8)], "twice"),
        ([(1, 8), (2, 4)], "holds 12 GPUs; the job needs 16"),
        ([(1, 8), (2**70, 8)], "beyond any fleet"),
        ([(1, 8), (2, 2**62)], "must be > 0 and a domain's"),
    ):
        bad = [seg[0].model_copy(update={"allocation": alloc}), seg[1]]
        vs = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "mig", segments=bad)), "ALLOCATION")
        assert any(words in v.message for v in vs), (alloc, vs)


# --------------------------------------------------------------------------- injections: the rules


def test_double_booked(fleet, base):
    wl, sched = base
    # mig's second allocation moves onto dom's domain 0 while dom runs there (8 + 8 on an 8-GPU domain)
    segs = _job(sched, "mig").segments
    bad = [segs[0], segs[1].model_copy(update={"allocation": [(0, 8), (4, 8)]})]
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "mig", segments=bad)), "DOUBLE_BOOKED")
    assert v.entity == "domain:0" and v.measured == 16 and v.limit == 8 and "t=500.0 s" in v.message
    assert "dom" in v.message and "mig" in v.message


def test_handover_at_one_instant_is_not_double_booking(fleet, base):
    """A job starting on a domain at the instant another ends there: segments are half-open."""
    wl, sched = base
    segs = _job(sched, "late").segments
    moved = [segs[0].model_copy(update={"allocation": [(0, 8)]})]
    wl2 = _workload()
    wl2.jobs[5].arrival_s = 3600.0
    s2 = _schedule(fleet, wl2, [r.model_copy(update={"segments": [moved[0].model_copy(update={"start_s": 3600.0})],
                                                      "first_start_s": 3600.0}) if r.id == "late" else r
                                 for r in _records()])  # fmt: skip
    assert verify_cluster(fleet, wl2, s2).valid


def test_gang_domain(fleet, base):
    wl, sched = base
    seg = _job(sched, "dom").segments[0].model_copy(update={"allocation": [(6, 4), (7, 4)]})
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "dom", segments=[seg])), "GANG_DOMAIN")
    assert "2 domains" in v.message


def test_gang_block_split_over_blocks(fleet, base):
    """Slurm's complaint: block awareness silently lost -- one whole SU in block 2, one in block 3."""
    wl, sched = base
    su13 = [d for d in range(fleet.domains) if fleet.su[d] == 13]
    alloc = [(d, 72) for d in range(36, 44)] + [(d, 72) for d in su13]
    segs = [s.model_copy(update={"allocation": alloc}) for s in _job(sched, "blk").segments]
    v, *_ = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "blk", segments=segs)), "GANG_BLOCK")
    assert "2 blocks" in v.message


def test_gang_block_partial_su(fleet, base):
    wl, sched = base
    alloc = [(d, 72) for d in range(36, 50)]  # 14 domains: SU 10 only partly
    segs = [s.model_copy(update={"allocation": alloc}) for s in _job(sched, "blk").segments]
    v, *_ = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "blk", segments=segs)), "GANG_BLOCK")
    assert "part of SU" in v.message and "432 of 576" in v.message


def test_gang_block_too_few(fleet, base):
    wl, sched = base
    alloc = [(d, 72) for d in range(36, 44)]  # one SU: 576 < 1,000
    segs = [s.model_copy(update={"allocation": alloc}) for s in _job(sched, "blk").segments]
    v, *_ = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "blk", segments=segs)), "GANG_BLOCK")
    assert "576 GPUs of the 1,000" in v.message


def test_gang_site(fleet, base):
    """beta's site job over both sites (pooled sharing, so the racks' owner is no issue; no site list)."""
    wl = _workload(sharing="pooled")
    wl.jobs[2].sites = None
    sched = _schedule(fleet, wl, _records())
    assert verify_cluster(fleet, wl, sched).valid
    segs = [s.model_copy(update={"allocation": [(226, 72), (36 + 16, 72)]}) for s in _job(sched, "site").segments]
    v, *_ = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "site", segments=segs)), "GANG_SITE")
    assert "north, south" in v.message


def test_job_sku(fleet, base):
    wl, sched = base
    # dom must run on hgx; put it in an nvl72 domain of alpha (8 of 72 GPUs)
    seg = _job(sched, "dom").segments[0].model_copy(update={"allocation": [(60, 8)]})
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "dom", segments=[seg])), "JOB_SKU")
    assert "must run on hgx" in v.message


def test_job_one_sku_per_placement(fleet, base):
    wl = _workload()
    wl.jobs[3].sku = None  # mig: any one SKU; its second placement mixes hgx and nvl72 GPUs
    sched = _schedule(fleet, wl, _records())
    segs = _job(sched, "mig").segments
    bad = [segs[0], segs[1].model_copy(update={"allocation": [(3, 8), (60, 8)]})]
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "mig", segments=bad)), "JOB_SKU")
    assert "mixes SKUs (hgx, nvl72)" in v.message
    # resumed on another SKU (whole new placement): allowed
    moved = [segs[0], segs[1].model_copy(update={"allocation": [(60, 16)]})]
    assert verify_cluster(fleet, wl, _inject(fleet, wl, sched, "mig", segments=moved)).valid


def test_job_sites(fleet, base):
    """site must run at south; beta's job moved to north, pooled so only the site list is broken."""
    wl = _workload(sharing="pooled")
    sched = _schedule(fleet, wl, _records())
    segs = [s.model_copy(update={"allocation": [(52, 72), (53, 72)]}) for s in _job(sched, "site").segments]
    v, *_ = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "site", segments=segs)), "JOB_SITES")
    assert "north" in v.message and "only at south" in v.message


def test_tenant_racks(fleet, base):
    wl, sched = base
    # beta's job on alpha's south nvl72 racks (218, 219)
    segs = [s.model_copy(update={"allocation": [(218, 72), (219, 72)]}) for s in _job(sched, "site").segments]
    v, *_ = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "site", segments=segs)), "TENANT_RACKS")
    assert "of alpha" in v.message


def test_quota(fleet, base):
    wl = _workload(tenants=[{"tenant": "beta", "quota_gpus": 100, "weight": 2.0}])
    wl.jobs[4].gpus = 200  # still too big, so its reject stays true
    sched = _schedule(fleet, wl, _records())
    (v,) = only(verify_cluster(fleet, wl, sched), "QUOTA")
    assert v.measured == 144 and v.limit == 100 and "t=100.0 s" in v.message


def test_default_quota_is_owned_gpus(fleet):
    wl = _workload(sharing="pooled", tenants=[])
    wl.jobs[4].gpus = 7344  # beta owns 7,200 GPUs: its default quota; 102 of alpha's nvl72 domains (pooled)
    records = _records()
    records[4] = JobRecord(
        id="big",
        state="completed",
        segments=[_seg(0.0, 100.0, [(d, 72) for d in [*range(68, 162), *range(218, 226)]])],
        first_start_s=0.0,
        end_s=100.0,
    )
    (v,) = only(verify_cluster(fleet, wl, _schedule(fleet, wl, records)), "QUOTA")
    assert v.limit == 7200 and v.measured == 7344  # site starts at 100 s, when big ends: not at once


def test_not_preemptible(fleet, base):
    wl, sched = base
    wl2 = _workload()
    wl2.jobs[2].preemptible = False
    s2 = _schedule(fleet, wl2, _records())
    (v,) = only(verify_cluster(fleet, wl2, s2), "NOT_PREEMPTIBLE")
    assert "may not be paused" in v.message
    # late (not preemptible) stopped before the horizon, unfinished
    segs = [_job(sched, "late").segments[0].model_copy(update={"end_s": 15_000.0})]
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "late", segments=segs)), "NOT_PREEMPTIBLE")
    assert "before the horizon" in v.message


def _south_draw_at_4000(fleet) -> float:
    s = fleet.sites.index("south")
    idle = sum(float(fleet.pue[s] * fleet.kw_per_gpu[d] / 1000) * int(fleet.gpus[d]) * 0.2
               for d in range(fleet.domains) if fleet.site[d] == s)  # fmt: skip
    return idle


def test_site_power(fleet, base):
    """The curtailment moved to when the site job runs, deep enough that its GPUs break it."""
    s = fleet.sites.index("south")
    idle = _south_draw_at_4000(fleet)
    job_mw = 144 * float(fleet.pue[s] * fleet.kw_per_gpu[226] / 1000) * 0.8
    share = (idle + job_mw / 2) / float(fleet.base_mw[s])
    wl = _workload(power={"curtailments": [{"site": "south", "start_s": 2500.0, "end_s": 6000.0, "share": share}]})
    sched = _schedule(fleet, wl, _records())
    (v,) = only(verify_cluster(fleet, wl, sched), "SITE_POWER")
    assert v.measured == pytest.approx(idle + job_mw) and v.limit == pytest.approx(share * float(fleet.base_mw[s]))
    assert "from t=2,500.0 s" in v.message and "to t=3,300.0 s" in v.message
    # met at its instant: the job ends where the allowance drops -> valid
    wl_ok = _workload(power={"curtailments": [{"site": "south", "start_s": 3300.0, "end_s": 6000.0, "share": share}]})
    assert verify_cluster(fleet, wl_ok, _schedule(fleet, wl_ok, _records())).valid


def test_site_power_idle_floor_named(fleet):
    s = fleet.sites.index("south")
    wl = _workload(power={"curtailments": [{"site": "south", "start_s": 0.0, "end_s": 50.0, "mw": 0.1}]})
    (v,) = only(verify_cluster(fleet, wl, _schedule(fleet, wl, _records())), "SITE_POWER")
    assert "idle GPUs alone" in v.message and v.limit == pytest.approx(0.1)
    assert s == 1


def test_job_work(fleet, base):
    wl, sched = base
    short = [_job(sched, "dom").segments[0].model_copy(update={"end_s": 3000.0})]
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "dom", segments=short, end_s=3000.0)), "JOB_WORK")
    assert v.measured == pytest.approx(3000) and v.limit == pytest.approx(3600)
    # the resume's redo is work: site without its 300 s redo
    segs = _job(sched, "site").segments
    no_redo = [segs[0], segs[1].model_copy(update={"end_s": 3000.0})]
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "site", segments=no_redo, end_s=3000.0)),
                "JOB_WORK")  # fmt: skip
    assert v.limit == pytest.approx(2300) and "1 resume(s)" in v.message
    # completion time not at its last segment's end
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "dom", end_s=3700.0)), "JOB_WORK")
    assert v.entity == "job:dom/end_s"


def test_job_unfinished(fleet, base):
    wl, sched = base
    # dom did all its work but is reported unfinished
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "dom", state="unfinished", end_s=None)),
                "JOB_UNFINISHED")  # fmt: skip
    assert "did all its work" in v.message
    # no horizon: nothing may be left unfinished
    wl2 = _workload(horizon_s=None)
    recs = _records()
    recs[5] = recs[5].model_copy(update={"segments": [], "first_start_s": None})
    (v,) = only(verify_cluster(fleet, wl2, _schedule(fleet, wl2, recs)), "JOB_UNFINISHED")
    assert "no horizon" in v.message


def test_false_reject(fleet, base):
    wl, sched = base
    bad = _inject(fleet, wl, sched, "dom", state="rejected", segments=[], end_s=None, first_start_s=None, reason="x")
    (v,) = only(verify_cluster(fleet, wl, bad), "JOB_REJECTED")
    assert "fits the empty fleet" in v.message and "hgx domain" in v.message


def test_reject_with_segments_or_no_reason(fleet, base):
    wl, sched = base
    vs = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "big", reason="")), "JOB_REJECTED")
    assert "without a reason" in vs[0].message
    # dom ran, yet is reported rejected (also a false claim: it fits)
    vs = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "dom", state="rejected", end_s=None, reason="x")),
              "JOB_REJECTED")  # fmt: skip
    assert "has 1 segment" in vs[0].message


def test_placement_on_empty_fleet(fleet):
    wl = _workload()
    job = wl.jobs[1].model_copy(update={"gpus": 1000})
    assert "block north/hall-1-block-2 (2 whole nvl72 SUs, 1,152 GPUs)" == placement_on_empty_fleet(
        fleet, wl, job, 17_600
    )
    assert placement_on_empty_fleet(fleet, wl, job.model_copy(update={"gpus": 2304 + 1}), 17_600) is None  # a block
    assert placement_on_empty_fleet(fleet, wl, job, 1000) is None  # whole SUs beyond the quota
    beta = wl.jobs[2].model_copy(update={"gpus": 7200, "gang": "any", "sites": None})
    assert placement_on_empty_fleet(fleet, wl, beta, 7200) is not None
    assert placement_on_empty_fleet(fleet, wl, beta.model_copy(update={"gpus": 7201}), 8000) is None
    assert placement_on_empty_fleet(fleet, wl, beta.model_copy(update={"tenant": "gamma"}), 8000) is None
    assert placement_on_empty_fleet(fleet, wl, beta.model_copy(update={"sku": "hgx"}), 8000) is None  # beta owns none
    domain = wl.jobs[0].model_copy(update={"gpus": 9})
    assert placement_on_empty_fleet(fleet, wl, domain, 17_600) is None


# --------------------------------------------------------------------------- reported figures


@pytest.mark.parametrize(
    "field",
    ["mean_jct_s", "p99_jct_s", "mean_queue_s", "makespan_s", "utilisation", "fragmentation",
     "gpu_hours_lost_to_power", "gpu_hours_capped", "gpu_hours_paused", "migrations", "pauses", "completed"],
)  # fmt: skip
def test_reported_metric(fleet, base, field):
    wl, sched = base
    value = getattr(sched.metrics, field)
    wrong = value + 1 if isinstance(value, int) else value * 1.001 + 0.01
    bad = sched.model_copy(update={"metrics": sched.metrics.model_copy(update={field: wrong})})
    (v,) = only(verify_cluster(fleet, wl, bad), "REPORTED_MISMATCH")
    assert v.entity == f"metrics.{field}"


def test_reported_tenant_and_site_rows(fleet, base):
    wl, sched = base
    tenants = [t.model_copy(update={"peak_gpus_held": 1}) if t.tenant == "beta" else t for t in sched.tenants]
    (v,) = only(verify_cluster(fleet, wl, sched.model_copy(update={"tenants": tenants})), "REPORTED_MISMATCH")
    assert v.entity == "tenants[beta].peak_gpus_held"
    sites = [s.model_copy(update={"energy_mwh": s.energy_mwh * 1.01}) if s.site == "south" else s for s in sched.sites]
    (v,) = only(verify_cluster(fleet, wl, sched.model_copy(update={"sites": sites})), "REPORTED_MISMATCH")
    assert v.entity == "sites[south].energy_mwh"
    (v,) = only(verify_cluster(fleet, wl, sched.model_copy(update={"sites": sched.sites[:1]})), "REPORTED_MISMATCH")
    assert "no row for site south" in v.message


def test_reported_first_start_and_decisions(fleet, base):
    wl, sched = base
    (v,) = only(verify_cluster(fleet, wl, _inject(fleet, wl, sched, "site", first_start_s=0.0)), "REPORTED_MISMATCH")
    assert v.entity == "job:site/first_start_s"
    bad = sched.model_copy(update={"decisions": sched.decisions.model_copy(update={"total_s": 1.0})})
    (v,) = only(verify_cluster(fleet, wl, bad), "REPORTED_MISMATCH")
    assert v.entity == "decisions" and "total" in v.message


def test_findings_are_capped(fleet, base):
    """A schedule with 30 unknown records gives FINDINGS_PER_CODE lines and counts the rest."""
    wl, sched = base
    ghosts = [JobRecord(id=f"ghost-{i}", state="rejected", reason="x") for i in range(30)]
    report = verify_cluster(fleet, wl, sched.model_copy(update={"jobs": sched.jobs + ghosts}))
    assert len(report.violations) == FINDINGS_PER_CODE
    assert report.suppressed == {"JOB_RECORDS": 30 - FINDINGS_PER_CODE}


def test_nan_times_do_not_crash(fleet, base):
    wl, sched = base
    seg = _job(sched, "dom").segments[0].model_copy(update={"end_s": math.nan})
    report = verify_cluster(fleet, wl, _inject(fleet, wl, sched, "dom", segments=[seg]))
    assert "SEGMENT_FORM" in {v.code for v in report.violations}
    report.model_dump_json()  # no NaN left in the report


# --------------------------------------------------------------------------- the simulator's schedules as the base

SIM_HORIZON = 50_000.0


def _sim_workload(fleet0) -> Workload:
    """Half a day of synthetic jobs (every gang) on the tiny fleet, all preemptible, with two deep curtailments
    (30 % of base: pauses and migrations) and a horizon (unfinished jobs)."""
    from placer.workload import Curtailment
    from topologies.jobs_synthetic import synthetic_workload

    wl = synthetic_workload(
        fleet0,
        days=0.5,
        load=0.9,
        seed=1,
        curtailments=[
            Curtailment(site="south", start_s=15_000.0, end_s=22_000.0, share=0.3),
            Curtailment(site="north", start_s=30_000.0, end_s=36_000.0, share=0.3),
        ],
    )
    jobs = [j.model_copy(update={"preemptible": True}) for j in wl.jobs]
    return wl.model_copy(update={"jobs": jobs, "horizon_s": SIM_HORIZON})


@pytest.fixture(scope="module")
def sim_runs(plan):
    """Every registered scheduler's schedule of the same workload: {name: (fleet, workload, schedule)}."""
    from solvers.cluster_schedulers import SCHEDULERS
    from solvers.cluster_sim import simulate

    wl = _sim_workload(fleet_from_plan(plan))
    fl = fleet_from_plan(plan, wl)
    names = [n for n in ("fifo", "easy-blocks", "bestfit") if n in SCHEDULERS]
    return {n: (fl, wl, simulate(fl, wl, SCHEDULERS[n](time_limit_s=1.0), interval_s=60.0)) for n in names}


def test_simulated_schedules_verify(sim_runs):
    """The simulator's own figures agree with the checker's; block-aware schedulers keep every rule; the
    block-unaware FIFO breaks only the block rule (Slurm's 17+17+2)."""
    for name, (fl, wl, sched) in sim_runs.items():
        report = verify_cluster(fl, wl, sched)
        if name == "fifo":
            assert {v.code for v in report.violations} <= {"GANG_BLOCK"}, report.violations
        else:
            assert report.valid, (name, report.violations)
    m = sim_runs["easy-blocks"][2].metrics
    assert m.pauses > 0 and m.migrations > 0 and m.unfinished > 0 and m.gpu_hours_capped > 0


@pytest.fixture
def sim_base(sim_runs):
    return sim_runs["easy-blocks"]


def _with_workload(schedule: ClusterSchedule, wl: Workload) -> ClusterSchedule:
    return schedule.model_copy(update={"summary": schedule.summary.model_copy(update={"workload_digest": wl.digest()})})


def test_sim_site_power(sim_base):
    """A curtailment deepened (after the fact) under the running jobs: the draw breaks it, nothing else."""
    fl, wl, sched = sim_base
    s = fl.sites.index("north")
    peak = next(r for r in sched.sites if r.site == "north").peak_mw
    curt = list(wl.power.curtailments) + [
        wl.power.curtailments[0].model_copy(update={"site": "north", "start_s": 0.0, "end_s": SIM_HORIZON,
                                                     "share": 0.999 * peak / float(fl.base_mw[s])})
    ]  # fmt: skip
    wl2 = wl.model_copy(update={"power": wl.power.model_copy(update={"curtailments": curt})})
    report = verify_cluster(fl, wl2, refigure(fl, wl2, _with_workload(sched, wl2)))
    vs = only(report, "SITE_POWER")
    assert all(v.entity == "site:north" for v in vs)


def test_sim_quota(sim_base):
    fl, wl, sched = sim_base
    alpha = next(t for t in sched.tenants if t.tenant == "alpha")
    biggest = max(j.gpus for j in wl.jobs if j.tenant == "alpha" and any(r.id == j.id and r.segments
                                                                          for r in sched.jobs))  # fmt: skip
    quota = max(alpha.peak_gpus_held - 1, biggest)
    assert quota < alpha.peak_gpus_held
    tenants = [t.model_copy(update={"quota_gpus": quota}) if t.tenant == "alpha" else t for t in wl.tenants]
    wl2 = wl.model_copy(update={"tenants": tenants})
    (v,) = only(verify_cluster(fl, wl2, refigure(fl, wl2, _with_workload(sched, wl2))), "QUOTA")
    assert v.measured == alpha.peak_gpus_held and v.limit == quota


def test_sim_double_booked(sim_base):
    """One domain job moved onto another's domain while both run (same SKU, tenant and site)."""
    fl, wl, sched = sim_base
    jobs = {j.id: j for j in wl.jobs}
    single = [r for r in sched.jobs if len(r.segments) == 1 and jobs[r.id].gang == "domain"]
    for a in single:
        sa = a.segments[0]
        ((da, ga),) = sa.allocation
        for b in single:
            sb = b.segments[0]
            ((db, gb),) = sb.allocation
            if (
                a.id == b.id
                or db == da
                or ga + gb <= int(fl.gpus[da])
                or fl.sku[da] != fl.sku[db]
                or fl.tenant[da] != fl.tenant[db]
                or fl.site[da] != fl.site[db]
                or not (sa.start_s < sb.end_s and sb.start_s < sa.end_s)
                or jobs[b.id].sites is not None
            ):
                continue  # fmt: skip
            seg = sb.model_copy(update={"allocation": [(da, gb)]})
            bad = _inject(fl, wl, sched, b.id, segments=[seg])
            vs = only(verify_cluster(fl, wl, bad), "DOUBLE_BOOKED")
            assert vs[0].entity == f"domain:{da}"
            return
    pytest.fail("no pair of concurrent domain jobs to collide")


def test_sim_job_work_and_false_reject(sim_base):
    fl, wl, sched = sim_base
    done = next(r for r in sched.jobs if r.state == "completed" and len(r.segments) == 1)
    seg = done.segments[0]
    short_end = seg.start_s + 0.9 * (seg.end_s - seg.start_s)
    bad = _inject(fl, wl, sched, done.id, segments=[seg.model_copy(update={"end_s": short_end})], end_s=short_end)
    (v,) = only(verify_cluster(fl, wl, bad), "JOB_WORK")
    assert v.entity == f"job:{done.id}"
    bad = _inject(fl, wl, sched, done.id, state="rejected", segments=[], end_s=None, first_start_s=None,
                  reason="too big")  # fmt: skip
    (v,) = only(verify_cluster(fl, wl, bad), "JOB_REJECTED")
    assert "fits the empty fleet" in v.message


@pytest.mark.parametrize("field", ["mean_jct_s", "p99_jct_s", "utilisation", "fragmentation", "gpu_hours_paused",
                                   "migrations", "pauses"])  # fmt: skip
def test_sim_reported_metric(sim_base, field):
    fl, wl, sched = sim_base
    value = getattr(sched.metrics, field)
    wrong = value + 1 if isinstance(value, int) else value * 1.001 + 1e-3
    bad = sched.model_copy(update={"metrics": sched.metrics.model_copy(update={field: wrong})})
    (v,) = only(verify_cluster(fl, wl, bad), "REPORTED_MISMATCH")
    assert v.entity == f"metrics.{field}"


def test_every_code_has_an_injection_test():
    """Each of the checker's codes is the only code of at least one test here (``only(..., "CODE")``)."""
    import re
    from pathlib import Path

    source = Path(__file__).read_text()
    tested = set(re.findall(r'"([A-Z_]+)"\)', source))
    assert set(CODES) <= tested, set(CODES) - tested


def test_fleet_and_plan_digest_mismatch(fleet, base):
    wl, sched = base
    bad = sched.model_copy(
        update={"summary": sched.summary.model_copy(update={"fleet_digest": "sha256:11", "plan_digest": "sha256:22"})}
    )
    vs = only(verify_cluster(fleet, wl, bad), "DIGEST_MISMATCH")
    assert {v.entity for v in vs} == {"summary.fleet_digest", "summary.plan_digest"}


# --------------------------------------------------------------------------- any value in a segment field

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70).map(float),
    st.sampled_from([0.0, -1.0, 1e-12, 3600.0, HORIZON, 1e18]),
)


@settings(derandomize=True, max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    job=st.integers(min_value=0, max_value=5),
    field=st.sampled_from(["start_s", "end_s", "cap", "speed", "resumed", "domain", "gpus", "drop", "state"]),
    number=_NUMBERS,
    index=st.integers(min_value=-(2**70), max_value=2**70),
)
def test_any_value_gives_a_report(fleet, job, field, number, index):
    """Whatever one segment field holds, the checker returns a JSON-able report (no crash, no NaN), and a
    change that breaks the schedule is found."""
    wl = _workload()
    recs = _records()
    rec = recs[job]
    segs = list(rec.segments)
    if segs:
        seg = segs[0]
        if field in ("start_s", "end_s", "cap", "speed"):
            segs[0] = seg.model_copy(update={field: number})
        elif field == "resumed":
            segs[0] = seg.model_copy(update={"resumed": not seg.resumed})
        elif field in ("domain", "gpus"):
            d, g = seg.allocation[0]
            entry = (index, g) if field == "domain" else (d, index)
            segs[0] = seg.model_copy(update={"allocation": [entry, *seg.allocation[1:]]})
        else:
            segs = segs[1:]
    changes = {"segments": segs}
    if field == "state":
        changes = {"state": {"completed": "unfinished", "unfinished": "rejected", "rejected": "completed"}[rec.state]}
    recs[job] = rec.model_copy(update=changes)
    report = verify_cluster(fleet, wl, _schedule(fleet, wl, _records()).model_copy(update={"jobs": recs}))
    report.model_dump_json()
    if recs[job] != _records()[job]:
        assert not report.valid
