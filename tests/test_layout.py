"""The rack-level layout (solvers.layout) and its commands: every rack laid out and verified, in
a process pool across sites, deterministic, infeasible sites explained, CSV and hall view."""

from __future__ import annotations

import csv
import json

import pytest

from placer.errors import InfeasibleError
from placer.io import load_scenario
from placer.verify import verify
from solvers import solve
from solvers.layout import FAMILIES, layout_plan, site_jobs, solve_site
from tests.helpers import DATA
from topologies.interior_campus import campus_scenario


@pytest.fixture(scope="module")
def tiny_solved():
    sc = load_scenario(DATA / "tiny.yaml")
    sc.policy.layout.time_limit_s = 3.0
    sc.policy.solver.deterministic = True
    return sc, solve(sc, "cpsat", time_limit_s=10)


def test_every_rack_laid_out_in_a_process_pool(tiny_solved):
    sc, plan = tiny_solved
    laid = layout_plan(sc, plan, workers=2)  # two sites, two processes
    assert verify(sc, laid).valid
    assert len(laid.layout.racks) == plan.summary.racks_placed
    assert {s.site for s in laid.layout.sites} == {a.site for a in plan.assignments if a.racks}
    for site in laid.layout.sites:
        assert site.interior == "default"
        for e in site.exposure:
            assert e.worst_loss_gpus <= e.limit_gpus and e.blocks <= e.block_limit
    # the same layout in one process (one worker) as in the pool, and again: deterministic
    again = layout_plan(sc, plan, workers=1)
    assert [r.model_dump() for r in again.layout.racks] == [r.model_dump() for r in laid.layout.racks]


def test_sus_stand_side_by_side(tiny_solved):
    sc, plan = tiny_solved
    laid = layout_plan(sc, plan, workers=1)
    sus: dict[str, list] = {}
    for r in laid.layout.racks:
        sus.setdefault(r.su, []).append(r)
    for members in sus.values():
        assert len({(r.hall, r.row, r.block, tuple(r.trains), r.loop) for r in members}) == 1
        pos = sorted(r.position for r in members)
        assert pos == list(range(pos[0], pos[0] + len(pos)))


def test_campus_uses_every_rule_and_holds_them():
    sc = campus_scenario(200)
    sc.policy.layout.time_limit_s = 3.0
    plan = solve(sc, "cpsat", time_limit_s=10)
    laid = layout_plan(sc, plan, workers=1)
    assert verify(sc, laid).valid
    site = laid.layout.sites[0]
    assert site.interior == "declared"
    assert {p.redundancy for p in site.paths} == {"n", "n+1", "2n"}
    for p in site.paths:
        assert p.peak_mw <= p.capacity_mw + 1e-6
    # storage smooths hall 3: its N+1 group carries 1.05x, the others their SKUs' factors
    n1 = next(p for p in site.paths if p.redundancy == "n+1")
    assert n1.peak_mw == pytest.approx(n1.steady_mw * 1.05)
    two_n = [p for p in site.paths if p.redundancy == "2n" and p.steady_mw > 0]
    assert all(p.peak_mw > p.steady_mw * 1.2 for p in two_n)
    assert site.water_allowance_m3_per_day is not None
    assert 0 < site.water_m3_per_day <= site.water_allowance_m3_per_day


def test_infeasible_site_names_its_constraints():
    sc = campus_scenario(200)
    sc.policy.layout.time_limit_s = 3.0
    plan = solve(sc, "cpsat", time_limit_s=10)
    sc.topology.sites[0].interior.water_allowance_m3_per_day = 1.0
    with pytest.raises(InfeasibleError) as info:
        layout_plan(sc, plan, workers=1)
    reasons = info.value.reasons
    assert any(r.startswith("site campus: water:") for r in reasons)
    assert len(reasons) < len(FAMILIES)  # a minimised core, not every family


def test_the_model_is_aggregate():
    sc = load_scenario(DATA / "tiny.yaml")
    sc.policy.layout.time_limit_s = 2.0
    plan = solve(sc, "cpsat", time_limit_s=10)
    job = max(site_jobs(sc, plan), key=lambda j: sum(c.count * c.size for c in j.classes))
    # SU classes, not racks: one class per (tenant, SKU) and SU size
    assert len(job.classes) <= 2 * len({(c.tenant, c.sku) for c in job.classes})
    assert solve_site(job).layout is not None


@pytest.fixture
def quick_tiny(tmp_path):
    """tiny.yaml with a 2 s layout limit per site (the CLI tests time the commands, not CP-SAT)."""
    sc = load_scenario(DATA / "tiny.yaml")
    sc.policy.layout.time_limit_s = 2.0
    path = tmp_path / "tiny.json"
    path.write_text(sc.model_dump_json(by_alias=True))
    return path


