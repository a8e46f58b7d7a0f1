"""The independent checker of a cluster schedule: every rule and every reported figure, recomputed.

:func:`verify_cluster` takes the fleet (:func:`placer.fleet.fleet_from_plan`), the workload
(:mod:`placer.workload`) and a :class:`~placer.cluster_schedule.ClusterSchedule`, and recomputes
from the jobs' segments alone, in floating point and with its own arithmetic (sweeps over the
segments' start and end events, never the simulator's state), whether the schedule keeps every
rule, and every figure it reports. It never imports ``solvers`` (``tests/test_import_rules.py``).

Check codes, in the order they run
----------------------------------
* ``DIGEST_MISMATCH``: the schedule's fleet, workload or plan digest is not the one given.
* ``JOB_RECORDS``: every workload job has exactly one record; no record names an unknown job.
* ``SEGMENT_FORM``: finite times, ``start_s < end_s``, within ``[arrival_s, horizon_s]``,
  segments in time order and not overlapping.
* ``SEGMENT_MODE``: the cap is one of the SKU's power modes and the speed is that mode's.
* ``SEGMENT_CONTINUITY``: the first segment is not resumed; a segment that is not resumed
  continues the previous one: same allocation, ``start_s`` = the previous ``end_s``.
* ``ALLOCATION``: a non-empty allocation of existing domains, each listed once with GPUs > 0;
  a job other than a block job holds exactly its GPUs.
* ``DOUBLE_BOOKED``: at no instant do a domain's jobs hold more GPUs than it has.
* ``GANG_DOMAIN``, ``GANG_BLOCK``, ``GANG_SITE``: the job's gang rule (one domain; whole SUs
  -- every GPU of every SU it touches -- in one block, at least its GPUs; one site).
* ``JOB_SKU``: the job's SKU when it names one; one SKU per placement otherwise (the
  contract's "any ONE SKU of a gang": a job resumed from a checkpoint may restart on another
  SKU; its speed is relative to its own full speed whatever the SKU).
* ``JOB_SITES``: only at the job's allowed sites.
* ``TENANT_RACKS``: under ``sharing: owned``, only on racks its tenant owns.
* ``QUOTA``: at no instant does a tenant hold more GPUs than its quota (default: the GPUs it owns).
* ``NOT_PREEMPTIBLE``: a job that may not be paused never is (no resumed segment, no pause
  at the horizon).
* ``SITE_POWER``: every site's draw (:data:`placer.fleet.POWER_RULE`) is within its allowance
  (:func:`placer.workload.allowance_steps`, evaluated here on its own) at every breakpoint of
  either, within ``placer.contract.limit_slack``.
* ``JOB_WORK``: a completed job did its work: ``sum (end_s - start_s) x speed = duration_s +
  checkpoint_s x resumed segments``, and its ``end_s`` is its last segment's end.
* ``JOB_UNFINISHED``: an unfinished job has not done all its work, has no ``end_s``, and the
  workload has a horizon that cut it.
* ``JOB_REJECTED``: a rejected job has no segments, says why, and truly cannot be placed on
  the empty fleet under its rules (tenant, SKU, sites, ownership, quota, gang).
* ``REPORTED_MISMATCH``: ``metrics``, ``tenants``, ``sites``, each job's ``first_start_s``,
  recomputed by the definitions of :mod:`placer.cluster_stats`; ``decisions`` (which only
  the scheduler can measure) are held to their own arithmetic (mean x events = total,
  p99 <= max, non-negative).

Findings are capped at :data:`FINDINGS_PER_CODE` per code (``report.suppressed`` counts the
rest), so a broken schedule gives a readable report.

Tolerances: times equal within :data:`TIME_TOL_S`; work within ``1e-6 x max(1, required)``
full-speed seconds; power within ``limit_slack`` (1e-6 x max(1, allowance) MW); reported
figures within rel 1e-6 / abs 1e-6; counts exactly.

Complexity: O(J + A log A + S x (B + C)) for J jobs, A allocation entries over all segments,
S sites, B breakpoints per site and C curtailments (the sweeps sort the events once);
rejection claims add O(domains) each.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict

from placer.cluster_schedule import ClusterSchedule, JobRecord, Metrics, SitePower, TenantShare
from placer.cluster_stats import SECONDS_PER_HOUR, percentile
from placer.contract import limit_slack
from placer.fleet import Fleet
from placer.verify import Violation
from placer.workload import Job, Workload

CODES = (
    "DIGEST_MISMATCH",
    "JOB_RECORDS",
    "SEGMENT_FORM",
    "SEGMENT_MODE",
    "SEGMENT_CONTINUITY",
    "ALLOCATION",
    "DOUBLE_BOOKED",
    "GANG_DOMAIN",
    "GANG_BLOCK",
    "GANG_SITE",
    "JOB_SKU",
    "JOB_SITES",
    "TENANT_RACKS",
    "QUOTA",
    "NOT_PREEMPTIBLE",
    "SITE_POWER",
    "JOB_WORK",
    "JOB_UNFINISHED",
    "JOB_REJECTED",
    "REPORTED_MISMATCH",
)
FINDINGS_PER_CODE = 20
TIME_TOL_S = 1e-6
REL_TOL, ABS_TOL = 1e-6, 1e-6
MODE_TOL = 1e-9
MAX_DOMAIN_GPUS = 100_000_000  # the schema's most GPUs of anything: beyond it a count is nonsense (and sums overflow)


class ClusterReport(BaseModel):
    """The checker's verdict: ``valid`` (no violations), the codes checked, the violations
    (at most :data:`FINDINGS_PER_CODE` per code) and how many more of each code were found."""

    model_config = ConfigDict(extra="forbid")

    valid: bool
    workload: str
    fleet_digest: str
    workload_digest: str
    checks: list[str]
    violations: list[Violation]
    suppressed: dict[str, int]
    seconds: float


# --------------------------------------------------------------------------- wording


def _t(seconds: float) -> str:
    """A time as the planner reads it: seconds and hours."""
    if not math.isfinite(seconds):
        return f"t={seconds}"
    return f"t={seconds:,.1f} s ({seconds / SECONDS_PER_HOUR:,.2f} h)"


def _num(x: float) -> str:
    return f"{x:,.6g}" if math.isfinite(x) else str(x)


class _Findings:
    """Violations, capped per code."""

    def __init__(self) -> None:
        self.items: list[Violation] = []
        self.count: dict[str, int] = defaultdict(int)

    def add(
        self,
        code: str,
        entity: str,
        message: str,
        measured: float | None = None,
        limit: float | None = None,
        unit: str = "",
    ) -> None:
        self.count[code] += 1
        if self.count[code] <= FINDINGS_PER_CODE:
            ok = lambda x: x if x is None or math.isfinite(x) else None  # noqa: E731 (JSON has no NaN)
            self.items.append(
                Violation(code=code, entity=entity, measured=ok(measured), limit=ok(limit), unit=unit, message=message)
            )

    def suppressed(self) -> dict[str, int]:
        return {c: n - FINDINGS_PER_CODE for c, n in self.count.items() if n > FINDINGS_PER_CODE}


def _close(reported: float, expected: float) -> bool:
    return math.isfinite(reported) and math.isclose(reported, expected, rel_tol=REL_TOL, abs_tol=ABS_TOL)


# --------------------------------------------------------------------------- the fleet's tables


@dataclass
class _Modes:
    speed_of_cap: list[tuple[float, float]]
    idle_share: float


@dataclass
class _Seg:
    """A segment fit for the sweeps: finite times, start < end, and its valid allocation entries."""

    job: int
    start: float
    end: float
    cap: float
    speed: float
    resumed: bool
    doms: np.ndarray
    gpus: np.ndarray
    held: int = 0  # GPUs held: the allocation's sum


@dataclass
class _JobRun:
    segs: list[_Seg] = field(default_factory=list)
    resumed: int = 0
    work_s: float = 0.0


def _domain(fleet: Fleet, d: int) -> str:
    return f"domain {d} (rack {fleet.racks[int(fleet.rack[d])]})"


def _quotas(fleet: Fleet, workload: Workload, tenants: list[str]) -> dict[str, int]:
    owned = fleet.owned_gpus()
    policy = {t.tenant: t for t in workload.tenants}
    out: dict[str, int] = {}
    for t in tenants:
        given = policy[t].quota_gpus if t in policy else None
        out[t] = given if given is not None else owned.get(t, 0)
    return out


def _allowance_at(workload: Workload, site: str, base_mw: float, times: np.ndarray) -> np.ndarray:
    """The site's allowance at each time, evaluated directly from the workload (its own reading of
    :func:`placer.workload.allowance_steps`' definition). O((T + K) log K + T x C)."""
    steps = sorted((a.start_s, a.mw) for a in workload.power.allowance if a.site == site)
    level = np.full(times.shape, float(base_mw))
    if steps:
        starts = np.asarray([s for s, _ in steps])
        mws = np.asarray([m for _, m in steps])
        i = np.searchsorted(starts, times, side="right") - 1
        level = np.where(i >= 0, mws[np.maximum(i, 0)], level)
    for c in workload.power.curtailments:
        if c.site != site:
            continue
        mw = c.mw if c.mw is not None else (c.share or 0.0) * base_mw
        active = (times >= c.start_s) & (times < c.end_s)
        level = np.where(active, np.minimum(level, mw), level)
    return level


