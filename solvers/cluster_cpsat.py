"""The optimising cluster scheduler ('cpsat'): CP-SAT over a rolling window of queued jobs.

At each scheduling event (:meth:`CpsatScheduler.decide`, a :class:`ClusterState` in, a
:class:`Decision` out):

1. **Candidates.** Every queued job gets a score, Smith's rule with aging:
   ``priority x (1 + wait_s / aging_s) / estimated remaining s`` (short, heavy, old first).
   The ``candidates`` (K, default 32) best-scored jobs whose tenant has quota and capacity
   left enter the model; the rest of the queue is only backfilled greedily afterwards, so a
   queue of 10,000 jobs costs one vectorised sort, not a bigger model.
2. **Aggregate capacity.** Free GPUs are summed per *pool* = (network block, owner tenant,
   SKU) (owner dropped under ``sharing: pooled``) and per *group* = (site, owner, SKU); per
   pool also its wholly free SUs (block gangs) and, per distinct domain-gang size g among the
   candidates, the domains with >= g free GPUs.
3. **The model** (:func:`solve_window`). One boolean per (candidate, where, power mode): a
   block- or domain-gang job chooses a pool, a site- or any-gang job a group; a mode is one
   of its SKU's (cap, speed) pairs. Constraints: at most one option per job; GPUs per pool
   and per group; whole SUs per pool for block jobs; the nested domain-size counts for
   domain jobs; each tenant's quota left; every site's power in every look-ahead step (the
   event time and each change of any site's allowance within ``lookahead_s``: a job
   counts in a step when its estimated end at that speed is after it, running jobs leave
   a step when their estimated end is before it); EASY-style reservations (below).
   Objective: maximise sum of ``value(job) x speed(mode)`` (weighted throughput in Smith's
   sense: a job's w/p, slower modes worth proportionally less), plus a tie-break (< one
   value unit) for the tighter pool (best fit). Hinted with the greedy decision (the same
   candidates in score order, first feasible option, full power first), fixed seed and
   workers, ``time_limit_s`` (default 0.05 in CP-SAT's deterministic time, reproducible; a 0.5 s
   wall-clock backstop).
4. **Reservations** (no starvation): per tenant (one for the fleet when pooled) the oldest
   job that has waited ``reserve_after_s`` and does not fit now gets a reservation at the
   earliest time T its pool/group frees enough GPUs by the running jobs' estimated ends;
   starts in that pool/group that would still run at T may use only the GPUs spare at T
   (EASY backfilling's rule, with the head chosen by age, not arrival order).
5. **Mapping.** The chosen starts (block gangs first, then domain, then site/any) go through
   the best-fit allocator (:mod:`solvers.cluster_alloc`) restricted to the chosen block or
   site; each allocation is re-checked against the free GPUs, the quota and every step's
   power headroom with its real GPUs before it is kept. The remaining queue (up to
   ``fill_limit`` jobs, score order) is then backfilled greedily under the same rules.
6. **Power.** Capped running jobs are uncapped with the headroom the starts leave, when every
   look-ahead step has it (:func:`solvers.cluster_power_opt.uncap`: per MW a start gains more
   speed than an uncap); a drop in allowance is met by the power response (default
   ``optimised``, :mod:`solvers.cluster_power_opt`).

Integer scaling (stated so the coefficient ranges are known): GPUs are integers already
(1 .. 10^5 per term); power is in 10 W units, a job's increment above idle rounded up and a
site's headroom rounded down (so the integer model never admits a start the real numbers
refuse): terms 1 .. ~2 x 10^6 (a 10,000-GPU job at 2 kW), right-hand sides up to
~1.2 x 10^7 (a 120 MW site); objective coefficients ``value x speed`` with value in
10^2 .. 10^6 (VALUE_FLOOR .. VALUE_SCALE), times 100, plus a tie-break 0 .. 99: at most 10^8
per term and ~5 x 10^9 for the objective (K = 32), far inside int64.

Every call is recorded (:attr:`CpsatScheduler.calls`: status, objective, bound, seconds,
candidates, queue length, starts, fallback) and summarised by :meth:`CpsatScheduler.report`.
When CP-SAT finds no solution in time the greedy decision is used and the call says so.

Complexity per event: O(Q log Q) to rank a queue of Q jobs, O(D) to aggregate D domains,
O(R) for R running-allocation entries (releases, power), a model of <= K x P x M booleans
(P eligible pools, M modes; modes pruned to full power where power is not binding),
O(starts x D) to map.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import ortools
from ortools.sat.python import cp_model

from placer.fleet import Fleet
from placer.workload import Job
from solvers.cluster_engine import (
    ClusterScheduler,
    ClusterState,
    Decision,
    PowerResponse,
    QueuedJob,
    SchedulerCapabilities,
    Start,
)

UNITS_PER_MW = 100_000  # the model's power unit: 10 W
VALUE_SCALE = 1_000_000  # the best candidate's value; the others in proportion (Smith's ratios kept) ...
VALUE_FLOOR = 100  # ... down to this floor, so a mode 1 % slower is still worth strictly less
TIE_SCALE = 100  # value units are multiplied by this; the best-fit tie-break stays below it
WALL_BACKSTOP_S = 0.5  # CP-SAT's wall-clock cut behind the deterministic time limit
OVERRUN_S = 600.0  # a job past its estimate is assumed to end this soon (reservations only)


# ----------------------------------------------------------------------------------------------
# the fleet's pools and groups (built once per fleet and sharing mode)


@dataclass
class PoolIndex:
    """The fleet aggregated: pool = (block, owner, SKU), group = (site, owner, SKU); owner -1 when pooled.

    Arrays indexed by domain (``pool_of``, ``group_of``), pool (``p_*``), group (``g_*``), SU
    (``su_pool``). ``kwu[p]``: 10-W units per GPU per unit of cap above idle at full power
    (kw_per_gpu x pue, in model units)."""

    fleet: Fleet
    sharing: str
    pool_of: np.ndarray
    group_of: np.ndarray
    p_block: np.ndarray
    p_site: np.ndarray
    p_owner: np.ndarray
    p_sku: np.ndarray
    p_group: np.ndarray
    p_su_max: np.ndarray
    p_sus: np.ndarray
    p_gpus: np.ndarray
    p_domain_max: np.ndarray
    p_mw_per_gpu: np.ndarray  # facility MW per GPU at full power (kw_per_gpu x pue / 1000)
    g_site: np.ndarray
    g_owner: np.ndarray
    g_sku: np.ndarray
    g_gpus: np.ndarray
    su_pool: np.ndarray
    p_domains: list[np.ndarray]

    @property
    def pools(self) -> int:
        return int(self.p_block.shape[0])

    @property
    def groups(self) -> int:
        return int(self.g_site.shape[0])


def build_pool_index(fleet: Fleet, sharing: str = "owned") -> PoolIndex:
    """Aggregate the fleet's domains into pools and groups. Complexity: O(domains log domains)."""
    owner = fleet.tenant.astype(np.int64) if sharing == "owned" else np.full(fleet.domains, -1, np.int64)
    pkey = np.stack([fleet.block.astype(np.int64), owner, fleet.sku.astype(np.int64)], axis=1)
    pkeys, pool_of = np.unique(pkey, axis=0, return_inverse=True)
    pool_of = pool_of.reshape(-1)
    site_of_block = fleet.block_site.astype(np.int64)
    gkey = np.stack([site_of_block[pkeys[:, 0]], pkeys[:, 1], pkeys[:, 2]], axis=1)
    gkeys, p_group = np.unique(gkey, axis=0, return_inverse=True)
    p_group = p_group.reshape(-1)
    n_p = pkeys.shape[0]
    su_pool = np.zeros(len(fleet.sus), np.int64)
    su_pool[fleet.su] = pool_of
    p_su_max = np.zeros(n_p, np.int64)
    np.maximum.at(p_su_max, su_pool, fleet.su_gpus.astype(np.int64))
    p_sus = np.bincount(su_pool, minlength=n_p)
    p_gpus = np.bincount(pool_of, weights=fleet.gpus, minlength=n_p).astype(np.int64)
    p_domain_max = np.zeros(n_p, np.int64)
    np.maximum.at(p_domain_max, pool_of, fleet.gpus.astype(np.int64))
    mw = fleet.kw_per_gpu * fleet.pue[fleet.site] / 1000.0
    p_mw = np.zeros(n_p)
    np.maximum.at(p_mw, pool_of, mw)
    return PoolIndex(
        fleet=fleet,
        sharing=sharing,
        pool_of=pool_of,
        group_of=p_group[pool_of],
        p_block=pkeys[:, 0],
        p_site=site_of_block[pkeys[:, 0]],
        p_owner=pkeys[:, 1],
        p_sku=pkeys[:, 2],
        p_group=p_group,
        p_su_max=p_su_max,
        p_sus=p_sus,
        p_gpus=p_gpus,
        p_domain_max=p_domain_max,
        p_mw_per_gpu=p_mw,
        g_site=gkeys[:, 0],
        g_owner=gkeys[:, 1],
        g_sku=gkeys[:, 2],
        g_gpus=np.bincount(p_group, weights=p_gpus, minlength=gkeys.shape[0]).astype(np.int64),
        su_pool=su_pool,
        p_domains=[np.flatnonzero(pool_of == p) for p in range(n_p)],
    )


