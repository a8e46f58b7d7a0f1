"""Problem: a scenario turned into index sets and per-rack coefficients, shared by all engines.

Input: a validated :class:`placer.scenario.Scenario`.
Output: a :class:`Problem` holding tenants, SKUs and sites in scenario order, the
candidate (tenant, SKU, site) triples that can ever hold a rack, and the per-rack power,
heat and cost figures every engine needs. Fiber round-trip times come from networkx
Dijkstra from each metro.

Pruning removes a triple when the tenant may not use the site's region, when the SKU
needs a cooling medium the site lacks, or when a single rack does not fit the site; a
(tenant, site) pair goes when the site cannot hold the tenant's training island at all.

Complexity: O(T·K·S) for the candidates plus O(M·(E + V log V)) for the shortest paths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import networkx as nx

from placer.contract import (
    HOURS_PER_YEAR,
    capital_charge_usd_per_quarter,
    feed_shares,
    n1_feed_limit_mw,
    quarter_discount_factor,
)
from placer.scenario import Scenario, Site, Sku, Tenant
from solvers.options import Option, build_options, relaxed_periods

if TYPE_CHECKING:
    from solvers.replan import Replan


@dataclass(frozen=True)
class Candidate:
    """A (tenant, SKU, site) triple that may hold racks, with per-rack figures."""

    t: int
    k: int
    s: int
    max_racks: int
    annual_cost_usd_per_rack: float  # capex + energy + region surcharge, weighted


@dataclass
class Periods:
    """Per-period capacities and deliveries. A single-period scenario is one period, all delivered."""

    ids: list[str]
    multi: bool  # False: no rollout section (one implicit period)
    it_cap: list[list[float]]  # [period][site]
    liquid_cap: list[list[float]]
    air_cap: list[list[float]]
    feed_limit: list[list[float]]  # facility MW the feeds carry with N-1, [period][site]
    feed_shares: list[list[dict[int, float]]]  # [period][site] -> {substation index: share}
    headroom: list[list[float]]  # [period][substation]
    delivered_racks: dict[tuple[int, int], list[int]]  # (t, k) -> cumulative racks delivered by each period
    build_rate: list[int | None]  # racks per period, per site
    earliest: dict[int, int]  # tenant -> first period index it may go live
    latest: dict[int, int]  # tenant -> period index by which all its GPUs are live
    n_feeds: list[int] = field(default_factory=list)  # feeds per site (the same in every period)
    # net present value (rollouts): discount factor per period, period length, idle charge per SKU
    discount: list[float] = field(default_factory=list)  # [period] -> USD present value of 1 USD then
    quarter_years: float = 0.25
    idle_usd_per_gpu_quarter: list[float] = field(default_factory=list)  # [sku] -> capital charge of an idle GPU

    @property
    def count(self) -> int:
        return len(self.ids)

    @staticmethod
    def peak(table: list[list[float]]) -> list[float]:
        """Per site, the largest value of a [period][site] table: what any period can ever offer."""
        return [max(column) for column in zip(*table)]


@dataclass
class Problem:
    scenario: Scenario
    tenants: list[Tenant]
    skus: list[Sku]
    sites: list[Site]
    substation_ids: list[str]
    demand_racks: dict[tuple[int, int], int]  # (t, k) -> racks demanded
    candidates: list[Candidate]
    # per-site facts
    rtt_ms: list[dict[str, float]]  # site -> {metro id: round-trip ms}; missing = unreachable
    crf: float
    periods: Periods  # always present: a scenario without a rollout is one period, all delivered
    notes: list[str] = field(default_factory=list)
    # power options (solvers.options): decisions whose effects add to ``periods``; ``relaxed`` holds
    # the capacities with every option built at its earliest quarter (``periods`` itself without options)
    options: list[Option] = field(default_factory=list)
    relaxed: Periods = None  # type: ignore[assignment]  # set by build_problem
    # a re-plan from a previous plan (solvers.replan): the engines add its ``moves`` family
    replan: Replan | None = None

    def __post_init__(self) -> None:
        if self.relaxed is None:
            self.relaxed = self.periods

    @property
    def final(self) -> int:
        return self.periods.count - 1

    @property
    def feed_limit_mw(self) -> list[float]:
        """Facility power each site's feeds carry with N-1 (single feed: its capacity), last period."""
        return self.periods.feed_limit[-1]

    @property
    def n_feeds(self) -> list[int]:
        return self.periods.n_feeds

    @property
    def feed_shares(self) -> list[dict[int, float]]:
        """site -> {substation index: share of the site's load}, last period."""
        return self.periods.feed_shares[-1]

    # ---- per-rack figures (MW) ----------------------------------------------
    def it_mw(self, k: int) -> float:
        return self.skus[k].it_kw_per_rack / 1000.0

    def liquid_mw(self, k: int) -> float:
        return self.it_mw(k) * self.skus[k].liquid_share

    def air_mw(self, k: int) -> float:
        return self.it_mw(k) * (1.0 - self.skus[k].liquid_share)

    def facility_mw(self, k: int, s: int) -> float:
        return self.it_mw(k) * self.sites[s].pue

    # ---- per-rack money (weighted): the rollout's NPV keeps capex one-off and the rest per year ----
    def capex_usd_per_rack(self, k: int, s: int) -> float:
        """Capital cost of one rack's IT MW at site s, USD (one-off; the single period annualises it)."""
        return self.scenario.policy.objective.capex_weight * self.it_mw(k) * self.sites[s].capex_usd_per_mw

    def energy_usd_per_rack_year(self, k: int, s: int) -> float:
        """One live rack's facility energy at the policy utilization, USD per year."""
        pol = self.scenario.policy
        return (
            pol.objective.energy_weight
            * self.facility_mw(k, s)
            * pol.cost.utilization
            * HOURS_PER_YEAR
            * self.sites[s].energy_price_usd_per_mwh
        )

    def surcharge_usd_per_rack_year(self, k: int, s: int) -> float:
        """One live rack's region surcharge, USD per year."""
        surcharge = self.scenario.policy.objective.region_surcharge_usd_per_mw_year
        return self.facility_mw(k, s) * surcharge.get(self.sites[s].region, 0.0)

    @property
    def redispatch_money_factor(self) -> float:
        """What one USD per year of the final build-out's re-dispatch weighs in the objective: 1 in the
        annualised single period; a rollout's last quarter, discounted (each quarter's re-dispatch is
        charged for its own quarter: :meth:`solvers.grid_periods.PeriodGrid.money`)."""
        per = self.periods
        return 1.0 if not per.multi else per.quarter_years * per.discount[-1]

    def tenant_gpus(self, t: int) -> int:
        return self.tenants[t].total_gpus

    def min_facility_mw(self) -> float:
        """A lower bound on the facility power of any plan: the band's minimum, or every demanded
        rack at the lowest PUE among its candidate sites, whichever is larger."""
        best: dict[tuple[int, int], float] = {}
        for c in self.candidates:
            fac = self.facility_mw(c.k, c.s)
            best[(c.t, c.k)] = min(best.get((c.t, c.k), fac), fac)
        placed = sum(n * best.get(key, 0.0) for key, n in self.demand_racks.items())
        return max(self.scenario.policy.power_band_mw.min_mw, placed)

    def latency_eligible(self, metro: str, max_rtt_ms: float) -> set[int]:
        return {s for s in range(len(self.sites)) if self.rtt_ms[s].get(metro, math.inf) <= max_rtt_ms + 1e-9}