def test_cli_solve_layout_racks_csv(tmp_path, cli, quick_tiny):
    tiny_path = quick_tiny
    out = tmp_path / "plan.json"
    result = cli("solve", str(tiny_path), "--solver", "cpsat", "--layout", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "layout verified" in result.stdout and "Worst single fault" in result.stdout
    assert "Hall view of" in result.stdout
    plan = json.loads(out.read_text())
    assert len(plan["layout"]["racks"]) == plan["summary"]["racks_placed"]
    assert cli("verify", str(tiny_path), str(out)).returncode == 0
    racks_csv = tmp_path / "racks.csv"
    result = cli("racks", str(out), "--csv", str(racks_csv), "--site", "north")
    assert result.returncode == 0, result.stderr
    assert "Hall view of north" in result.stdout
    rows = list(csv.DictReader(racks_csv.open()))
    assert len(rows) == plan["summary"]["racks_placed"]
    assert set(rows[0]) == {"site", "hall", "row", "position", "trains", "loop", "block", "tenant", "sku", "su"}
    assert "+" in rows[0]["trains"]  # default halls are 2N: both sides


def test_cli_layout_step_and_bad_inputs(tmp_path, cli, quick_tiny):
    tiny_path = quick_tiny
    plan = tmp_path / "plan.json"
    assert cli("solve", str(tiny_path), "--solver", "cpsat", "-o", str(plan)).returncode == 0
    laid = tmp_path / "laid.json"
    result = cli("layout", str(tiny_path), str(plan), "-o", str(laid), "--time-limit", "1")
    assert result.returncode == 0, result.stderr
    assert json.loads(laid.read_text())["layout"]["sites"]
    # a plan without a layout, an unknown site: one line, exit 2
    result = cli("racks", str(plan))
    assert result.returncode == 2 and "the plan has no layout" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = cli("racks", str(laid), "--site", "atlantis")
    assert result.returncode == 2 and "--site" in result.stderr and "atlantis" in result.stderr
    # a plan for another scenario
    result = cli("layout", "korea-2025", str(plan))
    assert result.returncode == 2 and "scenario digest" in result.stderr


def _tiny_with_south_interior(**hall):
    from placer.interior import default_interior

    sc = load_scenario(DATA / "tiny.yaml")
    sc.policy.layout.time_limit_s = 2.0
    south = next(s for s in sc.topology.sites if s.id == "south")
    south.interior = default_interior(south, sc.catalog)
    for k, v in hall.items():
        setattr(south.interior.halls[0], k, v)
    return sc, south


def test_aggregate_layout_rows_bound_the_placement():
    """§3: a declared interior's power paths bound the site's placed IT in the placement model."""
    sc, south = _tiny_with_south_interior()
    for t in south.interior.power_trains:
        t.mw = 20.0  # the 2N pair now carries 20 MW, half the site's IT capacity
    for engine in ("cpsat", "milp"):
        plan = solve(sc, engine, time_limit_s=10)
        south_it = sum(a.it_power_mw for a in plan.assignments if a.site == "south")
        assert 12.0 <= south_it <= 20.0 + 1e-6  # beta's 12 MW must stay at south
        laid = layout_plan(sc, plan, workers=1)
        assert verify(sc, laid).valid


def test_failed_layout_is_cut_and_re_solved():
    """§3: rows of 10 positions hold one SU of 8 each, which the aggregate space row cannot see;
    the layout fails on space at south, the cut moves racks north, the re-solved plan lays out."""
    from solvers.layout import LayoutInfeasible, layout_with_cuts

    sc, _ = _tiny_with_south_interior(rows=20, positions_per_row=10)
    plan = solve(sc, "cpsat", time_limit_s=10)
    with pytest.raises(LayoutInfeasible) as info:
        layout_plan(sc, plan, workers=1)
    assert info.value.sites == ["south"] and info.value.reasons[0].startswith("site south: space:")
    laid = layout_with_cuts(sc, plan, lambda cut: solve(cut, "cpsat", time_limit_s=10), workers=1)
    assert verify(sc, laid).valid
    assert laid.summary.status == "FEASIBLE" and laid.summary.bound is None
    assert any(n.startswith("layout cuts: south IT <=") for n in laid.summary.notes)


def test_cli_layout_infeasible_exits_3_naming_site_and_constraints(tmp_path, cli):
    sc = campus_scenario(200)
    sc.policy.layout.time_limit_s = 2.0
    sc.topology.sites[0].interior.water_allowance_m3_per_day = 1.0
    scenario = tmp_path / "campus.json"
    scenario.write_text(sc.model_dump_json(by_alias=True))
    plan = tmp_path / "plan.json"
    plan.write_text(solve(sc, "cpsat", time_limit_s=10).model_dump_json())
    out = tmp_path / "laid.json"
    result = cli("layout", str(scenario), str(plan), "-o", str(out))
    assert result.returncode == 3, result.stderr
    assert "no rack-level layout exists at campus" in result.stderr
    assert "site campus: water:" in result.stderr and "site campus: power:" in result.stderr
    assert not out.exists()