# ----------------------------------------------------------------------------------------------
# one event's aggregate view


def estimated_remaining_s(job: Job, remaining_s: float) -> float:
    """Full-speed seconds the scheduler expects are left: the estimate less the work done (>= 60 s).

    ``remaining_s`` reveals the work done (duration - remaining, observable); the duration
    itself is not used beyond that, only the user's estimate."""
    done = max(0.0, job.duration_s - remaining_s)
    return max(60.0, job.estimate - done)


@dataclass
class Releases:
    """Running jobs' allocation entries, flat: job, domain, GPUs, estimated end, site, MW above idle."""

    job: list[str]
    domain: np.ndarray
    gpus: np.ndarray
    end_s: np.ndarray
    power_end_s: np.ndarray  # for power look-ahead: inf when past its estimate (it may run on)
    mw_above_idle: np.ndarray
    mw_full: np.ndarray  # the entry's GPUs at full power (MW)
    cap: np.ndarray


def running_releases(state: ClusterState, cache: dict | None = None) -> Releases:
    """Flatten the running jobs' allocations. Complexity: O(allocation entries) numpy; O(running jobs) Python with
    ``cache`` (per job and segment: a segment's figures do not change while it runs)."""
    f = state.fleet
    cache = {} if cache is None else cache
    parts = []
    for jid, r in state.running.items():
        key = (r.since_s, r.cap, id(r.allocation))
        got = cache.get(jid)
        if got is None or got[0] != key:
            a = np.asarray(r.allocation, dtype=np.int64).reshape(-1, 2)
            dom, gp = a[:, 0].copy(), a[:, 1].copy()
            idle = np.asarray([state.power[k].idle_share for k in f.sku[dom]])
            full = gp * f.kw_per_gpu[dom] * f.pue[f.site[dom]] / 1000.0
            mw = full * (r.cap - idle)
            est = r.job.estimate - max(0.0, r.job.duration_s - r.remaining_s)  # estimated work left at since_s
            end = r.since_s + max(0.0, est) / r.speed
            got = cache[jid] = (key, dom, gp, mw, end, full, np.full(len(dom), r.cap))
        parts.append(got)
    if len(cache) > 2 * len(state.running) + 1000:
        for k in [k for k in cache if k not in state.running]:
            del cache[k]
    if not parts:
        z = np.zeros(0)
        return Releases([], z.astype(np.int64), z.astype(np.int64), z, z, z, z, z)
    lens = [len(p[1]) for p in parts]
    ends = np.repeat(np.asarray([p[4] for p in parts]), lens)
    overrun = ends <= state.now_s
    return Releases(
        job=[jid for jid, n in zip(state.running, lens, strict=True) for _ in range(n)],
        domain=np.concatenate([p[1] for p in parts]),
        gpus=np.concatenate([p[2] for p in parts]),
        end_s=np.where(overrun, state.now_s + OVERRUN_S, ends),
        power_end_s=np.where(overrun, np.inf, ends),
        mw_above_idle=np.concatenate([p[3] for p in parts]),
        mw_full=np.concatenate([p[5] for p in parts]),
        cap=np.concatenate([p[6] for p in parts]),
    )


@dataclass
class Window:
    """The aggregate state at an event: capacity per pool/group, quota left, power steps."""

    idx: PoolIndex
    now_s: float
    free: np.ndarray  # per domain (a copy the mapping consumes)
    p_free: np.ndarray
    p_whole_sus: np.ndarray
    g_free: np.ndarray
    p_max_free: np.ndarray  # per pool: the most free GPUs in one domain (domain gangs)
    quota_left: dict[str, int]
    steps_s: np.ndarray  # look-ahead step times, steps_s[0] = now
    headroom_u: np.ndarray  # [site, step] power headroom in model units (floored, >= 0)
    headroom_mw: np.ndarray  # the same in MW, unfloored (the mapping's exact check)
    idle: np.ndarray  # per pool: its SKU's idle share
    modes: list[tuple[np.ndarray, np.ndarray]]  # per fleet SKU: caps, speeds (descending cap)
    releases: Releases
    lookahead_cap: float = 1.0