def fiber_rtt_ms(scenario: Scenario) -> list[dict[str, float]]:
    """Round-trip fiber latency from every site to every reachable metro, ms."""
    per_km = scenario.policy.fiber_ms_per_km
    graph = nx.Graph()
    for e in scenario.topology.edges_of_kind("fiber"):
        one_way = e.latency_ms if e.latency_ms is not None else e.length_km * per_km
        u, v = e.from_node, e.to_node
        if not graph.has_edge(u, v) or graph[u][v]["ms"] > one_way:
            graph.add_edge(u, v, ms=one_way)
    sites = scenario.topology.sites
    rtt: list[dict[str, float]] = [{} for _ in sites]
    for metro in scenario.topology.metros:
        if metro.id not in graph:
            continue
        dist = nx.single_source_dijkstra_path_length(graph, metro.id, weight="ms")
        for s, site in enumerate(sites):
            if site.id in dist:
                rtt[s][metro.id] = 2.0 * dist[site.id]
    return rtt


def _feeds(
    scenario: Scenario, sub_index: dict[str, int], feed_capacity: dict[str, float] | None = None
) -> tuple[list[float], list[dict[int, float]], list[int]]:
    site_ids = [s.id for s in scenario.topology.sites]
    caps: dict[str, list[tuple[int, float]]] = {sid: [] for sid in site_ids}
    for e in scenario.topology.edges_of_kind("feed"):
        site, sub = (e.from_node, e.to_node) if e.from_node in caps else (e.to_node, e.from_node)
        cap = feed_capacity.get(e.id, e.capacity_mw) if feed_capacity else e.capacity_mw
        caps[site].append((sub_index[sub], cap))
    limits: list[float] = []
    shares: list[dict[int, float]] = []
    for sid in site_ids:
        c = [cap for _, cap in caps[sid]]
        limits.append(n1_feed_limit_mw(c))
        share: dict[int, float] = {}
        for (b, _), fraction in zip(caps[sid], feed_shares(c)):
            share[b] = share.get(b, 0.0) + fraction  # parallel feeds to one substation add up
        shares.append(share)
    return limits, shares, [len(caps[sid]) for sid in site_ids]


