"""The proportional power response (the baselines' and the yardstick): cap everyone alike, then pause.

When a site's allowance drops below its draw, :class:`ProportionalResponse` caps every running
job at the site to the highest power mode that fits *uniformly* (each job at its SKU's highest
mode at or below one common cap); if even the lowest mode does not fit, it pauses the most
recently started preemptible jobs there (their GPUs go idle) until the lowest mode fits, then
raises the common cap as far as the remaining jobs allow. When the allowance rises again
(:meth:`ProportionalResponse.relax`, which the baselines call at every event), capped jobs are
uncapped to the highest common cap that fits; paused jobs are queued again at their own FIFO
position by the simulator, and the queue policy restarts them.

This is what a facility operator does with a uniform power-capping knob (nvidia-smi -pl on every
GPU of the site), the yardstick the optimising response is measured against.

Complexity: O(running jobs at the site x power modes) per over-allowance site.
"""

from __future__ import annotations

import numpy as np

from solvers.cluster_alloc import FleetIndex, fleet_index
from solvers.cluster_engine import ClusterState, Decision, PowerResponse, RunningJob

TOL_MW = 1e-9


def state_index(state: ClusterState) -> FleetIndex:
    """The fleet index for the state's fleet and power tables (built once, cached on the fleet)."""
    return fleet_index(state.fleet, np.array([p.idle_share for p in state.power]))


class JobPower:
    """A running job's per-site draw figures (cached per job and allocation by the callers)."""

    __slots__ = ("alloc_obj", "doms", "full", "gpus", "held", "idle", "sites", "sku")

    def __init__(self, ix: FleetIndex, r: RunningJob):
        self.alloc_obj = r.allocation
        a = np.asarray(r.allocation, dtype=np.int64).reshape(-1, 2)
        self.doms, self.gpus = a[:, 0].copy(), a[:, 1].copy()
        self.held = int(self.gpus.sum())
        self.full, self.idle = ix.full_and_idle_mw((self.doms, self.gpus))
        self.sku = int(ix.dom_sku[self.doms[0]])
        self.sites = np.flatnonzero(self.full > 0)

    def draw(self, cap: float) -> np.ndarray:
        """Per-site draw above idle when running at ``cap``."""
        return cap * self.full - self.idle


class PowerCache:
    """JobPower per running job id, rebuilt when the job's allocation changes."""

    def __init__(self) -> None:
        self._by_id: dict[str, JobPower] = {}

    def get(self, ix: FleetIndex, r: RunningJob) -> JobPower:
        jp = self._by_id.get(r.job.id)
        if jp is None or jp.alloc_obj is not r.allocation:
            jp = self._by_id[r.job.id] = JobPower(ix, r)
        return jp

    def prune(self, running: dict) -> None:
        if len(self._by_id) > 2 * len(running) + 1000:
            self._by_id = {k: v for k, v in self._by_id.items() if k in running}


def mode_at(caps: np.ndarray, c: float) -> float:
    """The highest of ``caps`` (sorted ascending) at or below ``c``; the lowest if none is."""
    i = int(np.searchsorted(caps, c + 1e-12, side="right")) - 1
    return float(caps[max(i, 0)])


class ProportionalResponse(PowerResponse):
    name = "proportional"

    def __init__(self) -> None:
        self._cache = PowerCache()
        self._capped: set[str] = set()

    def _jobs_at(self, state: ClusterState, ix: FleetIndex, site: int) -> list[tuple[RunningJob, JobPower]]:
        out = []
        for r in state.running.values():
            jp = self._cache.get(ix, r)
            if jp.full[site] > 0:
                out.append((r, jp))
        return out

    def respond(self, state: ClusterState, sites: list[int]) -> Decision:
        """Caps (and, if capping is not enough, pauses) that bring every site in ``sites`` within its allowance."""
        ix = state_index(state)
        self._cache.prune(state.running)
        dec = Decision()
        draw = state.draw_mw.astype(np.float64).copy()
        caps = {jid: r.cap for jid, r in state.running.items()}
        paused: set[str] = set()
        for s in sites:
            jobs = [(r, jp) for r, jp in self._jobs_at(state, ix, s) if r.job.id not in paused]
            allow = float(state.allowance_mw[s])
            # the site's draw with none of these jobs running (their GPUs idle)
            base = draw[s] - sum(float(jp.draw(caps[r.job.id])[s]) for r, jp in jobs)

            def at(c: float, active: list[tuple[RunningJob, JobPower]], base: float = base, s: int = s) -> float:
                return base + sum(float(jp.draw(mode_at(state.power[jp.sku].caps, c))[s]) for _, jp in active)

            lowest = min(float(state.power[jp.sku].caps[0]) for _, jp in jobs) if jobs else 1.0
            active = list(jobs)
            if at(lowest, active) > allow + TOL_MW:
                victims = sorted(
                    (x for x in active if x[0].job.preemptible), key=lambda x: (-x[0].started_s, x[0].job.id)
                )
                for r, jp in victims:
                    active.remove((r, jp))
                    paused.add(r.job.id)
                    dec.pauses.append(r.job.id)
                    draw -= jp.draw(caps[r.job.id])
                    base_at_lowest = at(lowest, active)
                    if base_at_lowest <= allow + TOL_MW:
                        break
            cands = sorted({float(c) for _, jp in active for c in state.power[jp.sku].caps}, reverse=True)
            chosen = cands[-1] if cands else 1.0
            for c in cands:
                if at(c, active) <= allow + TOL_MW:
                    chosen = c
                    break
            for r, jp in active:
                new = min(caps[r.job.id], mode_at(state.power[jp.sku].caps, chosen))
                if new != caps[r.job.id]:
                    draw += jp.draw(new) - jp.draw(caps[r.job.id])
                    caps[r.job.id] = new
                    dec.caps[r.job.id] = new
        for jid in dec.pauses:
            dec.caps.pop(jid, None)
        self._capped |= {j for j, c in dec.caps.items() if c < 1.0}
        return dec

    def relax(self, state: ClusterState) -> Decision:
        """Raise capped jobs to the highest common cap every site they touch can now carry."""
        ix = state_index(state)
        dec = Decision()
        # only jobs this response capped can be below 1.0 under a baseline; they are tracked so
        # that an event with nothing capped costs nothing
        self._capped = {j for j in self._capped if j in state.running and state.running[j].cap < 1.0}
        capped = [state.running[j] for j in sorted(self._capped)]
        if not capped:
            return dec
        draw = state.draw_mw.astype(np.float64).copy()
        for s in sorted({int(x) for r in capped for x in self._cache.get(ix, r).sites}):
            jobs = [(r, self._cache.get(ix, r)) for r in capped if r.job.id not in dec.caps]
            jobs = [(r, jp) for r, jp in jobs if jp.full[s] > 0]
            if not jobs:
                continue
            cands = sorted({float(c) for _, jp in jobs for c in state.power[jp.sku].caps}, reverse=True)
            for c in cands:
                rise = np.zeros_like(draw)
                new_caps = {}
                for r, jp in jobs:
                    new = max(r.cap, mode_at(state.power[jp.sku].caps, c))
                    if new > r.cap:
                        new_caps[r.job.id] = new
                        rise += jp.draw(new) - jp.draw(r.cap)
                if not new_caps:
                    break
                touched = rise > 0
                if np.all(draw[touched] + rise[touched] <= state.allowance_mw[touched] + TOL_MW):
                    dec.caps.update(new_caps)
                    draw += rise
                    break
        return dec


__all__ = ["JobPower", "PowerCache", "ProportionalResponse", "mode_at", "state_index"]