def allowance_at(steps: list[tuple[float, float]], t: float) -> float:
    """A site's allowance at time t from its step function."""
    level = steps[0][1] if steps else 0.0
    for st, mw in steps:
        if st <= t:
            level = mw
        else:
            break
    return level


def build_window(
    state: ClusterState, idx: PoolIndex, lookahead_s: float, cache: dict | None = None, lookahead_cap: float = 1.0
) -> Window:
    """Aggregate one event's state. Complexity: O(domains + allocation entries + sites x steps).

    In the future steps every job still running (and every new start) counts at ``min(its cap, lookahead_cap)``:
    the power response may cap it that far when the allowance drops (cap 0.8 costs 6 % speed on the default
    curve); 1.0 plans every future step at today's caps."""
    f = state.fleet
    free = np.asarray(state.free, dtype=np.int64).copy()
    p_free = np.bincount(idx.pool_of, weights=free, minlength=idx.pools).astype(np.int64)
    su_free = np.bincount(f.su, weights=free, minlength=len(f.sus)).astype(np.int64)
    whole = su_free == f.su_gpus
    p_whole = np.bincount(idx.su_pool, weights=whole, minlength=idx.pools).astype(np.int64)
    g_free = np.bincount(idx.p_group, weights=p_free, minlength=idx.groups).astype(np.int64)
    p_max_free = np.zeros(idx.pools, np.int64)
    np.maximum.at(p_max_free, idx.pool_of, free)
    quota_left = {t: int(q) - int(state.held_by_tenant.get(t, 0)) for t, q in state.quota_gpus.items()}
    horizon = state.now_s + lookahead_s
    times = {state.now_s}
    for steps in state.allowance:
        for t, _ in steps:
            if state.now_s < t <= horizon:
                times.add(float(t))
    steps_s = np.asarray(sorted(times))
    rel = running_releases(state, cache)
    n_s = len(f.sites)
    head = np.zeros((n_s, len(steps_s)))
    rel_site = f.site[rel.domain] if len(rel.domain) else np.zeros(0, np.int64)
    for h, t in enumerate(steps_s):
        if h == 0:
            head[:, 0] = np.asarray(state.allowance_mw, float) - np.asarray(state.draw_mw, float)
            continue
        gone = rel.power_end_s <= t
        # ended jobs free their draw above idle; the rest may be capped down to lookahead_cap then
        give = np.where(gone, rel.mw_above_idle, rel.mw_full * np.maximum(0.0, rel.cap - lookahead_cap))
        freed = np.bincount(rel_site, weights=give, minlength=n_s) if len(give) else 0.0
        allow = np.asarray([allowance_at(state.allowance[s], t) for s in range(n_s)])
        head[:, h] = allow - (np.asarray(state.draw_mw, float) - freed)
    modes = []
    for tab in state.power:
        order = np.argsort(-np.asarray(tab.caps))
        modes.append((np.asarray(tab.caps)[order], np.asarray(tab.speeds)[order]))
    idle = np.asarray([state.power[k].idle_share for k in idx.p_sku])
    return Window(
        idx=idx,
        now_s=state.now_s,
        free=free,
        p_free=p_free,
        p_whole_sus=p_whole,
        g_free=g_free,
        p_max_free=p_max_free,
        quota_left=quota_left,
        steps_s=steps_s,
        headroom_u=np.floor(np.maximum(head, 0.0) * UNITS_PER_MW).astype(np.int64),
        headroom_mw=head,
        idle=idle,
        modes=modes,
        releases=rel,
        lookahead_cap=lookahead_cap,
    )


# ----------------------------------------------------------------------------------------------
# options: (job, where, mode)


@dataclass
class Option:
    job: int  # index into the candidate list
    kind: str  # "pool" (block/domain gangs) or "group" (site/any gangs)
    where: int  # pool or group index
    cap: float
    speed: float
    held: int  # GPUs held (whole SUs for block gangs)
    sus: int  # whole SUs (block gangs), else 0
    power_u: np.ndarray  # per look-ahead step: power above idle, 10 W units, rounded up (0 once it has ended)
    end_s: float  # estimated end at this speed
    value: int
    site: int
    group: int
    pools: tuple[int, ...]  # the pools it may draw GPUs from (one for kind "pool")


@dataclass
class Reservation:
    """A blocked old job's claim: starts in ``pools`` still running at ``at_s`` may use only ``spare`` GPUs."""

    job_id: str
    at_s: float
    pools: tuple[int, ...]
    spare: int
    spare_sus: int | None = None  # block gangs: whole SUs spare at at_s


def eligible_pools(win: Window, job: Job) -> np.ndarray:
    """Pools the job's tenant, SKU and sites allow. Complexity: O(pools)."""
    idx = win.idx
    f = idx.fleet
    ok = np.ones(idx.pools, bool)
    if idx.sharing == "owned":
        t = f.tenants.index(job.tenant) if job.tenant in f.tenants else -2
        ok &= idx.p_owner == t
    if job.sku is not None:
        k = f.skus.index(job.sku) if job.sku in f.skus else -2
        ok &= idx.p_sku == k
    if job.sites is not None:
        allowed = [f.sites.index(s) for s in job.sites if s in f.sites]
        ok &= np.isin(idx.p_site, allowed)
    return np.flatnonzero(ok)


def job_options(
    win: Window, ci: int, qj: QueuedJob, value: float, pools: np.ndarray, prune_modes: bool
) -> list[Option]:
    """Every (where, mode) the candidate may start in now by the aggregate counts. Complexity: O(pools x modes)."""
    idx = win.idx
    job = qj.job
    est = estimated_remaining_s(job, qj.remaining_s)
    out: list[Option] = []
    places: list[tuple[int, tuple[int, ...]]]
    if job.gang in ("block", "domain"):
        places = [(int(p), (int(p),)) for p in pools]
        kind = "pool"
    else:
        groups = np.unique(idx.p_group[pools])
        places = [(int(g), tuple(int(p) for p in pools if idx.p_group[p] == g)) for g in groups]
        kind = "group"
    for where, members in places:
        p0 = members[0]
        site = int(idx.p_site[p0])
        if job.gang == "block":
            sus = math.ceil(job.gpus / int(idx.p_su_max[p0]))
            held = sus * int(idx.p_su_max[p0])
            if sus > win.p_whole_sus[p0]:
                continue
        else:
            sus = 0
            held = job.gpus
            cap_now = win.p_free[p0] if kind == "pool" else win.g_free[where]
            if held > cap_now:
                continue
            if job.gang == "domain" and job.gpus > win.p_max_free[p0]:
                continue
        caps, speeds = win.modes[int(idx.p_sku[p0])]
        mw_gpu = float(idx.p_mw_per_gpu[list(members)].max())
        idle = float(win.idle[p0])
        for cap, speed in zip(caps, speeds, strict=True):
            now_u = math.ceil(held * mw_gpu * (cap - idle) * UNITS_PER_MW)
            later_u = math.ceil(held * mw_gpu * (min(cap, win.lookahead_cap) - idle) * UNITS_PER_MW)
            end = win.now_s + est / speed
            power_u = np.where(win.steps_s < end, later_u, 0).astype(np.int64)
            power_u[0] = now_u
            if (power_u > win.headroom_u[site]).any():
                continue
            out.append(
                Option(
                    job=ci,
                    kind=kind,
                    where=where,
                    cap=float(cap),
                    speed=float(speed),
                    held=held,
                    sus=sus,
                    power_u=power_u,
                    end_s=end,
                    value=round(max(VALUE_FLOOR, value) * speed) * TIE_SCALE,
                    site=site,
                    group=int(idx.p_group[p0]),
                    pools=members,
                )
            )
            if prune_modes and cap == caps[0]:
                break  # full power fits every step and power does not bind: lower modes are dominated
    return out