def _allowance_breaks(workload: Workload, site: str) -> list[float]:
    out = [a.start_s for a in workload.power.allowance if a.site == site]
    for c in workload.power.curtailments:
        if c.site == site:
            out += [c.start_s, c.end_s]
    return out


# --------------------------------------------------------------------------- rejection claims


def placement_on_empty_fleet(fleet: Fleet, workload: Workload, job: Job, quota: int) -> str | None:
    """Where ``job`` fits on the empty fleet under its rules (tenant's racks under ``owned``,
    its SKU or one SKU, its sites, its quota, its gang), as words; None when nowhere.

    Power is not a placement rule here (an allowance is a time series; the base lets every
    GPU run). For a block gang it takes a block's whole usable SUs largest first, so it may
    miss a placement only a smaller set of SUs fits inside the quota; it never claims one
    that does not exist. O(domains + SUs log SUs)."""
    if job.gpus > quota:
        return None
    mask = np.ones(fleet.domains, dtype=bool)
    if workload.sharing == "owned":
        if job.tenant not in fleet.tenants:
            return None
        mask &= fleet.tenant == fleet.tenants.index(job.tenant)
    if job.sites is not None:
        ids = [fleet.sites.index(s) for s in job.sites if s in fleet.sites]
        mask &= np.isin(fleet.site, ids)
    skus: list[int] = list(range(len(fleet.skus)))
    if job.sku is not None:
        if job.sku not in fleet.skus:
            return None
        skus = [fleet.skus.index(job.sku)]
    for k in skus:
        m = mask & (fleet.sku == k)
        if not m.any():
            continue
        name = fleet.skus[k]
        if job.gang == "domain":
            if fleet.gpus[m].max() >= job.gpus:
                d = int(np.flatnonzero(m & (fleet.gpus >= job.gpus))[0])
                return f"{name} {_domain(fleet, d)} ({int(fleet.gpus[d])} GPUs)"
        elif job.gang == "any":
            if int(fleet.gpus[m].sum()) >= job.gpus:
                return f"{int(fleet.gpus[m].sum()):,} {name} GPUs it may use"
        elif job.gang == "site":
            per = np.bincount(fleet.site[m], weights=fleet.gpus[m], minlength=len(fleet.sites))
            if per.max() >= job.gpus:
                s = int(per.argmax())
                return f"site {fleet.sites[s]} ({int(per[s]):,} {name} GPUs it may use)"
        else:  # block: SUs whose every domain it may use
            bad = np.bincount(fleet.su[~m], minlength=len(fleet.sus)) > 0
            usable = np.flatnonzero(~bad & (np.bincount(fleet.su[m], minlength=len(fleet.sus)) > 0))
            su_block = np.full(len(fleet.sus), -1)
            su_block[fleet.su] = fleet.block
            for b in sorted(set(su_block[usable].tolist())):
                sizes = sorted((int(fleet.su_gpus[u]) for u in usable if su_block[u] == b), reverse=True)
                held = 0
                for n, size in enumerate(sizes, 1):
                    held += size
                    if held >= job.gpus:
                        if held <= quota:
                            return f"block {fleet.blocks[b]} ({n} whole {name} SUs, {held:,} GPUs)"
                        break
    return None


