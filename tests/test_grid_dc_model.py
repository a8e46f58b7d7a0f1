"""The standard DC model: negative reactances (series compensation), phase shifters (MATPOWER's
makeBdc), singular susceptance matrices refused by name, parsimonious re-dispatch.

References are independent of both implementations under test (``solvers.dcpf`` and
``placer.grid_check``): PYPOWER's ``rundcpf`` on the same MATPOWER text, and a dense
``numpy.linalg.solve`` of the bus susceptance system written out here.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from placer import grid_check
from placer.errors import InputError
from placer.io import load_scenario
from placer.scenario import Scenario
from placer.verify import verify
from solvers import solve
from solvers.dcpf import GridModel
from solvers.grid_security import SecurityLoop, dispatch_for_placement, parsimonious_redispatch, redispatch_lower_mw
from tests.helpers import DATA
from topologies.matpower import import_case

TOL_MW = 1e-6
PF = 13  # PYPOWER branch column: real power at the from end, MW

# Five buses; row 3 is a series capacitor (x < 0) beside a normal circuit, rows 4 and 7 are phase
# shifters (row 4 also has an off-nominal tap), bus 3 has a shunt conductance, bus 5 a negative load.
CASE5 = """function mpc = case5dc
mpc.version = '2';
mpc.baseMVA = 100;
mpc.bus = [
\t1\t3\t0\t0\t0\t0\t1\t1\t0\t230\t1\t1.1\t0.9;
\t2\t1\t60\t0\t0\t0\t1\t1\t0\t230\t1\t1.1\t0.9;
\t3\t1\t40\t0\t5\t0\t1\t1\t0\t230\t1\t1.1\t0.9;
\t4\t2\t30\t0\t0\t0\t1\t1\t0\t230\t1\t1.1\t0.9;
\t5\t1\t-10\t0\t0\t0\t1\t1\t0\t230\t1\t1.1\t0.9;
];
mpc.gen = [
\t1\t0\t0\t10\t-10\t1\t100\t1\t300\t0;
\t4\t50\t0\t10\t-10\t1\t100\t1\t100\t0;
];
mpc.branch = [
\t1\t2\t0\t0.1\t0\t250\t0\t0\t0\t0\t1\t-30\t30;
\t1\t3\t0\t0.2\t0\t250\t0\t0\t0\t0\t1\t-30\t30;
\t2\t3\t0\t-0.05\t0\t250\t0\t0\t0\t0\t1\t-30\t30;
\t2\t4\t0\t0.1\t0\t250\t0\t0\t1.05\t8\t1\t-30\t30;
\t3\t4\t0\t0.12\t0\t250\t0\t0\t0\t0\t1\t-30\t30;
\t4\t5\t0\t0.08\t0\t250\t0\t0\t0\t0\t1\t-30\t30;
\t3\t5\t0\t0.1\t0\t250\t0\t0\t0\t-5\t1\t-30\t30;
\t2\t3\t0\t0.15\t0\t250\t0\t0\t0\t0\t1\t-30\t30;
];
mpc.gencost = [
\t2\t0\t0\t3\t0\t20\t0;
\t2\t0\t0\t3\t0\t30\t0;
];
"""


def _ppc(text_path, out_of_service: int | None = None):
    from matpowercaseframes import CaseFrames

    cf = CaseFrames(str(text_path))
    branch = cf.branch.to_numpy(dtype=float).copy()
    if out_of_service is not None:
        branch[out_of_service - 1, 10] = 0.0  # BR_STATUS
    return {
        "version": "2",
        "baseMVA": float(cf.baseMVA),
        "bus": cf.bus.to_numpy(dtype=float).copy(),
        "gen": cf.gen.to_numpy(dtype=float).copy(),
        "branch": branch,
        "gencost": cf.gencost.to_numpy(dtype=float).copy(),
    }


def _rundcpf(ppc):
    api = pytest.importorskip("pypower.api")
    results, success = api.rundcpf(ppc, api.ppoption(VERBOSE=0, OUT_ALL=0))
    assert success
    return results


def _injections(scenario: Scenario, results) -> dict[str, float]:
    """The imported scenario's bus injections carrying PYPOWER's solved dispatch (slack included)."""
    inj = {n.id: -n.load_mw for n in scenario.topology.substations}
    for plant in scenario.topology.plants:
        if plant.id.startswith("inj:"):  # a negative load: PYPOWER keeps it as a fixed injection
            inj[plant.id] = plant.capacity_mw
    plants = {p.id for p in scenario.topology.plants}
    for row, gen in enumerate(results["gen"], start=1):
        inj[f"gen:{row}" if f"gen:{row}" in plants else f"bus:{int(gen[0])}"] = float(gen[1])
    return inj


@pytest.fixture(scope="module")
def case5(tmp_path_factory):
    path = tmp_path_factory.mktemp("case5") / "case5dc.m"
    path.write_text(CASE5)
    return path, import_case(path, sites=2, seed=0, gpus=720)


def _dense_flows(scenario: Scenario, inj: dict[str, float]) -> dict[str, float]:
    """Reference: B theta = P/base + S by a dense solve (slack = the first plant), f = b (dtheta - phi) base."""
    buses = [n.id for n in scenario.topology.nodes if n.kind in ("substation", "plant")]
    at = {b: i for i, b in enumerate(buses)}
    lines = scenario.topology.edges_of_kind("line")
    base = scenario.policy.base_mva
    bmat, s = np.zeros((len(buses),) * 2), np.zeros(len(buses))
    for e in lines:
        f, t, b, phi = at[e.from_node], at[e.to_node], 1 / e.reactance_pu, np.radians(e.phase_shift_deg)
        bmat[[f, t], [f, t]] += b
        bmat[f, t] -= b
        bmat[t, f] -= b
        s[f] += b * phi
        s[t] -= b * phi
    p = np.array([inj.get(b, 0.0) for b in buses]) / base + s
    keep = np.arange(1, len(buses))  # slack: bus 0 (balanced injections: any slack gives the same flows)
    theta = np.zeros(len(buses))
    theta[keep] = np.linalg.solve(bmat[np.ix_(keep, keep)], p[keep])
    return {
        e.id: (theta[at[e.from_node]] - theta[at[e.to_node]] - np.radians(e.phase_shift_deg)) / e.reactance_pu * base
        for e in lines
    }


# --------------------------------------------------------------------------- flows


def test_import_keeps_negative_reactance_shift_and_tap(case5):
    _, scenario = case5
    lines = {e.id: e for e in scenario.topology.edges_of_kind("line")}
    assert lines["br:3"].reactance_pu == -0.05  # kept, not merged away
    assert lines["br:4"].reactance_pu == pytest.approx(0.1 * 1.05) and lines["br:4"].phase_shift_deg == 8
    assert lines["br:7"].phase_shift_deg == -5 and lines["br:1"].phase_shift_deg == 0
    assert "negative reactance(s) kept" in scenario.description and "phase shifter(s) kept" in scenario.description


def test_base_flows_match_pypower_and_a_dense_solve(case5):
    path, scenario = case5
    results = _rundcpf(_ppc(path))
    inj = _injections(scenario, results)
    assert all(abs(v) < 1e-9 for v in grid_check.component_imbalance_mw(scenario, inj).values())
    dense = _dense_flows(scenario, inj)
    model = GridModel.from_scenario(scenario)
    solver = dict(zip(model.line_ids, model.flows(inj)))
    verifier = grid_check.dc_flows(scenario, inj)
    screen = grid_check.OutageScreen(scenario)
    fast = dict(zip(screen.line_ids, screen.flows(screen.vector(inj))[:, 0]))
    p = np.array([inj.get(b, 0.0) for b in model.bus_ids])
    ptdf = dict(zip(model.line_ids, model.ptdf() @ p + model.flow_offset_mw))
    for row, br in enumerate(results["branch"], start=1):
        line = f"br:{row}"
        for name, flows in (
            ("dense", dense),
            ("solver", solver),
            ("verifier", verifier),
            ("screen", fast),
            ("ptdf", ptdf),
        ):
            assert flows[line] == pytest.approx(br[PF], abs=TOL_MW), (name, line)
    assert abs(solver["br:3"]) > 1.0 and abs(model.flow_offset_mw).max() > 1.0  # both features carry flow


@pytest.mark.parametrize("row", [1, 3, 4, 7, 8])
def test_post_outage_flows_match_pypower_with_the_branch_removed(case5, row):
    """The lost branch takes its shift (and negative susceptance) with it, in all three methods."""
    path, scenario = case5
    inj = _injections(scenario, _rundcpf(_ppc(path)))
    after = _rundcpf(_ppc(path, out_of_service=row))
    reference = {f"br:{r}": float(br[PF]) for r, br in enumerate(after["branch"], start=1) if r != row}
    model = GridModel.from_scenario(scenario)
    k = model.line_index[f"br:{row}"]
    lodf = model.post_outage_flows(model.flows(inj), np.array([k]))[:, 0]
    rebuilt = grid_check.outage_flows(scenario, inj, f"br:{row}")
    assert rebuilt is not None
    screen = grid_check.OutageScreen(scenario)
    ((_, post),) = list(screen.post_outage(screen.vector(inj), [screen.line_index[f"br:{row}"]]))
    for line, ref in reference.items():
        assert lodf[model.line_index[line]] == pytest.approx(ref, abs=TOL_MW), ("lodf", line)
        assert rebuilt[line] == pytest.approx(ref, abs=TOL_MW), ("rebuilt", line)
        assert post[screen.line_index[line], 0, 0] == pytest.approx(ref, abs=TOL_MW), ("screen", line)


def test_preexisting_opf_with_shifts_agrees_between_solver_and_verifier(case5):
    _, scenario = case5
    state = GridModel.from_scenario(scenario).preexisting_state()
    opf = grid_check.preexisting_opf(scenario)
    # the shifters' circulating flows overload lines whatever the dispatch: both relax, at the same price
    assert opf.feasible and opf.relaxed and state.relaxed
    flows = dict(zip(GridModel.from_scenario(scenario).line_ids, state.flows_mw))
    objective = state.cost_usd_per_h + grid_check.OVERLOAD_PENALTY_USD_PER_MWH * grid_check.total_overload_mw(
        scenario, flows
    )
    assert objective == pytest.approx(opf.objective_usd_per_h, rel=1e-9)
    # and the overload itself is the shifters': without them the same case keeps every rating
    plain = Scenario.model_validate(_without_shifts(scenario))
    assert (
        not grid_check.preexisting_opf(plain).relaxed and not GridModel.from_scenario(plain).preexisting_state().relaxed
    )


def _without_shifts(scenario: Scenario) -> dict:
    data = scenario.model_dump(mode="json", by_alias=True)
    for e in data["topology"]["edges"]:
        if e["kind"] == "line":
            e["phase_shift_deg"] = 0.0
    return data


# --------------------------------------------------------------------------- singular B


def _binding(extra_nodes=(), extra_lines=(), **line_changes) -> Scenario:
    data = load_scenario(DATA / "grid_binding.yaml").model_dump(mode="json", by_alias=True)
    data["topology"]["nodes"] += [
        {"kind": "substation", "lat": 36.1, "lon": 127.2, "kv": 345, "headroom_mw": 50, **n} for n in extra_nodes
    ]
    data["topology"]["edges"] += [{"kind": "line", "rating_mw": 300, **e} for e in extra_lines]
    for e in data["topology"]["edges"]:
        e.update(line_changes.get(e.get("id"), {}))
    return Scenario.model_validate(data)


# Bus D hangs on two circuits whose susceptances cancel (10 and -10): its row of B is zero.
SINGULAR = dict(
    extra_nodes=[{"id": "D", "load_mw": 5}],
    extra_lines=[
        {"id": "C-D", "from": "C", "to": "D", "reactance_pu": 0.1},
        {"id": "C-Dcap", "from": "C", "to": "D", "reactance_pu": -0.1},
    ],
)
# Three circuits to D (10, -5, 5): B is fine, but losing the first leaves -5 + 5 = 0 (not a bridge).
SINGULAR_AFTER_OUTAGE = dict(
    extra_nodes=[{"id": "D", "load_mw": 5}],
    extra_lines=[
        {"id": "C-D1", "from": "C", "to": "D", "reactance_pu": 0.1},
        {"id": "C-Dcap", "from": "C", "to": "D", "reactance_pu": -0.2},
        {"id": "C-D3", "from": "C", "to": "D", "reactance_pu": 0.2},
    ],
)


def test_singular_b_is_refused_by_solver_and_verifier_naming_bus_and_lines():
    scenario = _binding(**SINGULAR)
    with pytest.raises(InputError, match=r"singular.*bus\(es\) D .*C-Dcap") as solver_err:
        GridModel.from_scenario(scenario).flows({})
    with pytest.raises(InputError, match=r"singular.*bus\(es\) D .*C-Dcap") as verifier_err:
        grid_check.OutageScreen(scenario)
    problem = grid_check.singular_susceptance(scenario)
    assert problem is not None and problem.buses == ("D",) and set(problem.lines) == {"C-D", "C-Dcap"}
    for err in (solver_err, verifier_err):
        assert "\n" not in str(err.value)


def test_singular_post_outage_b_is_refused_under_n_minus_1():
    scenario = _binding(**SINGULAR_AFTER_OUTAGE)
    model = GridModel.from_scenario(scenario)
    model.flows(np.zeros(model.n_bus))  # the base case solves
    assert not {model.line_ids[k] for k in model.bridges()} & {"C-D1", "C-Dcap", "C-D3"}
    with pytest.raises(InputError, match="after losing line C-D1, the bus susceptance matrix is singular"):
        model.lodf()
    screen = grid_check.OutageScreen(scenario)
    with pytest.raises(InputError, match="after losing line C-D1, the bus susceptance matrix is singular"):
        list(screen.post_outage(np.zeros(screen.n_bus)))
    assert grid_check.singular_susceptance(scenario).outage == "C-D1"
    assert grid_check.singular_susceptance(scenario, outages=False) is None


def test_singular_b_exits_2_with_one_line_from_solve_and_verify(tmp_path, cli):
    scenario = _binding(**SINGULAR)
    path = tmp_path / "singular.json"
    path.write_text(json.dumps(scenario.model_dump(mode="json", by_alias=True)))
    out = cli("solve", str(path), "--solver", "milp", "-o", str(tmp_path / "p.json"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "bus susceptance matrix is singular" in out.stderr and "C-Dcap" in out.stderr
    assert not (tmp_path / "p.json").exists()
    # the verifier refuses it on its own: a plan of the sound grid, claimed for this one
    plan = solve(load_scenario(DATA / "grid_binding.yaml"), "milp").model_copy(
        update={"scenario_digest": scenario.digest()}
    )
    (tmp_path / "plan.json").write_text(plan.model_dump_json(by_alias=True))
    out = cli("verify", str(path), str(tmp_path / "plan.json"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    lines = [l for l in out.stderr.splitlines() if "singular" in l]
    assert len(lines) == 1 and "bus(es) D" in lines[0]


def test_reactance_range_is_validated():
    for bad in (0.0, 1e-300, 2e3, -2e3, float("nan"), "0.1", True):
        with pytest.raises(ValueError):
            _binding(**{"B-C": {"reactance_pu": bad}})
    with pytest.raises(ValueError):
        _binding(**{"B-C": {"phase_shift_deg": 120.0}})
    assert _binding(**{"B-C": {"reactance_pu": -0.05}}).topology.edges_of_kind("line")[3].reactance_pu == -0.05


# --------------------------------------------------------------------------- phase shifts in placement


def test_plan_computed_without_shifts_is_caught_by_the_verifier():
    """A shifter on P-B (-4 degrees) pushes ~23 MW more round P -> B -> C: the grid-binding MILP plan,
    computed as if it were not there, overloads B-C after losing P-C1 once the shift is kept."""
    plain = load_scenario(DATA / "grid_binding.yaml")
    shifted = _binding(**{"P-B": {"phase_shift_deg": -4.0}})
    blind = solve(plain, "milp").model_copy(update={"scenario_digest": shifted.digest()})
    report = verify(shifted, blind)
    codes = {v.code for v in report.violations}
    assert {"LINE_OVERLOAD", "LINE_OVERLOAD_N1"} & codes, report.violations
    assert any(v.code == "REPORTED_MISMATCH" and "flow_mw" in v.message for v in report.violations)
    # The shift-aware MILP plan of the same grid is secure and verifies.
    aware = solve(shifted, "milp")
    assert aware.grid.n_minus_1 == "secure"
    assert verify(shifted, aware).valid, verify(shifted, aware).violations


# --------------------------------------------------------------------------- parsimony


def _ties() -> Scenario:
    """The grid-binding case with three zero-cost plants beside P: any split of the new load among
    them (and lowering any plant) costs nothing, so least cost alone leaves the dispatch open."""
    plants = [
        {
            "kind": "plant",
            "id": f"Q{i}",
            "lat": 36.2,
            "lon": 127.3,
            "type": "solar",
            "capacity_mw": 100,
            "spare_mw": 50,
            "cost_usd_per_mwh": 0.0,
        }
        for i in (1, 2, 3)
    ]
    lines = [{"id": f"Q{i}-P", "from": f"Q{i}", "to": "P", "reactance_pu": 0.01, "rating_mw": 500} for i in (1, 2, 3)]
    data = load_scenario(DATA / "grid_binding.yaml").model_dump(mode="json", by_alias=True)
    data["topology"]["nodes"] += plants
    data["topology"]["edges"] += [{"kind": "line", **e} for e in lines]
    for e in data["topology"]["edges"]:
        if e["kind"] == "line" and e["id"] in ("P-B", "B-C"):
            e["rating_mw"], e["emergency_rating_mw"] = 500, 500  # no line binds: pure ties
    return Scenario.model_validate(data)


def test_parsimony_lp_moves_only_the_new_load_and_costs_no_more():
    scenario = _ties()
    grid = GridModel.from_scenario(scenario)
    pre = grid.preexisting_state()
    loop = SecurityLoop(scenario, grid, pre, ["cheap", "dear"])
    site_mw = np.array([40.0, 20.0])
    lower = redispatch_lower_mw(scenario, pre)
    # a wasteful least-cost start: the zero-cost plant with the most output drops all of it, the others make up
    q = [grid.plant_ids.index(f"Q{i}") for i in (1, 2, 3)]
    drop = max(q, key=lambda g: pre.dispatch_mw[g])
    start = np.zeros(len(grid.plant_ids))
    start[drop] = -pre.dispatch_mw[drop]
    rest = [g for g in q if g != drop]
    start[rest] = (60.0 + pre.dispatch_mw[drop]) / 2
    assert pre.dispatch_mw[drop] > 1.0 and (start[rest] <= grid.spare_mw[rest]).all()
    lean = parsimonious_redispatch(loop, site_mw, start, lower)
    assert np.abs(lean).sum() == pytest.approx(60.0, abs=1e-6)  # only the new load moves
    assert (lean >= -1e-9).all()
    assert float(grid.cost_usd_per_mwh @ np.maximum(lean, 0)) <= 1e-9  # still zero cost


@pytest.mark.parametrize("engine", ["cpsat", "milp"])
def test_redispatch_is_parsimonious_and_charged_on_raised_output(engine):
    scenario = _ties()
    plan = solve(scenario, engine)
    moved = sum(abs(r.mw) for r in plan.grid.redispatch)
    assert moved == pytest.approx(plan.summary.facility_power_mw, rel=1e-6)
    pol = scenario.policy
    charged = math.fsum(max(r.mw, 0.0) * r.cost_usd_per_mwh for r in plan.grid.redispatch)
    term = {c.name: c.usd_per_year for c in plan.cost_breakdown}["redispatch"]
    assert term == pytest.approx(pol.grid.redispatch_weight * charged * pol.cost.utilization * 8760, rel=1e-9)
    assert verify(scenario, plan).valid


def test_parsimony_never_trades_cost_for_fewer_mw():
    """P (lng, 80 USD/MWh) could serve the load alone in one move; the free plants cost nothing
    but are spread over three: the plan must stay at the least cost."""
    scenario = _ties()
    plan = solve(scenario, "milp")
    by_plant = {r.plant: r.mw for r in plan.grid.redispatch}
    assert by_plant.get("P", 0.0) == pytest.approx(max(0.0, plan.summary.facility_power_mw - 150.0), abs=1e-6)
    report = dispatch_for_placement(scenario, ["cheap", "dear"], np.array([40.0, 20.0]))
    assert sum(abs(r.mw) for r in report.redispatch) == pytest.approx(60.0, abs=1e-6)
    assert all(r.plant.startswith("Q") for r in report.redispatch)


def test_positive_grid_with_extreme_reactance_ratio_is_not_refused():
    """With every b > 0 the reduced B is positive definite: however wide the reactance range (here
    1e-6 to 1e3 pu, cond ~ 1e9) and however close to a bridge a line is, nothing is refused."""
    scenario = _binding(**{"P-B": {"reactance_pu": 1e-6}, "B-C": {"reactance_pu": 1e3}})
    model = GridModel.from_scenario(scenario)
    assert np.isfinite(model.lodf()[:, model.non_bridge_outages()]).all()
    assert grid_check.singular_susceptance(scenario) is None
    state = model.preexisting_state()
    inj = dict(zip(model.bus_ids, state.injections_mw))
    np.testing.assert_allclose(
        model.flows(inj), [grid_check.dc_flows(scenario, inj)[l] for l in model.line_ids], atol=1e-6
    )
