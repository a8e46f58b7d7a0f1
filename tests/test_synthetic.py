"""The seeded synthetic generator (topologies.synthetic): determinism, geometry, grid, demand, solvability."""

from __future__ import annotations

import os
import subprocess
import sys

import networkx as nx
import pytest

from placer.errors import InputError
from placer.topology import haversine_km
from topologies.synthetic import KOREA_BOX, ROUTE_FACTOR, generate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def medium():
    return generate(sites=60, gpus=260_000, seed=7)


def _dump(scenario) -> str:
    return scenario.model_dump_json(by_alias=True)


def _grid(scenario) -> nx.MultiGraph:
    g = nx.MultiGraph()
    g.add_nodes_from(n.id for n in scenario.topology.nodes if n.kind in ("substation", "plant"))
    g.add_edges_from((e.from_node, e.to_node) for e in scenario.topology.edges_of_kind("line"))
    return g


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_scenario_byte_for_byte():
    a = generate(sites=30, gpus=260_000, seed=11)
    b = generate(sites=30, gpus=260_000, seed=11)
    assert _dump(a) == _dump(b)
    assert a.digest() == b.digest()


def test_different_seed_different_scenario():
    a = generate(sites=30, gpus=260_000, seed=11)
    b = generate(sites=30, gpus=260_000, seed=12)
    assert a.digest() != b.digest()
    assert [n.lat for n in a.topology.sites] != [n.lat for n in b.topology.sites]


def test_digest_does_not_depend_on_hash_seed():
    """No set/dict iteration order leaks into the output: two processes, two hash seeds."""
    code = "from topologies.synthetic import generate; print(generate(sites=25, gpus=100_000, seed=3).digest())"
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120
        )
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.strip())
    assert len(digests) == 1
    assert digests == {generate(sites=25, gpus=100_000, seed=3).digest()}


def test_written_file_reads_back_to_the_same_digest(tmp_path):
    from placer.io import dump_model, load_scenario

    sc = generate(sites=15, gpus=50_000, seed=4)
    path = tmp_path / "synthetic.json"
    dump_model(sc, path)
    first = path.read_bytes()
    assert load_scenario(path).digest() == sc.digest()
    dump_model(generate(sites=15, gpus=50_000, seed=4), path)
    assert path.read_bytes() == first


# --------------------------------------------------------------------------- geometry and grid


def test_points_in_the_box(medium):
    lat0, lon0, lat1, lon1 = KOREA_BOX
    for n in medium.topology.nodes:
        assert lat0 <= n.lat <= lat1 and lon0 <= n.lon <= lon1, n.id


def test_default_counts_scale_with_sites(medium):
    topo = medium.topology
    assert len(topo.sites) == 60
    assert len(topo.substations) == 60
    assert len(topo.plants) == 7
    assert len(topo.metros) == 6