# --------------------------------------------------------------------------- the checker


def verify_cluster(fleet: Fleet, workload: Workload, schedule: ClusterSchedule) -> ClusterReport:
    """Check ``schedule`` against ``fleet`` and ``workload``; see the module docstring for the codes.

    Inputs: the fleet built from the plan with this workload, the workload, the schedule.
    Output: a :class:`ClusterReport`. Complexity: see the module docstring."""
    t0 = time.perf_counter()
    fleet_digest, workload_digest = fleet.digest(), workload.digest()
    f, records, runs, sweep, quota = _run_checks(fleet, workload, schedule, (fleet_digest, workload_digest))
    _check_figures(f, fleet, workload, schedule, records, runs, sweep, quota)
    return ClusterReport(
        valid=not f.items,
        workload=workload.name,
        fleet_digest=fleet_digest,
        workload_digest=workload_digest,
        checks=list(CODES),
        violations=f.items,
        suppressed=f.suppressed(),
        seconds=time.perf_counter() - t0,
    )


def _run_checks(fleet: Fleet, workload: Workload, schedule: ClusterSchedule, digests: tuple[str, str] | None = None):
    """Every check but the reported figures'; returns the findings and what the figures need."""
    f = _Findings()
    fleet_digest, workload_digest = digests or (fleet.digest(), workload.digest())
    _check_digests(f, fleet, schedule, fleet_digest, workload_digest)
    records = _check_records(f, workload, schedule)
    tenants = sorted(set(fleet.tenants) | {t.tenant for t in workload.tenants} | {j.tenant for j in workload.jobs})
    quota = _quotas(fleet, workload, tenants)
    modes = [_sku_modes(workload, k) for k in fleet.skus]
    runs = {
        j: _check_job(f, fleet, workload, modes, j, job, records[job.id], quota)
        for j, job in enumerate(workload.jobs)
        if job.id in records
    }
    sweep = _Sweeps(fleet, workload, [s for r in runs.values() for s in r.segs], tenants, modes)
    sweep.check_domains(f)
    sweep.check_quotas(f, quota)
    sweep.check_power(f)
    return f, records, runs, sweep, quota


def _sku_modes(workload: Workload, sku: str) -> _Modes:
    p = workload.sku_power(sku)
    return _Modes([(m.cap, m.speed) for m in p.modes], p.idle_share)


def _check_digests(f: _Findings, fleet: Fleet, schedule: ClusterSchedule, fleet_digest: str, wl_digest: str) -> None:
    s = schedule.summary
    for what, got, want in (
        ("fleet", s.fleet_digest, fleet_digest),
        ("workload", s.workload_digest, wl_digest),
        ("plan", s.plan_digest, fleet.plan_digest),
    ):
        if got != want:
            f.add(
                "DIGEST_MISMATCH",
                f"summary.{what}_digest",
                f"the schedule was made for another {what} ({got}); this {what} is {want}",
            )


def _check_records(f: _Findings, workload: Workload, schedule: ClusterSchedule) -> dict[str, JobRecord]:
    known = {j.id for j in workload.jobs}
    out: dict[str, JobRecord] = {}
    for i, rec in enumerate(schedule.jobs):
        if rec.id not in known:
            f.add("JOB_RECORDS", f"jobs[{i}]", f"job '{rec.id}' is not in the workload")
        elif rec.id in out:
            f.add("JOB_RECORDS", f"job:{rec.id}", f"job '{rec.id}' has two records (jobs[{i}] again)")
        else:
            out[rec.id] = rec
    missing = [j.id for j in workload.jobs if j.id not in out]
    for jid in missing:
        f.add("JOB_RECORDS", f"job:{jid}", f"job '{jid}' of the workload has no record in the schedule")
    return out