def reservation_for(win: Window, qj: QueuedJob, pools: np.ndarray) -> Reservation | None:
    """EASY's reservation for a blocked job: the earliest time its pool/group frees enough by running jobs' estimated
    ends, and the GPUs spare then. Complexity: O(allocation entries log entries)."""
    idx = win.idx
    f = idx.fleet
    job = qj.job
    rel = win.releases
    rel_pool = idx.pool_of[rel.domain] if len(rel.domain) else np.zeros(0, np.int64)
    best: Reservation | None = None
    if job.gang == "block":
        su_end = np.full(len(f.sus), win.now_s)
        if len(rel.domain):
            np.maximum.at(su_end, f.su[rel.domain], rel.end_s)
        for p in pools:
            sus_p = np.flatnonzero(idx.su_pool == p)
            need = math.ceil(job.gpus / int(idx.p_su_max[p]))
            if need > len(sus_p):
                continue
            at = float(np.sort(su_end[sus_p])[need - 1])
            freed = int(rel.gpus[(rel_pool == p) & (rel.end_s <= at)].sum())
            spare = int(win.p_free[p]) + freed - need * int(idx.p_su_max[p])
            whole_at = int((su_end[sus_p] <= at).sum())
            cand = Reservation(job.id, at, (int(p),), max(0, spare), max(0, whole_at - need))
            if best is None or (cand.at_s, -cand.spare) < (best.at_s, -best.spare):
                best = cand
        return best
    if job.gang == "domain":
        order = np.argsort(rel.end_s, kind="stable")
        dom_free = win.free.copy()
        ok_pool = np.zeros(idx.pools, bool)
        ok_pool[pools] = True
        fits = ok_pool[idx.pool_of] & (dom_free >= job.gpus)
        if fits.any():
            return None
        for i in order:
            d = int(rel.domain[i])
            if not ok_pool[idx.pool_of[d]]:
                continue
            dom_free[d] += int(rel.gpus[i])
            if dom_free[d] >= job.gpus:
                at = float(rel.end_s[i])
                p = int(idx.pool_of[d])
                freed = int(rel.gpus[(rel_pool == p) & (rel.end_s <= at)].sum())
                return Reservation(job.id, at, (p,), max(0, int(win.p_free[p]) + freed - job.gpus))
        return None
    for g in np.unique(idx.p_group[pools]):
        members = tuple(int(p) for p in pools if idx.p_group[p] == g)
        mask = np.isin(rel_pool, members)
        ends = rel.end_s[mask]
        gp = rel.gpus[mask]
        order = np.argsort(ends, kind="stable")
        have = int(win.p_free[list(members)].sum())
        at = win.now_s
        for i in order:
            if have >= job.gpus:
                break
            have += int(gp[i])
            at = float(ends[i])
        if have < job.gpus:
            continue
        cand = Reservation(job.id, at, members, have - job.gpus)
        if best is None or (cand.at_s, -cand.spare) < (best.at_s, -best.spare):
            best = cand
    return best


# ----------------------------------------------------------------------------------------------
# the model


@dataclass
class Residual:
    """The aggregate capacity left as options are taken (the greedy's and the mapping's bookkeeping)."""

    p_free: np.ndarray
    p_whole_sus: np.ndarray
    g_free: np.ndarray
    quota_left: dict[str, int]
    headroom_u: np.ndarray
    res_spare: list[int]
    res_spare_sus: list[int | None]

    @classmethod
    def of(cls, win: Window, reservations: list[Reservation]) -> Residual:
        return cls(
            win.p_free.copy(),
            win.p_whole_sus.copy(),
            win.g_free.copy(),
            dict(win.quota_left),
            win.headroom_u.copy(),
            [r.spare for r in reservations],
            [r.spare_sus for r in reservations],
        )

    def fits(self, o: Option, tenant: str, win: Window, reservations: list[Reservation]) -> bool:
        if self.quota_left.get(tenant, 0) < o.held:
            return False
        if o.kind == "pool":
            if self.p_free[o.where] < o.held or self.p_whole_sus[o.where] < o.sus:
                return False
        if self.g_free[o.group] < o.held:
            return False
        if (self.headroom_u[o.site] < o.power_u).any():
            return False
        for i, r in enumerate(reservations):
            if o.end_s > r.at_s and set(o.pools) & set(r.pools):
                if self.res_spare[i] < o.held:
                    return False
                sus = self.res_spare_sus[i]
                if sus is not None and o.sus and sus < o.sus:
                    return False
        return True

    def take(self, o: Option, tenant: str, win: Window, reservations: list[Reservation]) -> None:
        self.quota_left[tenant] = self.quota_left.get(tenant, 0) - o.held
        if o.kind == "pool":
            self.p_free[o.where] -= o.held
            self.p_whole_sus[o.where] -= o.sus
        self.g_free[o.group] -= o.held
        self.headroom_u[o.site] -= o.power_u
        for i, r in enumerate(reservations):
            if o.end_s > r.at_s and set(o.pools) & set(r.pools):
                self.res_spare[i] -= o.held
                sus = self.res_spare_sus[i]
                if sus is not None and o.sus:
                    self.res_spare_sus[i] = sus - o.sus


