"""Re-planning from a previous plan (``solve --from``; solvers/replan.py, placer/verify_replan.py).

The korea-2025 plan is re-planned after one fact changes (Haenam's IT capacity -10 %): the re-plan
moves a few racks, verified against the previous plan, where a from-scratch plan of the same new
facts reshuffles far more. Each REPLAN_* code gets an injection test that trips it alone.
"""

from __future__ import annotations

import json

import pytest

from placer.errors import InfeasibleError, InputError
from placer.plan import Move, plan_digest
from placer.verify import verify
from solvers import solve
from tests.helpers import DATA, codes, only, run_cli
from topologies import builtin_scenario

TIME_LIMIT_S = 30


def _racks(plan) -> dict[tuple[str, str, str], int]:
    return {(a.tenant, a.sku, a.site): a.racks for a in plan.assignments}


def _moved(before, after) -> int:
    now = _racks(after)
    return sum(max(0, n - now.get(key, 0)) for key, n in _racks(before).items())


@pytest.fixture(scope="module")
def korea_base():
    sc = builtin_scenario("korea-2025")
    return sc, solve(sc, "milp", time_limit_s=TIME_LIMIT_S)


@pytest.fixture(scope="module")
def korea_changed():
    sc = builtin_scenario("korea-2025")
    for node in sc.topology.nodes:
        if node.id == "haenam":
            node.it_capacity_mw *= 0.9  # 100 -> 90 MW: the government's 98.2 MW no longer fits
    return sc


@pytest.fixture(scope="module")
def korea_replan(korea_base, korea_changed):
    _, base = korea_base
    return solve(korea_changed, "milp", time_limit_s=TIME_LIMIT_S, previous=base, move_cost_usd_per_rack=100_000)


def test_small_change_gives_small_verified_move_set_against_a_reshuffling_fresh_plan(
    korea_base, korea_changed, korea_replan
):
    _, base = korea_base
    plan = korea_replan
    report = verify(korea_changed, plan, previous=base)
    assert report.valid, report.violations
    assert {"REPLAN_PREVIOUS", "REPLAN_MOVES", "REPLAN_FROZEN"} <= set(report.checks)
    r = plan.replan
    assert r.previous_plan_digest == plan_digest(base)
    # every move leaves Haenam (the site that shrank), and only as many racks as the 10 % needs
    assert r.moves and {m.from_site for m in r.moves} == {"haenam"}
    assert r.racks_moved == _moved(base, plan) < 100
    assert r.move_cost_usd == r.racks_moved * 100_000
    annual = next(t.usd_per_year for t in plan.cost_breakdown if t.name == "moves")
    assert annual == pytest.approx(r.racks_moved * 100_000 * korea_changed.policy.cost.capital_recovery_factor)
    fresh = solve(korea_changed, "milp", time_limit_s=TIME_LIMIT_S)
    assert verify(korea_changed, fresh).valid
    # from scratch, the same new facts reshuffle many times more racks (1,373 against 55 when written)
    assert _moved(base, fresh) > 5 * r.racks_moved
    # the re-plan pays for its stability: its placement costs at most what the avoided moves would
    placement = plan.summary.objective - annual
    assert placement >= fresh.summary.objective * (1 - 1e-4)


def test_cpsat_re_plan_agrees_with_the_milp_on_the_moves(korea_base, korea_changed, korea_replan):
    _, base = korea_base
    plan = solve(korea_changed, "cpsat", time_limit_s=TIME_LIMIT_S, previous=base, move_cost_usd_per_rack=100_000)
    assert verify(korea_changed, plan, previous=base).valid
    assert plan.replan.racks_moved == korea_replan.replan.racks_moved


def test_frozen_site_keeps_its_racks(korea_base, korea_changed):
    _, base = korea_base
    plan = solve(korea_changed, "cpsat", time_limit_s=TIME_LIMIT_S, previous=base, freeze=["sejong", "busan-edc"])
    assert verify(korea_changed, plan, previous=base).valid
    before, now = _racks(base), _racks(plan)
    for key, n in before.items():
        if key[2] in ("sejong", "busan-edc"):
            assert now.get(key, 0) >= n
    assert plan.replan.frozen_sites == ["busan-edc", "sejong"]


