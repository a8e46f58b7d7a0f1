"""Problem: a scenario turned into index sets and per-rack coefficients, shared by all engines.

Input: a validated :class:`placer.scenario.Scenario`.
Output: a :class:`Problem` holding tenants, SKUs and sites in scenario order, the
candidate (tenant, SKU, site) triples that can ever hold a rack, and the per-rack power,
heat and cost figures every engine needs. Fiber round-trip times come from networkx
Dijkstra from each metro.

Pruning removes a triple when the tenant may not use the site's region, when the SKU
needs a cooling medium the site lacks, or when a single rack does not fit the site.

Complexity: O(T·K·S) for the candidates plus O(M·(E + V log V)) for the shortest paths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx

from placer.scenario import Scenario, Site, Sku, Tenant

HOURS_PER_YEAR = 8760.0


@dataclass(frozen=True)
class Candidate:
    """A (tenant, SKU, site) triple that may hold racks, with per-rack figures."""

    t: int
    k: int
    s: int
    max_racks: int
    annual_cost_usd_per_rack: float  # capex + energy + region surcharge, weighted


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
    feed_limit_mw: list[float]  # facility power the feeds carry with N-1 (single feed: its capacity)
    feed_shares: list[dict[int, float]]  # site -> {substation index: share of the site's load}
    n_feeds: list[int]
    rtt_ms: list[dict[str, float]]  # site -> {metro id: round-trip ms}; missing = unreachable
    crf: float
    notes: list[str] = field(default_factory=list)

    # ---- per-rack figures (MW) ----------------------------------------------
    def it_mw(self, k: int) -> float:
        return self.skus[k].it_kw_per_rack / 1000.0

    def liquid_mw(self, k: int) -> float:
        return self.it_mw(k) * self.skus[k].liquid_share

    def air_mw(self, k: int) -> float:
        return self.it_mw(k) * (1.0 - self.skus[k].liquid_share)

    def facility_mw(self, k: int, s: int) -> float:
        return self.it_mw(k) * self.sites[s].pue

    def tenant_gpus(self, t: int) -> int:
        return self.tenants[t].total_gpus

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


def _feeds(scenario: Scenario, sub_index: dict[str, int]) -> tuple[list[float], list[dict[int, float]], list[int]]:
    site_ids = [s.id for s in scenario.topology.sites]
    caps: dict[str, list[tuple[int, float]]] = {sid: [] for sid in site_ids}
    for e in scenario.topology.edges_of_kind("feed"):
        site, sub = (e.from_node, e.to_node) if e.from_node in caps else (e.to_node, e.from_node)
        caps[site].append((sub_index[sub], e.capacity_mw))
    limits, shares = [], []
    for sid in site_ids:
        c = [cap for _, cap in caps[sid]]
        total = sum(c)
        limits.append(c[0] if len(c) == 1 else total - max(c))
        share: dict[int, float] = {}
        for b, cap in caps[sid]:
            share[b] = share.get(b, 0.0) + cap / total
        shares.append(share)
    return limits, shares, [len(caps[sid]) for sid in site_ids]


def build_problem(scenario: Scenario) -> Problem:
    topo = scenario.topology
    tenants, skus, sites = list(scenario.demand.tenants), list(scenario.catalog), list(topo.sites)
    sku_index = {s.id: k for k, s in enumerate(skus)}
    sub_ids = [b.id for b in topo.substations]
    feed_limit, feed_shares, n_feeds = _feeds(scenario, {b: i for i, b in enumerate(sub_ids)})
    policy = scenario.policy
    crf = policy.cost.capital_recovery_factor
    weights = policy.objective
    surcharge = weights.region_surcharge_usd_per_mw_year

    demand: dict[tuple[int, int], int] = {}
    for t, tenant in enumerate(tenants):
        for line in tenant.lines:
            k = sku_index[line.sku]
            demand[(t, k)] = line.gpus // skus[k].gpus_per_rack

    problem = Problem(
        scenario=scenario,
        tenants=tenants,
        skus=skus,
        sites=sites,
        substation_ids=sub_ids,
        demand_racks=demand,
        candidates=[],
        feed_limit_mw=feed_limit,
        feed_shares=feed_shares,
        n_feeds=n_feeds,
        rtt_ms=fiber_rtt_ms(scenario),
        crf=crf,
    )
    for (t, k), racks in demand.items():
        allowed = tenants[t].allowed_regions
        for s, site in enumerate(sites):
            if allowed is not None and site.region not in allowed:
                continue
            it, liq, air = problem.it_mw(k), problem.liquid_mw(k), problem.air_mw(k)
            fac = problem.facility_mw(k, s)
            fits = [racks, math.floor(site.it_capacity_mw / it + 1e-9), math.floor(feed_limit[s] / fac + 1e-9)]
            if liq > 0:
                fits.append(math.floor(site.liquid_cooling_mw / liq + 1e-9))
            if air > 0:
                fits.append(math.floor(site.air_cooling_mw / air + 1e-9))
            max_racks = min(fits)
            if max_racks <= 0:
                continue
            cost = (
                weights.capex_weight * it * site.capex_usd_per_mw * crf
                + weights.energy_weight * fac * policy.cost.utilization * HOURS_PER_YEAR * site.energy_price_usd_per_mwh
                + fac * surcharge.get(site.region, 0.0)
            )
            problem.candidates.append(Candidate(t, k, s, max_racks, cost))
    return problem