def _check_job(
    f: _Findings,
    fleet: Fleet,
    workload: Workload,
    modes: list[_Modes],
    j: int,
    job: Job,
    rec: JobRecord,
    quota: dict[str, int],
) -> _JobRun:
    """Every per-job rule: segments, allocation, gang, SKU, sites, tenant, pauses, work, state."""
    ent = f"job:{job.id}"
    run = _JobRun()
    horizon = workload.horizon_s
    prev = None  # the previous segment as given (times may be bad)
    checked_alloc = None  # the allocation whose placement rules were last checked
    latest: tuple[int, float] | None = None  # the segment that ends last so far, and its end
    for k, seg in enumerate(rec.segments):
        where = f"{ent}/segment:{k}"
        timed = math.isfinite(seg.start_s) and math.isfinite(seg.end_s) and seg.start_s < seg.end_s
        overlaps = False
        if not timed:
            f.add("SEGMENT_FORM", where, f"runs from {_t(seg.start_s)} to {_t(seg.end_s)}: not a time interval")
        else:
            if seg.start_s < job.arrival_s - TIME_TOL_S:
                f.add(
                    "SEGMENT_FORM",
                    where,
                    f"starts at {_t(seg.start_s)}, before the job arrives at {_t(job.arrival_s)}",
                    seg.start_s,
                    job.arrival_s,
                    "s",
                )
            if horizon is not None and seg.end_s > horizon + TIME_TOL_S:
                f.add(
                    "SEGMENT_FORM",
                    where,
                    f"ends at {_t(seg.end_s)}, after the horizon {_t(horizon)}",
                    seg.end_s,
                    horizon,
                    "s",
                )
            if latest is not None and seg.start_s < latest[1] - TIME_TOL_S:
                overlaps = True  # the job cannot hold two allocations at once: left out of the sweeps
                f.add(
                    "SEGMENT_FORM",
                    where,
                    f"starts at {_t(seg.start_s)}, before segment {latest[0]} ends at {_t(latest[1])} "
                    "(segments must be in time order and must not overlap)",
                    seg.start_s,
                    latest[1],
                    "s",
                )
            if latest is None or seg.end_s > latest[1]:
                latest = (k, seg.end_s)
        # allocation (vectorised: the common case has nothing wrong with it)
        try:
            arr = np.asarray(seg.allocation, dtype=np.int64).reshape(-1, 2)
        except OverflowError:  # an index or count beyond 64 bits names no domain of any fleet
            f.add("ALLOCATION", where, "names a domain index or GPU count beyond any fleet")
            arr = np.zeros((0, 2), dtype=np.int64)
        if not len(arr):
            f.add("ALLOCATION", where, "holds no GPUs (an empty allocation)")
        ok = (arr[:, 0] >= 0) & (arr[:, 0] < fleet.domains) & (arr[:, 1] > 0) & (arr[:, 1] <= MAX_DOMAIN_GPUS)
        if not ok.all() or (len(arr) > 1 and len(set(arr[:, 0].tolist())) != len(arr)):
            ok[:] = False
            seen: set[int] = set()
            for i, (d, g) in enumerate(arr.tolist()):
                if not 0 <= d < fleet.domains:
                    f.add("ALLOCATION", where, f"names domain {d}; the fleet has domains 0..{fleet.domains - 1}")
                elif not 0 < g <= MAX_DOMAIN_GPUS:
                    f.add("ALLOCATION", where, f"holds {g} GPUs on {_domain(fleet, d)} (must be > 0 and a domain's)")
                elif d in seen:
                    f.add("ALLOCATION", where, f"lists {_domain(fleet, d)} twice")
                else:
                    seen.add(d)
                    ok[i] = True
        da, ga = arr[ok, 0], arr[ok, 1]
        doms = len(da) > 0
        held = int(ga.sum())
        if doms and job.gang != "block" and held != job.gpus:
            f.add(
                "ALLOCATION",
                where,
                f"holds {held:,} GPUs; the job needs {job.gpus:,}",
                held,
                job.gpus,
                "GPUs",
            )
        # power mode
        if doms:
            m = modes[int(fleet.sku[da[0]])]
            mode = next((sp for cap, sp in m.speed_of_cap if abs(cap - seg.cap) <= MODE_TOL), None)
            sku_name = fleet.skus[int(fleet.sku[da[0]])]
            if mode is None:
                caps = ", ".join(f"{c:g}" for c, _ in m.speed_of_cap)
                f.add("SEGMENT_MODE", where, f"runs at cap {seg.cap:g}, not a power mode of {sku_name} ({caps})")
            elif not abs(mode - seg.speed) <= MODE_TOL:
                f.add(
                    "SEGMENT_MODE",
                    where,
                    f"runs at speed {seg.speed:g} at cap {seg.cap:g}; {sku_name}'s speed there is {mode:g}",
                    seg.speed,
                    mode,
                )
        # continuity
        if seg.resumed:
            run.resumed += 1
            if k == 0:
                f.add("SEGMENT_CONTINUITY", where, "the first segment is marked resumed: there is nothing to resume")
            if not job.preemptible:
                f.add(
                    "NOT_PREEMPTIBLE",
                    where,
                    f"resumes from a checkpoint at {_t(seg.start_s)}; the job may not be paused",
                )
        elif prev is not None:
            if sorted(seg.allocation) != sorted(prev.allocation):
                f.add(
                    "SEGMENT_CONTINUITY",
                    where,
                    "is not resumed but holds another allocation than segment "
                    f"{k - 1} (a move is a resume from a checkpoint)",
                )
            if not abs(seg.start_s - prev.end_s) <= TIME_TOL_S:
                f.add(
                    "SEGMENT_CONTINUITY",
                    where,
                    f"is not resumed but starts at {_t(seg.start_s)}, not where segment {k - 1} ended "
                    f"({_t(prev.end_s)})",
                    seg.start_s,
                    prev.end_s,
                    "s",
                )
        if timed:
            run.work_s += (seg.end_s - seg.start_s) * seg.speed
        # a continuation on the same allocation (a cap change) breaks the same placement rules again: once is enough
        same_place = not seg.resumed and checked_alloc == sorted(seg.allocation)
        if timed and doms and not overlaps:
            run.segs.append(_Seg(j, seg.start_s, seg.end_s, seg.cap, seg.speed, seg.resumed, da, ga, held))
        if timed and doms and not overlaps and not same_place:
            checked_alloc = sorted(seg.allocation)
            _check_gang(f, fleet, workload, job, where, da, ga)
            skus = {int(x) for x in fleet.sku[da]}
            if job.sku is not None and {fleet.skus[x] for x in skus} != {job.sku}:
                names = ", ".join(sorted(fleet.skus[x] for x in skus))
                f.add("JOB_SKU", where, f"runs on {names}; the job must run on {job.sku}")
            elif len(skus) > 1:
                names = ", ".join(sorted(fleet.skus[x] for x in skus))
                f.add("JOB_SKU", where, f"mixes SKUs ({names}); a job runs on one SKU")
        prev = seg
    if (
        not job.preemptible
        and rec.state == "unfinished"
        and run.segs
        and horizon is not None
        and run.segs[-1].end < horizon - TIME_TOL_S
    ):
        f.add(
            "NOT_PREEMPTIBLE",
            ent,
            f"stops at {_t(run.segs[-1].end)} unfinished, before the horizon {_t(horizon)}; the job may not be paused",
        )
    _check_state(f, fleet, workload, job, rec, run, quota)
    return run


