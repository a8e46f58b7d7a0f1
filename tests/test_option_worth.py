"""What each built option is worth (solvers/worth.py) and its verifier checks (placer/verify_worth.py).

Scenario: ``rollout_options.yaml`` with hall's build-out stage as a bridge (``until: 2027Q1``, when
the permanent 2 MW arrive) and hall's IT raised to 2.2 MW from then, so that the final placement
fits without the bridge: the bridge then only brings racks forward, and its worth is the
stranding it avoids. Each injection test edits one figure of a solved plan and sees exactly its code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from placer.io import load_scenario
from placer.plan import Plan
from placer.scenario import Scenario
from placer.verify import verify
from placer.verify_worth import CODES

DATA = Path(__file__).parent / "data"


def _bridge(d: dict) -> None:
    d["rollout"]["site_stages"][0]["it_capacity_mw"] = 2.2
    for n in d["topology"]["nodes"]:
        if n["id"] == "hall":
            n["it_capacity_mw"] = 2.2
    d["rollout"]["options"][0]["until"] = "2027Q1"


@pytest.fixture(scope="module")
def sc() -> Scenario:
    data = load_scenario(DATA / "rollout_options.yaml").model_dump(by_alias=True)
    _bridge(data)
    return Scenario.model_validate(data)


@pytest.fixture(scope="module")
def plan(sc) -> Plan:
    from solvers import solve

    return solve(sc, "cpsat", time_limit_s=10)


def codes(sc, plan) -> set[str]:
    return {v.code for v in verify(sc, plan).violations}


def test_worth_is_evaluated_ranked_and_verified(sc, plan):
    report = verify(sc, plan)
    assert report.valid, report.violations
    assert set(CODES) <= set(report.checks)
    rated = [inv for inv in plan.investments or [] if inv.worth is not None]
    assert rated, "some built option is a decision with a worth"
    assert all(inv.option != "hall-feed-fixed" for inv in rated), "a forced option has no worth"
    assert plan.build_first and [b.option for b in plan.build_first] == sorted(
        (inv.option for inv in rated), key=lambda o: next(b.rank for b in plan.build_first if b.option == o)
    )
    bridge = next(inv for inv in rated if inv.option == "hall-stage0")
    w = bridge.worth
    assert w.status == "OPTIMAL" and w.npv_saved_usd is not None
    # the bridge brings 10 racks forward for two quarters: it saves stranded GPU-quarters
    assert w.stranded_gpu_quarters_saved > 0
    assert w.npv_saved_usd == pytest.approx(w.npv_without_usd - w.npv_with_usd)
    assert w.npv_with_usd <= plan.npv.total_usd + 1.0
    line = next(b for b in plan.build_first if b.option == "hall-stage0").text
    assert line.startswith("Build hall-stage0 by 2026Q3 ($2.0M): saves ")


def test_worth_is_deterministic_and_optional(sc, plan):
    from solvers import solve

    again = solve(sc, "cpsat", time_limit_s=10)
    assert [b.model_dump() for b in again.build_first] == [b.model_dump() for b in plan.build_first]
    bare = solve(sc, "cpsat", time_limit_s=10, option_worth=False)
    assert bare.build_first is None and all(inv.worth is None for inv in bare.investments)
    assert verify(sc, bare).valid


def _edit(plan: Plan, fn) -> Plan:
    bad = plan.model_copy(deep=True)
    fn(bad)
    return bad


def test_worth_not_investment(sc, plan):
    def fn(p):
        p.build_first[0].option = "ss2-alt"

    assert codes(sc, _edit(plan, fn)) == {"WORTH_NOT_INVESTMENT"}


def test_worth_mismatch(sc, plan):
    def fn(p):
        inv = next(i for i in p.investments if i.option == "hall-stage0")
        inv.worth.npv_saved_usd += 1e6
        next(b for b in p.build_first if b.option == "hall-stage0").npv_saved_usd = inv.worth.npv_saved_usd

    assert codes(sc, _edit(plan, fn)) == {"WORTH_MISMATCH"}


def test_worth_ranking(sc, plan):
    def fn(p):
        p.build_first[0].rank = 2

    assert codes(sc, _edit(plan, fn)) == {"WORTH_RANKING"}


def test_worth_ranking_order(sc, plan):
    if len(plan.build_first) < 2:
        # one ranked option: a second, saving more, listed below it, is out of order
        def fn(p):
            extra = p.build_first[0].model_copy(update={"rank": 2, "npv_saved_usd": 1e12})
            p.build_first.append(extra)

        assert "WORTH_RANKING" in codes(sc, _edit(plan, fn))
        return

    def swap(p):
        p.build_first[0], p.build_first[1] = p.build_first[1], p.build_first[0]
        p.build_first[0].rank, p.build_first[1].rank = 1, 2

    assert codes(sc, _edit(plan, swap)) == {"WORTH_RANKING"}


def test_needed_option_is_ranked_first_without_figures():
    """In the unedited file the final placement needs hall's stage (17 racks x 0.12 MW > 2 MW)."""
    from solvers import solve

    sc0 = load_scenario(DATA / "rollout_options.yaml")
    p = solve(sc0, "cpsat", time_limit_s=10)
    assert verify(sc0, p).valid and p.build_first
    first = p.build_first[0]
    assert first.option == "hall-stage0" and first.npv_saved_usd is None
    assert "cannot be scheduled without it" in first.text


def test_every_worth_code_has_an_injection():
    tests = {
        "WORTH_NOT_INVESTMENT": test_worth_not_investment,
        "WORTH_MISMATCH": test_worth_mismatch,
        "WORTH_RANKING": test_worth_ranking,
    }
    assert set(tests) == set(CODES)


@pytest.mark.parametrize(
    "edit, where",
    [
        (lambda d: d["build_first"][0].update(rank="first"), "build_first.0.rank"),
        (lambda d: d["investments"][0]["worth"].update(status="MAYBE"), "investments.0.worth.status"),
        (lambda d: d["investments"][0]["worth"].update(npv_saved_usd="lots"), "investments.0.worth.npv_saved_usd"),
    ],
    ids=["rank", "status", "usd"],
)
def test_bad_worth_in_a_plan_file_is_one_line_exit_2(tmp_path, sc, plan, edit, where):
    import json

    from tests.helpers import run_cli

    scen, bad = tmp_path / "sc.json", tmp_path / "plan.json"
    scen.write_text(json.dumps(sc.model_dump(mode="json", by_alias=True)))
    data = plan.model_dump(mode="json")
    data["investments"] = [inv for inv in data["investments"] if inv["worth"] is not None]
    edit(data)
    bad.write_text(json.dumps(data))
    proc = run_cli("verify", str(scen), str(bad))
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "plan.json" in lines[0] and where.split(".")[0] in lines[0], proc.stderr
