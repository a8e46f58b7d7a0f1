"""The discrete-event simulator: plays a workload's jobs over a fleet with any cluster scheduler.

:func:`simulate` advances from event to event:

* **completions** happen at their exact instant (a job's segment ends when its work is done)
  and free their GPUs then; **arrivals** join the queue in arrival order. The scheduler is
  called at the next multiple of ``interval_s`` after either (Slurm's scheduling interval), so
  freed GPUs stay idle until that tick;
* **allowance changes** are events at their own instant: when a site's draw exceeds its new
  allowance the scheduler's power response is called first (pauses, caps), then the scheduler.

At each event the simulator builds a :class:`~solvers.cluster_engine.ClusterState`, calls
``scheduler.decide`` and applies the decision in the contract's order (pauses, caps, starts,
rejects), checking every part: a start's GPUs are free, on racks the job may use (tenant, SKU,
sites), under its gang rule (a block-unaware scheduler's 'block' jobs on whole SUs at one site),
within its tenant's quota; a cap is one of the SKU's power modes; every site it raises stays
within its allowance. A bad decision raises :class:`~solvers.cluster_engine.SchedulerBug`. A site
left over its allowance with nothing more to give (only non-preemptible jobs, all at their lowest
mode) is recorded in the schedule's notes and left for the checker to report.

Every decide call is timed (the schedule's ``decisions``); the metrics, tenant shares and site
power are computed here from the simulator's own piecewise-constant integrals (the checker
recomputes them from the segments). Time averages run over the makespan, from the first
arrival to the last end; energy likewise.

Complexity per event: O(domains) numpy for the draw and fragmentation, O(queue) for the queue's
bookkeeping when jobs start, plus the scheduler's own time; O(jobs + segments) at the end.
"""

from __future__ import annotations

import bisect
import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import placer
from placer.cluster_schedule import (
    ClusterSchedule,
    DecisionTimes,
    JobRecord,
    Metrics,
    ScheduleSummary,
    Segment,
    SitePower,
    TenantShare,
)
from placer.cluster_stats import SECONDS_PER_HOUR, percentile
from placer.errors import InputError
from placer.fleet import Fleet
from placer.workload import Job, Workload, allowance_steps
from solvers.cluster_alloc import FleetIndex, fleet_index
from solvers.cluster_engine import (
    ClusterScheduler,
    ClusterState,
    Decision,
    QueuedJob,
    RunningJob,
    SchedulerBug,
    SkuPowerTable,
)

TOL_MW = 1e-6  # a site's draw may exceed its allowance by float noise only
EXACT_EVERY = 64  # events between exact O(domains) re-reads of the levels


@dataclass
class _Live:
    """The simulator's own record of a job (the scheduler sees QueuedJob / RunningJob)."""

    job: Job
    order: int
    tenant: int  # fleet tenant index, -1 unknown
    segments: list[Segment] = field(default_factory=list)
    open: tuple | None = None  # (start_s, cap, speed, resumed, allocation list)
    doms: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    gpus: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    held: int = 0
    version: int = 0
    state: str = "waiting"  # waiting, queued, running, completed, rejected
    reason: str = ""
    first_start_s: float | None = None
    end_s: float | None = None
    last_alloc: list | None = None
    carry_resumed: bool = False  # a zero-length resumed segment was dropped: the next one at that instant is resumed


def _power_tables(fleet: Fleet, workload: Workload) -> list[SkuPowerTable]:
    out = []
    for k in fleet.skus:
        sp = workload.sku_power(k)
        modes = sorted(sp.modes, key=lambda m: m.cap)
        out.append(
            SkuPowerTable(
                caps=np.array([m.cap for m in modes]),
                speeds=np.array([m.speed for m in modes]),
                idle_share=sp.idle_share,
            )
        )
    return out


