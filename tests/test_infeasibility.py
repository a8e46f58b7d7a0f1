"""Infeasibility explained: the aggregate pre-check's arithmetic, the minimal core, and greedy's honesty.

The korea-2025 variants are generated from the built-in scenario and run through the real CLI,
as a planner would; the soundness tests check that no feasible scenario is ever called
impossible by the pre-check.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from placer.errors import InfeasibleError, NoSolutionError
from placer.io import load_scenario
from placer.scenario import GoLiveWindow
from solvers import solve
from solvers.cpsat import explain_infeasibility
from solvers.precheck import precheck
from solvers.problem import build_problem
from tests.helpers import DATA
from topologies import builtin_names, builtin_scenario


def _bullets(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("  - ")]


def _write(scenario, path):
    path.write_text(scenario.model_dump_json(by_alias=True))
    return path


def _korea_capacity_div10():
    sc = builtin_scenario("korea-2025").model_copy(deep=True)
    for node in sc.topology.nodes:
        if node.kind == "site":
            node.it_capacity_mw /= 10
            node.liquid_cooling_mw /= 10
            node.air_cooling_mw /= 10
    return sc


def _korea_band(min_mw: float, max_mw: float):
    sc = builtin_scenario("korea-2025").model_copy(deep=True)
    sc.policy.power_band_mw.min_mw, sc.policy.power_band_mw.max_mw = min_mw, max_mw
    return sc


# ---- the pre-check never raises a false alarm -------------------------------------------------
@pytest.mark.parametrize("name", builtin_names())
def test_builtin_scenarios_pass_the_precheck(name):
    assert precheck(build_problem(builtin_scenario(name))) == []


@pytest.mark.parametrize("path", sorted(DATA.glob("*.yaml")), ids=lambda p: p.name)
def test_test_data_scenarios_pass_the_precheck(path):
    assert precheck(build_problem(load_scenario(path))) == []


@pytest.mark.parametrize("sites,gpus", [(12, 26_000), (30, 100_000)])
def test_synthetic_scenarios_pass_the_precheck(sites, gpus):
    from topologies.synthetic import generate

    assert precheck(build_problem(generate(sites=sites, gpus=gpus, seed=0))) == []


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    it=st.floats(0.2, 1.5),
    liquid=st.floats(0.2, 1.5),
    air=st.floats(0.2, 1.5),
    feed=st.floats(0.3, 1.5),
    band_max=st.floats(30, 120),
    beta=st.sampled_from([1800, 3600, 7200, 10800, 14400]),
    share=st.sampled_from([0.0, 0.25, 0.6, 1.0]),
)
def test_precheck_is_a_valid_necessary_condition(it, liquid, air, feed, band_max, beta, share):
    """Whenever the pre-check finds a shortfall, CP-SAT (with the pre-check bypassed) proves the
    scenario infeasible too: a finding is never a false alarm."""
    from solvers.cpsat import solve_cpsat

    sc = load_scenario(DATA / "tiny.yaml")
    for node in sc.topology.nodes:
        if node.kind == "site":
            node.it_capacity_mw *= it
            node.liquid_cooling_mw *= liquid
            node.air_cooling_mw *= air
    for edge in sc.topology.edges:
        if edge.kind == "feed":
            edge.capacity_mw *= feed
    sc.policy.power_band_mw.max_mw = max(band_max, sc.policy.power_band_mw.min_mw)
    sc.demand.tenants[1].lines[0].gpus = beta
    sc.demand.tenants[0].latency[0].min_share = share
    sc.policy.solver.time_limit_s = 5
    problem = build_problem(sc)
    if precheck(problem):
        with pytest.raises(InfeasibleError):
            solve_cpsat(problem)


# ---- the two korea-2025 variants of issue 9, through the CLI ---------------------------------
def test_korea_capacity_divided_by_10_is_explained_by_arithmetic(tmp_path, cli):
    path = _write(_korea_capacity_div10(), tmp_path / "k10.json")
    result = cli("solve", str(path), "-o", str(tmp_path / "plan.json"))
    assert result.returncode == 3, result.stderr
    assert (
        "no placement exists: all 260,000 GPUs need 516.7 MW of IT; all 14 sites together hold 125.3 MW of IT"
        in result.stderr
    )
    bullets = _bullets(result.stderr)
    assert 1 <= len(bullets) <= 5, bullets
    assert "naver 28,800 gb200-nvl72" in bullets[0]  # the demand lines, with their GPU counts
    assert any("heat on liquid cooling" in b for b in bullets)  # cooling by medium
    assert "infeasibility.precheck" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "plan.json").exists()


def test_korea_unreachable_band_is_explained_by_arithmetic(tmp_path, cli):
    path = _write(_korea_band(500, 580), tmp_path / "band.json")
    result = cli("solve", str(path))
    assert result.returncode == 3, result.stderr
    assert (
        "the least facility power any placement of all 260,000 GPUs (516.7 MW of IT) can draw is 593.4 MW, "
        "above the band's maximum of 580 MW"
    ) in result.stderr
    bullets = _bullets(result.stderr)
    assert 1 <= len(bullets) <= 5, bullets
    assert bullets[0].startswith("  - demand lines involved: naver 28,800 gb200-nvl72")


# ---- each family of the pre-check -------------------------------------------------------------
def _finding(sc):
    with pytest.raises(InfeasibleError) as info:
        solve(sc, "greedy")  # the pre-check runs before any engine, whichever is chosen
    return str(info.value), info.value.reasons


def test_band_minimum_above_the_most_any_placement_draws():
    message, _ = _finding(_korea_band(1000, 1100))
    assert (
        "the most facility power any placement of all 260,000 GPUs can draw is 627.6 MW, below the band's "
        "minimum of 1000 MW" in message
    )


def test_plant_spare_below_the_least_facility_power():
    sc = builtin_scenario("korea-2025")
    for node in sc.topology.nodes:
        if node.kind == "plant":
            node.spare_mw /= 8
    message, _ = _finding(sc)
    assert "can draw is 593.4 MW, above the 415.6 MW of spare capacity the 7 plants hold" in message


def test_tenant_region_capacity_names_the_tenant_and_its_sites():
    sc = builtin_scenario("korea-2025")
    sc.demand.tenants[4].lines[0].gpus *= 6  # government may use honam only
    sc.policy.power_band_mw.max_mw = 1000
    message, reasons = _finding(sc)
    assert (
        "158,000 GPUs of government need 308.2 MW of IT; the 3 sites open to them (haenam, saemangeum, "
        "gwangju-cheomdan) together hold 260.0 MW of IT"
    ) in message
    assert reasons[0] == "demand lines involved: government 19,440 gb200-nvl72 + 129,600 gb300-nvl72 + 8,960 hgx-b300"


def test_latency_reach_counts_the_sites_within_reach():
    sc = builtin_scenario("korea-2025")
    sc.demand.tenants[0].latency[0].max_rtt_ms = 0.3  # only seoul-gasan is this close
    sc.demand.tenants[0].latency[0].min_share = 0.5
    message, reasons = _finding(sc)
    assert message.startswith(
        "no placement exists: tenant naver needs 30,000 of its 60,000 GPUs (50%) within 0.3 ms "
        "round trip of seoul; the one site within reach open to it (seoul-gasan) holds 40.0 MW"
    )
    assert "naver 28,800 gb200-nvl72" in reasons[0]


def test_rollout_deadline_before_the_site_is_energized():
    sc = load_scenario(DATA / "rollout_toy.yaml")
    sc.rollout.go_live = [GoLiveWindow(tenant="t", latest="2026Q4")]  # the hall is energized in 2027Q1
    message, _ = _finding(sc)
    assert (
        "all 720 GPUs need 1.2 MW of IT by 2026Q4, when t must be fully live; the only site (hall) holds "
        "0.0 MW of IT" in message
    )


def test_rollout_deliveries_after_the_deadline_and_build_rate():
    sc = load_scenario(DATA / "rollout_toy.yaml")
    sc.rollout.site_stages = []
    sc.rollout.build_rate_racks_per_period = {"hall": 2}
    sc.rollout.go_live = [GoLiveWindow(tenant="t", latest="2027Q1")]
    message, _ = _finding(sc)
    assert (
        "all 720 GPUs fill 10 racks by 2027Q1, when t must be fully live; the only site (hall) installs at most "
        "6 racks at its build rate" in message
    )
    late = load_scenario(DATA / "rollout_toy.yaml")
    late.rollout.deliveries[0].period = "2027Q2"
    late.rollout.go_live = [GoLiveWindow(tenant="t", latest="2027Q1")]
    message, _ = _finding(late)
    assert "tenant t must have all 720 nvl72 GPUs live by 2027Q1, but only 0 are delivered by then" in message


# ---- the minimal core, where the arithmetic cannot see the conflict ---------------------------
def _islands_vs_max_sites():
    """alpha may use one site only, but its 15,840 nvl72 GPUs need more liquid cooling than north
    has and more feed capacity than south has; the two sites together hold them, so every aggregate
    check passes (with two sites allowed it solves)."""
    sc = load_scenario(DATA / "tiny.yaml")
    alpha = sc.demand.tenants[0]
    alpha.lines[0].gpus = 15_840
    alpha.max_sites = 1
    alpha.latency = []
    sc.demand.tenants[1].lines[0].gpus = 1440
    sc.policy.power_band_mw.min_mw = 10
    return sc


def test_islands_vs_max_sites_get_a_minimal_core_with_demand_lines(tmp_path, cli):
    sc = _islands_vs_max_sites()
    assert precheck(build_problem(sc)) == []
    path = _write(sc, tmp_path / "one-site.json")
    result = cli("--log-json", "solve", str(path))
    assert result.returncode == 3, result.stderr
    assert "no placement satisfies all the constraints" in result.stderr
    bullets = _bullets(result.stderr)
    assert bullets[0] == "  - demand lines in conflict: alpha 15,840 nvl72"
    assert sorted(bullets[1:-1]) == [
        "  - site north rejects at most 20 MW of heat by liquid",
        "  - site south's feeds carry at most 30 MW of facility load after losing any one feed",
        "  - tenant alpha uses at most 1 sites",
    ]
    assert bullets[-1].startswith("  - a minimal conflict")
    assert '"event": "infeasibility.core.done"' in result.stderr and '"minimal": true' in result.stderr


def test_competing_latency_shares_get_a_core_from_both_engines():
    """Each tenant's latency share fits the one site near seoul on its own; together they do not."""
    sc = load_scenario(DATA / "tiny.yaml")
    sc.demand.tenants[0].latency[0].min_share = 0.8
    beta = sc.demand.tenants[1]
    beta.allowed_regions = None
    beta.latency = [sc.demand.tenants[0].latency[0].model_copy(update={"min_share": 1.0})]
    assert precheck(build_problem(sc)) == []
    for engine in ("cpsat", "milp"):
        with pytest.raises(InfeasibleError) as info:
            solve(sc, engine)
        reasons = info.value.reasons
        assert reasons[0].startswith("demand lines in conflict:") and "beta" in reasons[0], reasons
        assert any("tenant beta's GPUs" in r and "seoul" in r for r in reasons)
        assert any("tenant alpha's GPUs" in r and "seoul" in r for r in reasons)
        assert reasons[-1].startswith("a minimal conflict"), reasons