def greedy_choice(
    win: Window, jobs: list[QueuedJob], options: list[list[Option]], reservations: list[Reservation]
) -> list[Option | None]:
    """The hint and the fallback: jobs in the given (score) order, each its first feasible option, full power
    first, tightest pool first (best fit). Complexity: O(options x steps)."""
    res = Residual.of(win, reservations)
    out: list[Option | None] = []
    for qj, opts in zip(jobs, options, strict=True):
        chosen = None
        for o in sorted(opts, key=lambda o: (-o.cap, _slack(win, o))):
            if res.fits(o, qj.job.tenant, win, reservations):
                res.take(o, qj.job.tenant, win, reservations)
                chosen = o
                break
        out.append(chosen)
    return out


def _slack(win: Window, o: Option) -> int:
    """Free GPUs left where the option lands (smaller is a tighter, best-fit choice)."""
    return int((win.p_free[o.where] if o.kind == "pool" else win.g_free[o.where]) - o.held)


@dataclass
class SolveRecord:
    status: str
    objective: float | None
    bound: float | None
    seconds: float
    booleans: int


def solve_window(
    win: Window,
    jobs: list[QueuedJob],
    options: list[list[Option]],
    reservations: list[Reservation],
    hint: list[Option | None],
    *,
    time_limit_s: float,
    seed: int,
    workers: int,
) -> tuple[list[Option | None], SolveRecord]:
    """The CP-SAT model over the candidates' options (see the module docstring). Returns the chosen option per
    job (None: not started now) and the solve record; when no solution is found the choice is all None."""
    m = cp_model.CpModel()
    flat: list[Option] = [o for opts in options for o in opts]
    x = [m.new_bool_var(f"x{i}") for i in range(len(flat))]
    by_job: dict[int, list[int]] = {}
    by_pool: dict[int, list[int]] = {}
    by_group: dict[int, list[int]] = {}
    by_tenant: dict[str, list[int]] = {}
    for i, o in enumerate(flat):
        by_job.setdefault(o.job, []).append(i)
        if o.kind == "pool":
            by_pool.setdefault(o.where, []).append(i)
        by_group.setdefault(o.group, []).append(i)
        by_tenant.setdefault(jobs[o.job].job.tenant, []).append(i)
    for idxs in by_job.values():
        m.add_at_most_one(x[i] for i in idxs)
    for p, idxs in by_pool.items():
        if sum(flat[i].held for i in idxs) > win.p_free[p]:
            m.add(sum(flat[i].held * x[i] for i in idxs) <= int(win.p_free[p]))
        sus = [i for i in idxs if flat[i].sus]
        if sus and sum(flat[i].sus for i in sus) > win.p_whole_sus[p]:
            m.add(sum(flat[i].sus * x[i] for i in sus) <= int(win.p_whole_sus[p]))
        dom = [i for i in idxs if jobs[flat[i].job].job.gang == "domain"]
        for g in sorted({jobs[flat[i].job].job.gpus for i in dom}):
            big = [i for i in dom if jobs[flat[i].job].job.gpus >= g]
            count = int(((win.idx.pool_of == p) & (win.free >= g)).sum())
            if len({flat[i].job for i in big}) > count:
                m.add(sum(x[i] for i in big) <= count)
    for g, idxs in by_group.items():
        if sum(flat[i].held for i in idxs) > win.g_free[g]:
            m.add(sum(flat[i].held * x[i] for i in idxs) <= int(win.g_free[g]))
    for t, idxs in by_tenant.items():
        left = win.quota_left.get(t, 0)
        if sum(flat[i].held for i in idxs) > left:
            m.add(sum(flat[i].held * x[i] for i in idxs) <= max(0, left))
    for s in {o.site for o in flat}:
        at_site = [i for i, o in enumerate(flat) if o.site == s]
        for h in range(len(win.steps_s)):
            active = [i for i in at_site if flat[i].power_u[h] > 0]
            if active and sum(int(flat[i].power_u[h]) for i in active) > win.headroom_u[s, h]:
                m.add(sum(int(flat[i].power_u[h]) * x[i] for i in active) <= int(win.headroom_u[s, h]))
    for _r_i, r in enumerate(reservations):
        late = [i for i, o in enumerate(flat) if o.end_s > r.at_s and set(o.pools) & set(r.pools)]
        if late:
            m.add(sum(flat[i].held * x[i] for i in late) <= r.spare)
            if r.spare_sus is not None and any(flat[i].sus for i in late):
                m.add(sum(flat[i].sus * x[i] for i in late if flat[i].sus) <= r.spare_sus)
    # best fit as a tie-break below one value unit: a tighter pool scores up to TIE_SCALE - 1 more
    slack = np.asarray([_slack(win, o) for o in flat], float) if flat else np.zeros(0)
    top = float(slack.max()) if flat else 0.0
    tie = [int((TIE_SCALE - 1) * (1.0 - s / top)) if top > 0 else 0 for s in slack]
    m.maximize(sum((o.value + tie[i]) * x[i] for i, o in enumerate(flat)))
    hinted = {id(o) for o in hint if o is not None}
    for i, o in enumerate(flat):
        m.add_hint(x[i], id(o) in hinted)
    solver = cp_model.CpSolver()
    # the limit in CP-SAT's deterministic time (reproducible with a fixed seed and workers, unlike a wall-clock
    # cut: 0.05 of it took ~0.25 s wall on the shared 2-core machine at Korea scale); the wall clock is only a
    # backstop (WALL_BACKSTOP_S, or 10x the limit if more), which a loaded machine may hit (then not reproducible)
    solver.parameters.max_deterministic_time = time_limit_s
    solver.parameters.max_time_in_seconds = max(WALL_BACKSTOP_S, 10 * time_limit_s)
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    t0 = time.perf_counter()
    status = solver.solve(m)
    secs = time.perf_counter() - t0
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return [None] * len(jobs), SolveRecord(name, None, None, secs, len(flat))
    chosen: list[Option | None] = [None] * len(jobs)
    for i, o in enumerate(flat):
        if solver.boolean_value(x[i]):
            chosen[o.job] = o
    return chosen, SolveRecord(name, solver.objective_value, solver.best_objective_bound, secs, len(flat))


# ----------------------------------------------------------------------------------------------
# the scheduler


@dataclass
class CallRecord:
    """One decide() call."""

    now_s: float
    queued: int
    candidates: int
    booleans: int
    status: str
    objective: float | None
    bound: float | None
    solve_s: float
    decide_s: float
    starts: int
    filled: int
    dropped: int  # model starts the concrete allocator could not place
    fallback: str = ""


def allocate(state: ClusterState, job: Job, free: np.ndarray) -> list[tuple[int, int]] | None:
    """Helper sim's topology-aware best-fit allocator (:func:`solvers.cluster_alloc.find`, block-aware) on ``free``
    (the domains outside the chosen pool or group zeroed). Complexity: O(eligible domains)."""
    from solvers.cluster_alloc import BEST, FreePool, find
    from solvers.cluster_power import state_index

    ix = state_index(state)
    shape = ix.resolve(job, state.sharing)
    if isinstance(shape, str):
        return None
    got = find(FreePool(ix, free), shape, blocks=True, fit=BEST)
    if got is None:
        return None
    return [(int(d), int(g)) for d, g in zip(got[0], got[1], strict=True)]