def _check_gang(
    f: _Findings, fleet: Fleet, workload: Workload, job: Job, where: str, doms: np.ndarray, gpus: np.ndarray
) -> None:
    if job.gang == "domain" and len(doms) > 1:
        f.add(
            "GANG_DOMAIN",
            where,
            f"spreads over {len(doms)} domains; the job needs all {job.gpus:,} GPUs in one NVLink domain",
            len(doms),
            1,
            "domains",
        )
    sites = sorted({fleet.sites[s] for s in fleet.site[doms].tolist()})
    if job.gang == "site" and len(sites) > 1:
        f.add("GANG_SITE", where, f"spreads over sites {', '.join(sites)}; the job must run at one site", len(sites), 1)
    if job.gang == "block":
        blocks = sorted({fleet.blocks[b] for b in fleet.block[doms].tolist()})
        problems = []
        if len(blocks) > 1:
            problems.append(
                f"spreads over {len(blocks)} blocks ({', '.join(blocks[:4])}{'...' if len(blocks) > 4 else ''})"
            )
        held = dict(zip(doms.tolist(), gpus.tolist(), strict=True))
        partial = []
        for u in sorted({int(x) for x in fleet.su[doms]}):
            members = np.flatnonzero(fleet.su == u)
            have = sum(held.get(int(d), 0) for d in members)
            if any(held.get(int(d), 0) != int(fleet.gpus[d]) for d in members):
                partial.append(f"{fleet.sus[u]} ({have:,} of {int(fleet.su_gpus[u]):,} GPUs)")
        if partial:
            more = f" and {len(partial) - 3} more" if len(partial) > 3 else ""
            problems.append(f"holds part of SU {', '.join(partial[:3])}{more}")
        total = int(gpus.sum())
        if total < job.gpus:
            problems.append(f"holds {total:,} GPUs of the {job.gpus:,} it needs")
        if problems:
            f.add("GANG_BLOCK", where, "a block job " + "; ".join(problems) + " (whole SUs in one block)")
    if job.sites is not None:
        bad = [s for s in sites if s not in job.sites]
        if bad:
            f.add("JOB_SITES", where, f"runs at {', '.join(bad)}; the job may run only at {', '.join(job.sites)}")
    if workload.sharing == "owned":
        owners = sorted({fleet.tenants[int(t)] for t in fleet.tenant[doms]} - {job.tenant})
        if owners:
            n = int(sum(1 for d in doms if fleet.tenants[int(fleet.tenant[d])] != job.tenant))
            f.add(
                "TENANT_RACKS",
                where,
                f"tenant {job.tenant}'s job runs on {n} domain(s) of {', '.join(owners)} (sharing: owned)",
            )


def _check_state(
    f: _Findings, fleet: Fleet, workload: Workload, job: Job, rec: JobRecord, run: _JobRun, quota: dict[str, int]
) -> None:
    ent = f"job:{job.id}"
    required = job.duration_s + job.checkpoint_s * run.resumed
    tol = REL_TOL * max(1.0, required)
    last_end = rec.segments[-1].end_s if rec.segments else None
    first = rec.segments[0].start_s if rec.segments else None
    if rec.first_start_s != first and not (
        first is not None and rec.first_start_s is not None and abs(rec.first_start_s - first) <= TIME_TOL_S
    ):
        f.add(
            "REPORTED_MISMATCH",
            f"{ent}/first_start_s",
            f"reports its first start at {rec.first_start_s}; its first segment starts at {first}",
        )
    if rec.state == "completed":
        if abs(run.work_s - required) > tol:
            f.add(
                "JOB_WORK",
                ent,
                f"completed after {_num(run.work_s)} full-speed seconds of work; it needs {_num(required)} "
                f"({_num(job.duration_s)} s + {run.resumed} resume(s) x {_num(job.checkpoint_s)} s checkpoint)",
                run.work_s,
                required,
                "s",
            )
        if rec.end_s is None or last_end is None or not abs(rec.end_s - last_end) <= TIME_TOL_S:
            f.add(
                "JOB_WORK",
                f"{ent}/end_s",
                f"reports completion at {rec.end_s}; its last segment ends at {last_end}",
                rec.end_s,
                last_end,
                "s",
            )
    elif rec.state == "unfinished":
        if workload.horizon_s is None:
            f.add(
                "JOB_UNFINISHED",
                ent,
                "is reported unfinished but the workload has no horizon: every job must complete or be rejected",
            )
        if run.work_s >= required - tol:
            f.add(
                "JOB_UNFINISHED",
                ent,
                f"is reported unfinished but did all its work ({_num(run.work_s)} of {_num(required)} full-speed s)",
                run.work_s,
                required,
                "s",
            )
        if rec.end_s is not None:
            f.add("JOB_UNFINISHED", f"{ent}/end_s", f"is unfinished but reports completion at {_t(rec.end_s)}")
    else:
        if rec.segments:
            f.add("JOB_REJECTED", ent, f"is reported rejected but has {len(rec.segments)} segment(s)")
        if rec.end_s is not None:
            f.add("JOB_REJECTED", f"{ent}/end_s", f"is rejected but reports completion at {_t(rec.end_s)}")
        if not rec.reason.strip():
            f.add("JOB_REJECTED", f"{ent}/reason", "is rejected without a reason")
        fit = placement_on_empty_fleet(fleet, workload, job, quota.get(job.tenant, 0))
        if fit is not None:
            f.add(
                "JOB_REJECTED",
                ent,
                f"is rejected as impossible ({rec.reason or 'no reason'}) but its {job.gpus:,}-GPU {job.gang} gang "
                f"fits the empty fleet: {fit}",
            )