def test_core_says_when_it_stopped_before_it_was_minimal():
    problem = build_problem(_islands_vs_max_sites())
    reasons = explain_infeasibility(problem, problem.scenario.policy.solver, budget_s=0.0)
    assert reasons is not None
    assert reasons[-1].startswith("not proven minimal: stopped after")
    assert reasons[0].startswith("demand lines in conflict:")


# ---- greedy's failure is not a proof ----------------------------------------------------------
def _greedy_trap():
    """alpha (larger) goes first and fills the cheap south site; beta may only use south, so greedy
    fails, while alpha at north and beta at south is a valid plan."""
    sc = load_scenario(DATA / "tiny.yaml")
    alpha = sc.demand.tenants[0]
    alpha.lines = [alpha.lines[0]]  # 14,400 nvl72
    alpha.latency = []
    return sc


def test_greedy_failure_exits_4_and_says_it_is_no_proof(tmp_path, cli):
    path = _write(_greedy_trap(), tmp_path / "trap.json")
    greedy = cli("solve", str(path), "--solver", "greedy")
    assert greedy.returncode == 4, greedy.stderr
    assert "the greedy baseline could not place" in greedy.stderr
    assert "this is not a proof that no placement exists (try --solver milp or cpsat)" in greedy.stderr
    assert "infeasible" not in greedy.stderr.lower().replace("infeasibility.precheck", "")
    exact = cli("solve", str(path), "--solver", "cpsat")
    assert exact.returncode == 0, exact.stderr


def test_greedy_on_the_liquid_share_fuzz_case_is_no_solution_not_infeasible():
    sc = builtin_scenario("korea-2025")
    sc.catalog[0].liquid_share = 0.0  # the fuzz case: gb200 all on air
    assert precheck(build_problem(sc)) == []
    with pytest.raises(NoSolutionError, match="not a proof that no placement exists"):
        solve(sc, "greedy")
    # cpsat finds a verified plan for it (measured: FEASIBLE at a 20 s limit); too slow to run here.
