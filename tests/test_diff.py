"""`placer diff`: racks moved, cost by term, sites opened or closed, power and stranding, on real plans.

Plans come from real solves of the small test scenarios (a few seconds in all): tiny by CP-SAT and
by the greedy baseline (different placements of the same scenario), and the rollout_multi rollout.
"""

from __future__ import annotations

import json
import math

import pytest

from placer.diff import diff_plans
from placer.io import load_scenario
from tests.helpers import DATA, cli_in_process, run_cli


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    from solvers import solve

    out = tmp_path_factory.mktemp("diff")
    tiny = load_scenario(DATA / "tiny.yaml")
    files = {}
    for name, scenario, solver in (
        ("opt", tiny, "cpsat"),
        ("greedy", tiny, "greedy"),
        ("rollout", load_scenario(DATA / "rollout_multi.yaml"), "auto"),
    ):
        plan = solve(scenario, solver, time_limit_s=10)
        path = out / f"{name}.json"
        path.write_text(plan.model_dump_json())
        files[name] = (path, plan)
    return files


def _delta(x) -> float:
    assert x.delta is not None
    return x.delta


def test_same_plan_has_no_changes(plans):
    _, plan = plans["opt"]
    d = diff_plans(plan, plan)
    assert d.same_scenario and d.changes == [] and d.racks_moved == 0
    assert d.sites_opened == [] and d.sites_closed == []
    assert d.objective.delta == 0 and all(t.delta == 0 for t in d.cost_per_year_usd)


def test_moves_and_costs_add_up(plans):
    (_, a), (_, b) = plans["opt"], plans["greedy"]
    d = diff_plans(a, b)
    assert d.changes, "the greedy baseline places tiny differently from the optimum"
    # rack deltas are the assignments' differences, key by key
    racks_a = {(x.tenant, x.sku, x.site): x.racks for x in a.assignments}
    racks_b = {(x.tenant, x.sku, x.site): x.racks for x in b.assignments}
    for c in d.changes:
        key = (c.tenant, c.sku, c.site)
        assert c.racks_delta == racks_b.get(key, 0) - racks_a.get(key, 0) != 0
    assert d.racks_moved == sum(c.racks_delta for c in d.changes if c.racks_delta > 0)
    # every GPU is placed in both, so what is added somewhere is removed elsewhere
    assert d.racks_moved == d.racks_removed
    assert sum(t.racks_added for t in d.tenants) == d.racks_moved
    # cost terms: the delta of each, and the totals are the objectives (single period: USD/yr)
    assert d.objective_unit_a == d.objective_unit_b == "usd_per_year"
    assert math.isclose(_delta(d.cost_per_year_total_usd), b.summary.objective - a.summary.objective, rel_tol=1e-9)
    assert math.isclose(math.fsum(t.delta for t in d.cost_per_year_usd), _delta(d.cost_per_year_total_usd), abs_tol=1)
    assert d.objective.delta is not None and d.objective.delta >= -1e-6  # greedy never beats the proven optimum
    used_a = {s.site for s in a.sites if s.racks}
    used_b = {s.site for s in b.sites if s.racks}
    assert set(d.sites_opened) == used_b - used_a and set(d.sites_closed) == used_a - used_b
    assert math.isclose(_delta(d.facility_power_mw), b.summary.facility_power_mw - a.summary.facility_power_mw)


def test_units_are_never_mixed(plans):
    (_, single), (_, rollout) = plans["opt"], plans["rollout"]
    d = diff_plans(single, rollout)
    assert d.objective.delta is None  # USD/yr against an NPV in USD: not subtracted
    assert d.objective.a == single.summary.objective and d.objective.b == rollout.summary.objective
    assert d.npv_usd is None  # only one plan has an NPV
    assert any("different units" in n for n in d.notes)
    assert any("run rate" in n for n in d.notes)
    # two rollouts: the NPV by term, apart from cost per year
    d2 = diff_plans(rollout, rollout)
    assert d2.npv_usd is not None and d2.npv_total_usd is not None and d2.npv_total_usd.delta == 0
    assert [p.period for p in d2.periods] == [p.period for p in rollout.schedule]
    assert d2.stranded_gpu_quarters.a == rollout.summary.stranded_gpu_quarters


def test_cli_table_and_json(plans):
    (pa, _), (pb, _) = plans["opt"], plans["greedy"]
    r = run_cli("diff", str(pa), str(pb))
    assert r.returncode == 0, r.stderr
    assert "Cost per year by term (USD/yr)" in r.stdout and "Racks moved" in r.stdout
    r = run_cli("diff", str(pa), str(pb), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["plan_a"] == str(pa) and {"changes", "cost_per_year_usd", "sites_opened"} <= set(data)


def test_cli_bad_input_is_one_line_exit_2(plans, tmp_path):
    pa, _ = plans["opt"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"scenario": "x"}')
    for args in ((str(pa), str(tmp_path / "missing.json")), (str(pa), str(bad)), (str(DATA / "tiny.yaml"), str(pa))):
        r = run_cli("diff", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: ")
        assert "Traceback" not in r.stderr


def test_korea_single_period_against_its_rollout(output_plans):
    """korea-2025 against korea-2025-rollout: the same 260,000 GPUs, objectives in different units."""
    (_, pa, _, a), (_, pb, _, b) = output_plans["korea"], output_plans["korea-rollout"]
    assert cli_in_process("diff", str(pa), str(pb)) == 0
    d = diff_plans(a, b)
    assert not d.same_scenario and d.objective.delta is None
    assert d.gpus_placed.delta == 0 and d.racks_moved == d.racks_removed
    assert d.stranded_gpu_quarters.b == b.summary.stranded_gpu_quarters > 0 and d.peak_stranded_gpus.a is None
    # each tenant keeps its GPUs; where they sit may move
    assert all(t.gpus_a == t.gpus_b for t in d.tenants)
    assert {c.name for c in b.cost_breakdown} <= {t.name for t in d.cost_per_year_usd}


def test_investments_added_dropped_moved(output_plans):
    _, _, _, plan = output_plans["options"]
    assert plan.investments and len(plan.investments) >= 2
    first, second = plan.investments[0], plan.investments[1]
    # B builds the first option a quarter later and not the second
    later = "2027Q4" if first.period != "2027Q4" else "2027Q3"
    b_invest = [first.model_copy(update={"period": later})] + plan.investments[2:]
    b = plan.model_copy(update={"investments": b_invest})
    changes = {i.option: i for i in diff_plans(plan, b).investments}
    assert changes[first.option].change == "moved" and changes[first.option].period_b == later
    assert changes[second.option].change == "dropped" and changes[second.option].period_b is None
    back = {i.option: i.change for i in diff_plans(b, plan).investments}
    assert back[second.option] == "added"