def test_mesh_connected_near_planar_and_two_edge_connected(medium):
    g = _grid(medium)
    v, e = g.number_of_nodes(), g.number_of_edges()
    assert nx.is_connected(g)
    assert e <= 3 * v - 6  # planar bound
    assert nx.check_planarity(nx.Graph(g))[0]
    assert 2.3 <= 2 * e / v <= 3.6  # mean degree
    bridges = list(nx.bridges(nx.Graph(g)))
    assert len(bridges) <= max(1, v // 50)


def test_some_lines_are_tight_and_ratings_sane(medium):
    lines = medium.topology.edges_of_kind("line")
    tight = [l for l in lines if "tight" in l.source]
    assert 1 <= len(tight) <= 0.15 * len(lines)
    for l in lines:
        assert l.kv == 345 and l.reactance_pu > 0
        assert l.emergency_rating_mw >= l.rating_mw >= 1


def test_preexisting_grid_is_served_within_limits_and_n1_secure(medium):
    """The existing load is dispatched without any overload, before and after every single outage."""
    from solvers.dcpf import GridModel

    grid = GridModel.from_scenario(medium)
    pre = grid.preexisting_state()
    assert not pre.relaxed and not pre.overloads
    post = grid.post_outage_flows(pre.flows_mw)
    outages = grid.non_bridge_outages()
    for j, k in enumerate(outages):
        post[k, j] = 0.0
    assert (abs(post) <= grid.emergency_mw[:, None] + 1e-6).all()


def test_any_placement_in_the_band_is_n1_secure_with_pro_rata_redispatch(medium):
    """The rating rule: every line holds |f0| + the new load's worst pro-rata flow, so grid-blind plans verify."""
    import numpy as np

    from solvers.dcpf import GridModel
    from solvers.problem import build_problem

    grid = GridModel.from_scenario(medium)
    pre = grid.preexisting_state()
    pre_post = grid.post_outage_flows(pre.flows_mw)
    problem = build_problem(medium)
    sites = medium.topology.sites
    p_max = np.array([min(s.it_capacity_mw * s.pue, problem.feed_limit_mw[i]) for i, s in enumerate(sites)])
    band = medium.policy.power_band_mw.max_mw
    rng = np.random.default_rng(0)
    for _ in range(30):
        load, left = {}, band * rng.uniform(0.5, 1.0)
        for s in rng.permutation(len(sites))[: rng.integers(1, len(sites) + 1)]:
            load[sites[s].id] = min(p_max[s], left)
            left -= load[sites[s].id]
        new = grid.new_load_mw(load)
        redispatch = grid.spare_mw / grid.spare_mw.sum() * sum(load.values())
        flows = grid.flows(grid.injections(pre.dispatch_mw + redispatch, new))
        screen = grid.screen_n1(flows, reference_post_mw=pre_post, reference_base_mw=pre.flows_mw, tol_mw=1e-3)
        assert not screen.violations, screen.violations[:3]


def test_generation_covers_load_and_new_load(medium):
    topo = medium.topology
    load = sum(s.load_mw for s in topo.substations)
    cap = sum(p.capacity_mw for p in topo.plants)
    spare = sum(p.spare_mw for p in topo.plants)
    assert cap >= 1.25 * load
    assert cap - spare >= load
    assert spare >= 1.3 * medium.policy.power_band_mw.max_mw
    for p in topo.plants:
        assert 0.09 * p.capacity_mw <= p.spare_mw <= 0.21 * p.capacity_mw
    costs = [p.cost_usd_per_mwh for p in topo.plants]
    assert len(set(costs)) == len(costs)  # a unique least-cost dispatch


def test_every_site_fed_most_twice(medium):
    topo = medium.topology
    feeds: dict[str, int] = {}
    for e in topo.edges_of_kind("feed"):
        feeds[e.from_node] = feeds.get(e.from_node, 0) + 1
    assert set(feeds) == {s.id for s in topo.sites}
    assert sum(1 for n in feeds.values() if n == 2) >= 0.6 * len(feeds)
    assert all(n in (1, 2) for n in feeds.values())


def test_fiber_follows_the_lines(medium):
    topo = medium.topology
    subs = {s.id: s for s in topo.substations}
    fiber = {frozenset((e.from_node, e.to_node)): e for e in topo.edges_of_kind("fiber")}
    between = [l for l in topo.edges_of_kind("line") if l.from_node in subs and l.to_node in subs]
    assert between
    for line in between:
        f = fiber.get(frozenset((line.from_node, line.to_node)))
        assert f is not None, f"no fiber along {line.id}"
        a, b = subs[line.from_node], subs[line.to_node]
        assert f.length_km == pytest.approx(ROUTE_FACTOR * haversine_km(a.lat, a.lon, b.lat, b.lon), abs=0.02)
    # every site and metro reaches every metro over fiber
    g = nx.Graph()
    g.add_edges_from((e.from_node, e.to_node) for e in topo.edges_of_kind("fiber"))
    for n in [*topo.sites, *topo.metros]:
        assert n.id in g
    assert nx.is_connected(g)


# --------------------------------------------------------------------------- demand


@pytest.mark.parametrize("gpus, tenants, skus", [(260_000, 5, 4), (26_000, 3, 2), (1_000_000, 7, 6), (99_992, 4, 4)])
def test_total_gpus_exact_in_whole_racks(gpus, tenants, skus):
    sc = generate(sites=20, gpus=gpus, seed=5, tenants=tenants, skus=skus)
    per_rack = {s.id: s.gpus_per_rack for s in sc.catalog}
    assert len(sc.catalog) == skus
    assert len(sc.demand.tenants) == tenants
    assert sum(t.total_gpus for t in sc.demand.tenants) == gpus
    for t in sc.demand.tenants:
        assert 1 <= len(t.lines) <= skus
        for line in t.lines:
            assert line.gpus % per_rack[line.sku] == 0 and line.gpus > 0
        assert 0 < t.min_island_gpus <= t.total_gpus
        assert t.max_sites is not None and t.max_sites >= 2


def test_korea_like_shares_for_five_tenants():
    sc = generate(sites=20, gpus=260_000, seed=5)
    totals = [t.total_gpus for t in sc.demand.tenants]
    assert totals[0] == pytest.approx(60_000, rel=0.02)
    for t in totals[1:-1]:
        assert t == pytest.approx(50_000, rel=0.02)
    assert sum(totals) == 260_000


def test_gpus_not_reachable_is_rounded_and_said():
    sc = generate(sites=12, gpus=26_001, seed=1)
    total = sum(t.total_gpus for t in sc.demand.tenants)
    assert total % 8 == 0 and abs(total - 26_001) <= 4
    assert "rounded" in sc.description


def test_sites_host_every_island_and_hold_the_fleet(medium):
    sites = medium.topology.sites
    fleet_it = sum(
        line.gpus / medium.sku(line.sku).gpus_per_rack * medium.sku(line.sku).it_kw_per_rack / 1000
        for t in medium.demand.tenants
        for line in t.lines
    )
    assert 1.8 * fleet_it <= sum(s.it_capacity_mw for s in sites) <= 3.0 * fleet_it
    for t in medium.demand.tenants:
        kw = max(medium.sku(line.sku).it_kw_per_rack / medium.sku(line.sku).gpus_per_rack for line in t.lines)
        for s in sites:
            assert s.it_capacity_mw >= t.min_island_gpus * kw / 1000
            assert 1.08 <= s.pue <= 1.35


def test_rules_reference_real_metros_and_regions(medium):
    metros = {m.id for m in medium.topology.metros}
    regions = {s.region for s in medium.topology.sites}
    assert len(regions) >= 2
    with_latency = [t for t in medium.demand.tenants if t.latency]
    assert with_latency
    for t in medium.demand.tenants:
        for req in t.latency:
            assert req.metro in metros and req.max_rtt_ms > 0 and 0 < req.min_share < 1
        assert set(t.allowed_regions or []) <= regions
    band = medium.policy.power_band_mw
    assert 0 < band.min_mw < band.max_mw
    assert medium.policy.grid.security == "n-1"


def test_bad_arguments_are_input_errors():
    with pytest.raises(InputError, match="sites"):
        generate(sites=0, gpus=26_000, seed=1)
    with pytest.raises(InputError, match="gpus"):
        generate(sites=10, gpus=100, seed=1)
    with pytest.raises(InputError, match="box"):
        generate(sites=10, gpus=26_000, seed=1, box=(38.0, 126.0, 34.0, 129.0))


def test_other_box_and_counts():
    box = (50.0, 5.0, 53.0, 10.0)
    sc = generate(sites=15, gpus=50_000, seed=2, substations=9, plants=2, metros=3, box=box)
    topo = sc.topology
    assert (len(topo.sites), len(topo.substations), len(topo.plants), len(topo.metros)) == (15, 9, 2, 3)
    assert all(box[0] <= n.lat <= box[2] and box[1] <= n.lon <= box[3] for n in topo.nodes)


# --------------------------------------------------------------------------- scale and solvability


def test_large_instance_generates():
    """500 sites, 1M GPUs: a few seconds on the 2-core box (not asserted: shared machine)."""
    sc = generate(sites=500, gpus=1_000_000, seed=1)
    assert len(sc.topology.sites) == 500
    assert sum(t.total_gpus for t in sc.demand.tenants) == 1_000_000
    assert sc.digest().startswith("sha256:")


def test_small_instance_is_solved_and_verified():
    from placer.verify import verify
    from solvers import solve

    sc = generate(sites=12, gpus=26_000, seed=1)
    plan = solve(sc, "cpsat", time_limit_s=20)
    assert plan.summary.gpus_placed == 26_000
    report = verify(sc, plan)
    assert report.valid, [(v.code, v.entity, v.message) for v in report.violations]
    assert plan.grid is not None and plan.grid.n_minus_1 == "secure"
