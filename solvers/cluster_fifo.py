"""The Slurm-style baselines: strict FIFO and FIFO with EASY backfilling, with or without block awareness.

* ``fifo`` / ``fifo-blocks``: jobs start in arrival order (a paused job keeps its place) while
  they fit; the first that does not blocks the queue (nothing behind it starts).
* ``easy`` / ``easy-blocks``: FIFO + EASY backfilling (Lifka 1995; Slurm's sched/backfill):
  the blocked head gets a reservation at its *shadow time*, the earliest instant at which,
  releasing the running jobs in the order their users' *estimates* say they end, the head
  fits (GPUs under its gang rule, its tenant's quota, its site's power at cap 1.0). A later job
  may start now if it fits and either ends (by its estimate) before the shadow time, or keeps
  off the domains reserved for the head and within the quota and power the head leaves spare
  at the shadow time. Like Slurm's ``bf_max_job_test`` (default 500), at most
  ``backfill_depth`` queued jobs behind the head are tried per event.
* ``-blocks``: a 'block' job gets whole SUs inside one network block (Slurm's topology/block);
  without it, whole SUs anywhere at one site (the checker flags the broken block rule).

Power: a baseline starts a job only at cap 1.0 and only if its site's draw stays within the
allowance; a drop in allowance is met by the scheduler's power response (proportional by
default), whose ``relax`` also uncaps jobs when the allowance rises again.

Every job that could never be placed on the empty fleet (too big for any block, site or domain
it may use, over its tenant's quota, unknown tenant or SKU) is rejected at arrival with the reason.

Complexity per event: O(starts + tried jobs) placement attempts of O(eligible domains) numpy
each, plus, when the head is blocked, O(running jobs) releases to find its shadow time;
failed attempts are remembered per event by job shape (a bigger job of the same shape fails too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from typing import Any

import numpy as np

from solvers.cluster_alloc import FIRST, Allocation, FleetIndex, FreePool, Shape, find, never_fits
from solvers.cluster_engine import (
    ClusterScheduler,
    ClusterState,
    Decision,
    PowerResponse,
    QueuedJob,
    RunningJob,
    SchedulerCapabilities,
    Start,
)
from solvers.cluster_power import TOL_MW, PowerCache, state_index

SLURM_BF_MAX_JOB_TEST = 500
_SINCE = attrgetter("since_s")


class Ledger:
    """A decision's running account: free GPUs, GPUs held per tenant, each site's draw."""

    def __init__(self, state: ClusterState, ix: FleetIndex):
        self.ix = ix
        self.pool = FreePool(ix, state.free)
        self.held = dict(state.held_by_tenant)
        self.quota = state.quota_gpus
        self.draw = state.draw_mw.astype(np.float64).copy()
        self.allow = np.asarray(state.allowance_mw, dtype=np.float64)

    def power_ok(self, rise: np.ndarray, spare: np.ndarray | None = None) -> bool:
        touched = rise > 0
        room = self.allow[touched] - self.draw[touched] if spare is None else spare[touched]
        return bool(np.all(rise[touched] <= room + TOL_MW))

    def commit(self, tenant: str, alloc: Allocation, rise: np.ndarray) -> None:
        self.pool.take(alloc)
        self.held[tenant] = self.held.get(tenant, 0) + int(alloc[1].sum())
        self.draw += rise


@dataclass
class Reservation:
    """The blocked head's reservation: its shadow time, the pool without its reserved domains,
    and the quota and per-site MW it leaves spare then (what a job running past it may use)."""

    shadow_s: float
    outside: FreePool
    spare_quota: int
    spare_mw: np.ndarray


class RunTable:
    """The running jobs as arrays, kept across events so a reservation costs numpy, not a
    Python pass per job: per slot the estimated end (absolute: ``since + (estimate - duration
    + remaining) / speed``, fixed until the job's segment changes), GPUs held, tenant, cap and
    per-site full/idle MW; and flat ``(domain, GPUs, slot)`` entries of every allocation.

    :meth:`sync` does one cheap pass over ``state.running`` (identity and segment start), then
    touches only the jobs that started, ended or changed segment. O(running) per event, O(changed
    x allocation) to update."""

    def __init__(self, ix: FleetIndex, cache: PowerCache):
        self.ix, self.cache = ix, cache
        self.slot: dict[str, int] = {}
        self.obj: list[RunningJob | None] = []
        n = 64
        self.since_arr = np.full(n, np.nan)
        self.obj_id = np.zeros(n, dtype=np.int64)  # id() of the slot's RunningJob (held in obj, so unique)
        self.end_abs = np.zeros(n)
        self.cap = np.zeros(n)
        self.held = np.zeros(n, dtype=np.int64)
        self.tenant = np.full(n, -1, dtype=np.int64)
        self.alive = np.zeros(n, dtype=bool)
        self.full = np.zeros((n, ix.n_sites))
        self.idle = np.zeros((n, ix.n_sites))
        self.spare: list[int] = []  # slots free to reuse (their flat entries are gone)
        self.pending: list[int] = []  # dropped slots whose flat entries are still there
        self.flat_doms = np.zeros(0, dtype=np.int64)
        self.flat_gpus = np.zeros(0, dtype=np.int64)
        self.flat_slot = np.zeros(0, dtype=np.int64)
        self.dead = 0

    def _grow(self) -> None:
        n = self.end_abs.shape[0]
        for name in ("end_abs", "cap", "held", "tenant", "alive", "full", "idle", "since_arr", "obj_id"):
            a = getattr(self, name)
            b = np.zeros((2 * n, *a.shape[1:]), dtype=a.dtype)
            if name == "tenant":
                b[:] = -1
            if name == "since_arr":
                b[:] = np.nan
            b[:n] = a
            setattr(self, name, b)

    def _drop(self, jid: str) -> None:
        k = self.slot.pop(jid)
        self.alive[k] = False
        self.obj[k] = None
        self.obj_id[k] = 0
        self.dead += 1
        self.pending.append(k)

    def sync(self, running: dict[str, RunningJob]) -> None:
        ix = self.ix
        for jid in sorted(self.slot.keys() - running.keys()):
            self._drop(jid)
        n = len(running)
        keys = list(running)
        objs = list(running.values())
        # C-level passes (map over builtins): which jobs are known, the same run, the same segment
        slots = np.fromiter(map(self.slot.get, keys, repeat(-1)), np.int64, n)
        oid = np.fromiter(map(id, objs), np.int64, n)
        since = np.fromiter(map(_SINCE, objs), np.float64, n)
        known = slots >= 0
        same = np.zeros(n, dtype=bool)
        same[known] = self.obj_id[slots[known]] == oid[known]
        changed_pos = np.flatnonzero(same & (self.since_arr[np.maximum(slots, 0)] != since))
        changed = [(int(slots[i]), objs[i]) for i in changed_pos]
        added: list[tuple[int, RunningJob]] = []
        for i in np.flatnonzero(~same):
            jid, r = keys[i], objs[i]
            if jid in self.slot:  # a new run of the same job (paused and restarted): a new allocation
                self._drop(jid)
            if self.spare:
                k = self.spare.pop()
            else:
                k = len(self.obj)
                self.obj.append(None)
                if k >= self.end_abs.shape[0]:
                    self._grow()
            self.slot[jid] = k
            self.obj[k] = r
            self.obj_id[k] = id(r)
            added.append((k, r))
        for k, r in added + changed:
            self.since_arr[k] = r.since_s
            self.end_abs[k] = r.since_s + (r.job.estimate - r.job.duration_s + r.remaining_s) / r.speed
            self.cap[k] = r.cap
        if added:
            for k, r in added:
                jp = self.cache.get(ix, r)
                self.alive[k] = True
                self.held[k] = jp.held
                self.tenant[k] = ix.tenant_of.get(r.job.tenant, -1)
                self.full[k] = jp.full
                self.idle[k] = jp.idle
            jps = [self.cache.get(ix, r) for _, r in added]
            self.flat_doms = np.concatenate([self.flat_doms, *[jp.doms for jp in jps]])
            self.flat_gpus = np.concatenate([self.flat_gpus, *[jp.gpus for jp in jps]])
            self.flat_slot = np.concatenate(
                [
                    self.flat_slot,
                    *[np.full(jp.doms.shape[0], k, dtype=np.int64) for (k, _), jp in zip(added, jps, strict=True)],
                ]
            )
        if self.dead * 2 > len(self.slot) + 16:
            keep = self.alive[self.flat_slot]
            self.flat_doms = self.flat_doms[keep]
            self.flat_gpus = self.flat_gpus[keep]
            self.flat_slot = self.flat_slot[keep]
            self.dead = 0
            self.spare.extend(sorted(self.pending, reverse=True))
            self.pending.clear()


class QueueScheduler(ClusterScheduler):
    """FIFO order with optional EASY backfilling; subclasses choose the placement fit."""

    fit = FIRST

    def __init__(
        self,
        name: str,
        *,
        backfill: bool,
        blocks: bool,
        response: PowerResponse,
        backfill_depth: int = SLURM_BF_MAX_JOB_TEST,
        seed: int = 0,
        workers: int = 1,
        time_limit_s: float | None = None,
    ):
        self.name = name
        self.backfill = backfill
        self.blocks = blocks
        self.response = response
        self.backfill_depth = backfill_depth
        self.capabilities = SchedulerCapabilities(
            backfill=backfill, topology_aware=blocks, power_aware=False, optimising=False, lookahead=False
        )
        self.params: dict[str, Any] = (
            {"backfill_depth": backfill_depth, "fit": self.fit} if backfill else {"fit": self.fit}
        )
        self._shapes: dict[str, Shape | str] = {}
        self._seen_order = -1
        self._power = PowerCache()
        self._table: RunTable | None = None

    # -- helpers -----------------------------------------------------------------------------
    def shape(self, ix: FleetIndex, q: QueuedJob, sharing: str) -> Shape | str:
        s = self._shapes.get(q.job.id)
        if s is None:
            s = self._shapes[q.job.id] = ix.resolve(q.job, sharing)
        return s

    def _rejects(self, state: ClusterState, ix: FleetIndex) -> dict[str, str]:
        """Reasons for the newly arrived jobs that could never be placed (the queue is in order)."""
        out: dict[str, str] = {}
        newest = self._seen_order
        for q in reversed(state.queue):
            if q.order <= self._seen_order:
                break
            newest = max(newest, q.order)
            s = self.shape(ix, q, state.sharing)
            if isinstance(s, str):
                out[q.job.id] = s
                continue
            why = never_fits(ix, s, state.quota_gpus.get(q.job.tenant, 0), tenant=q.job.tenant, blocks=self.blocks)
            if why:
                out[q.job.id] = why
        self._seen_order = newest
        return out

    def place(
        self,
        ledger: Ledger,
        s: Shape,
        job_tenant: str,
        pool: FreePool | None = None,
        spare_power: np.ndarray | None = None,
        spare_quota: int | None = None,
    ) -> tuple[Allocation, np.ndarray] | None:
        """An allocation for the job now (GPUs, quota, power at cap 1.0), or None."""
        if ledger.held.get(job_tenant, 0) + s.gpus > ledger.quota.get(job_tenant, 0):
            return None
        if spare_quota is not None and s.gpus > spare_quota:
            return None
        alloc = find(pool or ledger.pool, s, blocks=self.blocks, fit=self.fit)
        if alloc is None:
            return None
        held = int(alloc[1].sum())
        if ledger.held.get(job_tenant, 0) + held > ledger.quota.get(job_tenant, 0):
            return None
        if spare_quota is not None and held > spare_quota:
            return None
        rise = ledger.ix.delta_mw(alloc, 1.0)
        if not ledger.power_ok(rise):
            return None
        if spare_power is not None and not ledger.power_ok(rise, spare_power):
            return None
        return alloc, rise

    @staticmethod
    def est_left_s(job_estimate: float, job_duration: float, remaining_s: float) -> float:
        """Seconds of work left by the user's estimate (what a backfilling scheduler may use)."""
        return max(0.0, job_estimate - (job_duration - remaining_s))

    # -- the policy --------------------------------------------------------------------------
    def decide(self, state: ClusterState) -> Decision:
        ix = state_index(state)
        self._power.prune(state.running)
        dec = Decision()
        relax = getattr(self.response, "relax", None)
        ledger = Ledger(state, ix)
        if relax is not None:
            up = relax(state)
            for jid, c in up.caps.items():
                r = state.running[jid]
                jp = self._power.get(ix, r)
                ledger.draw += jp.draw(c) - jp.draw(r.cap)
            dec.caps.update(up.caps)
        dec.rejects = self._rejects(state, ix)
        failed: dict[tuple, float] = {}
        head: Shape | None = None
        head_tenant = ""
        res: Reservation | None = None
        tried = 0
        for q in state.queue:
            if q.job.id in dec.rejects:
                continue
            s = self.shape(ix, q, state.sharing)
            assert not isinstance(s, str)
            if head is None:
                got = self.place(ledger, s, q.job.tenant)
                if got is not None:
                    self._start(dec, ledger, q, got)
                    continue
                if not self.backfill:
                    break
                head, head_tenant = s, q.job.tenant
                res = self._reserve(state, ix, ledger, q, s)
                continue
            assert res is not None
            tried += 1
            if tried > self.backfill_depth:
                break
            left = self.est_left_s(q.job.estimate, q.job.duration_s, q.remaining_s)
            before = state.now_s + left <= res.shadow_s
            same = q.job.tenant == head_tenant
            key = (s.key, s.gang, before, same)
            if failed.get(key, math.inf) <= s.gpus:
                continue
            if before:
                got = self.place(ledger, s, q.job.tenant)
            else:
                got = self.place(
                    ledger,
                    s,
                    q.job.tenant,
                    pool=res.outside,
                    spare_power=res.spare_mw,
                    spare_quota=res.spare_quota if same else None,
                )
            if got is None:
                failed[key] = min(failed.get(key, math.inf), s.gpus)
                continue
            self._start(dec, ledger, q, got)
            alloc, rise = got
            if res.outside is not ledger.pool:
                self._take_outside(res.outside, alloc)
            if not before:
                res.spare_mw -= rise
                if same:
                    res.spare_quota -= int(alloc[1].sum())
        return dec

    def _start(self, dec: Decision, ledger: Ledger, q: QueuedJob, got: tuple[Allocation, np.ndarray]) -> None:
        alloc, rise = got
        ledger.commit(q.job.tenant, alloc, rise)
        dec.starts.append(
            Start(job_id=q.job.id, allocation=[(int(d), int(g)) for d, g in zip(alloc[0], alloc[1], strict=True)])
        )

    @staticmethod
    def _take_outside(pool: FreePool, alloc: Allocation) -> None:
        """Take an allocation from the head-excluding pool (its reserved domains read 0 free there)."""
        doms, gpus = alloc
        g = np.minimum(gpus, pool.free[doms])
        keep = g > 0
        if keep.any():
            pool.take((doms[keep], g[keep]))

    def _reserve(self, state: ClusterState, ix: FleetIndex, ledger: Ledger, q: QueuedJob, s: Shape) -> Reservation:
        """The head's reservation: the fewest running jobs, released in the order of their
        estimated ends, after which the head fits (GPUs under its gang rule, quota, power at
        cap 1.0); no shadow (inf, nothing reserved) if it never fits.

        Fitting is monotone in the released prefix (more free GPUs, less draw, less held), so
        the prefix is found by bisection: O(log running) placements on a pool rebuilt by one
        bincount each; the running jobs' figures come from the :class:`RunTable` kept across
        events (O(running) numpy to sort their ends)."""
        now = state.now_s
        tenant = q.job.tenant
        quota = ledger.quota.get(tenant, 0)
        none = Reservation(math.inf, ledger.pool, quota - ledger.held.get(tenant, 0), np.full(ix.n_sites, np.inf))
        if not state.running:
            return none
        if self._table is None or self._table.ix is not ix:
            self._table = RunTable(ix, self._power)
        tb = self._table
        tb.sync(state.running)
        alive = np.flatnonzero(tb.alive[: len(tb.obj)])  # by slot: the tie-break of equal ends
        order = alive[np.argsort(np.maximum(now, tb.end_abs[alive]), kind="stable")]
        ends = np.maximum(now, tb.end_abs[order])
        rank = np.full(len(tb.obj), len(tb.obj) + 1, dtype=np.int64)
        rank[order] = np.arange(order.shape[0])
        flat_rank = rank[tb.flat_slot]
        draw_cum = np.cumsum(tb.cap[order][:, None] * tb.full[order] - tb.idle[order], axis=0)
        t_idx = ix.tenant_of.get(tenant, -2)
        held_cum = np.cumsum(np.where(tb.tenant[order] == t_idx, tb.held[order], 0))
        held0 = ledger.held.get(tenant, 0)
        n_dom = ix.dom_gpus.shape[0]

        def probe(k: int):
            held = held0 - int(held_cum[k - 1])
            if held + s.gpus > quota:
                return None
            m = flat_rank < k
            doms, gpus = tb.flat_doms[m], tb.flat_gpus[m]
            free = ledger.pool.free + np.bincount(doms, weights=gpus, minlength=n_dom).astype(np.int64)
            su_free = ledger.pool.su_free + np.bincount(ix.dom_su[doms], weights=gpus, minlength=ix.n_sus).astype(
                np.int64
            )
            alloc = find(FreePool.of(ix, free, su_free), s, blocks=self.blocks, fit=self.fit)
            if alloc is None:
                return None
            held_h = int(alloc[1].sum())
            if held + held_h > quota:
                return None
            draw = ledger.draw - draw_cum[k - 1]
            rise = ix.delta_mw(alloc, 1.0)
            touched = rise > 0
            if not np.all(draw[touched] + rise[touched] <= ledger.allow[touched] + TOL_MW):
                return None
            return alloc, rise, draw, quota - held - held_h

        lo, hi = 1, int(order.shape[0])
        got = probe(hi)
        if got is None:
            return none
        while lo < hi:
            mid = (lo + hi) // 2
            at = probe(mid)
            if at is None:
                lo = mid + 1
            else:
                hi, got = mid, at
        alloc, rise, draw, spare_quota = got
        outside = ledger.pool.copy()
        outside.free[alloc[0]] = 0
        outside.su_free = np.bincount(ix.dom_su, weights=outside.free, minlength=ix.n_sus).astype(np.int64)
        spare_mw = ledger.allow - (draw + rise)
        # a site the head does not touch bounds a backfill job only by its allowance now
        spare_mw[~(rise > 0)] = np.inf
        return Reservation(float(ends[hi - 1]), outside, spare_quota, spare_mw)


def fifo_factory(name: str, *, backfill: bool, blocks: bool):
    def make(
        *,
        power_response: Any = "proportional",
        seed: int = 0,
        workers: int = 1,
        time_limit_s: float | None = None,
        backfill_depth: int = SLURM_BF_MAX_JOB_TEST,
        **_: Any,
    ) -> QueueScheduler:
        from solvers.cluster_schedulers import make_response

        return QueueScheduler(
            name,
            backfill=backfill,
            blocks=blocks,
            response=make_response(power_response, migrations=False),
            backfill_depth=backfill_depth,
            seed=seed,
            workers=workers,
            time_limit_s=time_limit_s,
        )

    return make


__all__ = ["SLURM_BF_MAX_JOB_TEST", "Ledger", "QueueScheduler", "fifo_factory"]
