"""Seeded synthetic scenarios: a plausible grid, fiber and tenant mix of any size.

``generate(sites=N, gpus=G, seed=S)`` returns a validated
:class:`~placer.scenario.Scenario` that the solvers can place and the verifier can
check. It is the generator behind ``placer generate`` and the benchmark suites.

Inputs (all keyword-only)
-------------------------
``sites``, ``gpus``, ``seed`` -- candidate sites, total GPUs of demand, seed.
``substations`` (default ``max(6, sites)``), ``plants`` (``max(3, sites // 8)``),
``metros`` (``max(2, min(12, sites // 10))``), ``tenants`` (5), ``skus`` (4: the size
of the SKU pool), ``box`` = (lat_min, lon_min, lat_max, lon_max), Korea-sized by
default. ``name`` (optional) overrides the scenario name.

Output
------
A :class:`Scenario`. THE SAME ARGUMENTS GIVE THE SAME SCENARIO, BYTE FOR BYTE (its JSON
dump and so :meth:`Scenario.digest`) with the same library versions: every random draw
comes from ``numpy.random.default_rng([seed, stream])`` with one stream per stage
(demand, points, sites, grid, rules), so e.g. changing ``tenants`` leaves the geometry
alone; nothing iterates over a dict or set without sorting; no clock is read; every
float is rounded to fixed decimals (coordinates 5, MW 1, money to whole units).
Bad arguments raise :class:`~placer.errors.InputError` naming the argument.

Generation rules
----------------
1. **Demand** (stream 0). The SKU pool is the first ``min(skus, 4)`` of
   :data:`~placer.catalog.DEFAULT_CATALOG` in the order GB200 NVL72, HGX B200,
   GB300 NVL72, HGX B300 (so two SKUs already mix 72- and 32-GPU racks), plus
   ``skus - 4`` seeded vendor-neutral accelerators (``npu-<k>``: 8-64 per rack,
   0.6-2.0 kW each). Tenant shares: 60/50/50/50/50 for five tenants (Korea's), else
   seeded weights in [1, 2]. Each tenant has 1..``skus`` lines (distinct SKUs, the first
   the largest), whole racks, at least one rack per line. The last tenant absorbs the
   remainder so that the lines sum to ``gpus`` exactly; its SKUs include two whose
   rack sizes have the pool's gcd (8 with 72- and 32-GPU racks), so any multiple of 8
   above a few hundred is reachable. Only when ``gpus`` is not a multiple of that gcd
   is the total rounded to the nearest one; the description says so.
   ``min_island_gpus`` = one scalable unit of the tenant's largest line times
   ``clamp(round(total / (12 x SU)), 1, 8)``, at most the tenant's total.
2. **Points** (stream 1), placed in km on an equirectangular projection of the box
   and kept at a minimum spacing: metros first (Zipf-like sizes, metro-01 the largest),
   substations half clustered around metros (Gaussian, weighted by metro size), half
   uniform; plants uniform, away from substations. Coordinates are rounded to 5
   decimals (~1 m) before any distance is taken.
3. **Transmission** (stream 3). Delaunay triangulation (:class:`scipy.spatial.Delaunay`)
   of substations + plants, pruned to a greedy t-spanner (edges by length; an edge is
   kept when the mesh so far has no path within ``SPANNER_STRETCH`` x its length) --
   planar, connected, mean degree ~2.5-3 -- then every bridge is closed by the shortest
   Delaunay edge across its cut, so the mesh is 2-edge-connected (N-1 never islands
   a bus). Lines are 345 kV double circuits: route length = great circle x
   ``ROUTE_FACTOR``; ``reactance_pu = X_PU_PER_KM x route / 2``.
   Existing load: ``max(LOAD_PER_SUBSTATION_MW x substations, LOAD_OVER_FLEET x
   facility power)`` spread by metro proximity x lognormal noise. Plants: types
   nuclear/coal/LNG/hydro/wind/solar with type-dependent size and cost (all costs
   distinct, so the least-cost dispatch is unique), spare 10-20 % of capacity, scaled
   so capacity >= 1.3 x load, capacity - spare >= 1.05 x load and total spare >=
   1.3 x the power band's maximum.
   **Ratings** come from a DC power flow (own dense PTDF; the same physics as
   :mod:`solvers.dcpf`): f0 = flows of the merit-order dispatch of the existing load;
   its post-outage flows by LODF; and, for the new load, per-MW sensitivities of
   each site served by (a) all plants in proportion to their spare and (b) the
   cheapest spare first. For each line a knapsack over sites (site caps, total = the
   band's maximum) bounds the flow the new load can add under (a), and under (b);
   post-outage bounds add ``max_k |LODF_lk| x bound_k``. Every line is rated at
   least ``|f0| + bound_a`` (emergency: post-outage f0 + its bound), so ANY placement
   inside the band can be served N-1-securely by the proportional re-dispatch -- the
   generated scenario is never grid-infeasible, even for grid-blind engines. Most
   lines get ``U(1.1, 1.5) x (|f0| + bound_b)`` (emergency 1.2 x rating or more);
   the tight ones (~``TIGHT_SHARE`` of the lines, those where the cheapest re-dispatch
   pushes most beyond the proportional one: corridors out of cheap plants with
   spare) get exactly ``|f0| + bound_a``, so the least-cost re-dispatch binds on them.
4. **Sites** (stream 2): each within 1-12 km of a seeded substation (weighted toward
   the load centres), fed by its nearest substation and, for ~85 %, a second feed from
   the next nearest (from the same one, a separate bank, when that is far); most
   feeds carry the whole facility (2N), ~20 % less (the feed binds). Total IT capacity
   ``U(1.8, 2.5) x`` the fleet's IT (lognormal sizes), each site floored so it can host
   every tenant's island (IT, liquid and air; feeds and headroom too); liquid-cooled
   sites (75 %: PUE 1.08-1.22, liquid 0.85-1.0 x IT, air for 1.1-1.5 x the fleet's
   air share of heat, at least 0.2-0.4 x IT) or air-cooled ones (PUE 1.22-1.35, air
   0.9-1.1 x IT, liquid 0-0.3 x IT); each medium totals >= 1.3 x the demand's; energy price,
   capex and fixed cost seeded, higher near metros. Substation ``headroom_mw`` =
   ``U(0.7, 1.3) x`` the facility load its sites could draw (floored for islands);
   100-400 MW where no site is fed. Regions = k-means of the sites
   (k = clamp(round(sqrt(sites / 2)), 2, 8)), ``region-01`` the northernmost.
5. **Fiber** along the rights of way: one fiber edge per line between two substations
   (length = the corridor's route length, great circle x ``ROUTE_FACTOR``); corridors
   that pass a plant give a fiber between the substations on either side (the sum of
   the two corridors); laterals from each site to its feeding substation(s) and from
   each metro to its two nearest substations (great circle x ``ROUTE_FACTOR``, at
   least 0.5 km). Latency = length x ``policy.fiber_ms_per_km``.
6. **Rules** (stream 4). A site's capacity *for a tenant* is the IT of the tenant's
   SKU mix it can take: min(IT, feed N-1 / PUE, liquid / liquid share, air / air
   share). ~40 % of the tenants (at least one) get a latency requirement to a metro
   (the biggest metros first), ``min_share`` 0.2-0.3, ``max_rtt_ms`` the smallest
   0.1 ms step (after a 5 % margin) at which the largest ``max_sites - 1`` sites in
   reach hold twice the share; ~30 % of the others get ``allowed_regions`` (random
   regions added until they hold 3x the tenant's IT; dropped when that takes every
   region); ``max_sites`` = the larger of the fewest allowed sites holding 3x the
   tenant's IT and 2x its IT over the median allowed site, plus 0-1, at least 2 (at
   most the allowed sites).
7. **Policy**: power band ``[0.85, 1.2] x`` fleet IT x mean site PUE; cost defaults;
   ``tenant_site_usd_per_year`` 2 M; a 50,000 USD/MW-yr surcharge on the region
   nearest the largest metro; solver defaults; ``policy.grid`` default (N-1).

Complexity
----------
V = substations + plants, L ~ 1.5 V lines, S sites, M metros. Points: O(n) expected
with a cell grid; Delaunay O(V log V); spanner: one Dijkstra bounded by the stretch
per Delaunay edge (local, ~3 V of them); bridge repair O(bridges x (V + L)); DC power
flow: one dense inverse of the reduced B, O(V^3), and the PTDF O(L V^2); new-load
sensitivities O(L S); knapsack bounds O(L S log S); post-outage maxima O(L^2) in
blocks of 512 outages (memory O(L x 512 + L S)); fiber round trips one Dijkstra per
metro. Measured on the shared 2-core box: 0.01 s at 10 sites, 0.1 s at 100, 0.5 s at
500 sites / 1M GPUs, 1 s at 1,000 sites / 2.6M GPUs. Determinism holds for the same
numpy/scipy/BLAS; ratings are rounded up to 1 or 10 MW, so BLAS rounding differences
would have to straddle a rounding step to show.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import networkx as nx
import numpy as np
import scipy.sparse as sp
from pydantic import ValidationError
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import Delaunay

from placer.catalog import DEFAULT_CATALOG
from placer.errors import InputError
from placer.scenario import Scenario, Sku
from placer.topology import EARTH_RADIUS_KM

KOREA_BOX = (34.5, 126.0, 38.3, 129.5)
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON = 111.320  # at the equator; times cos(latitude)

ROUTE_FACTOR = 1.2  # corridor (line or fiber) route length over great-circle distance
MIN_FIBER_KM = 0.5
KV = 345.0
X_PU_PER_KM = 0.00035  # per circuit, 100 MVA base
CIRCUITS = 2
EMERGENCY_FACTOR = 1.2
SPANNER_STRETCH = 2.0
TIGHT_SHARE = 0.06
RATING_FLOOR_MW = 100.0
LOAD_PER_SUBSTATION_MW = 400.0
LOAD_OVER_FLEET = 15.0
FIBER_MS_PER_KM = 0.0049  # the Policy default
KOREA_SHARES = (60.0, 50.0, 50.0, 50.0, 50.0)
POOL_ORDER = ("gb200-nvl72", "hgx-b200", "gb300-nvl72", "hgx-b300")
BAND = (0.85, 1.2)

# type: (draw weight, capacity range MW, marginal cost range USD/MWh)
PLANT_TYPES: tuple[tuple[str, float, tuple[float, float], tuple[float, float]], ...] = (
    ("nuclear", 0.20, (2000.0, 6000.0), (8.0, 12.0)),
    ("coal", 0.25, (1000.0, 4000.0), (35.0, 50.0)),
    ("lng", 0.30, (500.0, 2000.0), (70.0, 95.0)),
    ("hydro", 0.10, (100.0, 800.0), (3.0, 8.0)),
    ("wind", 0.10, (200.0, 1200.0), (0.5, 3.0)),
    ("solar", 0.05, (200.0, 1000.0), (0.2, 2.0)),
)

STREAM_DEMAND, STREAM_POINTS, STREAM_SITES, STREAM_GRID, STREAM_RULES = range(5)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _haversine(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Vectorised great-circle distance, km (the formula of placer.topology.haversine_km)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


# --------------------------------------------------------------------------- geometry


@dataclass
class _Frame:
    """The lat/lon box as a plane in km (equirectangular about the box's mid latitude)."""

    lat_min: float
    lon_min: float
    lat_max: float
    lon_max: float

    @property
    def kx(self) -> float:
        return KM_PER_DEG_LON * math.cos(math.radians((self.lat_min + self.lat_max) / 2))

    @property
    def width(self) -> float:
        return (self.lon_max - self.lon_min) * self.kx

    @property
    def height(self) -> float:
        return (self.lat_max - self.lat_min) * KM_PER_DEG_LAT

    def to_latlon(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lat = np.round(self.lat_min + xy[:, 1] / KM_PER_DEG_LAT, 5)
        lon = np.round(self.lon_min + xy[:, 0] / self.kx, 5)
        return np.clip(lat, self.lat_min, self.lat_max), np.clip(lon, self.lon_min, self.lon_max)

    def to_xy(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        return np.column_stack([(lon - self.lon_min) * self.kx, (lat - self.lat_min) * KM_PER_DEG_LAT])


def _scatter(
    rng: np.random.Generator, n: int, frame: _Frame, dmin: float, draw, avoid: np.ndarray | None = None
) -> np.ndarray:
    """``n`` points (km) from ``draw(rng, m) -> m x 2``, clipped to the box, pairwise >= dmin apart.

    Candidates are accepted in order against a cell grid (cell = dmin), so the result
    depends only on the random stream. The spacing is relaxed by 0.7 after many
    rejected batches (a crowded box), never to below 0.05 km.
    """
    w, h = frame.width, frame.height
    out: list[tuple[float, float]] = []
    cells: dict[tuple[int, int], list[tuple[float, float]]] = {}

    def reset(d: float) -> None:
        cells.clear()
        for p in [*(map(tuple, avoid) if avoid is not None else []), *out]:
            cells.setdefault((int(p[0] // d), int(p[1] // d)), []).append(p)

    reset(dmin)
    tries = 0
    while len(out) < n:
        batch = draw(rng, max(16, 2 * (n - len(out))))
        batch[:, 0] = np.clip(batch[:, 0], 0.0, w)
        batch[:, 1] = np.clip(batch[:, 1], 0.0, h)
        d2 = dmin * dmin
        for x, y in batch.tolist():
            cx, cy = int(x // dmin), int(y // dmin)
            ok = True
            for i in (cx - 1, cx, cx + 1):
                for j in (cy - 1, cy, cy + 1):
                    for px, py in cells.get((i, j), ()):
                        if (px - x) ** 2 + (py - y) ** 2 < d2:
                            ok = False
                            break
                    if not ok:
                        break
                if not ok:
                    break
            if ok:
                out.append((x, y))
                cells.setdefault((cx, cy), []).append((x, y))
                if len(out) == n:
                    break
        tries += 1
        if tries % 20 == 0 and dmin > 0.05:
            dmin = max(0.05, dmin * 0.7)
            reset(dmin)
    return np.array(out, dtype=float).reshape(n, 2)


def _uniform(frame: _Frame):
    def draw(rng, m):
        return rng.random((m, 2)) * np.array([frame.width, frame.height])

    return draw


def _clustered(frame: _Frame, centres: np.ndarray, weights: np.ndarray, sigma: float, share: float):
    uni = _uniform(frame)

    def draw(rng, m):
        pts = uni(rng, m)
        near = rng.random(m) < share
        which = rng.choice(len(centres), size=m, p=weights)
        offs = rng.normal(0.0, sigma, size=(m, 2))
        pts[near] = centres[which[near]] + offs[near]
        return pts

    return draw


# --------------------------------------------------------------------------- mesh


def _delaunay_edges(xy: np.ndarray) -> np.ndarray:
    n = len(xy)
    if n < 3:
        return np.array([[0, 1]], dtype=np.int64) if n == 2 else np.zeros((0, 2), dtype=np.int64)
    tri = Delaunay(xy)
    s = tri.simplices
    e = np.vstack([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]])
    e.sort(axis=1)
    return np.unique(e, axis=0)


def _within(adj: list[list[tuple[int, float]]], s: int, t: int, cutoff: float) -> bool:
    """Is there a path from s to t of length <= cutoff (Dijkstra bounded by cutoff)?"""
    dist = {s: 0.0}
    heap = [(0.0, s)]
    while heap:
        d, u = heapq.heappop(heap)
        if u == t:
            return True
        if d > dist[u]:
            continue
        for v, w in adj[u]:
            nd = d + w
            if nd <= cutoff and nd < dist.get(v, math.inf):
                dist[v] = nd
                heapq.heappush(heap, (nd, v))
    return False


def _mesh(lat: np.ndarray, lon: np.ndarray, xy: np.ndarray) -> tuple[list[tuple[int, int]], int]:
    """Planar, connected, (nearly) 2-edge-connected mesh over the points; returns sorted edges, bridges left."""
    n = len(xy)
    cand = _delaunay_edges(xy)
    length = _haversine(lat[cand[:, 0]], lon[cand[:, 0]], lat[cand[:, 1]], lon[cand[:, 1]])
    order = np.lexsort((cand[:, 1], cand[:, 0], length))
    adj: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    chosen: set[tuple[int, int]] = set()
    for i in order.tolist():
        u, v, d = int(cand[i, 0]), int(cand[i, 1]), float(length[i])
        if not _within(adj, u, v, SPANNER_STRETCH * d):
            adj[u].append((v, d))
            adj[v].append((u, d))
            chosen.add((u, v))
    # close bridges with the shortest Delaunay edge across each bridge's cut
    ranked = [(int(cand[i, 0]), int(cand[i, 1])) for i in order.tolist()]
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(sorted(chosen))
    stuck: set[tuple[int, int]] = set()
    while True:
        bridges = sorted(tuple(sorted(e)) for e in nx.bridges(graph))
        bridges = [b for b in bridges if b not in stuck]
        if not bridges:
            break
        u, v = bridges[0]
        graph.remove_edge(u, v)
        side = nx.node_connected_component(graph, u)
        graph.add_edge(u, v)
        if len(side) * 2 > n:
            side = set(range(n)) - side
        fix = next(((a, b) for a, b in ranked if (a, b) not in chosen and ((a in side) != (b in side))), None)
        if fix is None:
            stuck.add((u, v))
            continue
        chosen.add(fix)
        graph.add_edge(*fix)
    return sorted(chosen), len(stuck)


# --------------------------------------------------------------------------- DC power flow


class _DC:
    """Minimal DC network: the PTDF (lines x buses, bus 0 the slack) from the dense inverse of the reduced B.

    Dense on purpose: one O(V^3) inverse (~0.2 s at 1,100 buses) beats thousands of
    sparse triangular solves, and every later step is a matrix product.
    """

    def __init__(self, n_bus: int, f: np.ndarray, t: np.ndarray, x: np.ndarray):
        self.n, self.f, self.t = n_bus, f, t
        self.b = 1.0 / x
        m = len(f)
        a = sp.csr_matrix(
            (np.r_[np.ones(m), -np.ones(m)], (np.r_[np.arange(m), np.arange(m)], np.r_[f, t])), shape=(m, n_bus)
        )
        bbus = (a.T @ sp.diags(self.b) @ a).toarray()
        xinv = np.linalg.inv(bbus[1:, 1:])  # bus 0 is the slack (the mesh is connected)
        self.ptdf = np.zeros((m, n_bus))
        self.ptdf[:, 1:] = self.b[:, None] * np.asarray(a[:, 1:] @ xinv)

    def flows(self, p: np.ndarray) -> np.ndarray:
        """Balanced bus injections (MW; a vector or buses x k) -> line flows (MW)."""
        return self.ptdf @ np.asarray(p, float)

    def lodf_blocks(self, block: int = 512):
        """Yield (outage indices, LODF columns L x k, bridge mask) in blocks of outages."""
        m = len(self.f)
        for start in range(0, m, block):
            ks = np.arange(start, min(m, start + block))
            cols = self.ptdf[:, self.f[ks]] - self.ptdf[:, self.t[ks]]  # flow per MW sent over k's ends
            denom = 1.0 - cols[ks, np.arange(len(ks))]
            bridge = np.abs(denom) < 1e-8
            lodf = cols / np.where(bridge, 1.0, denom)[None, :]
            lodf[ks, np.arange(len(ks))] = -1.0
            lodf[:, bridge] = 0.0
            yield ks, lodf, bridge


def _knapsack_bound(sens: np.ndarray, caps: np.ndarray, total: float) -> np.ndarray:
    """Per row: max sum_s P_s |sens_s| subject to 0 <= P_s <= caps_s, sum P_s <= total (greedy is exact)."""
    a = np.abs(sens)
    order = np.argsort(-a, axis=1, kind="stable")
    sa = np.take_along_axis(a, order, axis=1)
    c = caps[order]
    before = np.cumsum(c, axis=1) - c
    take = np.clip(total - before, 0.0, c)
    return (sa * take).sum(axis=1)


def _ceil(x: float, step: float) -> float:
    return round(math.ceil(x / step - 1e-9) * step, 6)


# --------------------------------------------------------------------------- demand


def _pool(skus: int, rng: np.random.Generator) -> list[Sku]:
    by_id = {s.id: s for s in DEFAULT_CATALOG}
    pool = [by_id[i].model_copy(deep=True) for i in POOL_ORDER[: min(skus, 4)]]
    for k in range(1, skus - 4 + 1):
        per_rack = int(rng.choice([8, 16, 32, 64]))
        kw_each = round(float(rng.uniform(0.6, 2.0)), 2)
        pool.append(
            Sku(
                id=f"npu-{k}",
                name=f"Synthetic accelerator {k} ({per_rack} per rack)",
                vendor="generic",
                gpus_per_rack=per_rack,
                it_kw_per_rack=round(per_rack * kw_each, 1),
                liquid_share=float(rng.choice([0.0, 0.5, 0.85])),
                scalable_unit_racks=int(rng.choice([8, 16, 18])),
                source="synthetic (topologies.synthetic): vendor-neutral, est.",
            )
        )
    return pool


def _compose(total: int, sizes: list[int], shares: list[float]) -> list[int] | None:
    """Rack counts k_i >= 1 with sum k_i * sizes_i == total, near the shares; None if none is found."""
    n = len(sizes)
    if n == 1:
        return [total // sizes[0]] if total % sizes[0] == 0 and total >= sizes[0] else None
    want = [max(1, int(total * s / r)) for s, r in zip(shares, sizes)]
    # fix all but a pair (i, j); solve k_i r_i + k_j r_j = rest by stepping k_i
    for j in range(n - 1, -1, -1):
        for i in range(n):
            if i == j or math.gcd(sizes[i], sizes[j]) != math.gcd(*sizes):
                continue
            ks = list(want)
            rest = total - sum(k * r for idx, (k, r) in enumerate(zip(ks, sizes)) if idx not in (i, j))
            if rest < sizes[i] + sizes[j]:
                continue
            base = ks[i]
            for step in range(0, 2 * sizes[j] + 2):
                for ki in (base - step, base + step) if step else (base,):
                    q = rest - ki * sizes[i]
                    if ki >= 1 and q >= sizes[j] and q % sizes[j] == 0:
                        ks[i], ks[j] = ki, q // sizes[j]
                        return ks
    return None


@dataclass
class _Tenant:
    id: str
    lines: list[tuple[Sku, int]]  # (sku, gpus)
    island: int = 0

    @property
    def gpus(self) -> int:
        return sum(g for _, g in self.lines)

    @property
    def it_mw(self) -> float:
        return sum(g / s.gpus_per_rack * s.it_kw_per_rack for s, g in self.lines) / 1000.0

    def per_gpu_max(self) -> tuple[float, float, float]:
        """The worst IT, liquid and air kW per GPU over the tenant's SKUs."""
        it = max(s.it_kw_per_rack / s.gpus_per_rack for s, _ in self.lines)
        liq = max(s.it_kw_per_rack * s.liquid_share / s.gpus_per_rack for s, _ in self.lines)
        air = max(s.it_kw_per_rack * (1 - s.liquid_share) / s.gpus_per_rack for s, _ in self.lines)
        return it, liq, air


def _demand(gpus: int, n_tenants: int, pool: list[Sku], rng: np.random.Generator, notes: list[str]) -> list[_Tenant]:
    g = 0
    for s in pool:
        g = math.gcd(g, s.gpus_per_rack)
    total = gpus
    if total % g:
        total = max(g, int(round(total / g)) * g)
        notes.append(f"total GPUs rounded to {total:,} (asked {gpus:,}): the SKU pool's racks hold multiples of {g}")
    weights = list(KOREA_SHARES) if n_tenants == 5 else [round(float(w), 3) for w in rng.uniform(1.0, 2.0, n_tenants)]
    wsum = sum(weights)
    width = max(2, len(str(n_tenants)))
    # the adjuster (last tenant) needs a SKU pair with the pool's gcd
    pair = next(
        (
            (a, b)
            for a in range(len(pool))
            for b in range(a + 1, len(pool))
            if math.gcd(pool[a].gpus_per_rack, pool[b].gpus_per_rack) == g
        ),
        None,
    )
    tenants: list[_Tenant] = []
    used = 0
    biggest = max(s.gpus_per_rack for s in pool)
    for t in range(n_tenants):
        n_lines = int(rng.integers(1, len(pool) + 1))
        # a small tenant gets fewer lines (each line ~4 racks or more)
        n_lines = min(n_lines, max(1, int(gpus * weights[t] / wsum // (4 * biggest))))
        picks = [int(i) for i in rng.permutation(len(pool))[:n_lines]]
        shares = sorted((float(x) for x in rng.dirichlet(np.full(n_lines, 2.0))), reverse=True)
        last = t == n_tenants - 1
        if last and pair is not None and len(pool) > 1:
            for p in pair:
                if p not in picks:
                    picks.append(p)
                    shares.append(0.1)
            share_sum = sum(shares)
            shares = [x / share_sum for x in shares]
        skus = [pool[i] for i in picks]
        sizes = [s.gpus_per_rack for s in skus]
        if not last:
            target = gpus * weights[t] / wsum
            racks = [max(1, int(target * sh / r)) for sh, r in zip(shares, sizes)]  # floor: leave the rest
            counts = [k * r for k, r in zip(racks, sizes)]
        else:
            rest = total - used
            ks = _compose(rest, sizes, shares) if rest > 0 else None
            if ks is None:
                raise InputError(
                    f"{gpus:,} GPUs cannot be split into whole racks for {n_tenants} tenants "
                    f"(the last tenant's remainder is {rest:,}); ask for more GPUs or fewer tenants",
                    where="gpus",
                )
            counts = [k * r for k, r in zip(ks, sizes)]
        used += sum(counts)
        lines = sorted(zip(skus, counts), key=lambda sc: (-sc[1], sc[0].id))
        tenants.append(_Tenant(id=f"tenant-{t + 1:0{width}d}", lines=lines))
    for tn in tenants:
        sku0 = tn.lines[0][0]
        su = sku0.gpus_per_rack * sku0.scalable_unit_racks
        m = int(min(8, max(1, round(tn.gpus / (12 * su)))))
        tn.island = int(min(tn.gpus, su * m))
    return tenants


# --------------------------------------------------------------------------- helpers


def _kmeans(xy: np.ndarray, k: int, iterations: int = 25) -> np.ndarray:
    """Deterministic k-means labels: farthest-point start from the northernmost point, Lloyd steps."""
    n = len(xy)
    k = max(1, min(k, n))
    first = int(np.lexsort((xy[:, 0], -xy[:, 1]))[0])
    centres = [xy[first]]
    d = np.linalg.norm(xy - centres[0], axis=1)
    for _ in range(1, k):
        nxt = int(np.argmax(d))
        centres.append(xy[nxt])
        d = np.minimum(d, np.linalg.norm(xy - xy[nxt], axis=1))
    c = np.array(centres)
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(iterations):
        dist = ((xy[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
        labels = np.argmin(dist, axis=1)
        for j in range(k):
            members = xy[labels == j]
            if len(members):
                c[j] = members.mean(axis=0)
    # name clusters north to south (then west to east)
    rank = np.lexsort((c[:, 0], -c[:, 1]))
    relabel = np.empty(k, dtype=np.int64)
    relabel[rank] = np.arange(k)
    return relabel[labels]


def _check_args(sites, gpus, seed, substations, plants, metros, tenants, skus, box) -> None:
    def bad(where, msg):
        raise InputError(msg, where=where)

    for name, value, lo in (
        ("sites", sites, 1),
        ("gpus", gpus, 1),
        ("seed", seed, 0),
        ("substations", substations, 2),
        ("plants", plants, 1),
        ("metros", metros, 1),
        ("tenants", tenants, 1),
        ("skus", skus, 1),
    ):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            bad(name, f"must be an integer (got {value!r})")
        if value < lo:
            bad(name, f"must be at least {lo} (got {value})")
    if len(box) != 4 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in box):
        bad("box", f"must be four finite numbers (lat_min, lon_min, lat_max, lon_max), got {box!r}")
    lat0, lon0, lat1, lon1 = box
    if not (-90 <= lat0 < lat1 <= 90 and -180 <= lon0 < lon1 <= 180):
        bad("box", f"needs -90 <= lat_min < lat_max <= 90 and -180 <= lon_min < lon_max <= 180, got {box!r}")
    if tenants > 1000:
        bad("tenants", f"at most 1000 (got {tenants})")


# --------------------------------------------------------------------------- the generator


def generate(
    *,
    sites: int,
    gpus: int,
    seed: int,
    substations: int | None = None,
    plants: int | None = None,
    metros: int | None = None,
    tenants: int = 5,
    skus: int = 4,
    box: tuple[float, float, float, float] = KOREA_BOX,
    name: str | None = None,
) -> Scenario:
    """A seeded synthetic scenario; see the module docstring for the rules.

    The same arguments give the same scenario byte for byte. Raises
    :class:`~placer.errors.InputError` for impossible arguments (``where`` names the
    argument, e.g. ``gpus`` when the GPUs cannot cover one rack per tenant line).
    """
    n_sub = max(6, sites) if substations is None else substations
    n_plant = max(3, sites // 8) if plants is None else plants
    n_metro = max(2, min(12, sites // 10)) if metros is None else metros
    _check_args(sites, gpus, seed, n_sub, n_plant, n_metro, tenants, skus, tuple(box))
    sites, gpus, seed, n_sub, n_plant, n_metro = map(int, (sites, gpus, seed, n_sub, n_plant, n_metro))
    frame = _Frame(*map(float, box))
    notes: list[str] = []

    # ---- 1. demand --------------------------------------------------------------
    rng = _rng(seed, STREAM_DEMAND)
    pool = _pool(skus, rng)
    max_rack = max(s.gpus_per_rack for s in pool)
    if gpus < 2 * tenants * max_rack:
        raise InputError(
            f"at least {2 * tenants * max_rack:,} GPUs are needed for {tenants} tenant(s) "
            f"(two racks of up to {max_rack} GPUs each); got {gpus:,}",
            where="gpus",
        )
    demand = _demand(gpus, tenants, pool, rng, notes)
    total_gpus = sum(t.gpus for t in demand)
    fleet_it = sum(t.it_mw for t in demand)

    # ---- 2. points --------------------------------------------------------------
    rng = _rng(seed, STREAM_POINTS)
    area = frame.width * frame.height
    metro_xy = _scatter(
        rng,
        n_metro,
        frame,
        0.35 * math.sqrt(area / n_metro),
        lambda r, m: np.column_stack([r.uniform(0.08, 0.92, m) * frame.width, r.uniform(0.08, 0.92, m) * frame.height]),
    )
    metro_w = 1.0 / np.arange(1, n_metro + 1) ** 0.9
    metro_w /= metro_w.sum()
    sigma = 0.08 * math.sqrt(area)
    sub_xy = _scatter(
        rng, n_sub, frame, 0.3 * math.sqrt(area / n_sub), _clustered(frame, metro_xy, metro_w, sigma, 0.5)
    )
    plant_xy = _scatter(rng, n_plant, frame, 0.3 * math.sqrt(area / max(n_plant, 1)), _uniform(frame), avoid=sub_xy)
    m_lat, m_lon = frame.to_latlon(metro_xy)
    b_lat, b_lon = frame.to_latlon(np.vstack([sub_xy, plant_xy]))  # buses: substations then plants
    bus_xy = frame.to_xy(b_lat, b_lon)
    metro_xy = frame.to_xy(m_lat, m_lon)
    n_bus = n_sub + n_plant

    # proximity of each substation to the load centres, in [0, 1]
    def closeness(xy: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(xy[:, None, :] - metro_xy[None, :, :], axis=2)
        return (metro_w[None, :] * np.exp(-d / sigma)).sum(axis=1) / metro_w.max()

    sub_close = np.clip(closeness(bus_xy[:n_sub]), 0.0, 1.0)

    # ---- 3a. mesh ---------------------------------------------------------------
    edges, stuck = _mesh(b_lat, b_lon, bus_xy)
    ef = np.array([a for a, _ in edges], dtype=np.int64)
    et = np.array([b for _, b in edges], dtype=np.int64)
    gc_km = _haversine(b_lat[ef], b_lon[ef], b_lat[et], b_lon[et])
    route_km = np.round(np.maximum(gc_km * ROUTE_FACTOR, 0.1), 2)
    x_pu = np.array([float(f"{v:.6g}") for v in X_PU_PER_KM * route_km / CIRCUITS])
    if stuck:
        notes.append(f"{stuck} bridge(s) could not be closed by a planar edge")

    # ---- 4. sites ---------------------------------------------------------------
    rng = _rng(seed, STREAM_SITES)
    anchor_w = (0.3 + sub_close) / (0.3 + sub_close).sum()

    def site_draw(r, m):
        which = r.choice(n_sub, size=m, p=anchor_w)
        ang = r.uniform(0, 2 * math.pi, m)
        dist = r.uniform(1.0, 12.0, m)
        return bus_xy[which] + np.column_stack([dist * np.cos(ang), dist * np.sin(ang)])

    site_xy = _scatter(rng, sites, frame, 0.5, site_draw)
    s_lat, s_lon = frame.to_latlon(site_xy)
    site_xy = frame.to_xy(s_lat, s_lon)
    site_close = np.clip(closeness(site_xy), 0.0, 1.0)

    # island requirements over all tenants (IT, liquid, air MW), with a 10 % margin
    need_it = need_liq = need_air = 0.0
    for tn in demand:
        it, liq_kw, air_kw = tn.per_gpu_max()
        need_it = max(need_it, tn.island * it / 1000 * 1.1)
        need_liq = max(need_liq, tn.island * liq_kw / 1000 * 1.1)
        need_air = max(need_air, tn.island * air_kw / 1000 * 1.1)
    liquid_style = rng.random(sites) < 0.75
    pue = np.round(np.where(liquid_style, rng.uniform(1.08, 1.22, sites), rng.uniform(1.22, 1.35, sites)), 3)
    size_w = rng.lognormal(0.0, 0.5, sites)
    total_it = rng.uniform(1.8, 2.5) * fleet_it
    it_cap = np.maximum(total_it * size_w / size_w.sum(), need_it)
    it_cap = np.array([_ceil(v, 0.1) for v in it_cap])
    # cooling: liquid-cooled halls still reject the fleet's air share of heat (x 1.1-1.5)
    fleet_liq = (
        sum(g / s.gpus_per_rack * s.it_kw_per_rack * s.liquid_share for tn in demand for s, g in tn.lines) / 1000
    )
    fleet_air = fleet_it - fleet_liq
    phi_air = fleet_air / fleet_it
    liq_lo = rng.uniform(0.85, 1.0, sites)
    air_hi = rng.uniform(0.9, 1.1, sites)
    liq_style_air = np.minimum(1.0, np.maximum(rng.uniform(0.2, 0.4, sites), phi_air * rng.uniform(1.1, 1.5, sites)))
    liq_air_style = rng.uniform(0.0, 0.3, sites)
    liq = np.where(liquid_style, liq_lo, liq_air_style) * it_cap
    air = np.where(liquid_style, liq_style_air, air_hi) * it_cap
    liq = np.array([_ceil(x, 0.1) for x in np.maximum(liq, need_liq)])
    air = np.array([_ceil(x, 0.1) for x in np.maximum(air, need_air)])
    # fleet-level check: at least 1.3x what the demand's heat needs of each medium
    for arr, need in ((liq, fleet_liq), (air, fleet_air)):
        if arr.sum() < 1.3 * need:
            arr *= 1.3 * need / arr.sum()
            arr[:] = [_ceil(v, 0.1) for v in arr]
    price = np.round(rng.uniform(75.0, 125.0, sites) + 15.0 * site_close, 1)
    capex = np.round(rng.uniform(9.5e6, 13.5e6, sites) + 1.0e6 * site_close, -5)
    fixed = np.round(rng.uniform(1.0e6, 4.0e6, sites), -4)
    facility_cap = it_cap * pue
    need_fac = need_it * float(pue.max())
    # feeds: nearest substation, and the next nearest for most
    d_sub = np.linalg.norm(site_xy[:, None, :] - bus_xy[None, :n_sub, :], axis=2)
    near = np.argsort(d_sub, axis=1, kind="stable")[:, :2]
    two = rng.random(sites) < 0.85
    full = rng.random(sites) < 0.8
    feed_frac = np.where(full, rng.uniform(1.0, 1.15, sites), rng.uniform(0.6, 0.95, sites))
    single_frac = rng.uniform(0.9, 1.15, sites)
    feeds: list[tuple[int, int, float]] = []  # (site, substation, capacity)
    for s in range(sites):
        a = int(near[s, 0])
        if two[s]:
            b = int(near[s, 1]) if n_sub > 1 else a
            if d_sub[s, b] > max(30.0, 3.0 * d_sub[s, a]):
                b = a  # too far: a second bank at the same substation
            cap = _ceil(max(facility_cap[s] * feed_frac[s], need_fac * 1.05), 0.1)
            feeds += [(s, a, cap), (s, b, cap)]
        else:
            feeds.append((s, a, _ceil(max(facility_cap[s] * single_frac[s], need_fac * 1.05), 0.1)))
    feeds_of: list[list[tuple[int, float]]] = [[] for _ in range(sites)]
    for s, b, c in feeds:
        feeds_of[s].append((b, c))
    feed_n1 = np.array([fs[0][1] if len(fs) == 1 else sum(c for _, c in fs) - max(c for _, c in fs) for fs in feeds_of])
    p_max = np.minimum(facility_cap, feed_n1)  # most facility power a site can draw
    share = np.zeros((sites, n_bus))
    for s, fs in enumerate(feeds_of):
        tot = sum(c for _, c in fs)
        for b, c in fs:
            share[s, b] += c / tot
    drawable = (share * p_max[:, None]).sum(axis=0)[:n_sub]
    island_draw = (share * need_fac).max(axis=0)[:n_sub] * 1.1
    head_rand = rng.uniform(0.7, 1.3, n_sub)
    idle_head = rng.uniform(100.0, 400.0, n_sub)
    headroom = np.where(drawable > 0, np.maximum(head_rand * drawable, island_draw), idle_head)
    headroom = np.array([_ceil(v, 0.1) for v in headroom])

    # regions
    n_regions = int(min(8, max(2, round(math.sqrt(sites / 2)))))
    labels = _kmeans(site_xy, n_regions)
    n_regions = int(labels.max()) + 1
    region_names = [f"region-{k + 1:02d}" for k in range(n_regions)]

    # ---- policy band (needed by the grid) ----------------------------------------
    mean_pue = float(pue.mean())
    band = (round(BAND[0] * fleet_it * mean_pue, 1), round(BAND[1] * fleet_it * mean_pue, 1))
    effective_it = np.minimum.reduce([it_cap, p_max / pue])

    def hostable(tn: _Tenant) -> np.ndarray:
        """IT MW of this tenant's SKU mix each site can take (power, feeds and both cooling media)."""
        a = sum(g / s.gpus_per_rack * s.it_kw_per_rack * (1 - s.liquid_share) for s, g in tn.lines) / 1000 / tn.it_mw
        out = effective_it.copy()
        if a > 1e-9:
            out = np.minimum(out, air / a)
        if a < 1 - 1e-9:
            out = np.minimum(out, liq / (1 - a))
        return out

    # ---- 3b. loads, plants, dispatch, ratings -------------------------------------
    rng = _rng(seed, STREAM_GRID)
    load_total = max(LOAD_PER_SUBSTATION_MW * n_sub, LOAD_OVER_FLEET * band[1])
    lw = (0.3 + sub_close) * rng.lognormal(0.0, 0.4, n_sub)
    load = np.round(load_total * lw / lw.sum(), 0)
    load_total = float(load.sum())
    probs = np.array([p[1] for p in PLANT_TYPES])
    kinds = rng.choice(len(PLANT_TYPES), size=n_plant, p=probs / probs.sum())
    raw_cap = np.array([rng.uniform(*PLANT_TYPES[k][2]) for k in kinds])
    cost = np.array([round(float(rng.uniform(*PLANT_TYPES[k][3])), 2) for k in kinds])
    seen_cost: set[float] = set()
    for i in range(n_plant):  # distinct costs: the least-cost dispatch is unique
        while cost[i] in seen_cost:
            cost[i] = round(cost[i] + 0.01, 2)
        seen_cost.add(float(cost[i]))
    spare_share = rng.uniform(0.10, 0.20, n_plant)
    k = max(
        1.3 * load_total / raw_cap.sum(),
        1.05 * load_total / (raw_cap * (1 - spare_share)).sum(),
        1.3 * band[1] / (raw_cap * spare_share).sum(),
    )
    cap = np.ceil(raw_cap * k)
    spare = np.round(cap * spare_share, 1)
    avail = cap - spare
    dispatch = np.zeros(n_plant)
    left = load_total
    for i in np.argsort(cost, kind="stable").tolist():
        dispatch[i] = min(avail[i], left)
        left -= dispatch[i]
    dc = _DC(n_bus, ef, et, x_pu)
    p0 = np.r_[-load, dispatch]
    f0 = dc.flows(p0)

    # new-load sensitivities: per MW at each site, served (a) pro rata to spare, (b) cheapest spare first
    w_prop = spare / spare.sum()
    w_merit = np.zeros(n_plant)
    left = band[1]
    for i in np.argsort(cost, kind="stable").tolist():
        w_merit[i] = min(spare[i], left)
        left -= w_merit[i]
    w_merit /= band[1]
    # per-MW flows of site s: -(its feed shares) + the plant pattern; share is sparse (<= 2 buses per site)
    site_part = -np.asarray(sp.csr_matrix(share) @ dc.ptdf.T).T  # L x S
    plant_ptdf = dc.ptdf[:, n_sub:]
    bound_a = _knapsack_bound(site_part + (plant_ptdf @ w_prop)[:, None], p_max, band[1])
    bound_b = _knapsack_bound(site_part + (plant_ptdf @ w_merit)[:, None], p_max, band[1])
    n_line = len(edges)
    post0 = np.abs(f0).copy()
    post_a = bound_a.copy()
    post_b = bound_b.copy()
    n_bridges = 0
    for ks, lodf, bridge in dc.lodf_blocks():
        n_bridges += int(bridge.sum())
        lo = lodf.copy()
        lo[ks, np.arange(len(ks))] = 0.0  # a line is not monitored against its own outage
        post0 = np.maximum(post0, np.abs(f0[:, None] + lo * f0[ks][None, :]).max(axis=1))
        post_a = np.maximum(post_a, bound_a + (np.abs(lo) * bound_a[ks][None, :]).max(axis=1))
        post_b = np.maximum(post_b, bound_b + (np.abs(lo) * bound_b[ks][None, :]).max(axis=1))
    base0 = np.abs(f0)
    # tight lines: where the cheapest re-dispatch pushes most beyond the pro-rata one
    ratio = bound_b / np.maximum(bound_a, 1e-9)
    eligible = np.flatnonzero((ratio > 1.2) & (bound_b > 0.02 * band[1]) & (base0 + bound_a >= RATING_FLOOR_MW))
    n_tight = min(len(eligible), max(1, int(round(TIGHT_SHARE * n_line))))
    tight = set(eligible[np.argsort(-ratio[eligible], kind="stable")[:n_tight]].tolist())
    margin = rng.uniform(1.1, 1.5, n_line)
    rating = np.zeros(n_line)
    emergency = np.zeros(n_line)
    for l in range(n_line):
        floor = base0[l] + bound_a[l]
        floor_e = post0[l] + post_a[l]
        if l in tight:
            rating[l] = _ceil(max(floor, 1.0), 1.0)
            emergency[l] = max(rating[l], _ceil(floor_e, 1.0))
        else:
            rating[l] = _ceil(max(RATING_FLOOR_MW, floor, margin[l] * (base0[l] + bound_b[l])), 10.0)
            emergency[l] = max(
                _ceil(EMERGENCY_FACTOR * rating[l], 10.0),
                _ceil(floor_e, 10.0),
                _ceil(margin[l] * (post0[l] + post_b[l]), 10.0),
            )

    # ---- ids and nodes -------------------------------------------------------------
    wsite, wsub, wpl, wm = (max(3, len(str(n))) for n in (sites, n_sub, n_plant, n_metro))
    site_ids = [f"site-{i + 1:0{wsite}d}" for i in range(sites)]
    sub_ids = [f"ss-{i + 1:0{wsub}d}" for i in range(n_sub)]
    plant_ids = [f"pp-{i + 1:0{wpl}d}" for i in range(n_plant)]
    metro_ids = [f"metro-{i + 1:0{wm}d}" for i in range(n_metro)]
    bus_ids = sub_ids + plant_ids
    src = f"synthetic (seed {seed})"
    nodes: list[dict] = []
    for s in range(sites):
        nodes.append(
            {
                "kind": "site",
                "id": site_ids[s],
                "lat": float(s_lat[s]),
                "lon": float(s_lon[s]),
                "region": region_names[int(labels[s])],
                "it_capacity_mw": float(it_cap[s]),
                "liquid_cooling_mw": float(liq[s]),
                "air_cooling_mw": float(air[s]),
                "pue": float(pue[s]),
                "energy_price_usd_per_mwh": float(price[s]),
                "capex_usd_per_mw": float(capex[s]),
                "fixed_usd_per_year": float(fixed[s]),
                "source": src,
            }
        )
    for b in range(n_sub):
        nodes.append(
            {
                "kind": "substation",
                "id": sub_ids[b],
                "lat": float(b_lat[b]),
                "lon": float(b_lon[b]),
                "kv": KV,
                "headroom_mw": float(headroom[b]),
                "load_mw": float(load[b]),
                "source": src,
            }
        )
    for p in range(n_plant):
        b = n_sub + p
        nodes.append(
            {
                "kind": "plant",
                "id": plant_ids[p],
                "lat": float(b_lat[b]),
                "lon": float(b_lon[b]),
                "type": PLANT_TYPES[int(kinds[p])][0],
                "capacity_mw": float(cap[p]),
                "spare_mw": float(spare[p]),
                "cost_usd_per_mwh": float(cost[p]),
                "source": src,
            }
        )
    for m in range(n_metro):
        nodes.append(
            {
                "kind": "metro",
                "id": metro_ids[m],
                "lat": float(m_lat[m]),
                "lon": float(m_lon[m]),
                "source": f"{src}; size rank {m + 1}",
            }
        )

    # ---- edges: feeds, lines, fiber -------------------------------------------------
    out_edges: list[dict] = []
    for s, b, c in feeds:
        out_edges.append({"kind": "feed", "from": site_ids[s], "to": sub_ids[b], "capacity_mw": float(c)})
    for l, (a, b) in enumerate(edges):
        out_edges.append(
            {
                "kind": "line",
                "id": f"line:{bus_ids[a]}-{bus_ids[b]}",
                "from": bus_ids[a],
                "to": bus_ids[b],
                "kv": KV,
                "rating_mw": float(rating[l]),
                "emergency_rating_mw": float(emergency[l]),
                "reactance_pu": float(x_pu[l]),
                "source": f"{route_km[l]:g} km corridor, {CIRCUITS} x {KV:g} kV" + ("; tight" if l in tight else ""),
            }
        )
    fiber: dict[tuple[str, str], float] = {}

    def add_fiber(u: str, v: str, km: float) -> None:
        key = (u, v) if u < v else (v, u)
        km = round(max(MIN_FIBER_KM, km), 2)
        if key not in fiber or km < fiber[key]:
            fiber[key] = km

    # corridors between substations; through plants, between the substations on either side
    plant_adj: dict[int, list[tuple[int, float]]] = {}
    for l, (a, b) in enumerate(edges):
        if a < n_sub and b < n_sub:
            add_fiber(bus_ids[a], bus_ids[b], float(route_km[l]))
        else:
            for u, v in ((a, b), (b, a)):
                if u >= n_sub:
                    plant_adj.setdefault(u, []).append((v, float(route_km[l])))
    for p in sorted(plant_adj):
        # substations reachable from plant p through plants only, with corridor length
        reach: dict[int, float] = {}
        seen = {p: 0.0}
        heap = [(0.0, p)]
        while heap:
            d, u = heapq.heappop(heap)
            if d > seen[u]:
                continue
            for v, w in plant_adj.get(u, []):
                nd = d + w
                if v < n_sub:
                    reach[v] = min(reach.get(v, math.inf), nd)
                elif nd < seen.get(v, math.inf):
                    seen[v] = nd
                    heapq.heappush(heap, (nd, v))
        ring = sorted(reach, key=lambda v: (math.atan2(bus_xy[v, 1] - bus_xy[p, 1], bus_xy[v, 0] - bus_xy[p, 0]), v))
        for u, v in zip(ring, ring[1:]):
            add_fiber(sub_ids[u], sub_ids[v], reach[u] + reach[v])
        if len(ring) > 2:
            add_fiber(sub_ids[ring[-1]], sub_ids[ring[0]], reach[ring[-1]] + reach[ring[0]])
    for s in range(sites):
        for b in sorted({b for b, _ in feeds_of[s]}):
            add_fiber(site_ids[s], sub_ids[b], ROUTE_FACTOR * float(_haversine(s_lat[s], s_lon[s], b_lat[b], b_lon[b])))
    d_ms = _haversine(m_lat[:, None], m_lon[:, None], b_lat[None, :n_sub], b_lon[None, :n_sub])
    for m in range(n_metro):
        for b in np.argsort(d_ms[m], kind="stable")[: min(2, n_sub)].tolist():
            add_fiber(metro_ids[m], sub_ids[b], ROUTE_FACTOR * float(d_ms[m, b]))
    for (end_a, end_b), km in sorted(fiber.items()):
        out_edges.append({"kind": "fiber", "from": end_a, "to": end_b, "length_km": km})

    # ---- 6. tenant rules -------------------------------------------------------------
    rng = _rng(seed, STREAM_RULES)
    fid = {n: i for i, n in enumerate(site_ids + sub_ids + metro_ids)}
    fu = np.array([fid[u] for u, _ in sorted(fiber)])
    fv = np.array([fid[v] for _, v in sorted(fiber)])
    fl = np.array([fiber[k] for k in sorted(fiber)])
    nf = len(fid)
    fgraph = sp.csr_matrix((np.r_[fl, fl], (np.r_[fu, fv], np.r_[fv, fu])), shape=(nf, nf))
    one_way_km = dijkstra(fgraph, directed=False, indices=[fid[m] for m in metro_ids])[:, :sites]
    rtt = 2.0 * FIBER_MS_PER_KM * one_way_km  # metros x sites

    n_lat = max(1, int(round(0.4 * tenants)))
    order = rng.permutation(tenants).tolist()
    with_latency = sorted(order[:n_lat])
    others = [t for t in range(tenants) if t not in with_latency]
    restricted = sorted(t for t in others if rng.random() < 0.3)
    tenant_dicts: list[dict] = []
    all_sites = np.arange(sites)
    for t, tn in enumerate(demand):
        need = tn.it_mw
        host = hostable(tn)
        allowed = all_sites
        regions: list[str] | None = None
        if t in restricted and n_regions > 1:
            reg_cap = np.bincount(labels, weights=host, minlength=n_regions)
            chosen: list[int] = []
            for r in rng.permutation(n_regions).tolist():
                chosen.append(int(r))
                in_sites = np.flatnonzero(np.isin(labels, chosen))
                if reg_cap[chosen].sum() >= 3.0 * need and len(in_sites) >= 2:
                    break
            if len(chosen) < n_regions:
                regions = [region_names[r] for r in sorted(chosen)]
                allowed = np.flatnonzero(np.isin(labels, chosen))
        caps_sorted = np.sort(host[allowed])[::-1]
        k_big = int(np.searchsorted(np.cumsum(caps_sorted), 3.0 * need) + 1)  # on the biggest sites
        k_typ = int(math.ceil(2.0 * need / max(float(np.median(host[allowed])), 1e-9)))  # on typical ones
        max_sites = int(min(len(allowed), max(2, k_big, k_typ) + int(rng.integers(0, 2))))
        entry: dict = {
            "id": tn.id,
            "lines": [{"sku": s.id, "gpus": int(g)} for s, g in tn.lines],
            "min_island_gpus": int(tn.island),
            "max_sites": max_sites,
        }
        if t in with_latency:
            m = with_latency.index(t) % n_metro
            min_share = float(rng.choice([0.2, 0.25, 0.3]))
            want = 2.0 * min_share * need
            by_rtt = np.argsort(rtt[m], kind="stable")
            top = max(1, max_sites - 1)
            limit = None
            for i in range(len(by_rtt)):
                within = host[by_rtt[: i + 1]]
                best = np.sort(within)[::-1][:top].sum()
                if best >= want and within.max() >= need_it:
                    limit = float(rtt[m, by_rtt[i]])
                    break
            if limit is not None and math.isfinite(limit):
                max_rtt = max(0.1, math.ceil((limit * 1.05 + 0.01) * 10) / 10)
                entry["latency"] = [{"metro": metro_ids[m], "max_rtt_ms": round(max_rtt, 1), "min_share": min_share}]
        if regions is not None:
            entry["allowed_regions"] = regions
        tenant_dicts.append(entry)

    # ---- 7. policy ---------------------------------------------------------------------
    surcharge_region = region_names[int(labels[int(np.argmin(rtt[0]))])]
    degree = 2 * n_line / n_bus
    desc = (
        f"Synthetic scenario (topologies.synthetic, seed {seed}): {sites} sites, {n_sub} substations, "
        f"{n_plant} plants, {n_metro} metros, {n_regions} regions in box {tuple(float(v) for v in box)}; "
        f"{n_line} lines (mean degree {degree:.2f}, {n_bridges} bridges, {len(tight)} tight), "
        f"{len(fiber)} fiber edges; {tenants} tenants, {total_gpus:,} GPUs on {len(pool)} SKUs, "
        f"fleet IT {fleet_it:.1f} MW"
    )
    if notes:
        desc += "; " + "; ".join(notes)
    data = {
        "name": name or f"synthetic-s{sites}-g{gpus}-seed{seed}",
        "description": desc,
        "catalog": [s.model_dump(mode="json") for s in pool],
        "topology": {"nodes": nodes, "edges": out_edges},
        "demand": {"tenants": tenant_dicts},
        "policy": {
            "power_band_mw": {"min_mw": band[0], "max_mw": band[1]},
            "objective": {
                "tenant_site_usd_per_year": 2_000_000.0,
                "region_surcharge_usd_per_mw_year": {surcharge_region: 50_000.0},
            },
        },
    }
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:  # a generator bug, not a user error: say where
        raise RuntimeError(f"synthetic scenario failed validation: {exc}") from exc


__all__ = ["generate", "KOREA_BOX", "ROUTE_FACTOR"]