# --------------------------------------------------------------------------- sweeps over time


class _Sweeps:
    """The segments' start and end events, sorted once per key (domain, tenant, site).

    Segments are half-open ``[start, end)``: at one instant ends are applied before starts, so
    a job handing GPUs to another at ``t`` is not double-booking."""

    def __init__(self, fleet: Fleet, workload: Workload, segs: list[_Seg], tenants: list[str], modes: list[_Modes]):
        self.fleet, self.workload, self.segs, self.tenants = fleet, workload, segs, tenants
        self.modes = modes
        n = len(segs)
        lens = np.asarray([len(s.doms) for s in segs], dtype=np.int64)
        self.seg_of_row = np.repeat(np.arange(n), lens)
        self.dom = np.concatenate([s.doms for s in segs]) if n else np.zeros(0, dtype=np.int64)
        self.g = np.concatenate([s.gpus for s in segs]) if n else np.zeros(0, dtype=np.int64)
        self.start = np.asarray([s.start for s in segs], dtype=np.float64)
        self.end = np.asarray([s.end for s in segs], dtype=np.float64)
        self.cap = np.asarray([s.cap for s in segs], dtype=np.float64)
        tix = {t: i for i, t in enumerate(tenants)}
        self.seg_tenant = np.asarray([tix[workload.jobs[s.job].tenant] for s in segs], dtype=np.int64)
        self.seg_held = np.asarray([s.held for s in segs], dtype=np.int64)
        self.first_arrival = min((j.arrival_s for j in workload.jobs), default=0.0)
        self.last_end = float(self.end.max()) if n else None
        self.makespan = max(0.0, self.last_end - self.first_arrival) if self.last_end is not None else 0.0
        self.fragment_gpu_s = 0.0
        self.tenant_peak: dict[str, int] = {t: 0 for t in tenants}
        self.site_rows: list[tuple[float, float, float, float]] = []  # base, peak, least headroom, energy

    @staticmethod
    def _events(keys: np.ndarray, t_on: np.ndarray, t_off: np.ndarray, amount: np.ndarray):
        """Sorted (key, time, delta) with ends first at a tie, and the running total per key."""
        k = np.concatenate([keys, keys])
        t = np.concatenate([t_on, t_off])
        d = np.concatenate([amount, -amount])
        order = np.lexsort((d, t, k))
        k, t, d = k[order], t[order], d[order]
        return k, t, d, np.cumsum(d)  # every key's deltas sum to 0, so the global sum is per key

    def check_domains(self, f: _Findings) -> None:
        fleet = self.fleet
        rows = self.seg_of_row
        k, t, _, held = self._events(self.dom, self.start[rows], self.end[rows], self.g)
        over = held > fleet.gpus[k]
        for d in np.unique(k[over]).tolist():
            sel = over & (k == d)
            first = float(t[sel][0])
            peak = int(held[sel].max())
            jobs = sorted(
                {
                    self.workload.jobs[self.segs[int(s)].job].id
                    for s in rows[self.dom == d]
                    if self.start[s] <= first < self.end[s]
                }
            )
            f.add(
                "DOUBLE_BOOKED",
                f"domain:{d}",
                f"{_domain(fleet, d)} has {int(fleet.gpus[d])} GPUs but its jobs hold {peak} at once "
                f"(first at {_t(first)}: {', '.join(jobs[:6])})",
                peak,
                int(fleet.gpus[d]),
                "GPUs",
            )
        # fragmentation: free GPUs of partly used domains, integrated between consecutive events
        if len(k) > 1:
            same = k[1:] == k[:-1]
            cap = fleet.gpus[k[:-1]]
            h = held[:-1]
            free = np.where((h > 0) & (h < cap), cap - h, 0)
            self.fragment_gpu_s = float(np.sum(np.where(same, (t[1:] - t[:-1]) * free, 0.0)))

    def check_quotas(self, f: _Findings, quota: dict[str, int]) -> None:
        k, t, _, held = self._events(self.seg_tenant, self.start, self.end, self.seg_held)
        for i, name in enumerate(self.tenants):
            sel = k == i
            if not sel.any():
                continue
            self.tenant_peak[name] = int(held[sel].max())
            over = sel & (held > quota[name])
            if over.any():
                f.add(
                    "QUOTA",
                    f"tenant:{name}",
                    f"tenant {name} holds up to {int(held[over].max()):,} GPUs against its quota of "
                    f"{quota[name]:,} (first at {_t(float(t[over][0]))})",
                    int(held[over].max()),
                    quota[name],
                    "GPUs",
                )

    def check_power(self, f: _Findings) -> None:
        fleet = self.fleet
        rows = self.seg_of_row
        idle = np.asarray([self.modes[int(k)].idle_share for k in fleet.sku], dtype=np.float64)
        mw_per_gpu = fleet.pue[fleet.site] * fleet.kw_per_gpu / 1000.0  # facility MW per GPU at full power
        idle_mw = np.bincount(fleet.site, weights=fleet.gpus * idle * mw_per_gpu, minlength=len(fleet.sites))
        delta = self.g * mw_per_gpu[self.dom] * (self.cap[rows] - idle[self.dom])
        row_site = fleet.site[self.dom]
        end_of_window = self.last_end
        for s, site in enumerate(fleet.sites):
            sel = row_site == s
            t_on, t_off, dm = self.start[rows[sel]], self.end[rows[sel]], delta[sel]
            times = np.concatenate([t_on, t_off])
            deltas = np.concatenate([dm, -dm])
            order = np.argsort(times, kind="stable")
            times, run = times[order], np.cumsum(deltas[order])
            brk = [0.0, *times.tolist(), *_allowance_breaks(self.workload, site)]
            pts = np.unique(np.asarray(brk, dtype=np.float64))
            if end_of_window is None:
                pts = pts[:1]
            else:
                pts = pts[(pts >= 0.0) & (pts < end_of_window)]
                if len(pts) == 0:
                    pts = np.asarray([0.0])
            i = np.searchsorted(times, pts, side="right") - 1
            draw = idle_mw[s] + np.where(i >= 0, run[np.maximum(i, 0)] if len(run) else 0.0, 0.0)
            allow = _allowance_at(self.workload, site, float(fleet.base_mw[s]), pts)
            slack = np.asarray([limit_slack(float(a)) for a in allow])
            over = draw > allow + slack
            if over.any():
                idx = np.flatnonzero(over)
                # one finding per run of consecutive over-drawn breakpoints
                splits = np.flatnonzero(np.diff(idx) > 1) + 1
                for grp in np.split(idx, splits):
                    w = int(grp[np.argmax(draw[grp] - allow[grp])])
                    t_from = float(pts[grp[0]])
                    t_to = float(pts[grp[-1] + 1]) if grp[-1] + 1 < len(pts) else end_of_window
                    floor = " (its idle GPUs alone draw more)" if idle_mw[s] > allow[w] + slack[w] else ""
                    f.add(
                        "SITE_POWER",
                        f"site:{site}",
                        f"site {site} draws up to {draw[w]:,.3f} MW against an allowance of {allow[w]:,.3f} MW "
                        f"from {_t(t_from)} to {_t(t_to if t_to is not None else t_from)}{floor}",
                        float(draw[w]),
                        float(allow[w]),
                        "MW",
                    )
            if end_of_window is None:
                energy = 0.0
            else:
                edges = np.append(pts, max(end_of_window, float(pts[-1])))
                energy = float(np.sum(draw * np.diff(edges))) / SECONDS_PER_HOUR
            self.site_rows.append((float(fleet.base_mw[s]), float(draw.max()), float((allow - draw).min()), energy))