def _check_power_input(fleet: Fleet, workload: Workload, ix: FleetIndex, file: str) -> None:
    """Refuse an allowance below a site's idle draw (every GPU idle): no schedule can meet it."""
    site_of = {s: i for i, s in enumerate(fleet.sites)}
    pw = workload.power

    def idle(site: str, where: str) -> tuple[int, float]:
        if site not in site_of:
            raise InputError(f"site '{site}' is not in the fleet ({', '.join(fleet.sites)})", file=file, where=where)
        s = site_of[site]
        return s, float(ix.idle_mw[s])

    def low(mw: float, s: int, idle_mw: float, where: str, what: str) -> None:
        if mw < idle_mw - 1e-9:
            raise InputError(
                f"{what} of {mw:.3f} MW at site '{fleet.sites[s]}' is below the site's idle draw of "
                f"{idle_mw:.3f} MW (every GPU idle); no schedule can meet it",
                file=file,
                where=where,
            )

    for site, mw in pw.base_mw.items():
        s, i = idle(site, f"power.base_mw.{site}")
        low(mw, s, i, f"power.base_mw.{site}", "the base allowance")
    for n, a in enumerate(pw.allowance):
        s, i = idle(a.site, f"power.allowance[{n}].site")
        low(a.mw, s, i, f"power.allowance[{n}].mw", "the allowance")
    for n, c in enumerate(pw.curtailments):
        s, i = idle(c.site, f"power.curtailments[{n}].site")
        mw = c.mw if c.mw is not None else (c.share or 0.0) * float(fleet.base_mw[s])
        low(mw, s, i, f"power.curtailments[{n}]", "the curtailed allowance")


def _order(q: QueuedJob) -> int:
    return q.order


def _tick(t: float, interval_s: float) -> float:
    return math.ceil(t / interval_s - 1e-9) * interval_s


