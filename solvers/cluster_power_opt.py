"""The optimised power response ('optimised'): meet a drop in a site's allowance losing the fewest GPU-hours.

When a site draws more than its allowance (:meth:`OptimisedResponse.respond`), every running
job there gets one of these options:

* **keep** it at a power mode at or below its current cap (its SKU's (cap, speed) pairs):
  loss = GPUs x (1 - speed) x min(D, its estimated remaining work / speed);
* **pause** it (preemptible jobs only): loss = GPUs x (D + checkpoint_s) (it waits out the
  curtailment, then redoes checkpoint_s of work);
* **migrate** it (preemptible only) to free capacity in a pool (block gangs: whole SUs of one
  block; domain: a domain; site/any: one site) of its tenant (unless pooled) and SKU at
  another site whose headroom holds at full power in every look-ahead step while it would
  run there: loss = GPUs x checkpoint_s;

where D is the time until the site's allowance next rises (capped at ``horizon_s``). The
model (CP-SAT, one boolean per job and option, exactly one per job) requires each over-drawn
site's savings (power above idle given up) to cover its excess, each destination pool's and
group's free GPUs and each destination site's headroom in every step to hold the migrants,
and minimises, lexicographically, (1) the GPU-hours lost, then (2) the largest tenant loss
over its fair-share weight, in two solves (the second bounded by the first's optimum).
A migration the allocator cannot place concretely becomes a pause (it saves the same power
at the source, so the site still holds).

Integer scaling: power in 10 W units (savings rounded down, the excess and the destinations'
loads rounded up), losses in GPU-minutes (rounded; one GPU-minute is far below the figures
compared). Coefficients: savings 1 .. ~2 x 10^6, losses 1 .. ~10^7.

:func:`uncap` is the other half: when the allowance rises, capped jobs are raised to the
highest mode whose extra draw every look-ahead step can carry while they run (largest GPU
gain first). The cpsat scheduler calls it at every event; other schedulers may too.

Complexity: the model has J x (M + 1 + P') booleans for J running jobs at the over-drawn
sites, M modes and P' destination pools; a few hundred at Korea scale; solved in milliseconds.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from ortools.sat.python import cp_model

from solvers.cluster_engine import ClusterState, Decision, PowerResponse, RunningJob, Start

if TYPE_CHECKING:
    from solvers.cluster_cpsat import Window

UNITS_PER_MW = 100_000  # 10 W, as solvers.cluster_cpsat


def _job_mw_by_site(state: ClusterState, r: RunningJob, cap: float) -> np.ndarray:
    """The job's draw above idle per site at ``cap`` (MW)."""
    f = state.fleet
    dom = np.asarray([d for d, _ in r.allocation], np.int64)
    gp = np.asarray([g for _, g in r.allocation], np.float64)
    idle = np.asarray([state.power[k].idle_share for k in f.sku[dom]])
    return np.bincount(
        f.site[dom], weights=gp * f.kw_per_gpu[dom] * f.pue[f.site[dom]] / 1000.0 * (cap - idle), minlength=len(f.sites)
    )


def _speed_at(state: ClusterState, sku: int, cap: float) -> float:
    tab = state.power[sku]
    i = int(np.argmin(np.abs(np.asarray(tab.caps) - cap)))
    return float(tab.speeds[i])


def uncap(state: ClusterState, win: Window) -> dict[str, float]:
    """Raise capped running jobs to the highest mode every look-ahead step can carry while they run.

    Reads ``win.headroom_mw`` (not changed). Returns job id -> new cap. Largest GPU x speed gain first.
    Complexity: O(capped jobs x modes x steps)."""
    from solvers.cluster_cpsat import estimated_remaining_s

    f = state.fleet
    head = win.headroom_mw.copy()
    # not a job whose cap changed at this very instant (the response just capped it): no flapping, no empty segment
    capped = [r for r in state.running.values() if r.cap < 1.0 and r.since_s < state.now_s]
    out: dict[str, float] = {}
    if not capped:
        return out

    def gain(r: RunningJob) -> float:
        return sum(g for _, g in r.allocation) * (1.0 - r.speed)

    for r in sorted(capped, key=lambda r: (-gain(r), r.job.id)):
        sku = int(f.sku[r.allocation[0][0]])
        caps = sorted((float(c) for c in state.power[sku].caps if c > r.cap), reverse=True)
        left = estimated_remaining_s(r.job, r.remaining_at(state.now_s))
        base = _job_mw_by_site(state, r, r.cap)
        for cap in caps:
            extra = _job_mw_by_site(state, r, cap) - base
            end = state.now_s + left / _speed_at(state, sku, cap)
            active = win.steps_s < end
            if (head[:, active] >= extra[:, None] - 1e-12).all():
                head[:, active] -= extra[:, None]
                out[r.job.id] = cap
                break
    return out