# --------------------------------------------------------------------------- reported figures


def _check_figures(
    f: _Findings,
    fleet: Fleet,
    workload: Workload,
    schedule: ClusterSchedule,
    records: dict[str, JobRecord],
    runs: dict[int, _JobRun],
    sweep: _Sweeps,
    quota: dict[str, int],
) -> None:
    want = expected_figures(fleet, workload, records, runs, sweep, quota)
    got = schedule.metrics.model_dump()
    for name, value in want["metrics"].items():
        _compare(f, f"metrics.{name}", got[name], value)
    _compare_rows(
        f, "tenants", {r.tenant: r for r in schedule.tenants}, want["tenants"], "unknown to fleet and workload"
    )
    _compare_rows(f, "sites", {r.site: r for r in schedule.sites}, want["sites"], "not in the fleet")
    _check_decisions(f, schedule)


def _compare_rows(f: _Findings, kind: str, rows: dict[str, object], want: dict[str, dict], unknown: str) -> None:
    """Each expected row's figures against the reported row of that name; a missing or unknown row is a finding."""
    what = kind[:-1]
    for name, exp in want.items():
        row = rows.pop(name, None)
        if row is None:
            f.add("REPORTED_MISMATCH", f"{kind}:{name}", f"the schedule has no row for {what} {name}")
            continue
        for key, value in exp.items():
            _compare(f, f"{kind}[{name}].{key}", getattr(row, key), value)
    for name in rows:
        f.add("REPORTED_MISMATCH", f"{kind}:{name}", f"the schedule reports {what} {name}, {unknown}")


def _compare(f: _Findings, entity: str, reported, expected) -> None:
    if isinstance(expected, int) and not isinstance(expected, bool):
        ok = reported == expected
    else:
        ok = _close(float(reported), float(expected))
    if not ok:
        f.add(
            "REPORTED_MISMATCH",
            entity,
            f"the schedule reports {_num(float(reported))}, recomputed {_num(float(expected))}",
            float(reported),
            float(expected),
        )