def why_never(state: ClusterState, job: Job) -> str | None:
    """Why the job can never be placed (helper sim's definition, shared with the baselines), or None."""
    from solvers.cluster_alloc import never_fits
    from solvers.cluster_power import state_index

    ix = state_index(state)
    shape = ix.resolve(job, state.sharing)
    if isinstance(shape, str):
        return shape
    return never_fits(ix, shape, int(state.quota_gpus.get(job.tenant, 0)), blocks=True)


@dataclass
class CpsatScheduler(ClusterScheduler):
    """CP-SAT over a rolling window of the best-scored queued jobs (module docstring)."""

    response: PowerResponse
    seed: int = 0
    workers: int = 1
    time_limit_s: float = 0.05
    candidates: int = 32
    lookahead_s: float = 6 * 3600.0
    lookahead_cap: float = 0.8
    aging_s: float = 3600.0
    reserve_after_s: float = 3600.0
    fill_limit: int = 400
    reserve_scan: int = 200
    calls: list[CallRecord] = field(default_factory=list)
    name: str = "cpsat"
    capabilities: SchedulerCapabilities = field(
        default_factory=lambda: SchedulerCapabilities(
            backfill=True, topology_aware=True, power_aware=True, optimising=True, lookahead=True
        )
    )
    _index: PoolIndex | None = None
    _pools_of: dict[tuple, np.ndarray] = field(default_factory=dict)
    _never: dict[tuple, str | None] = field(default_factory=dict)
    _placeable: set[str] = field(default_factory=set)
    _sku_ran: dict[str, str] = field(default_factory=dict)
    _release_cache: dict = field(default_factory=dict)
    _arrival: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _rejected: dict[str, str] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        return {
            "time_limit_s": self.time_limit_s,
            "candidates": self.candidates,
            "lookahead_s": self.lookahead_s,
            "lookahead_cap": self.lookahead_cap,
            "aging_s": self.aging_s,
            "reserve_after_s": self.reserve_after_s,
            "fill_limit": self.fill_limit,
            "seed": self.seed,
            "workers": self.workers,
            "ortools": ortools.__version__,
            "power_response": getattr(self.response, "name", "?"),
        }

    def report(self) -> dict[str, Any]:
        """Per-call figures summarised: statuses, solve and decide seconds, fallbacks."""
        if not self.calls:
            return {"calls": 0}
        dec = np.asarray([c.decide_s for c in self.calls])
        sol = np.asarray([c.solve_s for c in self.calls])
        statuses: dict[str, int] = {}
        for c in self.calls:
            statuses[c.status] = statuses.get(c.status, 0) + 1
        return {
            "calls": len(self.calls),
            "statuses": statuses,
            "fallbacks": sum(1 for c in self.calls if c.fallback),
            "decide_mean_s": float(dec.mean()),
            "decide_p99_s": float(np.quantile(dec, 0.99)),
            "decide_max_s": float(dec.max()),
            "solve_mean_s": float(sol.mean()),
            "solve_max_s": float(sol.max()),
            "dropped": sum(c.dropped for c in self.calls),
        }

    # -- helpers
    def _idx(self, state: ClusterState) -> PoolIndex:
        if self._index is None or self._index.fleet is not state.fleet or self._index.sharing != state.sharing:
            self._index = build_pool_index(state.fleet, state.sharing)
            self._pools_of.clear()
        return self._index

    def _pools(self, win: Window, job: Job) -> np.ndarray:
        key = (job.tenant, job.sku, tuple(job.sites) if job.sites is not None else None)
        p = self._pools_of.get(key)
        if p is None:
            p = self._pools_of[key] = eligible_pools(win, job)
        return p

    def _pinned(self, qj: QueuedJob) -> QueuedJob:
        """A paused job of no given SKU, pinned to the SKU it ran on (its checkpoint resumes there only)."""
        sku = self._sku_ran.get(qj.job.id)
        if not qj.paused or qj.job.sku is not None or sku is None:
            return qj
        return QueuedJob(
            job=qj.job.model_copy(update={"sku": sku}), remaining_s=qj.remaining_s, paused=True, order=qj.order
        )

    def _scores(self, q: list[QueuedJob], now_s: float) -> np.ndarray:
        prio = np.fromiter((qj.job.priority for qj in q), float, len(q))
        arr = self._arrival = np.fromiter((qj.job.arrival_s for qj in q), float, len(q))
        est = np.fromiter((estimated_remaining_s(qj.job, qj.remaining_s) for qj in q), float, len(q))
        return prio * (1.0 + np.maximum(0.0, now_s - arr) / self.aging_s) / est

    def decide(self, state: ClusterState) -> Decision:
        t0 = time.perf_counter()
        from solvers.cluster_power_opt import uncap

        idx = self._idx(state)
        for jid, r in state.running.items():  # a job stays on one SKU: a resumed one on the SKU it ran on
            if r.job.sku is None:
                self._sku_ran[jid] = state.fleet.skus[int(state.fleet.sku[r.allocation[0][0]])]
        win = build_window(state, idx, self.lookahead_s, self._release_cache, self.lookahead_cap)
        decision = Decision()
        pending = self._resume_migrations(state, win, decision)
        queue = [self._pinned(qj) for qj in state.queue if qj.job.id not in pending]
        scores = self._scores(queue, state.now_s)
        order = np.argsort(-scores, kind="stable")
        # rejects: jobs that can never be placed
        live: list[int] = []
        for i in order:
            qj = queue[int(i)]
            jid = qj.job.id
            if jid in self._placeable:
                live.append(int(i))
                continue
            if jid in self._rejected:
                continue
            j = qj.job
            shape = (j.tenant, j.sku, tuple(j.sites) if j.sites is not None else None, j.gang, j.gpus)
            if shape not in self._never:  # one answer per job shape: a queue of 10,000 has a few hundred
                self._never[shape] = why_never(state, j)
            why = self._never[shape]
            if why is not None:
                self._rejected[jid] = why
                decision.rejects[jid] = why
                continue
            self._placeable.add(jid)
            live.append(int(i))
        reservations = self._reservations(state, win, queue, live)
        reserved = {r.job_id for r in reservations}
        # candidates: the best-scored jobs whose tenant could still start them
        cands: list[QueuedJob] = []
        cand_opts: list[list[Option]] = []
        vmax = float(scores[live[0]]) if live else 1.0
        prune = self._power_slack(win)
        pos = 0
        while pos < len(live) and len(cands) < self.candidates:
            qj = queue[live[pos]]
            pos += 1
            if qj.job.id in reserved or win.quota_left.get(qj.job.tenant, 0) < qj.job.gpus:
                continue
            value = VALUE_SCALE * float(scores[live[pos - 1]]) / vmax if vmax > 0 else 1.0
            opts = job_options(win, len(cands), qj, value, self._pools(win, qj.job), prune)
            if opts:
                cands.append(qj)
                cand_opts.append(opts)
        hint = greedy_choice(win, cands, cand_opts, reservations)
        rec = SolveRecord("NO_CANDIDATES", None, None, 0.0, 0)
        chosen: list[Option | None] = []
        fallback = ""
        if cands and all(
            h is not None and h.value == max(o.value for o in opts) for h, opts in zip(hint, cand_opts, strict=True)
        ):
            # every candidate starts at its most valuable mode: the value part is at its upper bound, so no model
            # is needed; only the best-fit tie-break is the greedy's (status says so, not OPTIMAL)
            chosen = hint
            val = float(sum(h.value for h in hint if h is not None))
            rec = SolveRecord("ALL_START", val, val + (TIE_SCALE - 1) * len(hint), 0.0, 0)
        elif cands:
            chosen, rec = solve_window(
                win,
                cands,
                cand_opts,
                reservations,
                hint,
                time_limit_s=self.time_limit_s,
                seed=self.seed,
                workers=self.workers,
            )
            if rec.objective is None:
                chosen = hint
                fallback = f"CP-SAT {rec.status} in {rec.seconds:.3f} s: the greedy decision"
        residual = Residual.of(win, reservations)
        started, dropped = self._map(state, win, residual, reservations, cands, chosen, decision)
        filled = self._fill(state, win, residual, reservations, queue, live[pos:], started, decision, vmax, scores)
        # capped running jobs are raised only with the headroom the starts left: per MW a queued job started (even
        # capped) gains far more speed than a running one uncapped (0.94 / 0.6 against 0.06 / 0.2 on the default
        # curve), and its wait is what the mean JCT counts
        decision.caps.update(uncap(state, win))
        self.calls.append(
            CallRecord(
                now_s=state.now_s,
                queued=len(queue),
                candidates=len(cands),
                booleans=rec.booleans,
                status=rec.status,
                objective=rec.objective,
                bound=rec.bound,
                solve_s=rec.seconds,
                decide_s=time.perf_counter() - t0,
                starts=len(decision.starts) - filled,
                filled=filled,
                dropped=dropped,
                fallback=fallback,
            )
        )
        return decision

    def _resume_migrations(self, state: ClusterState, win: Window, decision: Decision) -> set[str]:
        """Start the jobs the optimised response paused to migrate, at the allocation it chose (re-checked)."""
        pending: dict[str, Start] = getattr(self.response, "pending", {})
        queued = {qj.job.id: qj for qj in state.queue}
        done: set[str] = set()
        for jid, st in sorted(pending.items()):
            qj = queued.get(jid)
            if qj is None or not qj.paused:
                continue
            tmp = Residual.of(win, [])
            tab = state.power[int(state.fleet.sku[st.allocation[0][0]])]
            speed = float(tab.speeds[int(np.argmin(np.abs(np.asarray(tab.caps) - st.cap)))])
            end = state.now_s + estimated_remaining_s(qj.job, qj.remaining_s) / speed
            ok, mw = self._concrete_ok(state, win, tmp, qj, st.allocation, st.cap, end)
            if not ok:
                continue
            self._commit(win, tmp, qj, st.allocation, mw, end)
            win.quota_left[qj.job.tenant] = win.quota_left.get(qj.job.tenant, 0) - sum(g for _, g in st.allocation)
            _take_aggregate(win, st.allocation, mw, end)
            decision.starts.append(Start(jid, list(st.allocation), st.cap))
            done.add(jid)
        pending.clear()
        return done

    def _power_slack(self, win: Window) -> bool:
        """True when full-power starts cannot bind power anywhere (every site's least headroom exceeds its free GPUs at
        full power): modes below full power are then dominated and pruned."""
        idx = win.idx
        need = np.zeros(len(idx.fleet.sites))
        np.add.at(need, idx.p_site, win.p_free * idx.p_mw_per_gpu * UNITS_PER_MW)
        return bool((win.headroom_u.min(axis=1) >= need).all())

    def _reservations(
        self, state: ClusterState, win: Window, queue: list[QueuedJob], live: list[int]
    ) -> list[Reservation]:
        """Per tenant (one for all when pooled) the oldest live job waiting >= reserve_after_s that cannot start now."""
        out: list[Reservation] = []
        seen: set[str] = set()
        lv = np.asarray(live, dtype=np.int64)
        if lv.size == 0:
            return out
        arr = self._arrival[lv]
        old_i = lv[state.now_s - arr >= self.reserve_after_s]
        order = np.fromiter((queue[i].order for i in old_i), np.int64, len(old_i))
        old = [int(i) for i in old_i[np.argsort(order, kind="stable")]]
        for i in old[: self.reserve_scan]:  # bounded: the oldest few hundred decide the reservations
            qj = queue[i]
            key = qj.job.tenant if state.sharing == "owned" else "*"
            if key in seen:
                continue
            pools = self._pools(win, qj.job)
            if job_options(win, 0, qj, 1.0, pools, False):
                continue  # it fits now; the model may start it (its age raises its score)
            seen.add(key)
            r = reservation_for(win, qj, pools)
            if r is not None:
                out.append(r)
        return out

    def _place(self, state: ClusterState, win: Window, qj: QueuedJob, o: Option) -> list[tuple[int, int]] | None:
        """The best-fit allocator on the free GPUs of the option's pool (or group) only; a job that is not a block gang
        first without the wholly free SUs (SU-level best fit: whole SUs stay whole for the block gangs, which
        otherwise wait longest), then with them."""
        mask = (win.idx.pool_of == o.where) if o.kind == "pool" else np.isin(win.idx.pool_of, o.pools)
        if qj.job.gang != "block":
            f = state.fleet
            su_free = np.bincount(f.su, weights=win.free, minlength=len(f.sus))
            broken = (su_free != f.su_gpus)[f.su]
            got = allocate(state, qj.job, np.where(mask & broken, win.free, 0))
            if got:
                return got
        return allocate(state, qj.job, np.where(mask, win.free, 0))

    def _concrete_ok(
        self, state: ClusterState, win: Window, residual: Residual, qj: QueuedJob, allocation, cap: float, end_s: float
    ) -> tuple[bool, np.ndarray]:
        """Re-check a concrete allocation: free GPUs, quota, every step's exact power headroom."""
        dom = np.asarray([d for d, _ in allocation], np.int64)
        gp = np.asarray([g for _, g in allocation], np.int64)
        if (win.free[dom] < gp).any():
            return False, np.zeros(0)
        if residual.quota_left.get(qj.job.tenant, 0) < int(gp.sum()):
            return False, np.zeros(0)
        mw = _start_mw(state, win, dom, gp, cap, end_s)
        touched = mw[:, 0] > 0  # only the sites it draws at: another site may be over in a future step already
        if (win.headroom_mw[touched] < mw[touched] - 1e-9).any():
            return False, np.zeros(0)
        return True, mw

    def _commit(self, win: Window, residual: Residual, qj: QueuedJob, allocation, mw, end_s: float) -> None:
        dom = np.asarray([d for d, _ in allocation], np.int64)
        gp = np.asarray([g for _, g in allocation], np.int64)
        np.subtract.at(win.free, dom, gp)  # the quota is taken by Residual.take (aggregate and concrete alike)
        for p in np.unique(win.idx.pool_of[dom]):
            win.p_max_free[p] = int(win.free[win.idx.p_domains[p]].max())
        win.headroom_mw -= mw

    def _map(self, state, win, residual, reservations, cands, chosen, decision) -> tuple[set[str], int]:
        """Concrete allocations for the model's starts: block gangs first, then domain, then site/any."""
        rank = {"block": 0, "domain": 1, "site": 2, "any": 3}
        picked = [(cands[i], o) for i, o in enumerate(chosen) if o is not None]
        picked.sort(key=lambda t: (rank[t[0].job.gang], -t[1].held))
        started: set[str] = set()
        dropped = 0
        for qj, o in picked:
            allocation = self._place(state, win, qj, o)
            if not allocation:
                dropped += 1
                continue
            ok, mw = self._concrete_ok(state, win, residual, qj, allocation, o.cap, o.end_s)
            if not ok:
                dropped += 1
                continue
            self._commit(win, residual, qj, allocation, mw, o.end_s)
            residual.take(o, qj.job.tenant, win, reservations)
            decision.starts.append(Start(qj.job.id, [(int(d), int(g)) for d, g in allocation], o.cap))
            started.add(qj.job.id)
        return started, dropped

    def _fill(self, state, win, residual, reservations, queue, rest, started, decision, vmax, scores) -> int:
        """Greedy backfill of the rest of the queue in score order, under the same aggregate and concrete checks."""
        filled = 0
        tried = 0
        for i in rest:
            if tried >= self.fill_limit:
                break
            qj = queue[i]
            if qj.job.id in started or residual.quota_left.get(qj.job.tenant, 0) < qj.job.gpus:
                continue
            tried += 1
            opts = job_options(win, 0, qj, 1.0, self._pools(win, qj.job), False)
            for o in sorted(opts, key=lambda o: (-o.cap, _slack(win, o))):
                if not residual.fits(o, qj.job.tenant, win, reservations):
                    continue
                allocation = self._place(state, win, qj, o)
                if not allocation:
                    break  # one allocation attempt per backfilled job: the fill stays O(fill_limit) allocations
                ok, mw = self._concrete_ok(state, win, residual, qj, allocation, o.cap, o.end_s)
                if not ok:
                    break
                self._commit(win, residual, qj, allocation, mw, o.end_s)
                residual.take(o, qj.job.tenant, win, reservations)
                decision.starts.append(Start(qj.job.id, [(int(d), int(g)) for d, g in allocation], o.cap))
                started.add(qj.job.id)
                filled += 1
                break
        return filled


