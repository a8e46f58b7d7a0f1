"""Rollout schedules: a greedy forward pass, and the per-period report of any schedule.

Input: a :class:`~solvers.problem.Problem` and the final rack counts per candidate.
:func:`forward_schedule` installs, period by period, as many of the final racks as the
deliveries, that period's site, cooling, feed and substation capacity and the site's
build rate allow, respecting go-live windows' earliest periods; it never moves a rack.
It is the greedy baseline's schedule and CP-SAT's hint. :func:`schedule_report` turns
cumulative live racks per (candidate, period) into the plan's ``schedule``.

Complexity: O(P · C · F) for P periods, C candidates and F feeds per site.
"""

from __future__ import annotations

import math

from placer.plan import GoingLive, PeriodReport, SitePeriod
from solvers.problem import Problem

EPS = 1e-9


def forward_schedule(problem: Problem, final: dict[int, int]) -> dict[tuple[int, int], int]:
    p, per = problem, problem.periods
    live = {i: 0 for i in final}
    out: dict[tuple[int, int], int] = {}
    for q in range(per.count):
        it = [0.0] * len(p.sites)
        liquid, air, fac = [0.0] * len(p.sites), [0.0] * len(p.sites), [0.0] * len(p.sites)
        sub = [0.0] * len(p.substation_ids)
        live_by_demand: dict[tuple[int, int], int] = {}
        for i, n in live.items():
            c = p.candidates[i]
            it[c.s] += n * p.it_mw(c.k)
            liquid[c.s] += n * p.liquid_mw(c.k)
            air[c.s] += n * p.air_mw(c.k)
            fac[c.s] += n * p.facility_mw(c.k, c.s)
            live_by_demand[(c.t, c.k)] = live_by_demand.get((c.t, c.k), 0) + n
        for s in range(len(p.sites)):
            for b, share in per.feed_shares[q][s].items():
                sub[b] += fac[s] * share
        built = [0] * len(p.sites)
        for i in sorted(final, key=lambda i: (p.candidates[i].t, p.candidates[i].k, p.candidates[i].s)):
            c = p.candidates[i]
            if per.earliest.get(c.t, 0) > q:
                continue
            want = final[i] - live[i]
            have = per.delivered_racks[(c.t, c.k)][q] - live_by_demand.get((c.t, c.k), 0)
            f = p.facility_mw(c.k, c.s)
            limits = [
                want,
                have,
                (per.it_cap[q][c.s] - it[c.s]) / p.it_mw(c.k),
                (per.feed_limit[q][c.s] - fac[c.s]) / f,
            ]
            if p.liquid_mw(c.k) > 0:
                limits.append((per.liquid_cap[q][c.s] - liquid[c.s]) / p.liquid_mw(c.k))
            if p.air_mw(c.k) > 0:
                limits.append((per.air_cap[q][c.s] - air[c.s]) / p.air_mw(c.k))
            limits += [(per.headroom[q][b] - sub[b]) / (f * share) for b, share in per.feed_shares[q][c.s].items()]
            rate = per.build_rate[c.s]
            if rate is not None:
                limits.append(rate - built[c.s])
            n = max(0, math.floor(min(limits) + EPS))
            if n:
                live[i] += n
                built[c.s] += n
                live_by_demand[(c.t, c.k)] = live_by_demand.get((c.t, c.k), 0) + n
                it[c.s] += n * p.it_mw(c.k)
                liquid[c.s] += n * p.liquid_mw(c.k)
                air[c.s] += n * p.air_mw(c.k)
                fac[c.s] += n * f
                for b, share in per.feed_shares[q][c.s].items():
                    sub[b] += n * f * share
        for i, n in live.items():
            out[(i, q)] = n
    return out


def stranded_gpu_quarters(problem: Problem, schedule: dict[tuple[int, int], int]) -> int:
    per = problem.periods
    delivered = sum(
        cum[q] * problem.skus[k].gpus_per_rack for (t, k), cum in per.delivered_racks.items() for q in range(per.count)
    )
    live = sum(n * problem.skus[problem.candidates[i].k].gpus_per_rack for (i, q), n in schedule.items())
    return delivered - live


def schedule_report(problem: Problem, schedule: dict[tuple[int, int], int]) -> list[PeriodReport]:
    p, per = problem, problem.periods
    reports = []
    for q in range(per.count):
        going, installed = [], {}
        it, fac = [0.0] * len(p.sites), [0.0] * len(p.sites)
        live_gpus = 0
        for i, c in enumerate(p.candidates):
            n = schedule.get((i, q), 0)
            before = schedule.get((i, q - 1), 0) if q else 0
            if n == 0:
                continue
            key = f"{p.tenants[c.t].id}/{p.skus[c.k].id}/{p.sites[c.s].id}"
            installed[key] = n
            g = p.skus[c.k].gpus_per_rack
            live_gpus += n * g
            it[c.s] += n * p.it_mw(c.k)
            fac[c.s] += n * p.facility_mw(c.k, c.s)
            if n > before:
                going.append(
                    GoingLive(
                        tenant=p.tenants[c.t].id,
                        sku=p.skus[c.k].id,
                        site=p.sites[c.s].id,
                        racks=n - before,
                        gpus=(n - before) * g,
                    )
                )
        delivered = sum(cum[q] * p.skus[k].gpus_per_rack for (t, k), cum in per.delivered_racks.items())
        sites = [
            SitePeriod(
                site=site.id,
                it_power_mw=it[s],
                it_available_mw=per.it_cap[q][s],
                facility_power_mw=fac[s],
                facility_available_mw=per.feed_limit[q][s],
            )
            for s, site in enumerate(p.sites)
            if it[s] > 0 or per.it_cap[q][s] > 0
        ]
        reports.append(
            PeriodReport(
                period=per.ids[q],
                going_live=going,
                installed_racks=installed,
                gpus_delivered=delivered,
                gpus_live=live_gpus,
                gpus_stranded=delivered - live_gpus,
                sites=sites,
            )
        )
    return reports