def expected_figures(
    fleet: Fleet,
    workload: Workload,
    records: dict[str, JobRecord],
    runs: dict[int, _JobRun],
    sweep: _Sweeps,
    quota: dict[str, int],
) -> dict:
    """The metrics, tenant rows and site rows recomputed by :mod:`placer.cluster_stats`'
    definitions from the checked segments. O(segments + jobs log jobs)."""
    jobs = workload.jobs
    state = {j.id: records[j.id].state for j in jobs if j.id in records}
    jct, queue = [], []
    capped = paused = 0.0
    migrations = pauses = 0
    horizon = workload.horizon_s
    tenant_gpu_s: dict[str, float] = defaultdict(float)
    for j, run in runs.items():
        job = jobs[j]
        if run.segs:
            queue.append(run.segs[0].start - job.arrival_s)
        if state.get(job.id) == "completed" and run.segs:
            jct.append(run.segs[-1].end - job.arrival_s)
        prev = None
        for s in run.segs:
            dur = s.end - s.start
            capped += s.held * (1.0 - s.speed) * dur
            tenant_gpu_s[job.tenant] += s.held * dur
            if prev is not None and s.resumed:
                paused += prev.held * max(0.0, s.start - prev.end)
                if s.start > prev.end + TIME_TOL_S:
                    pauses += 1
                if sorted(zip(s.doms.tolist(), s.gpus.tolist(), strict=True)) != sorted(
                    zip(prev.doms.tolist(), prev.gpus.tolist(), strict=True)
                ):
                    migrations += 1
            if s.resumed:
                paused += s.held * job.checkpoint_s
            prev = s
        if (
            state.get(job.id) == "unfinished"
            and run.segs
            and horizon is not None
            and run.segs[-1].end < horizon - TIME_TOL_S
        ):
            pauses += 1
            paused += run.segs[-1].held * (horizon - run.segs[-1].end)
    makespan = sweep.makespan
    held_gpu_s = float(np.sum(sweep.seg_held * (sweep.end - sweep.start))) if sweep.segs else 0.0
    denom = fleet.total_gpus * makespan
    metrics = {
        "jobs": len(jobs),
        "completed": sum(1 for s in state.values() if s == "completed"),
        "unfinished": sum(1 for s in state.values() if s == "unfinished"),
        "rejected": sum(1 for s in state.values() if s == "rejected"),
        "mean_jct_s": float(np.mean(jct)) if jct else 0.0,
        "p99_jct_s": percentile(jct, 99),
        "mean_queue_s": float(np.mean(queue)) if queue else 0.0,
        "p99_queue_s": percentile(queue, 99),
        "makespan_s": makespan,
        "utilisation": held_gpu_s / denom if denom > 0 else 0.0,
        "fragmentation": sweep.fragment_gpu_s / denom if denom > 0 else 0.0,
        "gpu_hours_lost_to_power": (capped + paused) / SECONDS_PER_HOUR,
        "gpu_hours_capped": capped / SECONDS_PER_HOUR,
        "gpu_hours_paused": paused / SECONDS_PER_HOUR,
        "migrations": migrations,
        "pauses": pauses,
    }
    weight = {t.tenant: t.weight for t in workload.tenants}
    tenants = {}
    for name in sorted(set(fleet.tenants) | {t.tenant for t in workload.tenants}):
        gs = tenant_gpu_s.get(name, 0.0)
        mean = gs / makespan if makespan > 0 else 0.0
        q = quota[name]
        tenants[name] = {
            "quota_gpus": q,
            "weight": weight.get(name, 1.0),
            "mean_gpus_held": mean,
            "peak_gpus_held": sweep.tenant_peak.get(name, 0),
            "share_of_quota": mean / q if q > 0 else 0.0,
            "gpu_hours": gs / SECONDS_PER_HOUR,
        }
    sites = {
        name: dict(zip(("base_mw", "peak_mw", "least_headroom_mw", "energy_mwh"), row, strict=True))
        for name, row in zip(fleet.sites, sweep.site_rows, strict=True)
    }
    return {"metrics": metrics, "tenants": tenants, "sites": sites}


def _check_decisions(f: _Findings, schedule: ClusterSchedule) -> None:
    d = schedule.decisions
    problems = []
    values = {"mean_s": d.mean_s, "p99_s": d.p99_s, "max_s": d.max_s, "total_s": d.total_s}
    if d.events < 0 or any(not math.isfinite(v) or v < 0 for v in values.values()):
        problems.append("a negative or non-finite figure")
    else:
        if d.p99_s > d.max_s + ABS_TOL or d.mean_s > d.max_s + ABS_TOL:
            problems.append(f"mean {_num(d.mean_s)} s or p99 {_num(d.p99_s)} s above the max {_num(d.max_s)} s")
        if not _close(d.mean_s * d.events, d.total_s):
            problems.append(f"mean {_num(d.mean_s)} s x {d.events} events is not the total {_num(d.total_s)} s")
        if d.events == 0 and d.max_s > 0:
            problems.append("a decision time without an event")
    if not math.isfinite(schedule.summary.wall_s) or schedule.summary.wall_s < 0:
        problems.append(f"summary.wall_s {schedule.summary.wall_s}")
    for p in problems:
        f.add("REPORTED_MISMATCH", "decisions", f"the decision times do not add up: {p}")


def recomputed_figures(
    fleet: Fleet, workload: Workload, schedule: ClusterSchedule
) -> tuple[Metrics, list[TenantShare], list[SitePower]]:
    """The checker's own metrics, tenant rows and site rows for ``schedule`` (what a correct
    schedule reports): for tests that inject a violation and keep the figures consistent, and
    for a reader comparing a report. O(as :func:`verify_cluster`)."""
    _, records, runs, sweep, quota = _run_checks(fleet, workload, schedule)
    want = expected_figures(fleet, workload, records, runs, sweep, quota)
    return (
        Metrics(**want["metrics"]),
        [TenantShare(tenant=t, **row) for t, row in want["tenants"].items()],
        [SitePower(site=s, **row) for s, row in want["sites"].items()],
    )


__all__ = [
    "CODES",
    "FINDINGS_PER_CODE",
    "ClusterReport",
    "expected_figures",
    "placement_on_empty_fleet",
    "recomputed_figures",
    "verify_cluster",
]
