"""Aggregate pre-check: the common causes of infeasibility, found by arithmetic before any engine runs.

Input: a :class:`~solvers.problem.Problem` (it reads the pruned candidates, the capacities in
force per period, the fiber round trips and the deliveries the engines use, so that its
conditions are about exactly the model they solve). Output: a list of :class:`Finding`,
each a necessary condition of every valid plan that the scenario breaks, with the numbers
and the demand lines (tenant, SKU, GPUs) involved; :func:`raise_if_infeasible` turns them
into an :class:`~placer.errors.InfeasibleError` whose message is the headline arithmetic.

Checks (every one a relaxation of the placement model, so a finding is a proof):

* **capacity, per resource** -- IT, liquid-cooled heat, air-cooled heat, facility power the
  feeds carry after losing one feed (in IT MW at each site's PUE) and, in rollouts, racks the
  build rates allow. A max-flow from the demand lines to the sites each may use (its
  candidates: region rules, cooling medium, rack size, training island) to a sink through
  the sites' capacities; a flow short of the demand yields, from the minimum cut, the set of
  demand lines whose need exceeds everything the sites open to them hold (Hall's condition),
  split into its independent parts (e.g. one tenant per region). Amounts are integers in
  watts, demand rounded down and capacity rounded up, so the comparison is exact.
* **latency reach** -- for each tenant and latency requirement, the most of its GPUs the sites
  within reach can hold on their own (an LP over its candidates there), against the share.
* **band reachability and plant spare** -- the least and the most facility power any
  placement can draw (LPs over every candidate under the site, cooling, feed, substation and
  latency rows), against the band's maximum and minimum and the plants' total spare.
* **rollouts** -- deliveries by a tenant's ``latest`` period against its demand, ``earliest``
  after ``latest``, and the capacity checks above in every period by which a set of
  tenants must be fully live.

Limits get the verifier's slack (``1e-6 · max(1, |limit|)``; latency reach likewise) and the
LP findings a further 1e-5 relative margin for the LP solver's tolerances, so a plan the
verifier would accept is never declared impossible.

Complexity: one max-flow per resource and deadline period on D + S + 2 nodes and C arcs
(D demand lines, S sites, C candidates), and 2 + R LPs with C variables and O(S + B + D)
rows (R latency requirements, B substations): milliseconds on korea-2025.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import structlog
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from placer.contract import LIMIT_REL_TOL, limit_slack
from placer.errors import InfeasibleError
from solvers.problem import Problem

log = structlog.get_logger("placer.precheck")

LP_REL_MARGIN = 1e-5  # further margin on LP findings for the LP solver's own tolerances
W_PER_MW = 1_000_000
MAX_EXTRA_BULLETS = 3  # further findings listed after the headline and its demand lines

Key = tuple[int, int]  # (tenant index, SKU index): one demand line


@dataclass
class Finding:
    """One broken necessary condition: ``check`` names it, ``sentence`` gives the arithmetic,
    ``lines`` the demand lines involved, ``excess`` how far it is broken (in the check's unit)."""

    check: str
    sentence: str
    lines: list[Key]
    excess: float = 0.0
    demand_text: str = field(default="", repr=False)


# ---- wording -----------------------------------------------------------------------------------
def demand_lines_text(p: Problem, keys) -> str:
    """'naver 28,800 gb200-nvl72 + 6,720 hgx-b200; sk 4,640 hgx-b200', in scenario order."""
    by_tenant: dict[int, list[int]] = {}
    for t, k in sorted(keys):
        by_tenant.setdefault(t, []).append(k)
    parts = []
    for t, ks in by_tenant.items():
        parts.append(
            p.tenants[t].id
            + " "
            + " + ".join(f"{p.demand_racks[(t, k)] * p.skus[k].gpus_per_rack:,} {p.skus[k].id}" for k in ks)
        )
    return "; ".join(parts)


def _gpus(p: Problem, keys) -> int:
    return sum(p.demand_racks[key] * p.skus[key[1]].gpus_per_rack for key in keys)


def _subject(p: Problem, keys: list[Key], universe=None, adjective: str = "") -> str:
    """'all 260,000 GPUs', 'all 239,680 liquid-cooled GPUs' (keys = the universe of lines the check
    counts), '60,000 GPUs of naver', '28,800 GPUs of naver (gb200-nvl72)'."""
    keys = sorted(keys)
    if set(keys) == set(p.demand_racks if universe is None else universe):
        return f"all {_gpus(p, keys):,} {adjective if set(keys) != set(p.demand_racks) else ''}GPUs"
    by_tenant: dict[int, list[int]] = {}
    for t, k in keys:
        by_tenant.setdefault(t, []).append(k)
    names = []
    for t, ks in by_tenant.items():
        whole = {k for (tt, k) in p.demand_racks if tt == t} == set(ks)
        names.append(p.tenants[t].id if whole else f"{p.tenants[t].id} ({', '.join(p.skus[k].id for k in ks)})")
    return f"{_gpus(p, keys):,} GPUs of {_join(names)}"


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _sites_phrase(p: Problem, sites: set[int], open_to: str) -> str:
    if len(sites) == len(p.sites):
        return f"the only site ({p.sites[0].id})" if len(sites) == 1 else f"all {len(sites)} sites together"
    names = [p.sites[s].id for s in sorted(sites)]
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return (
        f"the one site {open_to} ({shown})"
        if len(names) == 1
        else f"the {len(names)} sites {open_to} ({shown}) together"
    )


# ---- capacity: max-flow / Hall's condition ----------------------------------------------------
@dataclass
class _Resource:
    check: str
    adjective: str  # of the GPUs the resource counts, when not all: "liquid-cooled "
    need: str  # "need {a} MW of IT"
    hold: str  # "hold {b} MW"
    per_rack: dict[Key, float]  # amount per rack of each demand line
    cap: list[float]  # per site, as the scenario states it (in the resource's unit)
    loose: list[float]  # per site, with the verifier's slack: what the flow may use


def _resources(p: Problem, q: int) -> list[_Resource]:
    per = p.relaxed  # with every option built: necessary conditions stay necessary
    keys = list(p.demand_racks)
    it = {key: p.it_mw(key[1]) for key in keys}
    pue = [site.pue for site in p.sites]
    out = [
        _Resource(
            "site_it_capacity",
            "",
            "need {a:,.1f} MW of IT",
            "hold{s} {b:,.1f} MW of IT",
            it,
            list(per.it_cap[q]),
            [c + limit_slack(c) for c in per.it_cap[q]],
        ),
        _Resource(
            "liquid_cooling",
            "liquid-cooled ",
            "put {a:,.1f} MW of heat on liquid cooling",
            "reject{s} {b:,.1f} MW by liquid",
            {key: p.liquid_mw(key[1]) for key in keys},
            list(per.liquid_cap[q]),
            [c + limit_slack(c) for c in per.liquid_cap[q]],
        ),
        _Resource(
            "air_cooling",
            "air-cooled ",
            "put {a:,.1f} MW of heat on air cooling",
            "reject{s} {b:,.1f} MW by air",
            {key: p.air_mw(key[1]) for key in keys},
            list(per.air_cap[q]),
            [c + limit_slack(c) for c in per.air_cap[q]],
        ),
        # facility_s = IT_s * PUE_s <= feed limit_s  <=>  IT_s <= feed limit_s / PUE_s
        _Resource(
            "feed_capacity",
            "",
            "need {a:,.1f} MW of IT",
            "power{s} {b:,.1f} MW of IT at {their} PUE through {their} feeds (N-1)",
            it,
            [f / u for f, u in zip(per.feed_limit[q], pue)],
            [(f + limit_slack(f)) / u for f, u in zip(per.feed_limit[q], pue)],
        ),
    ]
    if any(r is not None for r in per.build_rate):
        total = sum(p.demand_racks.values())
        racks = [float(total if r is None else r * (q + 1)) for r in per.build_rate]
        out.append(
            _Resource(
                "build_rate",
                "",
                "fill {a:,.0f} racks",
                "install{s} at most {b:,.0f} racks at {their} build rate{s2}",
                {key: 1.0 for key in keys},
                racks,
                racks,
            )
        )
    return out


def _hall_violations(p: Problem, res: _Resource, keys: list[Key], arcs: dict[Key, set[int]]):
    """Sets of demand lines whose amount exceeds the capacity of every site open to them.

    Max-flow source -> line (its amount, W, rounded down) -> its sites (unbounded) -> sink (site
    capacity, W, rounded up). Sites open to the same set of lines are interchangeable, so they are
    merged into one node with their summed capacity first (a region's sites, typically): the
    flow is the same and the graph has D + (distinct site signatures) nodes. The minimal source side
    of a minimum cut holds the lines L and sites N(L) with amount(L) > cap(N(L)); its connected
    parts are reported separately."""
    amounts = {key: math.floor(p.demand_racks[key] * res.per_rack[key] * W_PER_MW) for key in keys}
    active = [key for key in keys if amounts[key] > 0]
    total = sum(amounts[key] for key in active)
    if total == 0:
        return []
    signature: dict[int, list[Key]] = {}
    for key in active:
        for s in arcs.get(key, ()):
            signature.setdefault(s, []).append(key)
    groups: dict[tuple[Key, ...], list[int]] = {}
    for s, ks in signature.items():
        groups.setdefault(tuple(ks), []).append(s)
    g = nx.DiGraph()
    g.add_node("sink")
    for key in active:
        g.add_edge("src", ("d", key), capacity=amounts[key])
    for j, (group_keys, group_sites) in enumerate(groups.items()):
        g.add_edge(("g", j), "sink", capacity=sum(math.ceil(res.loose[s] * W_PER_MW) for s in group_sites))
        for key in group_keys:
            g.add_edge(("d", key), ("g", j))  # no capacity attribute: unbounded
    cut, (side, _) = nx.minimum_cut(g, "src", "sink")
    if cut >= total:
        return []
    members = list(groups.values())
    parts = nx.Graph()
    parts.add_nodes_from(n for n in side if n != "src")
    parts.add_edges_from((u, v) for u, v in g.edges if u in side and v in side and u != "src")
    out = []
    for comp in nx.connected_components(parts):
        ls = sorted(n[1] for n in comp if n[0] == "d")
        ss = {s for n in comp if n[0] == "g" for s in members[n[1]]}
        amount = sum(p.demand_racks[key] * res.per_rack[key] for key in ls)
        if ls and amount > sum(res.loose[s] for s in ss):
            out.append((ls, ss, amount, sum(res.cap[s] for s in ss)))
    return sorted(out, key=lambda v: -(v[2] - v[3]))


def _hold(res: _Resource, cap: float, n_sites: int) -> str:
    one = n_sites == 1
    return res.hold.format(b=cap, s="s" if one else "", their="its" if one else "their", s2="" if one else "s")


def _region_arcs(p: Problem) -> dict[Key, set[int]]:
    """Each demand line's sites by region rules alone (the plainest reading of 'sites it may use')."""
    arcs: dict[Key, set[int]] = {}
    for t, k in p.demand_racks:
        allowed = p.tenants[t].allowed_regions
        arcs[(t, k)] = {s for s, site in enumerate(p.sites) if allowed is None or site.region in allowed}
    return arcs


def _candidate_arcs(p: Problem) -> dict[Key, set[int]]:
    """Each demand line's candidate sites: also its cooling medium, rack size and training island."""
    arcs: dict[Key, set[int]] = {key: set() for key in p.demand_racks}
    for c in p.candidates:
        arcs[(c.t, c.k)].add(c.s)
    return arcs


def _capacity_findings(p: Problem) -> list[Finding]:
    """Hall violations per resource and deadline: first with the sites the region rules allow
    (a plain message); only if none is short, with the candidate sites (pruned further)."""
    per = p.relaxed
    # Deadlines: the last period for every line; in a rollout also each tenant's `latest` period,
    # by which the lines of every tenant due then must fit the capacity in service.
    deadlines: dict[int, list[Key]] = {p.final: list(p.demand_racks)}
    for q in sorted(set(per.latest.values())):
        if q < p.final:
            deadlines[q] = [key for key in p.demand_racks if per.latest.get(key[0], p.final + 1) <= q]
    for arcs, open_to in (
        (_region_arcs(p), "open to them"),
        (_candidate_arcs(p), "that can take their racks and training islands"),
    ):
        out = []
        for q in sorted(deadlines):
            keys = deadlines[q]
            due = sorted({p.tenants[t].id for t, _ in keys})
            when = (
                ""
                if not per.multi
                else f" in {per.ids[q]}"
                if q == p.final
                else f" by {per.ids[q]}, when {_join(due)} must be fully live"
            )
            for res in _resources(p, q):
                for ls, ss, amount, cap in _hall_violations(p, res, keys, arcs):
                    counted = [key for key in keys if res.per_rack[key] > 0]
                    sentence = f"{_subject(p, ls, counted, res.adjective)} {res.need.format(a=amount)}{when}; " + (
                        f"{_sites_phrase(p, ss, open_to)} {_hold(res, cap, len(ss))}" if ss else f"no site is {open_to}"
                    )
                    out.append(Finding(res.check, sentence, ls, amount - cap))
        if out:
            return out
    return []


# ---- LPs: least / most facility power, latency reach -------------------------------------------
class _Rows:
    """Sparse rows A x <= b (and A x = b) over a subset of candidates, final period."""

    def __init__(self, n: int):
        self.n = n
        # row, column, value and bound lists of the <= rows, then of the = rows
        self.r: list[int] = []
        self.c: list[int] = []
        self.v: list[float] = []
        self.b: list[float] = []
        self.er: list[int] = []
        self.ec: list[int] = []
        self.ev: list[float] = []
        self.eb: list[float] = []

    def le(self, cols: list[int], vals: list[float], rhs: float) -> None:
        row = len(self.b)
        self.r += [row] * len(cols)
        self.c += cols
        self.v += vals
        self.b.append(rhs)

    def eq(self, cols: list[int], vals: list[float], rhs: float) -> None:
        row = len(self.eb)
        self.er += [row] * len(cols)
        self.ec += cols
        self.ev += vals
        self.eb.append(rhs)

    def solve(self, cost: np.ndarray, upper: np.ndarray):
        a_ub = coo_matrix((self.v, (self.r, self.c)), shape=(len(self.b), self.n)).tocsr() if self.b else None
        a_eq = coo_matrix((self.ev, (self.er, self.ec)), shape=(len(self.eb), self.n)).tocsr() if self.eb else None
        return linprog(
            cost,
            A_ub=a_ub,
            b_ub=self.b or None,
            A_eq=a_eq,
            b_eq=self.eb or None,
            bounds=np.column_stack([np.zeros(self.n), upper]),
            method="highs",
        )


def _site_rows(p: Problem, rows: _Rows, chosen: list[int]) -> None:
    """Site IT, cooling, feed and substation rows of the final period over candidates ``chosen``
    (column j is candidate chosen[j]), with the verifier's slack on every limit."""
    per, q = p.relaxed, p.final
    by_site: dict[int, list[int]] = {}
    for j, i in enumerate(chosen):
        by_site.setdefault(p.candidates[i].s, []).append(j)
    sub: dict[int, tuple[list[int], list[float]]] = {}
    for s, cols in by_site.items():
        ks = [p.candidates[chosen[j]].k for j in cols]
        for table, fn in ((per.it_cap, p.it_mw), (per.liquid_cap, p.liquid_mw), (per.air_cap, p.air_mw)):
            cap = table[q][s]
            rows.le(cols, [fn(k) for k in ks], cap + limit_slack(cap))
        fac = [p.facility_mw(k, s) for k in ks]
        rows.le(cols, fac, per.feed_limit[q][s] + limit_slack(per.feed_limit[q][s]))
        for b, share in per.feed_shares[q][s].items():
            c, v = sub.setdefault(b, ([], []))
            c += cols
            v += [f * share for f in fac]
    for b, (c, v) in sub.items():
        rows.le(c, v, per.headroom[q][b] + limit_slack(per.headroom[q][b]))


def _near(p: Problem, metro: str, max_rtt_ms: float) -> set[int]:
    limit = max_rtt_ms + limit_slack(max_rtt_ms)
    return {s for s in range(len(p.sites)) if p.rtt_ms[s].get(metro, math.inf) <= limit}


def _latency_findings(p: Problem) -> list[Finding]:
    out = []
    for t, tenant in enumerate(p.tenants):
        keys = sorted(key for key in p.demand_racks if key[0] == t)
        for req in tenant.latency:
            need = (req.min_share - LIMIT_REL_TOL) * tenant.total_gpus  # the verifier's share slack
            if need <= 0:
                continue
            near = _near(p, req.metro, req.max_rtt_ms)
            chosen = [i for i, c in enumerate(p.candidates) if c.t == t and c.s in near]
            head = (
                f"tenant {tenant.id} needs {math.ceil(req.min_share * tenant.total_gpus - 1e-9):,} of its "
                f"{tenant.total_gpus:,} GPUs ({req.min_share:.0%}) within {req.max_rtt_ms:g} ms round trip of "
                f"{req.metro}"
            )
            if not chosen:
                reach = sorted(
                    (p.rtt_ms[s][req.metro], p.sites[s].id) for s in range(len(p.sites)) if req.metro in p.rtt_ms[s]
                )
                why = (
                    f"; no site open to it is within reach (the nearest site is {reach[0][1]} at {reach[0][0]:.2f} ms)"
                    if reach
                    else f"; no site has a fiber path to {req.metro}"
                )
                out.append(Finding("latency_reach", head + why, keys, need))
                continue
            rows = _Rows(len(chosen))
            _site_rows(p, rows, chosen)
            for key in keys:
                cols = [j for j, i in enumerate(chosen) if (p.candidates[i].t, p.candidates[i].k) == key]
                if cols:
                    rows.le(cols, [1.0] * len(cols), p.demand_racks[key])
            gpus = np.array([p.skus[p.candidates[i].k].gpus_per_rack for i in chosen], dtype=float)
            upper = np.array([p.candidates[i].max_racks for i in chosen], dtype=float)
            res = rows.solve(-gpus, upper)
            if res.status != 0:
                continue
            most = -res.fun
            if most < need * (1 - LP_REL_MARGIN) - 1e-6:
                sites = sorted({p.candidates[i].s for i in chosen})
                names = ", ".join(p.sites[s].id for s in sites[:6]) + (
                    f" and {len(sites) - 6} more" if len(sites) > 6 else ""
                )
                it = sum(p.relaxed.it_cap[p.final][s] for s in sites)
                out.append(
                    Finding(
                        "latency_reach",
                        head
                        + (
                            f"; the {len(sites)} sites within reach open to it ({names}) hold"
                            if len(sites) > 1
                            else f"; the one site within reach open to it ({names}) holds"
                        )
                        + f" {it:,.1f} MW of IT, room for at most {math.floor(most + 1e-6):,} of its GPUs",
                        keys,
                        need - most,
                    )
                )
    return out


def _band_findings(p: Problem) -> list[Finding]:
    """Least and most facility power over every candidate under the final site rows and latency."""
    n = len(p.candidates)
    if n == 0:
        return []
    every = list(range(n))
    rows = _Rows(n)
    _site_rows(p, rows, every)
    by_key: dict[Key, list[int]] = {}
    for i, c in enumerate(p.candidates):
        by_key.setdefault((c.t, c.k), []).append(i)
    for key, racks in p.demand_racks.items():
        if key not in by_key:
            return []  # a line with no site at all: the capacity checks say so
        rows.eq(by_key[key], [1.0] * len(by_key[key]), racks)
    for t, tenant in enumerate(p.tenants):
        for req in tenant.latency:
            near = _near(p, req.metro, req.max_rtt_ms)
            cols = [i for i, c in enumerate(p.candidates) if c.t == t and c.s in near]
            if cols:
                rows.le(
                    cols,
                    [-float(p.skus[p.candidates[i].k].gpus_per_rack) for i in cols],
                    -(req.min_share - LIMIT_REL_TOL) * tenant.total_gpus,
                )
    fac = np.array([p.facility_mw(c.k, c.s) for c in p.candidates])
    upper = np.array([c.max_racks for c in p.candidates], dtype=float)
    low, high = rows.solve(fac, upper), rows.solve(-fac, upper)
    if low.status != 0 or high.status != 0:
        return []  # infeasible even fractionally (the other checks or the core say why) or numerics
    least, most = low.fun, -high.fun
    keys = sorted(p.demand_racks)
    it = sum(n * p.it_mw(k) for (_, k), n in p.demand_racks.items())
    band = p.scenario.policy.power_band_mw
    out = []

    def above(value: float, limit: float) -> bool:
        return value > (limit + limit_slack(limit)) * (1 + LP_REL_MARGIN)

    head = (
        f"the least facility power any placement of {_subject(p, keys)} ({it:,.1f} MW of IT) can draw is "
        f"{least:,.1f} MW"
    )
    if above(least, band.max_mw):
        out.append(
            Finding(
                "power_band_max", f"{head}, above the band's maximum of {band.max_mw:g} MW", keys, least - band.max_mw
            )
        )
    plants = p.scenario.topology.plants
    if plants:
        spare = sum(pl.spare_mw for pl in plants)
        if above(least, spare):
            out.append(
                Finding(
                    "generation_adequacy",
                    f"{head}, above the {spare:,.1f} MW of spare capacity the {len(plants)} plants hold",
                    keys,
                    least - spare,
                )
            )
    if above(band.min_mw, most):
        out.append(
            Finding(
                "power_band_min",
                f"the most facility power any placement of {_subject(p, keys)} can draw "
                f"is {most:,.1f} MW, below the band's minimum of {band.min_mw:g} MW",
                keys,
                band.min_mw - most,
            )
        )
    return out


# ---- rollouts ----------------------------------------------------------------------------------
def _rollout_findings(p: Problem) -> list[Finding]:
    per = p.relaxed
    if not per.multi:
        return []
    out = []
    for t, tenant in enumerate(p.tenants):
        first, last = per.earliest.get(t), per.latest.get(t)
        keys = sorted(key for key in p.demand_racks if key[0] == t)
        if first is not None and last is not None and first > last:
            out.append(
                Finding(
                    "go_live",
                    f"tenant {tenant.id} may go live no earlier than {per.ids[first]} but must "
                    f"be fully live by {per.ids[last]}",
                    keys,
                    first - last,
                )
            )
        q = p.final if last is None else last
        for key in keys:
            have, need = per.delivered_racks[key][q], p.demand_racks[key]
            if have < need:
                g = p.skus[key[1]].gpus_per_rack
                by = f"live by {per.ids[q]}" if last is not None else f"live in the last period ({per.ids[q]})"
                out.append(
                    Finding(
                        "delivered",
                        f"tenant {tenant.id} must have all {need * g:,} {p.skus[key[1]].id} "
                        f"GPUs {by}, but only {have * g:,} are delivered by then",
                        [key],
                        (need - have) * g,
                    )
                )
    return out


# ---- entry points ------------------------------------------------------------------------------
ORDER = [
    "go_live",
    "delivered",
    "site_it_capacity",
    "liquid_cooling",
    "air_cooling",
    "feed_capacity",
    "build_rate",
    "latency_reach",
    "power_band_max",
    "generation_adequacy",
    "power_band_min",
]


def precheck(problem: Problem) -> list[Finding]:
    """Every broken aggregate condition, most telling first (order of :data:`ORDER`, then excess)."""
    findings = _rollout_findings(problem) + _capacity_findings(problem)
    if not findings:
        # The LPs assume the site capacities can hold the demand; when they cannot, the flows say why.
        findings += _latency_findings(problem)
        findings += _band_findings(problem)
    for f in findings:
        f.demand_text = demand_lines_text(problem, f.lines)
    return sorted(findings, key=lambda f: (ORDER.index(f.check), -f.excess))


def explain(problem: Problem, findings: list[Finding]) -> tuple[str, list[str]]:
    """The InfeasibleError message (the headline arithmetic) and at most 1 + MAX_EXTRA_BULLETS reasons."""
    head, rest = findings[0], findings[1:]
    reasons = [f"demand lines involved: {head.demand_text}"]
    for f in rest[:MAX_EXTRA_BULLETS]:
        # The sentence names the tenants and SKUs; the GPU counts are on the first bullet unless new.
        known = set(f.lines) <= set(head.lines)
        reasons.append("also " + f.sentence + ("" if known else f" (demand lines: {f.demand_text})"))
    if len(rest) > MAX_EXTRA_BULLETS:
        more = rest[MAX_EXTRA_BULLETS:]
        kinds = sorted({f.check for f in more}, key=ORDER.index)
        reasons[-1] += f"; and {len(more)} more shortfall{'s' if len(more) > 1 else ''} ({', '.join(kinds)})"
    return f"no placement exists: {head.sentence}", reasons


def raise_if_infeasible(problem: Problem) -> None:
    """Run :func:`precheck`; raise :class:`InfeasibleError` with the arithmetic if anything is short."""
    t0 = time.perf_counter()
    findings = precheck(problem)
    # A clean pre-check is the usual case: say so only at debug level.
    (log.info if findings else log.debug)(
        "infeasibility.precheck",
        findings=len(findings),
        checks=sorted({f.check for f in findings}),
        seconds=round(time.perf_counter() - t0, 4),
    )
    if findings:
        raise InfeasibleError(*explain(problem, findings))


__all__ = ["Finding", "precheck", "explain", "raise_if_infeasible", "demand_lines_text"]