def effective_values(scenario: Scenario, period_index: int) -> dict[str, dict[str, float]]:
    """Capacities in force in a period: topology values, changed by site stages and grid upgrades
    whose period is at or before it. Keys: it, liquid, air (per site), feed (per feed id),
    headroom (per substation), rating and emergency (per line id)."""
    topo = scenario.topology
    r = scenario.rollout
    out: dict[str, dict[str, float]] = {
        "it": {s.id: s.it_capacity_mw for s in topo.sites},
        "liquid": {s.id: s.liquid_cooling_mw for s in topo.sites},
        "air": {s.id: s.air_cooling_mw for s in topo.sites},
        "feed": {e.id: e.capacity_mw for e in topo.edges_of_kind("feed")},
        "headroom": {b.id: b.headroom_mw for b in topo.substations},
        "rating": {e.id: e.rating_mw for e in topo.edges_of_kind("line")},
        "emergency": {e.id: (e.emergency_rating_mw or e.rating_mw) for e in topo.edges_of_kind("line")},
    }
    if r is None:
        return out
    order = {p: i for i, p in enumerate(r.periods)}
    sites = {s.id: s for s in topo.sites}
    staged = {st.site for st in r.site_stages}
    for sid in staged:
        out["it"][sid] = out["liquid"][sid] = out["air"][sid] = 0.0  # not energized before its first stage
    for st in sorted(r.site_stages, key=lambda st: order[st.period]):
        if order[st.period] > period_index:
            continue
        site = sites[st.site]
        share = st.it_capacity_mw / site.it_capacity_mw
        out["it"][st.site] = st.it_capacity_mw
        out["liquid"][st.site] = (
            st.liquid_cooling_mw if st.liquid_cooling_mw is not None else site.liquid_cooling_mw * share
        )
        out["air"][st.site] = st.air_cooling_mw if st.air_cooling_mw is not None else site.air_cooling_mw * share
    for up in sorted(r.upgrades, key=lambda u: order[u.period]):
        if order[up.period] > period_index:
            continue
        for key, value in (
            ("headroom", up.headroom_mw),
            ("feed", up.capacity_mw),
            ("rating", up.rating_mw),
            ("emergency", up.emergency_rating_mw),
        ):
            if value is not None:
                out[key][up.element] = value
        if up.rating_mw is not None and up.emergency_rating_mw is None:
            out["emergency"][up.element] = max(out["emergency"][up.element], up.rating_mw)
    return out