@dataclass
class _Opt:
    job: str
    kind: str  # keep, pause, migrate
    cap: float
    saving_u: np.ndarray  # per over-drawn site (index into `sites`), 10 W units, floored
    loss_min: int  # GPU-minutes
    dest_pool: int = -1
    dest_group: int = -1
    dest_site: int = -1
    dest_u: int = 0
    dest_end_s: float = 0.0
    held: int = 0
    tot: int = field(init=False)  # saving_u summed (the greedy's key; a Python int, not a numpy reduction per look)

    def __post_init__(self) -> None:
        self.tot = int(self.saving_u.sum())


@dataclass
class ResponseRecord:
    now_s: float
    sites: list[str]
    jobs: int
    status: str
    loss_gpu_h: float
    fair_max: float | None
    seconds: float
    pauses: int
    caps: int
    migrations: int
    note: str = ""


@dataclass
class OptimisedResponse(PowerResponse):
    """Caps, pauses or migrates the running jobs of over-drawn sites losing the fewest GPU-hours, then fairest."""

    seed: int = 0
    workers: int = 1
    time_limit_s: float = 0.05  # per solve (two: GPU-hours, then fair share), CP-SAT deterministic time
    horizon_s: float = 24 * 3600.0
    lookahead_s: float = 6 * 3600.0
    allow_migration: bool = True
    max_model_options: int = 1500  # above this many options the greedy answers (module docstring)
    name: str = "optimised"
    calls: list[ResponseRecord] = field(default_factory=list)
    #: migrations chosen at the last response: the job is paused here (a response may not start jobs) and the
    #: cpsat scheduler, called next at the same instant, resumes it at this allocation (pause + resume = migration)
    pending: dict[str, Start] = field(default_factory=dict)

    def relax(self, state: ClusterState) -> Decision:
        """When the allowance rises: capped jobs raised by :func:`uncap` (every look-ahead step carries them).

        The baselines call a response's ``relax`` at every event; the cpsat scheduler calls
        :func:`uncap` itself, after its starts. Without this a baseline paired with this response kept
        a job capped for the rest of its run. Complexity: O(1) with nothing capped, else a window."""
        from solvers.cluster_cpsat import build_pool_index, build_window

        if not any(r.cap < 1.0 for r in state.running.values()):
            return Decision()
        win = build_window(state, build_pool_index(state.fleet, state.sharing), self.lookahead_s)
        return Decision(caps=uncap(state, win))

    def respond(self, state: ClusterState, sites: list[int]) -> Decision:
        from solvers.cluster_cpsat import build_pool_index, build_window, eligible_pools, estimated_remaining_s

        t0 = time.perf_counter()
        f = state.fleet
        idx = build_pool_index(f, state.sharing)
        win = build_window(state, idx, self.lookahead_s)
        over = [s for s in sites if state.draw_mw[s] > state.allowance_mw[s] + 1e-12]
        decision = Decision()
        self.pending.clear()
        if not over:
            return decision
        pos = {s: i for i, s in enumerate(over)}
        excess_u = [math.ceil((state.draw_mw[s] - state.allowance_mw[s]) * UNITS_PER_MW) for s in over]
        dur = {s: self._curtail_s(state, s) for s in over}
        opts: list[_Opt] = []
        jobs = [r for r in state.running.values() if any(int(f.site[d]) in pos for d, _ in r.allocation)]
        jobs.sort(key=lambda r: r.job.id)
        for r in jobs:
            g = sum(gg for _, gg in r.allocation)
            sku = int(f.sku[r.allocation[0][0]])
            work = estimated_remaining_s(r.job, r.remaining_at(state.now_s))
            d_s = max(dur[int(f.site[d])] for d, _ in r.allocation if int(f.site[d]) in pos)
            at0 = _job_mw_by_site(state, r, 0.0)  # minus its GPUs' idle draw, per site
            per_cap = _job_mw_by_site(state, r, 1.0) - at0  # its GPUs' full draw: above idle at cap c = c x this + at0
            cur = r.cap * per_cap + at0
            for cap, speed in zip(state.power[sku].caps, state.power[sku].speeds, strict=True):
                if cap > r.cap + 1e-12:
                    continue
                saving = (r.cap - float(cap)) * per_cap
                loss = g * (1.0 - float(speed)) * min(d_s, work / float(speed)) / 60.0
                opts.append(_Opt(r.job.id, "keep", float(cap), self._units(saving, over), round(loss)))
            if r.job.preemptible:
                full = self._units(cur, over)
                opts.append(_Opt(r.job.id, "pause", 0.0, full, round(g * (d_s + r.job.checkpoint_s) / 60.0)))
                if self.allow_migration:
                    pools = eligible_pools(win, r.job)
                    pools = pools[idx.p_sku[pools] == sku]  # a job stays on the SKU it runs on
                    opts.extend(self._migrations(state, win, r, g, work, full, pools, over))
        greedy = self._greedy(opts, over, excess_u)
        if greedy is not None and len(opts) > self.max_model_options:
            # too many jobs for the time limit: the hull greedy is the LP relaxation's optimum up to one job's step
            chosen, status, loss_min, fair = greedy, "GREEDY", sum(o.loss_min for o in greedy), None
        else:
            chosen, status, loss_min, fair = self._solve(state, win, opts, over, excess_u, greedy)
        note = ""
        if chosen is None and greedy is not None:
            chosen = greedy
            loss_min = sum(o.loss_min for o in greedy)
            note = f"CP-SAT {status}: the greedy (cheapest GPU-hours per MW first)"
        elif chosen is None:
            chosen = self._deepest(opts)
            note = f"CP-SAT {status}: the deepest cuts (lowest mode, preemptible jobs paused)"
        n_mig = 0
        for o in chosen:
            if o.kind == "keep":
                if abs(o.cap - state.running[o.job].cap) > 1e-12:
                    decision.caps[o.job] = o.cap
            elif o.kind == "pause":
                decision.pauses.append(o.job)
            else:
                allocation = self._place(state, win, o)
                decision.pauses.append(o.job)
                if allocation:
                    np.subtract.at(win.free, [d for d, _ in allocation], [gg for _, gg in allocation])
                    self.pending[o.job] = Start(o.job, allocation, 1.0)
                    n_mig += 1
                else:
                    note = (note + "; " if note else "") + f"{o.job}: migration not placeable, paused instead"
        self.calls.append(
            ResponseRecord(
                now_s=state.now_s,
                sites=[f.sites[s] for s in over],
                jobs=len(jobs),
                status=status,
                loss_gpu_h=loss_min / 60.0 if loss_min is not None else float("nan"),
                fair_max=fair,
                seconds=time.perf_counter() - t0,
                pauses=len(decision.pauses) - n_mig,
                caps=len(decision.caps),
                migrations=n_mig,
                note=note,
            )
        )
        return decision

    @staticmethod
    def _units(mw_by_site: np.ndarray, over: list[int]) -> np.ndarray:
        return np.floor(np.maximum(mw_by_site[over], 0.0) * UNITS_PER_MW).astype(np.int64)

    def _curtail_s(self, state: ClusterState, s: int) -> float:
        """Seconds until the site's allowance next rises above its level now (at most horizon_s)."""
        now_level = state.allowance_mw[s]
        for t, mw in state.allowance[s]:
            if t > state.now_s and mw > now_level + 1e-12:
                return min(self.horizon_s, t - state.now_s)
        return self.horizon_s

    def _migrations(self, state, win, r: RunningJob, g: int, work: float, saving, pools, over) -> list[_Opt]:
        idx = win.idx
        out: list[_Opt] = []
        ckpt = r.job.checkpoint_s
        end = state.now_s + ckpt + work
        active = win.steps_s < end
        seen_groups: set[int] = set()
        for p in pools:
            site = int(idx.p_site[p])
            if site in over:
                continue
            if r.job.gang == "block":
                sus = math.ceil(r.job.gpus / int(idx.p_su_max[p]))
                if sus > win.p_whole_sus[p]:
                    continue
                held = sus * int(idx.p_su_max[p])
            elif r.job.gang == "domain":
                held = r.job.gpus
                if not ((idx.pool_of == p) & (win.free >= held)).any():
                    continue
            else:
                grp = int(idx.p_group[p])
                if grp in seen_groups:
                    continue
                seen_groups.add(grp)
                held = r.job.gpus
                if held > win.g_free[grp]:
                    continue
            mw = held * float(idx.p_mw_per_gpu[p]) * (1.0 - float(win.idle[p]))
            u = math.ceil(mw * UNITS_PER_MW)
            if (win.headroom_u[site][active] < u).any():
                continue
            out.append(
                _Opt(
                    r.job.id,
                    "migrate",
                    1.0,
                    saving,
                    round(g * ckpt / 60.0),
                    dest_pool=int(p) if r.job.gang in ("block", "domain") else -1,
                    dest_group=int(idx.p_group[p]),
                    dest_site=site,
                    dest_u=u,
                    dest_end_s=end,
                    held=held,
                )
            )
        return out

    def _solve(self, state, win, opts: list[_Opt], over, excess_u, hint: list[_Opt] | None):
        m = cp_model.CpModel()
        y = [m.new_bool_var(f"y{i}") for i in range(len(opts))]
        by_job: dict[str, list[int]] = {}
        for i, o in enumerate(opts):
            by_job.setdefault(o.job, []).append(i)
        for idxs in by_job.values():
            m.add_exactly_one(y[i] for i in idxs)
        for k in range(len(over)):
            m.add(sum(int(o.saving_u[k]) * y[i] for i, o in enumerate(opts)) >= excess_u[k])
        loss = sum(o.loss_min * y[i] for i, o in enumerate(opts))
        tenants = sorted({state.running[o.job].job.tenant for o in opts})
        self._add_dest(m, y, opts, win)
        m.minimize(loss)
        if hint is not None:
            hinted = {id(o) for o in hint}
            for i, o in enumerate(opts):
                m.add_hint(y[i], id(o) in hinted)
        solver = cp_model.CpSolver()
        # deterministic time (reproducible), a wall-clock backstop behind it (as solvers.cluster_cpsat)
        solver.parameters.max_deterministic_time = self.time_limit_s
        solver.parameters.max_time_in_seconds = max(0.25, 10 * self.time_limit_s)
        solver.parameters.num_workers = self.workers
        solver.parameters.random_seed = self.seed
        st = solver.solve(m)
        if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None, solver.status_name(st), None, None
        best = int(round(solver.objective_value))
        first = [opts[i] for i in range(len(opts)) if solver.boolean_value(y[i])]
        # (2) fair share: the largest tenant loss over its weight, total loss held at its optimum
        m.add(loss <= best)
        scale = 1000
        z = m.new_int_var(0, max(1, best) * scale * 1000, "z")
        for t in tenants:
            w = max(1e-6, float(state.weight.get(t, 1.0)))
            lt = sum(o.loss_min * y[i] for i, o in enumerate(opts) if state.running[o.job].job.tenant == t)
            m.add(lt * max(1, round(scale / w)) <= z)
        m.clear_objective()
        m.minimize(z)
        picked = {id(o) for o in first}
        for i in range(len(opts)):
            m.add_hint(y[i], id(opts[i]) in picked)
        st2 = solver.solve(m)
        if st2 in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            chosen = [opts[i] for i in range(len(opts)) if solver.boolean_value(y[i])]
            return chosen, solver.status_name(st), best, solver.objective_value / scale
        return first, solver.status_name(st), best, None

    @staticmethod
    def _add_dest(m, y, opts: list[_Opt], win: Window) -> None:
        """Destination capacity (groups, pools) and every step's headroom at the destination sites."""
        groups: dict[int, list[int]] = {}
        pools: dict[int, list[int]] = {}
        sites: dict[int, list[int]] = {}
        for i, o in enumerate(opts):
            if o.kind != "migrate":
                continue
            groups.setdefault(o.dest_group, []).append(i)
            if o.dest_pool >= 0:
                pools.setdefault(o.dest_pool, []).append(i)
            sites.setdefault(o.dest_site, []).append(i)
        for g, idxs in groups.items():
            m.add(sum(opts[i].held * y[i] for i in idxs) <= int(win.g_free[g]))
        for p, idxs in pools.items():
            m.add(sum(opts[i].held * y[i] for i in idxs) <= int(win.p_free[p]))
        for s, idxs in sites.items():
            for h, t in enumerate(win.steps_s):
                act = [i for i in idxs if opts[i].dest_end_s > t]
                if act:
                    m.add(sum(opts[i].dest_u * y[i] for i in act) <= int(win.headroom_u[s, h]))

    @staticmethod
    def _greedy(opts: list[_Opt], over, excess_u) -> list[_Opt] | None:
        """The hint and the fallback: from every job at its current cap, take the cheapest steps (GPU-minutes lost per
        unit of power saved, along each job's lower convex hull of options, migrations excluded) until every
        over-drawn site's excess is covered. None when even the deepest cuts do not cover it.
        Complexity: O(options log options)."""
        import heapq

        by_job: dict[str, list[_Opt]] = {}
        for o in opts:
            if o.kind != "migrate":
                by_job.setdefault(o.job, []).append(o)
        need = np.asarray(excess_u, dtype=np.int64).copy()
        chosen: dict[str, _Opt] = {}
        hulls: dict[str, list[_Opt]] = {}
        heap: list[tuple[float, str, int]] = []
        for jid, jo in sorted(by_job.items()):
            jo = sorted(jo, key=lambda o: (o.tot, o.loss_min))
            start = (
                next(o for o in jo if o.kind == "keep" and o.tot == 0)
                if any(o.kind == "keep" and o.tot == 0 for o in jo)
                else jo[0]
            )
            hull = [start]
            for o in jo:
                if o.tot <= hull[-1].tot:
                    if o.tot == hull[-1].tot and o.loss_min < hull[-1].loss_min:
                        hull[-1] = o
                    continue
                while len(hull) >= 2:
                    a, b = hull[-2], hull[-1]
                    ra = (b.loss_min - a.loss_min) / max(1, b.tot - a.tot)
                    rb = (o.loss_min - b.loss_min) / max(1, o.tot - b.tot)
                    if rb <= ra:
                        hull.pop()
                    else:
                        break
                hull.append(o)
            hulls[jid] = hull
            chosen[jid] = hull[0]
            if len(hull) > 1:
                a, b = hull[0], hull[1]
                heapq.heappush(heap, ((b.loss_min - a.loss_min) / max(1, b.tot - a.tot), jid, 1))
        got = sum(o.saving_u for o in chosen.values()) if chosen else np.zeros(len(over), np.int64)
        while (got < need).any() and heap:
            _, jid, k = heapq.heappop(heap)
            cur, nxt = chosen[jid], hulls[jid][k]
            if not ((cur.saving_u > 0) | (nxt.saving_u > 0))[got < need].any():
                continue  # it saves only at sites already covered
            got = got - cur.saving_u + nxt.saving_u
            chosen[jid] = nxt
            if k + 1 < len(hulls[jid]):
                a, b = nxt, hulls[jid][k + 1]
                heapq.heappush(heap, ((b.loss_min - a.loss_min) / max(1, b.tot - a.tot), jid, k + 1))
        if (got < need).any():
            return None
        return list(chosen.values())

    @staticmethod
    def _deepest(opts: list[_Opt]) -> list[_Opt]:
        out: dict[str, _Opt] = {}
        for o in opts:
            if o.kind == "migrate":
                continue
            cur = out.get(o.job)
            if cur is None or o.tot > cur.tot:
                out[o.job] = o
        return list(out.values())

    @staticmethod
    def _place(state: ClusterState, win: Window, o: _Opt) -> list[tuple[int, int]] | None:
        from solvers.cluster_cpsat import allocate

        idx = win.idx
        mask = (idx.pool_of == o.dest_pool) if o.dest_pool >= 0 else (idx.group_of == o.dest_group)
        r = state.running[o.job]
        job = r.job
        if job.sku is None:
            job = job.model_copy(update={"sku": state.fleet.skus[int(state.fleet.sku[r.allocation[0][0]])]})
        return allocate(state, job, np.where(mask, win.free, 0))


def optimised_factory(
    *, seed: int = 0, workers: int = 1, time_limit_s: float | None = None, migrations: bool = True, **_: Any
) -> OptimisedResponse:
    """The registry's factory: ``RESPONSES['optimised'](seed=..., workers=..., time_limit_s=..., migrations=...)``.

    ``migrations``: whether the scheduler it serves resumes the jobs it pauses to migrate at once (cpsat
    does); a baseline does not, so for it a migration would be a pause priced as a checkpoint."""
    return OptimisedResponse(
        seed=seed,
        workers=workers,
        time_limit_s=0.05 if time_limit_s is None else time_limit_s,
        allow_migration=migrations,
    )


__all__ = ["OptimisedResponse", "ResponseRecord", "optimised_factory", "uncap"]