def _take_aggregate(win: Window, allocation: list[tuple[int, int]], mw: np.ndarray, end_s: float) -> None:
    """Take a start made outside the model (a migration's resume) off the window's aggregate counts."""
    idx = win.idx
    f = idx.fleet
    dom = np.asarray([d for d, _ in allocation], np.int64)
    gp = np.asarray([g for _, g in allocation], np.int64)
    np.subtract.at(win.p_free, idx.pool_of[dom], gp)
    np.subtract.at(win.g_free, idx.group_of[dom], gp)
    su_free = np.bincount(f.su, weights=win.free, minlength=len(f.sus)).astype(np.int64)
    whole = su_free == f.su_gpus
    win.p_whole_sus[:] = np.bincount(idx.su_pool, weights=whole, minlength=idx.pools).astype(np.int64)
    win.headroom_u -= np.ceil(mw * UNITS_PER_MW).astype(np.int64)
    np.maximum(win.headroom_u, 0, out=win.headroom_u)


def _start_mw(
    state: ClusterState, win: Window, dom: np.ndarray, gp: np.ndarray, cap: float, end_s: float
) -> np.ndarray:
    """A start's draw above idle per [site, look-ahead step] (MW): at ``cap`` now, at most ``lookahead_cap`` later,
    nothing after its estimated end."""
    f = state.fleet
    idle = np.asarray([state.power[k].idle_share for k in f.sku[dom]])
    full = gp * f.kw_per_gpu[dom] * f.pue[f.site[dom]] / 1000.0
    n_s = len(f.sites)
    now = np.bincount(f.site[dom], weights=full * (cap - idle), minlength=n_s)
    later = np.bincount(f.site[dom], weights=full * (min(cap, win.lookahead_cap) - idle), minlength=n_s)
    out = np.where(win.steps_s[None, :] < end_s, later[:, None], 0.0)
    out[:, 0] = now
    return out


