"""`placer export`: CSV (directory or zip), Excel and GeoJSON of real plans, read back and checked
against the plan's own figures; the worst N-1 loading per line against an independent re-solve."""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile

import pytest

from placer.export import geojson, plan_tables, write_csv, write_xlsx
from placer.grid_check import outage_flows
from placer.line_loading import line_loadings
from tests.helpers import cli_in_process, run_cli


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_zip_holds_the_plans_figures(output_plans, tmp_path):
    _, _, scenario, plan = output_plans["rollout"]
    target = tmp_path / "plan.zip"
    names = write_csv(plan_tables(scenario, plan), target)
    with zipfile.ZipFile(target) as zf:
        assert sorted(zf.namelist()) == sorted(names)
        assert {"assignments.csv", "sites.csv", "substations.csv", "schedule.csv", "cost_terms.csv"} <= set(names)
        rows = _csv_rows(zf.read("assignments.csv").decode())
        assert len(rows) == len(plan.assignments)
        for row, a in zip(rows, plan.assignments):
            assert (row["tenant"], row["sku"], row["site"], int(row["racks"])) == (a.tenant, a.sku, a.site, a.racks)
            assert float(row["it_power_mw"]) == a.it_power_mw  # floats read back exactly
        sched = _csv_rows(zf.read("schedule.csv").decode())
        assert [r["period"] for r in sched] == [p.period for p in plan.schedule]
        assert sum(int(r["gpus_stranded"]) for r in sched) == plan.summary.stranded_gpu_quarters
        costs = _csv_rows(zf.read("cost_terms.csv").decode())
        assert {r["term"]: float(r["usd_per_year"]) for r in costs} == {
            c.name: c.usd_per_year for c in plan.cost_breakdown
        }
        npv = _csv_rows(zf.read("npv_terms.csv").decode())  # present values, a table of their own
        assert math.isclose(float(npv[-1]["usd"]), plan.summary.objective)
    # the same plan gives the same zip, byte for byte
    again = tmp_path / "again.zip"
    write_csv(plan_tables(scenario, plan), again)
    assert again.read_bytes() == target.read_bytes()


@pytest.mark.parametrize("case", ["rollout", "korea-rollout"])
def test_grid_periods_table_is_each_quarters_report(output_plans, tmp_path, case):
    """One row per quarter, read from that quarter's own grid report (the last quarter's: plan.grid)."""
    _, _, scenario, plan = output_plans[case]
    target = tmp_path / "t.zip"
    write_csv(plan_tables(scenario, plan), target)
    with zipfile.ZipFile(target) as zf:
        rows = _csv_rows(zf.read("grid_periods.csv").decode())
    assert [r["period"] for r in rows] == [p.period for p in plan.schedule]
    reports = [p.grid for p in plan.schedule[:-1]] + [plan.grid]
    assert all(g is not None for g in reports)
    for row, g in zip(rows, reports):
        assert row["n_minus_1"] == g.n_minus_1 and int(row["violations"]) == len(g.violations)
        assert float(row["worst_base_loading_pct"]) == max(lf.loading_pct for lf in g.lines)
        if g.worst_contingencies:
            worst = max(g.worst_contingencies, key=lambda c: c.loading_pct)
            assert (row["worst_n1_line"], row["worst_n1_outage"]) == (worst.line, worst.outage)
            assert float(row["worst_n1_loading_pct"]) == worst.loading_pct
        assert math.isclose(float(row["redispatch_mw"]), math.fsum(r.mw for r in g.redispatch), abs_tol=1e-9)
    # quarters differ: the table is not the final build-out's copied down
    if case == "korea-rollout":
        assert len({r["worst_base_loading_pct"] for r in rows}) > 1


def test_grid_periods_table_shows_the_quarters_without_room(tmp_path):
    """rollout_grid (MILP): less than a rack (0.144 MW) left on a line until the 2027Q3 rebuild, lots after."""
    from placer.io import load_scenario
    from solvers import solve
    from tests.helpers import DATA

    scenario = load_scenario(DATA / "rollout_grid.yaml")
    plan = solve(scenario, "milp", option_worth=False)
    columns, rows = plan_tables(scenario, plan)["grid_periods"]
    margin = {r[0]: r[columns.index("least_margin_mw")] for r in rows}
    assert all(margin[q] < 0.144 for q in ("2026Q3", "2026Q4", "2027Q1", "2027Q2"))
    assert all(margin[q] > 100 for q in ("2027Q3", "2027Q4"))
    assert {r[columns.index("least_margin_line")] for r in rows[:4]} <= {"P-B", "B-C"}
    assert all(r[columns.index("n_minus_1")] == "secure" for r in rows)