def final_scenario(scenario: Scenario) -> Scenario:
    """The scenario with the capacities in force in its last period (itself without a rollout)."""
    if scenario.rollout is None:
        return scenario
    return period_scenario(scenario, len(scenario.rollout.periods) - 1)


def period_scenario(scenario: Scenario, period_index: int) -> Scenario:
    """The scenario with the capacities its fixed stages and upgrades give in period ``period_index``
    (itself without a rollout); the power options, being decisions, are not applied. O(nodes + edges)."""
    if scenario.rollout is None:
        return scenario
    eff = effective_values(scenario, period_index)
    out = scenario.model_copy(deep=True)
    for node in out.topology.nodes:
        if node.kind == "site":
            node.it_capacity_mw, node.liquid_cooling_mw, node.air_cooling_mw = (
                eff["it"][node.id],
                eff["liquid"][node.id],
                eff["air"][node.id],
            )
        elif node.kind == "substation":
            node.headroom_mw = eff["headroom"][node.id]
    for edge in out.topology.edges:
        if edge.kind == "feed":
            edge.capacity_mw = eff["feed"][str(edge.id)]  # ids are filled in by validation
        elif edge.kind == "line":
            eid = str(edge.id)
            edge.rating_mw, edge.emergency_rating_mw = eff["rating"][eid], eff["emergency"][eid]
    return out


def _periods(
    scenario: Scenario,
    tenants: list[Tenant],
    skus: list[Sku],
    sites: list[Site],
    sub_ids: list[str],
    demand: dict[tuple[int, int], int],
) -> Periods:
    r = scenario.rollout
    ids = list(r.periods) if r is not None else ["all"]
    sub_index = {b: i for i, b in enumerate(sub_ids)}
    it, liq, air, limit, shares, head = [], [], [], [], [], []
    for p in range(len(ids)):
        eff = effective_values(scenario, p)
        it.append([eff["it"][s.id] for s in sites])
        liq.append([eff["liquid"][s.id] for s in sites])
        air.append([eff["air"][s.id] for s in sites])
        lim, sh, n_feeds = _feeds(scenario, sub_index, eff["feed"])
        limit.append(lim)
        shares.append(sh)
        head.append([eff["headroom"][b] for b in sub_ids])
    t_index = {t.id: i for i, t in enumerate(tenants)}
    k_index = {k.id: i for i, k in enumerate(skus)}
    if r is None:
        delivered = {key: [n] for key, n in demand.items()}
        return Periods(ids, False, it, liq, air, limit, shares, head, delivered, [None] * len(sites), {}, {}, n_feeds)
    order = {p: i for i, p in enumerate(r.periods)}
    per_period = {key: [0] * len(ids) for key in demand}
    for d in r.deliveries:
        key = (t_index[d.tenant], k_index[d.sku])
        per_period[key][order[d.period]] += d.gpus // skus[key[1]].gpus_per_rack
    delivered = {key: list(_cumsum(v)) for key, v in per_period.items()}
    rate = [r.build_rate_racks_per_period.get(s.id) for s in sites]
    cost = scenario.policy.cost
    years = cost.quarter_length_years
    earliest = {t_index[w.tenant]: order[w.earliest] for w in r.go_live if w.earliest}
    latest = {t_index[w.tenant]: order[w.latest] for w in r.go_live if w.latest}
    rate_per_year = cost.discount_rate
    return Periods(
        ids,
        True,
        it,
        liq,
        air,
        limit,
        shares,
        head,
        delivered,
        rate,
        earliest,
        latest,
        n_feeds,
        discount=[quarter_discount_factor(q, rate_per_year, years) for q in range(len(ids))],
        quarter_years=years,
        idle_usd_per_gpu_quarter=[
            (r.stranding_usd_per_gpu_quarter or 0.0)
            if k.price_usd_per_gpu is None
            else capital_charge_usd_per_quarter(k.price_usd_per_gpu, k.life_years, rate_per_year, years)
            for k in skus
        ],
    )