def simulate(
    fleet: Fleet,
    workload: Workload,
    scheduler: ClusterScheduler,
    *,
    interval_s: float = 60.0,
    seed: int = 0,
    workers: int = 1,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    workload_file: str = "workload",
) -> ClusterSchedule:
    """Play ``workload`` over ``fleet`` with ``scheduler``; return the schedule with its figures.

    Inputs: the fleet (:func:`placer.fleet.fleet_from_plan`), the workload, a scheduler (from
    :data:`solvers.cluster_schedulers.SCHEDULERS`), the scheduling interval, the seed and worker
    count it was built with (recorded). ``on_event`` is called after every scheduling event with
    ``{"now_s", "queued", "running", "completed", "rejected", "decision_s", "starts"}``.
    Raises InputError (one line, naming ``workload_file``) for an allowance below a site's idle
    draw or an unknown site; SchedulerBug for a decision the fleet cannot carry."""
    wall0 = time.perf_counter()
    if interval_s <= 0:
        raise InputError("the scheduling interval must be > 0 s", where="interval_s")
    power = _power_tables(fleet, workload)
    ix = fleet_index(fleet, np.array([p.idle_share for p in power]))
    _check_power_input(fleet, workload, ix, workload_file)
    n_sites = len(fleet.sites)
    allow = [allowance_steps(workload, s, float(fleet.base_mw[i])) for i, s in enumerate(fleet.sites)]
    owned = fleet.owned_gpus()
    quota = {t: owned.get(t, 0) for t in fleet.tenants}
    weight = {t: 1.0 for t in fleet.tenants}
    for tp in workload.tenants:
        quota[tp.tenant] = tp.quota_gpus if tp.quota_gpus is not None else owned.get(tp.tenant, 0)
        weight[tp.tenant] = tp.weight
    horizon = workload.horizon_s if workload.horizon_s is not None else math.inf
    pooled = workload.sharing == "pooled"
    topology_aware = scheduler.capabilities.topology_aware

    jobs = workload.jobs
    order = sorted(range(len(jobs)), key=lambda i: (jobs[i].arrival_s, i))
    live: dict[str, _Live] = {}
    arrivals: list[_Live] = []
    for rank, i in enumerate(order):
        j = jobs[i]
        lv = _Live(job=j, order=rank, tenant=ix.tenant_of.get(j.tenant, -1))
        live[j.id] = lv
        arrivals.append(lv)

    free = ix.dom_gpus.copy()
    cap_gpus = np.zeros(fleet.domains, dtype=np.float64)
    held_by_tenant = dict.fromkeys(sorted(set(fleet.tenants) | set(quota)), 0)
    queue: list[QueuedJob] = []  # in FIFO order (QueuedJob.order)
    queued: dict[str, QueuedJob] = {}
    running: dict[str, RunningJob] = {}
    heap: list[tuple[float, int, str, int]] = []
    allow_now = np.array([a[0][1] for a in allow], dtype=np.float64)
    allow_times = sorted({t for a in allow for t, _ in a if t > 0})
    allow_ptr = 0
    notes: list[str] = []
    decision_s: list[float] = []
    n_completed = n_rejected = n_events = 0
    seq = 0

    # piecewise-constant integrals over [first arrival, last end]
    t_first = jobs[order[0]].arrival_s if jobs else 0.0
    acc = {"held": 0.0, "frag": 0.0, "pause": 0.0}
    tenant_names = list(held_by_tenant)  # fleet and workload tenants, sorted
    acc_tenant = np.zeros(len(tenant_names))
    site_log: list[tuple[float, float, np.ndarray, np.ndarray]] = []  # (from, to, draw, allowance)
    peak_tenant = np.zeros(len(tenant_names), dtype=np.int64)
    cur = {"t": 0.0, "held": 0, "frag": 0.0}
    cur_tenant = np.zeros(len(tenant_names))
    cur_draw = ix.site_draw_mw(free, cap_gpus)
    cur_allow = allow_now.copy()
    big = fleet.gpus.astype(np.int64)

    frag_d = np.zeros(fleet.domains)  # each domain's part of the current levels
    draw_d = np.zeros(fleet.domains)
    dirty: list[np.ndarray] = []  # domains changed since the levels were last read

    def refresh(t: float, exact: bool = True) -> None:
        """Integrate the current levels up to t, then re-read them from the fleet's state: all of
        it (O(domains)) when ``exact``, else only the domains changed since (a completion)."""
        nonlocal cur_draw
        dt = t - cur["t"]
        if dt > 0:
            acc["held"] += cur["held"] * dt
            acc["frag"] += cur["frag"] * dt
            acc_tenant[:] += cur_tenant * dt
            site_log.append((cur["t"], t, cur_draw.copy(), cur_allow.copy()))
            cur["t"] = t
        if exact:
            draw_d[:] = ix.mw_per_gpu * (cap_gpus + free * ix.dom_idle)
            frag_d[:] = np.where((free > 0) & (free < big), free, 0)
            cur_draw = np.bincount(ix.dom_site, weights=draw_d, minlength=n_sites)
            cur["frag"] = float(frag_d.sum())
        elif dirty:
            d = np.unique(np.concatenate(dirty))
            new_draw = ix.mw_per_gpu[d] * (cap_gpus[d] + free[d] * ix.dom_idle[d])
            cur_draw = cur_draw + np.bincount(ix.dom_site[d], weights=new_draw - draw_d[d], minlength=n_sites)
            draw_d[d] = new_draw
            f = free[d]
            new_frag = np.where((f > 0) & (f < big[d]), f, 0)
            cur["frag"] += float((new_frag - frag_d[d]).sum())
            frag_d[d] = new_frag
        dirty.clear()
        cur["held"] = sum(held_by_tenant.values())
        for i, tn in enumerate(tenant_names):
            cur_tenant[i] = held_by_tenant[tn]
        np.maximum(peak_tenant, cur_tenant.astype(np.int64), out=peak_tenant)
        cur_allow[:] = allow_now

    def open_segment(lv: _Live, t: float, cap: float, speed: float, resumed: bool) -> None:
        lv.open = (t, cap, speed, resumed or lv.carry_resumed, lv.last_alloc)
        lv.carry_resumed = False

    def close_segment(lv: _Live, t: float) -> None:
        if lv.open is None:
            return
        start, cap, speed, resumed, alloc = lv.open
        lv.open = None
        if t <= start:
            # a start and a cap change (or a pause) at one instant: no time ran at that cap, so no
            # segment; a resume's checkpoint is still owed by the segment that follows at this instant
            lv.carry_resumed = resumed
            return
        lv.segments.append(Segment(start_s=start, end_s=t, cap=cap, speed=speed, resumed=resumed, allocation=alloc))

    def speed_of(lv: _Live, cap: float) -> float:
        tbl = power[int(ix.dom_sku[lv.doms[0]])]
        hit = np.flatnonzero(np.abs(tbl.caps - cap) < 1e-12)
        if hit.size == 0:
            raise SchedulerBug(
                f"job '{lv.job.id}': cap {cap} is not a power mode of sku '{fleet.skus[int(ix.dom_sku[lv.doms[0]])]}' "
                f"({', '.join(str(c) for c in tbl.caps)})"
            )
        return float(tbl.speeds[hit[0]])

    def release(lv: _Live, cap: float) -> None:
        dirty.append(lv.doms)
        free[lv.doms] += lv.gpus
        cap_gpus[lv.doms] -= lv.gpus * cap
        held_by_tenant[lv.job.tenant] -= lv.held

    def push_finish(r: RunningJob, lv: _Live) -> None:
        nonlocal seq
        lv.version += 1
        seq += 1
        heapq.heappush(heap, (r.finish_at(), seq, r.job.id, lv.version))

    def complete_until(t_end: float) -> None:
        nonlocal n_completed
        while heap and heap[0][0] <= t_end:
            tf, _, jid, ver = heapq.heappop(heap)
            lv = live[jid]
            if ver != lv.version or jid not in running:
                continue
            r = running.pop(jid)
            close_segment(lv, tf)
            release(lv, r.cap)
            lv.state, lv.end_s = "completed", tf
            n_completed += 1
            refresh(tf, exact=False)

    # -- applying a decision -------------------------------------------------------------------
    def apply_pause(jid: str, t: float) -> None:
        r = running.get(jid)
        if r is None:
            raise SchedulerBug(f"pause of job '{jid}', which is not running")
        if not r.job.preemptible:
            raise SchedulerBug(f"pause of job '{jid}', which is not preemptible")
        lv = live[jid]
        del running[jid]
        lv.version += 1
        close_segment(lv, t)
        release(lv, r.cap)
        lv.state = "queued"
        q = QueuedJob(job=r.job, remaining_s=r.remaining_at(t) + r.job.checkpoint_s, paused=True, order=lv.order)
        bisect.insort(queue, q, key=_order)
        queued[jid] = q

    def apply_cap(jid: str, cap: float, t: float) -> None:
        r = running.get(jid)
        if r is None:
            raise SchedulerBug(f"cap of job '{jid}', which is not running")
        lv = live[jid]
        speed = speed_of(lv, cap)
        if cap == r.cap:
            return
        close_segment(lv, t)
        cap_gpus[lv.doms] += lv.gpus * (cap - r.cap)
        dirty.append(lv.doms)
        r.remaining_s, r.since_s, r.cap, r.speed = r.remaining_at(t), t, cap, speed
        open_segment(lv, t, cap, speed, False)
        push_finish(r, lv)

    def check_start(lv: _Live, doms: np.ndarray, gpus: np.ndarray) -> None:
        j = lv.job
        bad = f"start of job '{j.id}'"
        if doms.size == 0 or np.any(gpus <= 0) or np.any(doms < 0) or np.any(doms >= fleet.domains):
            raise SchedulerBug(f"{bad}: empty allocation, GPUs <= 0 or an unknown domain")
        if np.unique(doms).size != doms.size:
            raise SchedulerBug(f"{bad}: a domain appears twice in its allocation")
        over = np.flatnonzero(gpus > free[doms])
        if over.size:
            d = int(doms[over[0]])
            raise SchedulerBug(f"{bad}: domain {d} has {int(free[d])} free GPUs, {int(gpus[over[0]])} asked")
        if lv.tenant < 0 and not pooled:
            raise SchedulerBug(f"{bad}: tenant '{j.tenant}' has no racks (sharing: owned)")
        if not pooled and np.any(ix.dom_tenant[doms] != lv.tenant):
            raise SchedulerBug(f"{bad}: a domain not owned by tenant '{j.tenant}'")
        skus = np.unique(ix.dom_sku[doms])
        if skus.size != 1 or (j.sku is not None and fleet.skus[int(skus[0])] != j.sku):
            raise SchedulerBug(f"{bad}: its GPUs must be of one sku ({j.sku or 'any'})")
        sites = np.unique(ix.dom_site[doms])
        if j.sites is not None and any(fleet.sites[int(s)] not in j.sites for s in sites):
            raise SchedulerBug(f"{bad}: a domain outside its sites {j.sites}")
        total = int(gpus.sum())
        if j.gang == "domain" and (doms.size != 1 or total != j.gpus):
            raise SchedulerBug(f"{bad}: a domain gang must hold its {j.gpus} GPUs in one domain")
        if j.gang in ("site", "block") and sites.size != 1:
            raise SchedulerBug(f"{bad}: a {j.gang} gang must stay at one site")
        if j.gang in ("site", "any", "domain") and total != j.gpus:
            raise SchedulerBug(f"{bad}: holds {total} GPUs, the job has {j.gpus}")
        if j.gang == "block":
            if np.any(gpus != ix.dom_gpus[doms]):
                raise SchedulerBug(f"{bad}: a block gang holds whole domains of whole SUs")
            sus = np.unique(ix.dom_su[doms])
            if int(ix.su_gpus[sus].sum()) != total:
                raise SchedulerBug(f"{bad}: a block gang holds every GPU of its SUs")
            if total < j.gpus or total - int(ix.su_gpus[sus].min()) >= j.gpus:
                raise SchedulerBug(f"{bad}: its SUs hold {total} GPUs for a {j.gpus}-GPU job (too few or one too many)")
            if topology_aware and np.unique(ix.su_block[sus]).size != 1:
                raise SchedulerBug(f"{bad}: a block gang's SUs must be in one block")
        if held_by_tenant[j.tenant] + total > quota.get(j.tenant, 0):
            raise SchedulerBug(
                f"{bad}: tenant '{j.tenant}' would hold {held_by_tenant[j.tenant] + total} GPUs, "
                f"above its quota of {quota.get(j.tenant, 0)}"
            )

    def unqueue(q: QueuedJob) -> None:
        del queued[q.job.id]
        i = bisect.bisect_left(queue, q.order, key=_order)
        assert queue[i] is q
        del queue[i]

    def apply_start(st: Any, t: float) -> None:
        q = queued.get(st.job_id)
        if q is None:
            raise SchedulerBug(f"start of job '{st.job_id}', which is not queued")
        lv = live[st.job_id]
        a = np.asarray(st.allocation, dtype=np.int64).reshape(-1, 2)
        doms, gpus = a[:, 0].copy(), a[:, 1].copy()
        check_start(lv, doms, gpus)
        unqueue(q)
        lv.doms, lv.gpus, lv.held = doms, gpus, int(gpus.sum())
        speed = speed_of(lv, st.cap)
        free[doms] -= gpus
        dirty.append(doms)
        cap_gpus[doms] += gpus * st.cap
        held_by_tenant[lv.job.tenant] += lv.held
        alloc = [(int(d), int(g)) for d, g in zip(doms, gpus, strict=True)]
        resumed = q.paused
        lv.last_alloc = alloc
        r = RunningJob(
            job=lv.job,
            allocation=alloc,
            cap=st.cap,
            speed=speed,
            since_s=t,
            remaining_s=q.remaining_s,
            site=int(ix.dom_site[doms[0]]),
            started_s=t,
        )
        running[lv.job.id] = r
        lv.state = "running"
        if lv.first_start_s is None:
            lv.first_start_s = t
        open_segment(lv, t, st.cap, speed, resumed)
        push_finish(r, lv)

    def state_at(t: float) -> ClusterState:
        return ClusterState(
            now_s=t,
            fleet=fleet,
            free=free.copy(),
            queue=list(queue),
            running=running,
            held_by_tenant=dict(held_by_tenant),
            quota_gpus=quota,
            weight=weight,
            draw_mw=cur_draw.copy(),
            allowance_mw=allow_now.copy(),
            allowance=allow,
            power=power,
            sharing=workload.sharing,
        )

    def apply(dec: Decision, t: float, who: str) -> int:
        """Apply pauses, caps, starts, rejects; check the power of the sites it raised. Returns starts."""
        nonlocal n_rejected
        before = cur_draw.copy()
        for jid in dec.pauses:
            apply_pause(jid, t)
        for jid, c in sorted(dec.caps.items()):
            apply_cap(jid, float(c), t)
        started = set()
        for st in dec.starts:
            apply_start(st, t)
            started.add(st.job_id)
        rejected = set()
        for jid, why in dec.rejects.items():
            if jid not in queued:
                raise SchedulerBug(f"reject of job '{jid}', which is not queued")
            lv = live[jid]
            lv.state, lv.reason = "rejected", why or "rejected by the scheduler"
            rejected.add(jid)
            unqueue(queued[jid])
            n_rejected += 1
        refresh(t, exact=False)
        over = np.flatnonzero((cur_draw > allow_now + TOL_MW) & (cur_draw > before + TOL_MW))
        if over.size:
            s = int(over[0])
            raise SchedulerBug(
                f"{who} at t={t:.0f} s raised site '{fleet.sites[s]}' to {cur_draw[s]:.3f} MW, above its allowance "
                f"of {allow_now[s]:.3f} MW"
            )
        return len(started)

    def could_do_more(s: int) -> bool:
        for r in running.values():
            lv = live[r.job.id]
            if int(ix.dom_site[lv.doms[0]]) != s and not np.any(ix.dom_site[lv.doms] == s):
                continue
            if r.job.preemptible or r.cap > float(power[int(ix.dom_sku[lv.doms[0]])].caps[0]):
                return True
        return False

    # -- the event loop ----------------------------------------------------------------------
    next_arrival = 0
    t = 0.0
    refresh(0.0)
    while True:
        if next_arrival >= len(arrivals) and not queue and not running:
            break  # every job is done or rejected: later allowance changes do not matter
        cands = []
        if next_arrival < len(arrivals):
            cands.append(_tick(arrivals[next_arrival].job.arrival_s, interval_s))
        while heap and (heap[0][2] not in running or live[heap[0][2]].version != heap[0][3]):
            heapq.heappop(heap)
        if heap:
            cands.append(_tick(heap[0][0], interval_s))
        if allow_ptr < len(allow_times):
            cands.append(allow_times[allow_ptr])
        if not cands:
            break
        t = max(min(cands), t)
        if t >= horizon:  # nothing started at the horizon could run: it is where the schedule stops
            break
        complete_until(t)
        while next_arrival < len(arrivals) and arrivals[next_arrival].job.arrival_s <= t:
            lv = arrivals[next_arrival]
            lv.state = "queued"
            q = QueuedJob(job=lv.job, remaining_s=lv.job.duration_s, order=lv.order)
            queue.append(q)
            queued[lv.job.id] = q
            next_arrival += 1
        while allow_ptr < len(allow_times) and allow_times[allow_ptr] <= t:
            allow_ptr += 1
        for s in range(n_sites):
            allow_now[s] = [mw for ts, mw in allow[s] if ts <= t][-1]
        n_events += 1
        refresh(t, exact=n_events % EXACT_EVERY == 0)  # bounds the incremental sums' float drift
        t0 = time.perf_counter()
        over = [int(s) for s in np.flatnonzero(cur_draw > allow_now + TOL_MW)]
        if over:
            dec = scheduler.response.respond(state_at(t), over)
            if dec.starts:
                raise SchedulerBug(f"power response '{scheduler.response.name}' started jobs")
            apply(dec, t, f"power response '{scheduler.response.name}'")
            for s in over:
                if cur_draw[s] > allow_now[s] + TOL_MW:
                    if could_do_more(s):
                        raise SchedulerBug(
                            f"power response '{scheduler.response.name}' left site '{fleet.sites[s]}' at "
                            f"{cur_draw[s]:.3f} MW, above its allowance of {allow_now[s]:.3f} MW at t={t:.0f} s"
                        )
                    notes.append(
                        f"t={t:.0f} s: site '{fleet.sites[s]}' draws {cur_draw[s]:.3f} MW over its allowance of "
                        f"{allow_now[s]:.3f} MW with only non-preemptible jobs at their lowest power mode"
                    )
        dec = scheduler.decide(state_at(t)) if (queue or running) else Decision()
        dt = time.perf_counter() - t0
        n_starts = apply(dec, t, f"scheduler '{scheduler.name}'")
        decision_s.append(dt)
        if on_event is not None:
            on_event(
                {
                    "now_s": t,
                    "queued": len(queue),
                    "running": len(running),
                    "completed": n_completed,
                    "rejected": n_rejected,
                    "decision_s": dt,
                    "starts": n_starts,
                }
            )
    t_stop = min(horizon, t) if math.isfinite(horizon) else t
    if math.isfinite(horizon):
        complete_until(horizon)
        t_stop = horizon
    else:
        complete_until(math.inf)
    # what is still running stops at t_stop; what is queued never started
    last_end = t_first
    for lv in live.values():
        if lv.segments:
            last_end = max(last_end, lv.segments[-1].end_s)
    if running:
        last_end = max(last_end, t_stop)
    refresh(max(last_end, cur["t"]))
    for jid in list(running):
        lv = live[jid]
        close_segment(lv, last_end)
        lv.state, lv.reason = "unfinished", f"still running at the end ({last_end:.0f} s)"
    for q in queue:
        lv = live[q.job.id]
        lv.state = "unfinished"
        lv.reason = (
            f"paused and not resumed by the end ({last_end:.0f} s)"
            if q.paused
            else f"queued and never started by the end ({last_end:.0f} s)"
        )
    for lv in arrivals[next_arrival:]:
        lv.state, lv.reason = "unfinished", f"arrives after the horizon ({horizon:.0f} s)"

    return _assemble(
        fleet,
        workload,
        scheduler,
        live,
        arrivals,
        ix,
        quota,
        weight,
        allow,
        acc,
        acc_tenant,
        site_log,
        peak_tenant,
        t_first,
        last_end,
        decision_s,
        notes,
        seed,
        workers,
        interval_s,
        time.perf_counter() - wall0,
    )