def test_csv_directory_is_replaced_whole_but_never_over_other_files(output_plans, tmp_path, capsys):
    source, path, _, plan = output_plans["tiny"]
    target = tmp_path / "tables"
    r = run_cli("export", str(path), "--scenario", source, "--format", "csv", "-o", str(target))
    assert r.returncode == 0, r.stderr
    # the second export replaces the first
    assert cli_in_process("export", str(path), "--scenario", source, "--format", "csv", "-o", str(target)) == 0
    files = sorted(p.name for p in target.iterdir())
    assert "assignments.csv" in files and "lines.csv" in files and not any(f.startswith(".") for f in files)
    sites = _csv_rows((target / "sites.csv").read_text())
    used = {s["site"]: s for s in sites}
    for sl in plan.sites:
        assert math.isclose(float(used[sl.site]["it_utilisation"]), sl.it_power_mw / sl.it_capacity_mw)
    (target / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert cli_in_process("export", str(path), "--scenario", source, "--format", "csv", "-o", str(target)) == 2
    err = capsys.readouterr().err
    assert "notes.txt" in err and len(err.strip().splitlines()) == 1
    assert (target / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_xlsx_sheets(output_plans, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    _, _, scenario, plan = output_plans["options"]
    target = tmp_path / "plan.xlsx"
    tables = plan_tables(scenario, plan)
    write_xlsx(tables, target)
    wb = openpyxl.load_workbook(target)
    assert wb.sheetnames == list(tables)
    assert "investments" in wb.sheetnames and "schedule" in wb.sheetnames
    ws = wb["assignments"]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == tables["assignments"][0]
    assert [tuple(r[:4]) for r in rows[1:]] == [(a.tenant, a.sku, a.site, a.racks) for a in plan.assignments]
    inv = list(wb["investments"].iter_rows(values_only=True))[1:]
    assert [(r[0], r[2], r[3]) for r in inv] == [(i.option, i.period, i.capex_usd) for i in plan.investments]


def test_geojson_features(output_plans):
    _, _, scenario, plan = output_plans["korea-rollout"]
    data = geojson(scenario, plan)
    assert data["type"] == "FeatureCollection" and data["placer"]["scenario_digest"] == plan.scenario_digest
    by_kind: dict[str, list] = {}
    for f in data["features"]:
        by_kind.setdefault(f["properties"]["kind"], []).append(f)
    topo = scenario.topology
    assert len(by_kind["site"]) == len(topo.sites) and len(by_kind["substation"]) == len(topo.substations)
    assert len(by_kind["plant"]) == len(topo.plants) and len(by_kind["metro"]) == len(topo.metros)
    assert len(by_kind["line"]) == len(topo.edges_of_kind("line"))
    assert len(by_kind["fiber"]) == len(topo.edges_of_kind("fiber"))
    nodes = {n.id: n for n in topo.nodes}
    for f in by_kind["site"]:
        node = nodes[f["properties"]["id"]]
        assert f["geometry"] == {"type": "Point", "coordinates": [node.lon, node.lat]}  # RFC 7946: lon, lat
        p = f["properties"]
        assert sum(p["gpus_by_tenant"].values()) == p["gpus"]
        assert p["it_utilisation"] == pytest.approx(p["it_power_mw"] / p["it_capacity_mw"])
    assert sum(f["properties"]["gpus"] for f in by_kind["site"]) == plan.summary.gpus_placed
    assert math.isclose(
        sum(f["properties"]["facility_power_mw"] for f in by_kind["site"]), plan.summary.facility_power_mw
    )
    worst = plan.grid.worst_contingencies[0]
    line = next(f["properties"] for f in by_kind["line"] if f["properties"]["id"] == worst.line)
    assert line["n1_flow_mw"] == pytest.approx(worst.flow_mw, rel=1e-9)
    assert max(f["properties"]["n1_loading_pct"] or 0 for f in by_kind["line"]) == pytest.approx(worst.loading_pct)
    json.dumps(data, allow_nan=False)  # valid JSON as written


@pytest.mark.parametrize("case", ["tiny", "rollout"])
def test_worst_n1_matches_a_resolve_per_outage(output_plans, case):
    """Each line's worst post-outage flow (rank-one updates of one LU) against re-solving the network
    without each line in turn (grid_check.outage_flows), the plain method."""
    _, _, scenario, plan = output_plans[case]
    loads = line_loadings(scenario, plan)
    assert loads and plan.grid.security == "n-1"
    per_outage = {ln.line: outage_flows(scenario, plan.grid.injections_mw, ln.line) for ln in loads}
    for ln in loads:
        cases = [(k, flows[ln.line]) for k, flows in per_outage.items() if flows is not None and k != ln.line]
        if not cases:
            assert ln.n1_loading_pct is None
            continue
        k, flow = max(cases, key=lambda kf: abs(kf[1]))
        assert ln.n1_flow_mw == pytest.approx(flow, rel=1e-7, abs=1e-6)
        assert ln.n1_loading_pct == pytest.approx(100 * abs(flow) / ln.emergency_rating_mw, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("case", ["korea", "korea-rollout"])
@pytest.mark.parametrize("fmt,suffix", [("csv", ".zip"), ("xlsx", ".xlsx"), ("geojson", ".geojson")])
def test_cli_exports_korea(output_plans, tmp_path, case, fmt, suffix):
    _, path, _, plan = output_plans[case]
    target = tmp_path / f"out{suffix}"
    # in this process (the subprocess runs above cost 2-5 s each in imports); the built-in scenario the plan names
    assert cli_in_process("export", str(path), "--format", fmt, "-o", str(target)) == 0
    assert target.stat().st_size > 1000
    if fmt == "geojson":
        sites = [f for f in json.loads(target.read_text())["features"] if f["properties"]["kind"] == "site"]
        assert sum(f["properties"]["gpus"] for f in sites) == plan.summary.gpus_placed


def test_cli_refuses_bad_input(output_plans, tmp_path, capsys):
    source, path, _, _ = output_plans["tiny"]
    _, korea_path, _, _ = output_plans["korea"]
    target = tmp_path / "out.geojson"
    cases = [
        (("export", str(korea_path), "-o", str(target), "--scenario", "korea-2025-rollout"), "does not match"),
        (("export", str(path), "-o", str(target)), "not built in; give its file with --scenario"),
        (("export", str(path), "-o", str(tmp_path / "x.txt"), "--scenario", source), "give --format"),
        (("export", str(path), "-o", str(target), "--format", "kml", "--scenario", source), "unknown format"),
        (("export", str(path), "-o", str(tmp_path / "x.csv"), "--format", "xlsx", "--scenario", source), ".xlsx"),
        (("export", str(tmp_path / "none.json"), "-o", str(target)), "no such file"),
        (("export", str(path), "-o", str(tmp_path / "nodir" / "x.geojson"), "--scenario", source), "does not exist"),
    ]
    r = run_cli(*cases[0][0])  # one as a user runs it
    assert r.returncode == 2 and cases[0][1] in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for args, words in cases:
        capsys.readouterr()
        assert cli_in_process(*args) == 2, args
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary


def test_a_what_if_plan_exports_against_its_base_scenario(tmp_path):
    """A plan solved with --set records its overrides; export re-applies them to the scenario it is
    given (as verify does), so its digest matches; the unchanged base alone would not."""
    from tests.helpers import DATA

    plan = tmp_path / "what-if.json"
    r = run_cli("solve", str(DATA / "tiny.yaml"), "--set", "policy.power_band_mw.max_mw=55", "-o", str(plan))
    assert r.returncode == 0, r.stderr
    target = tmp_path / "w.zip"
    r = run_cli("export", str(plan), "--scenario", str(DATA / "tiny.yaml"), "-o", str(target))
    assert r.returncode == 0, r.stderr
    assert "summary.csv" in zipfile.ZipFile(target).namelist()