def _cumsum(values: list[int]):
    total = 0
    for v in values:
        total += v
        yield total


def build_problem(scenario: Scenario) -> Problem:
    topo = scenario.topology
    tenants, skus, sites = list(scenario.demand.tenants), list(scenario.catalog), list(topo.sites)
    sku_index = {s.id: k for k, s in enumerate(skus)}
    sub_ids = [b.id for b in topo.substations]
    policy = scenario.policy
    crf = policy.cost.capital_recovery_factor
    weights = policy.objective
    surcharge = weights.region_surcharge_usd_per_mw_year

    demand: dict[tuple[int, int], int] = {}
    for t, tenant in enumerate(tenants):
        for line in tenant.lines:
            k = sku_index[line.sku]
            demand[(t, k)] = line.gpus // skus[k].gpus_per_rack

    periods = _periods(scenario, tenants, skus, sites, sub_ids, demand)
    problem = Problem(
        scenario=scenario,
        tenants=tenants,
        skus=skus,
        sites=sites,
        substation_ids=sub_ids,
        demand_racks=demand,
        candidates=[],
        rtt_ms=fiber_rtt_ms(scenario),
        crf=crf,
        periods=periods,
    )
    problem.options = build_options(scenario, [s.id for s in sites], sub_ids)
    if problem.options:
        problem.relaxed = relaxed_periods(periods, problem.options)
    relaxed = problem.relaxed  # a rack fits where some choice of options could make room for it
    peak_it, peak_feed = relaxed.peak(relaxed.it_cap), relaxed.peak(relaxed.feed_limit)
    peak_liquid, peak_air = relaxed.peak(relaxed.liquid_cap), relaxed.peak(relaxed.air_cap)
    for (t, k), racks in demand.items():
        allowed = tenants[t].allowed_regions
        for s, site in enumerate(sites):
            if allowed is not None and site.region not in allowed:
                continue
            it, liq, air = problem.it_mw(k), problem.liquid_mw(k), problem.air_mw(k)
            fac = problem.facility_mw(k, s)
            fits = [racks, math.floor(peak_it[s] / it + 1e-9), math.floor(peak_feed[s] / fac + 1e-9)]
            if liq > 0:
                fits.append(math.floor(peak_liquid[s] / liq + 1e-9))
            if air > 0:
                fits.append(math.floor(peak_air[s] / air + 1e-9))
            max_racks = min(fits)
            if max_racks <= 0:
                continue
            cost = (
                weights.capex_weight * it * site.capex_usd_per_mw * crf
                + weights.energy_weight * fac * policy.cost.utilization * HOURS_PER_YEAR * site.energy_price_usd_per_mwh
                + fac * surcharge.get(site.region, 0.0)
            )
            problem.candidates.append(Candidate(t, k, s, max_racks, cost))
    _prune_below_island(problem)
    return problem


def _prune_below_island(problem: Problem) -> None:
    """Drop the (tenant, site) pairs that can never hold the tenant's training island: even filled
    to the site's IT capacity with the tenant's densest SKU, or with every SKU at its own bound,
    the site holds fewer GPUs than ``min_island_gpus``."""
    peak_it = problem.relaxed.peak(problem.relaxed.it_cap)
    reach: dict[tuple[int, int], float] = {}
    dense: dict[tuple[int, int], float] = {}
    for c in problem.candidates:
        gpus = problem.skus[c.k].gpus_per_rack
        reach[(c.t, c.s)] = reach.get((c.t, c.s), 0) + gpus * c.max_racks
        dense[(c.t, c.s)] = max(dense.get((c.t, c.s), 0.0), gpus / problem.it_mw(c.k))
    never = set()
    for (t, s), most in reach.items():
        island = problem.tenants[t].min_island_gpus
        if min(most, math.floor(dense[(t, s)] * peak_it[s] + 1e-9)) < island:
            never.add((t, s))
    if never:
        problem.candidates = [c for c in problem.candidates if (c.t, c.s) not in never]
        problem.notes.append(f"pruned {len(never)} tenant-site pairs that cannot hold the tenant's training island")