def test_frozen_site_that_cannot_keep_its_racks_is_infeasible_in_the_planners_words(korea_base, korea_changed):
    _, base = korea_base
    with pytest.raises(InfeasibleError) as exc:
        solve(korea_changed, "milp", previous=base, freeze=["haenam"])
    text = " ".join(exc.value.reasons)
    assert "site haenam is frozen with 850 racks" in text and "at most 90 MW" in text


def test_bad_re_plan_inputs_are_refused(korea_base):
    _, base = korea_base
    sc = builtin_scenario("korea-2025")
    with pytest.raises(InputError, match="unknown site 'nowhere'"):
        solve(sc, "cpsat", previous=base, freeze=["nowhere"])
    with pytest.raises(InputError, match="give it with --from"):
        solve(sc, "cpsat", freeze=["haenam"])
    with pytest.raises(InputError, match="greedy"):
        solve(sc, "greedy", previous=base)
    with pytest.raises(InputError, match="move cost"):
        solve(sc, "cpsat", previous=base, move_cost_usd_per_rack=-1.0)
    with pytest.raises(InputError, match="move cost"):
        solve(sc, "cpsat", previous=base, move_cost_usd_per_rack=float("nan"))


# ---- rollouts: the moves of the final build-out, their one-off cost in the NPV ------------------
@pytest.fixture(scope="module")
def rollout_case():
    from placer.io import load_scenario

    sc = load_scenario(DATA / "rollout_multi.yaml")
    base = solve(sc, "cpsat")
    changed = sc.model_copy(deep=True)
    for e in changed.topology.edges_of_kind("feed"):
        if e.id in ("feed-w1", "feed-w2"):
            e.capacity_mw = 1.9  # west's N-1 feed limit 2.0 -> 1.9 MW: its 1.99 MW no longer fits
    return changed, base


@pytest.mark.parametrize("engine", ["cpsat", "milp"])
def test_rollout_re_plan_moves_few_racks_and_charges_them_in_the_npv(rollout_case, engine):
    sc, base = rollout_case
    plan = solve(sc, engine, previous=base, move_cost_usd_per_rack=100_000)
    report = verify(sc, plan, previous=base)
    assert report.valid, report.violations
    assert plan.summary.status == "OPTIMAL"
    r = plan.replan
    assert [(m.tenant, m.from_site, m.racks) for m in r.moves] == [("b", "west", 2)]
    moves = next(t for t in plan.npv.terms if t.name == "moves")
    assert moves.usd == 200_000.0  # one-off, now: the first quarter, undiscounted
    assert plan.npv.periods[0].terms_usd["moves"] == 200_000.0
    assert all(p.terms_usd["moves"] == 0 for p in plan.npv.periods[1:])
    fresh = solve(sc, engine)
    assert _moved(base, fresh) == 5 > r.racks_moved


def test_injected_npv_moves_term_is_caught(rollout_case):
    sc, base = rollout_case
    plan = solve(sc, "cpsat", previous=base, move_cost_usd_per_rack=100_000)
    bad = plan.model_copy(deep=True)
    for t in bad.npv.terms:
        if t.name == "moves":
            t.usd = 0.0  # the one-off move cost left out of the NPV
    assert "NPV_TERM" in codes(verify(sc, bad, previous=base))


# ---- verifier injections: each REPLAN code alone --------------------------------------------------
@pytest.fixture(scope="module")
def free_replan(korea_base, korea_changed):
    """A re-plan at move cost 0 (its moves change no money: the injections below edit moves alone)."""
    _, base = korea_base
    # (at cost 0 every re-plan of the same racks ties: CP-SAT stops at its time limit, FEASIBLE)
    return solve(korea_changed, "cpsat", time_limit_s=3, previous=base, move_cost_usd_per_rack=0.0)


def test_injected_wrong_move_count_is_caught(korea_base, korea_changed, free_replan):
    _, base = korea_base
    bad = free_replan.model_copy(deep=True)
    assert bad.replan.moves
    bad.replan.moves[0].racks += 1
    bad.replan.racks_moved += 1
    bad.replan.racks_kept -= 1
    found = only(verify(korea_changed, bad, previous=base), "REPLAN_MOVES")
    assert any("so " in v.message and "moved" in v.message for v in found)


def test_injected_hidden_move_is_caught(korea_base, korea_changed, free_replan):
    _, base = korea_base
    bad = free_replan.model_copy(deep=True)
    gone = bad.replan.moves.pop()
    bad.replan.racks_moved -= gone.racks
    bad.replan.racks_kept += gone.racks
    only(verify(korea_changed, bad, previous=base), "REPLAN_MOVES")


