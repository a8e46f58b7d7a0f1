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
            why = never_fits(ix, s, state.quota_gpus.get(q.job.tenant, 0), blocks=self.blocks)
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
        failed: dict[tuple, int] = {}
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
        """The head's reservation: release running jobs in the order of their estimated ends
        until the head fits (GPUs, quota, power at cap 1.0); no shadow (inf, nothing reserved)
        if it never fits."""
        now = state.now_s
        ends: list[tuple[float, str, RunningJob]] = []
        for r in state.running.values():
            left = self.est_left_s(r.job.estimate, r.job.duration_s, r.remaining_at(now))
            ends.append((now + left / r.speed, r.job.id, r))
        ends.sort(key=lambda e: (e[0], e[1]))
        pool = ledger.pool.copy()
        draw = ledger.draw.copy()
        tenant = q.job.tenant
        held = ledger.held.get(tenant, 0)
        quota = ledger.quota.get(tenant, 0)
        mask = np.zeros(ix.dom_gpus.shape[0], dtype=bool)
        mask[ix.eligible_domains(s.key)] = True
        elig_free = int(pool.free[mask].sum())
        for t_end, _, r in ends:
            jp = self._power.get(ix, r)
            pool.give((jp.doms, jp.gpus))
            draw -= jp.draw(r.cap)
            if r.job.tenant == tenant:
                held -= int(jp.gpus.sum())
            elig_free += int(jp.gpus[mask[jp.doms]].sum())
            if elig_free < s.gpus or held + s.gpus > quota:
                continue
            alloc = find(pool, s, blocks=self.blocks, fit=self.fit)
            if alloc is None:
                continue
            rise = ix.delta_mw(alloc, 1.0)
            touched = rise > 0
            if not np.all(draw[touched] + rise[touched] <= ledger.allow[touched] + TOL_MW):
                continue
            held_h = int(alloc[1].sum())
            if held + held_h > quota:
                continue
            outside = ledger.pool.copy()
            outside.free[alloc[0]] = 0
            outside.su_free = np.bincount(ix.dom_su, weights=outside.free, minlength=ix.n_sus).astype(np.int64)
            spare_mw = ledger.allow - (draw + rise)
            # a site the head does not touch bounds a backfill job only by its allowance now
            spare_mw[~touched] = np.inf
            return Reservation(t_end, outside, quota - held - held_h, spare_mw)
        return Reservation(math.inf, ledger.pool, quota, np.full(ix.n_sites, np.inf))


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
            response=make_response(power_response),
            backfill_depth=backfill_depth,
            seed=seed,
            workers=workers,
            time_limit_s=time_limit_s,
        )

    return make


__all__ = ["SLURM_BF_MAX_JOB_TEST", "Ledger", "QueueScheduler", "fifo_factory"]