__all__ = [
    "CallRecord",
    "CpsatScheduler",
    "Option",
    "PoolIndex",
    "Reservation",
    "Window",
    "build_pool_index",
    "build_window",
    "cpsat_factory",
    "greedy_choice",
    "solve_window",
]


def cpsat_factory(
    *,
    power_response: Any = "optimised",
    seed: int = 0,
    workers: int = 1,
    time_limit_s: float | None = None,
    **options: Any,
) -> CpsatScheduler:
    """The registry's factory: ``SCHEDULERS['cpsat'](power_response=..., seed=..., workers=..., time_limit_s=...,
    candidates=..., lookahead_s=..., aging_s=..., reserve_after_s=..., fill_limit=...)``."""
    from solvers.cluster_schedulers import make_response

    known = {"candidates", "lookahead_s", "lookahead_cap", "aging_s", "reserve_after_s", "fill_limit", "reserve_scan"}
    extra = {k: v for k, v in options.items() if k in known}
    resp = (
        make_response(power_response, seed=seed, workers=workers)
        if isinstance(power_response, str)
        else (power_response)
    )
    return CpsatScheduler(
        response=resp,
        seed=seed,
        workers=workers,
        time_limit_s=0.05 if time_limit_s is None else time_limit_s,
        **extra,
    )
