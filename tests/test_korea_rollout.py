"""korea-2025-rollout: the built-in quarter-by-quarter scenario solves to a verified rollout.

One CP-SAT solve (module-scoped). The scenario's own time limit (90 s) is what
`placer solve korea-2025-rollout` uses; the test caps it at TIME_LIMIT_S to keep the
suite quick and accepts FEASIBLE (CP-SAT does not prove optimality here in either time).
Then: checks on the schedule, the CLI verifier on the written plan, the export round trip.
"""

from __future__ import annotations

import pytest

from tests.helpers import run_cli

TIME_LIMIT_S = 30.0
PERIODS = [f"{y}Q{q}" for y in range(2026, 2031) for q in range(1, 5)]


@pytest.fixture(scope="module")
def scenario():
    from topologies import builtin_scenario

    return builtin_scenario("korea-2025-rollout")


@pytest.fixture(scope="module")
def solved(scenario):
    from placer.verify import verify
    from solvers import solve

    plan = solve(scenario, solver="cpsat", time_limit_s=TIME_LIMIT_S)
    return plan, verify(scenario, plan)


def test_same_fleet_and_topology_as_korea_2025(scenario):
    from topologies import builtin_scenario

    base = builtin_scenario("korea-2025")
    assert scenario.name == "korea-2025-rollout"
    assert scenario.catalog == base.catalog
    assert scenario.topology == base.topology
    assert scenario.demand == base.demand
    # the same policy, but for the solver options and where direct supply is allowed (the power options)
    same = {"solver", "direct_supply_regions"}
    assert scenario.policy.model_dump(exclude=same) == base.policy.model_dump(exclude=same)
    assert scenario.policy.direct_supply_regions == ["yeongnam", "honam"]
    assert scenario.policy.solver.time_limit_s <= 100


def test_rollout_data(scenario):
    r = scenario.rollout
    assert r.periods == PERIODS
    # Every delivery is whole racks and, per (tenant, SKU), sums to the demand line (the
    # validator enforces it too; this pins the data's intent).
    per_rack = {k.id: k.gpus_per_rack for k in scenario.catalog}
    delivered: dict[tuple[str, str], int] = {}
    for d in r.deliveries:
        assert d.gpus % per_rack[d.sku] == 0
        assert d.source
        delivered[(d.tenant, d.sku)] = delivered.get((d.tenant, d.sku), 0) + d.gpus
    assert delivered == {(t.id, ln.sku): ln.gpus for t in scenario.demand.tenants for ln in t.lines}
    # Brief: the government's 15k GPUs by 2028, 50k by 2030.
    gov = lambda last: sum(d.gpus for d in r.deliveries if d.tenant == "government" and d.period <= last)  # noqa: E731
    assert 14_000 <= gov("2028Q4") <= 16_000
    assert gov("2030Q4") == 50_000
    # Brief: announced ramps.
    stages = {(s.site, s.period): s.it_capacity_mw for s in r.site_stages}
    assert stages[("ulsan-mipo", "2027Q3")] == 41 and stages[("ulsan-mipo", "2029Q1")] == 103
    assert stages[("sejong", "2027Q2")] == 55 and stages[("sejong", "2028Q4")] == 200
    assert all(s.source for s in r.site_stages) and all(u.source for u in r.upgrades)
    # Each staged site ends at its korea-2025 capacity.
    last = {}
    for s in sorted(r.site_stages, key=lambda s: s.period):
        last[s.site] = s.it_capacity_mw
    caps = {s.id: s.it_capacity_mw for s in scenario.topology.sites}
    assert all(last[site] == caps[site] for site in last)


def test_solves_to_a_verified_rollout(solved):
    plan, report = solved
    assert report.valid, [v.message for v in report.violations]
    assert plan.summary.status in ("OPTIMAL", "FEASIBLE")
    assert plan.summary.gpus_placed == 260_000
    assert len(plan.schedule) == 20
    assert [p.period for p in plan.schedule] == PERIODS
    assert plan.schedule[-1].gpus_live == 260_000
    assert plan.schedule[-1].gpus_stranded == 0


def test_cli_verify_accepts_the_written_plan(solved, tmp_path):
    plan, _ = solved
    path = tmp_path / "rollout.json"
    path.write_text(plan.model_dump_json())
    result = run_cli("verify", "korea-2025-rollout", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_power_is_the_bottleneck(solved):
    plan, _ = solved
    stranded = [p.gpus_stranded for p in plan.schedule]
    assert plan.summary.stranded_gpu_quarters > 0
    assert plan.summary.stranded_gpu_quarters == sum(stranded)
    for p in plan.schedule:
        assert p.gpus_stranded == p.gpus_delivered - p.gpus_live >= 0
    # Chips arrive before the announced campuses are energized: stranding peaks before 2028.
    peak = max(range(len(stranded)), key=stranded.__getitem__)
    assert PERIODS[peak] < "2028Q1"


def test_export_round_trips(tmp_path, scenario):
    from placer.io import load_scenario

    listing = run_cli("scenarios")
    assert listing.returncode == 0 and "korea-2025-rollout" in listing.stdout
    out = tmp_path / "rollout.yaml"
    result = run_cli("scenarios", "korea-2025-rollout", "-o", str(out))
    assert result.returncode == 0, result.stderr
    loaded = load_scenario(out)
    assert loaded.digest() == scenario.digest()
    assert loaded.rollout == scenario.rollout