def test_injected_move_sum_mismatch_is_caught_without_the_previous_plan(korea_changed, free_replan):
    bad = free_replan.model_copy(deep=True)
    bad.replan.moves.append(Move(tenant="naver", sku="gb200-nvl72", from_site="sejong", racks=3))
    assert codes(verify(korea_changed, bad)) == {"REPLAN_MOVES"}


def test_injected_frozen_claim_that_does_not_hold_is_caught(korea_base, korea_changed, free_replan):
    _, base = korea_base
    bad = free_replan.model_copy(deep=True)
    bad.replan.frozen_sites = ["haenam"]  # the plan says Haenam kept its racks; it lost some
    found = only(verify(korea_changed, bad, previous=base), "REPLAN_FROZEN")
    assert all("haenam" in v.entity for v in found)


def test_injected_unknown_frozen_site_is_caught(korea_changed, free_replan):
    bad = free_replan.model_copy(deep=True)
    bad.replan.frozen_sites = ["atlantis"]
    only(verify(korea_changed, bad), "REPLAN_FROZEN")


def test_injected_other_previous_plan_is_caught(korea_base, korea_changed, free_replan):
    _, base = korea_base
    other = base.model_copy(deep=True)
    other.summary.notes.append("edited")  # same racks, another plan
    only(verify(korea_changed, free_replan, previous=other), "REPLAN_PREVIOUS")


def test_injected_moves_cost_term_is_caught(korea_changed, korea_replan):
    bad = korea_replan.model_copy(deep=True)
    for t in bad.cost_breakdown:
        if t.name == "moves":
            t.usd_per_year *= 0.5  # the one-off cost not annualised as stated
    assert "REPORTED_MISMATCH" in codes(verify(korea_changed, bad))


# ---- the command line -------------------------------------------------------------------------
def test_cli_re_plan_on_tiny(tmp_path):
    base, again = tmp_path / "base.json", tmp_path / "again.json"
    tiny = str(DATA / "tiny.yaml")
    assert run_cli("solve", tiny, "-o", str(base)).returncode == 0
    done = run_cli("solve", tiny, "--from", str(base), "--freeze", "north", "--move-cost", "50000", "-o", str(again))
    assert done.returncode == 0, done.stderr
    plan = json.loads(again.read_text())
    # the same facts: nothing moves
    assert plan["replan"]["racks_moved"] == 0 and plan["replan"]["frozen_sites"] == ["north"]
    assert "0 racks moved" in done.stdout
    ok = run_cli("verify", tiny, str(again), "--from", str(base))
    assert ok.returncode == 0, ok.stdout
    bad = run_cli("solve", tiny, "--from", str(base), "--freeze", "nowhere")
    assert bad.returncode == 2 and "unknown site 'nowhere'" in bad.stderr
    bad = run_cli("solve", tiny, "--freeze", "north")
    assert bad.returncode == 2 and "--from" in bad.stderr
    missing = run_cli("solve", tiny, "--from", str(tmp_path / "none.json"))
    assert missing.returncode == 2 and "none.json" in missing.stderr


def test_cli_re_plan_of_a_rollout(tmp_path):
    from placer.io import dump_model, load_scenario

    sc = load_scenario(DATA / "rollout_multi.yaml")
    for e in sc.topology.edges_of_kind("feed"):
        if e.id in ("feed-w1", "feed-w2"):
            e.capacity_mw = 1.9
    changed, base, again = tmp_path / "changed.yaml", tmp_path / "base.json", tmp_path / "again.json"
    dump_model(sc, changed)
    assert run_cli("solve", str(DATA / "rollout_multi.yaml"), "-o", str(base)).returncode == 0
    done = run_cli("solve", str(changed), "--from", str(base), "-o", str(again))
    assert done.returncode == 0, done.stderr
    plan = json.loads(again.read_text())
    assert plan["replan"]["racks_moved"] == 2
    assert any(t["name"] == "moves" and t["usd"] == 200_000.0 for t in plan["npv"]["terms"])
    assert "2 racks moved" in done.stdout
    assert run_cli("verify", str(changed), str(again), "--from", str(base)).returncode == 0
    # the wrong previous plan: its digest is not the one the re-plan names
    other = run_cli("verify", str(changed), str(again), "--from", str(again))
    assert other.returncode == 1 and "REPLAN_PREVIOUS" in other.stdout