def _assemble(
    fleet: Fleet,
    workload: Workload,
    scheduler: ClusterScheduler,
    live: dict[str, _Live],
    arrivals: list[_Live],
    ix: FleetIndex,
    quota: dict[str, int],
    weight: dict[str, float],
    allow: list[list[tuple[float, float]]],
    acc: dict[str, float],
    acc_tenant: np.ndarray,
    site_log: list[tuple[float, float, np.ndarray, np.ndarray]],
    peak_tenant: np.ndarray,
    t_first: float,
    last_end: float,
    decision_s: list[float],
    notes: list[str],
    seed: int,
    workers: int,
    interval_s: float,
    wall_s: float,
) -> ClusterSchedule:
    """The schedule's records and figures from the simulator's records and integrals."""
    makespan = max(0.0, last_end - t_first)
    records: list[JobRecord] = []
    jct: list[float] = []
    queue_s: list[float] = []
    capped_gs = paused_gs = 0.0
    migrations = pauses = 0
    for lv in arrivals:
        j = lv.job
        segs = lv.segments
        if lv.first_start_s is not None:
            queue_s.append(lv.first_start_s - j.arrival_s)
        if lv.state == "completed" and lv.end_s is not None:
            jct.append(lv.end_s - j.arrival_s)
        prev = None
        for s in segs:
            g = sum(n for _, n in s.allocation)
            capped_gs += g * (1.0 - s.speed) * (s.end_s - s.start_s)
            if s.resumed and prev is not None:
                paused_gs += g * j.checkpoint_s
                gap = s.start_s - prev.end_s
                if gap > 0:
                    pauses += 1
                    paused_gs += sum(n for _, n in prev.allocation) * gap
                if sorted(s.allocation) != sorted(prev.allocation):
                    migrations += 1
            prev = s
        horizon = workload.horizon_s
        if lv.state == "unfinished" and segs and horizon is not None and segs[-1].end_s < horizon - 1e-9:
            pauses += 1
            paused_gs += sum(n for _, n in segs[-1].allocation) * (horizon - segs[-1].end_s)
        records.append(
            JobRecord(
                id=j.id,
                state=lv.state,
                reason=lv.reason,
                segments=segs,
                first_start_s=lv.first_start_s,
                end_s=lv.end_s if lv.state == "completed" else None,
            )
        )

    def mean(x: list[float]) -> float:
        return float(np.mean(x)) if x else 0.0

    def p99(x: list[float]) -> float:
        return percentile(x, 99)

    total = fleet.total_gpus
    n = len(arrivals)
    states = [lv.state for lv in arrivals]
    metrics = Metrics(
        jobs=n,
        completed=states.count("completed"),
        unfinished=states.count("unfinished"),
        rejected=states.count("rejected"),
        mean_jct_s=mean(jct),
        p99_jct_s=p99(jct),
        mean_queue_s=mean(queue_s),
        p99_queue_s=p99(queue_s),
        makespan_s=makespan,
        utilisation=acc["held"] / (total * makespan) if makespan > 0 else 0.0,
        fragmentation=acc["frag"] / (total * makespan) if makespan > 0 else 0.0,
        gpu_hours_lost_to_power=(capped_gs + paused_gs) / SECONDS_PER_HOUR,
        gpu_hours_capped=capped_gs / SECONDS_PER_HOUR,
        gpu_hours_paused=paused_gs / SECONDS_PER_HOUR,
        migrations=migrations,
        pauses=pauses,
    )
    tenants = []
    for i, tn in enumerate(sorted(quota)):  # the simulator's tenant rows: fleet and workload tenants, sorted
        held_s = float(acc_tenant[i])
        tenants.append(
            TenantShare(
                tenant=tn,
                quota_gpus=int(quota[tn]),
                weight=float(weight.get(tn, 1.0)),
                mean_gpus_held=held_s / makespan if makespan > 0 else 0.0,
                peak_gpus_held=int(peak_tenant[i]),
                share_of_quota=held_s / makespan / quota[tn] if makespan > 0 and quota[tn] > 0 else 0.0,
                gpu_hours=held_s / SECONDS_PER_HOUR,
            )
        )
    peak, least, energy = _site_figures(site_log, last_end, len(fleet.sites))
    sites = [
        SitePower(
            site=s,
            base_mw=float(fleet.base_mw[i]),
            peak_mw=float(peak[i]),
            least_headroom_mw=float(least[i]),
            energy_mwh=float(energy[i] / SECONDS_PER_HOUR),
        )
        for i, s in enumerate(fleet.sites)
    ]
    ds = decision_s or [0.0]
    decisions = DecisionTimes(
        events=len(decision_s),
        mean_s=float(np.mean(ds)),
        p99_s=percentile(ds, 99),
        max_s=float(np.max(ds)),
        total_s=float(np.sum(ds)),
    )
    params = dict(getattr(scheduler, "params", {}) or {})
    params["interval_s"] = interval_s
    version = getattr(scheduler, "version", None) or f"placer {placer.__version__}"
    summary = ScheduleSummary(
        scheduler=scheduler.name,
        scheduler_version=version,
        seed=seed,
        workers=workers,
        parameters=params,
        plan_digest=fleet.plan_digest,
        fleet_digest=fleet.digest(),
        workload_digest=workload.digest(),
        power_response=scheduler.response.name,
        wall_s=wall_s,
        notes=notes,
    )
    return ClusterSchedule(
        summary=summary, metrics=metrics, decisions=decisions, tenants=tenants, sites=sites, jobs=records
    )


def _site_figures(log: list, last_end: float, n_sites: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Peak draw, least headroom and energy (MW s) per site over the window [0, last_end)."""
    peak = np.zeros(n_sites)
    least = np.full(n_sites, math.inf)
    energy = np.zeros(n_sites)
    for t0, t1, draw, allow in log:
        t1 = min(t1, last_end)
        if t1 <= t0:
            continue
        np.maximum(peak, draw, out=peak)
        np.minimum(least, allow - draw, out=least)
        energy += draw * (t1 - t0)
    if not np.isfinite(least).all() and log:
        t0, _, draw, allow = log[0]
        least = np.where(np.isfinite(least), least, allow - draw)
        peak = np.where(np.isfinite(least), np.maximum(peak, draw), peak)
    return peak, least, energy


__all__ = ["simulate"]
