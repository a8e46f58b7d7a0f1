"""Grid physics: DC flows against PYPOWER, LODF against rebuild-and-resolve, PGLib import,
bridges, parallel lines, islanded buses, the pre-existing OPF and the no-harm N-1 rule.

Two independent implementations are checked against each other and against a reference:
``solvers.dcpf`` (PTDF/LODF) and ``placer.grid_check`` (direct solves, networks rebuilt
per outage), both against PYPOWER's ``rundcpf`` on the PGLib cases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from placer import grid_check
from placer.errors import InfeasibleError, InputError
from placer.scenario import Scenario
from solvers.dcpf import GridModel
from tests.helpers import pypower_dcpf
from topologies.matpower import import_case

TOL_MW = 1e-6
PF = 13  # PYPOWER results: branch column of the from-end real power flow


@pytest.fixture(scope="module")
def pglib() -> Path:
    path = Path(__file__).resolve().parents[2] / "shared/grids/pglib"
    if not path.is_dir():
        pytest.skip(f"PGLib cases not found at {path}")
    return path


def _case(pglib: Path, n: int) -> Path:
    matches = sorted(pglib.glob(f"pglib_opf_case{n}_*.m"))
    if not matches:
        pytest.skip(f"no PGLib case{n} in {pglib}")
    return matches[0]


def _injections_from_pypower(scenario: Scenario, results) -> dict[str, float]:
    """Bus injections of the imported scenario carrying PYPOWER's solved dispatch (slack included)."""
    inj = {n.id: -n.load_mw for n in scenario.topology.substations}
    plants = {n.id for n in scenario.topology.plants}
    for row, gen in enumerate(results["gen"], start=1):
        pid = f"gen:{row}"
        if pid in plants:
            inj[pid] = float(gen[1])
        else:  # dropped by the import (PMAX <= 0): its output, if any, stays at its bus
            inj[f"bus:{int(gen[0])}"] += float(gen[1])
    return inj


# --------------------------------------------------------------------------- reference flows


@pytest.mark.parametrize("n", [14, 118])
def test_dc_flows_match_pypower(pglib, n):
    path = _case(pglib, n)
    results = pypower_dcpf(path)
    scenario = import_case(path, sites=10, seed=1, gpus=26000)
    inj = _injections_from_pypower(scenario, results)
    assert all(abs(v) < 1e-6 for v in grid_check.component_imbalance_mw(scenario, inj).values())

    reference = {f"br:{row}": float(br[PF]) for row, br in enumerate(results["branch"], start=1)}
    model = GridModel.from_scenario(scenario)
    solver_flows = dict(zip(model.line_ids, model.flows(inj)))
    verifier_flows = grid_check.dc_flows(scenario, inj)
    for line, ref in reference.items():
        assert solver_flows[line] == pytest.approx(ref, abs=TOL_MW), line
        assert verifier_flows[line] == pytest.approx(ref, abs=TOL_MW), line
    # A generator step-up line carries exactly its generator's output.
    for plant in scenario.topology.plants:
        gsu = f"gsu:{plant.id.split(':', 1)[1]}"
        assert verifier_flows[gsu] == pytest.approx(inj[plant.id], abs=TOL_MW)
    # The PTDF gives the same flows as the direct solve.
    p = np.array([inj.get(b, 0.0) for b in model.bus_ids])
    np.testing.assert_allclose(model.ptdf() @ p, model.flows(p), atol=TOL_MW)


@pytest.mark.parametrize("n", [14, 30])
def test_lodf_equals_rebuild_and_resolve(pglib, n):
    scenario = import_case(_case(pglib, n), sites=10, seed=1, gpus=26000)
    model = GridModel.from_scenario(scenario)
    state = model.preexisting_state()
    inj = dict(zip(model.bus_ids, state.injections_mw))
    outages = model.non_bridge_outages()
    post = model.post_outage_flows(state.flows_mw, outages)
    bridges = {model.line_ids[k] for k in model.bridges()}
    assert bridges == set(grid_check.islanding_outages(scenario))
    assert len(outages) + len(bridges) == model.n_line
    for j, k in enumerate(outages):
        rebuilt = grid_check.outage_flows(scenario, inj, model.line_ids[k])
        assert rebuilt is not None
        np.testing.assert_allclose(post[:, j], [rebuilt[l] for l in model.line_ids], atol=TOL_MW, rtol=0)
    for line in bridges:
        assert grid_check.outage_flows(scenario, inj, line) is None


# --------------------------------------------------------------------------- import


def _pglib_cases():
    root = Path(__file__).resolve().parents[2] / "shared/grids/pglib"
    return sorted(root.glob("*.m")) or [pytest.param(None, marks=pytest.mark.skip(reason=f"no PGLib cases in {root}"))]


@pytest.mark.parametrize("path", _pglib_cases(), ids=lambda p: getattr(p, "stem", "none"))
def test_every_pglib_case_imports(path):
    scenario = import_case(path, sites=10, seed=1, gpus=26000)
    assert Scenario.model_validate(scenario.model_dump(mode="json", by_alias=True)).digest() == scenario.digest()
    assert len(scenario.topology.sites) == 10
    per_rack = scenario.sku("gb200-nvl72").gpus_per_rack
    assert all(line.gpus % per_rack == 0 for t in scenario.demand.tenants for line in t.lines)
    lines = {e.id for e in scenario.topology.edges_of_kind("line")}
    for plant in scenario.topology.plants:  # every plant hangs on its step-up line
        assert f"gsu:{plant.id.split(':', 1)[1]}" in lines or f"gsu:{plant.id}" in lines
    band = scenario.policy.power_band_mw
    spare = sum(p.spare_mw for p in scenario.topology.plants)
    assert spare >= band.min_mw or "WARNING: total spare" in scenario.description
    # The grid as imported carries its existing load: the pre-existing OPF solves.
    state = GridModel.from_scenario(scenario).preexisting_state()
    assert np.isfinite(state.cost_usd_per_h)


def test_import_is_deterministic_and_seeded(pglib):
    path = _case(pglib, 14)
    a = import_case(path, sites=5, seed=3, gpus=26000)
    assert import_case(path, sites=5, seed=3, gpus=26000).digest() == a.digest()
    assert import_case(path, sites=5, seed=4, gpus=26000).digest() != a.digest()


def test_import_maps_ratings_and_taps(pglib):
    """RATE_C is the emergency rating, TAP scales the reactance (as MATPOWER's DC model does)."""
    from matpowercaseframes import CaseFrames

    path = _case(pglib, 118)
    cf = CaseFrames(str(path))
    lines = {e.id: e for e in import_case(path, sites=3, seed=1, gpus=26000).topology.edges_of_kind("line")}
    for row, br in enumerate(cf.branch.itertuples(index=False), start=1):
        line = lines[f"br:{row}"]
        assert line.rating_mw == br.RATE_A
        assert line.emergency_rating_mw == max(br.RATE_C, br.RATE_A)
        assert line.reactance_pu == pytest.approx(br.BR_X * (br.TAP or 1.0))


MINI_CASE = """function mpc = mini
mpc.version = '2';
mpc.baseMVA = 100;
mpc.bus = [
\t1\t3\t0\t0\t0\t0\t1\t1\t0\t230\t1\t1.1\t0.9;
\t2\t1\t50\t0\t0\t0\t1\t1\t0\t230\t1\t1.1\t0.9;
\t3\t1\t-20\t0\t0\t0\t1\t1\t0\t230\t1\t1.1\t0.9;
];
mpc.gen = [
\t1\t80\t0\t10\t-10\t1\t100\t1\t150\t0;
];
mpc.branch = [
\t1\t2\t0\t0.1\t0\t0\t0\t0\t0\t0\t1\t-30\t30;
\t2\t3\t0\t0.2\t0\t100\t0\t120\t0\t0\t1\t-30\t30;
\t1\t3\t0\t0.3\t0\t100\t0\t0\t0\t0\t0\t-30\t30;
];
mpc.gencost = [
\t2\t0\t0\t3\t0\t20\t0;
];
"""


def test_import_rules_on_a_hand_written_case(tmp_path):
    path = tmp_path / "mini.m"
    path.write_text(MINI_CASE)
    scenario = import_case(path, sites=2, seed=0, gpus=720)
    nodes = {n.id: n for n in scenario.topology.nodes}
    lines = {e.id: e for e in scenario.topology.edges_of_kind("line")}
    assert lines["br:1"].rating_mw == 99_999.0  # RATE_A 0 = unlimited
    assert lines["br:2"].emergency_rating_mw == 120.0
    assert "br:3" not in lines  # out of service
    assert nodes["bus:3"].load_mw == 0.0 and nodes["inj:3"].capacity_mw == 20.0  # negative load -> injection
    assert nodes["gen:1"].cost_usd_per_mwh == 20.0
    assert "out-of-service" in scenario.description and "negative load" in scenario.description


@pytest.mark.parametrize(
    "text, where",
    [
        ("this is not a MATPOWER case\n", None),
        (MINI_CASE.replace("\t2\t3\t0\t0.2", "\t2\t9\t0\t0.2"), "mpc.branch row 2"),
        # bus 3's only lines (rows 2 and 3, x = 0.2 and -0.2) cancel: its row of B is 0
        (
            MINI_CASE.replace("\t1\t3\t0\t0.3\t0\t100\t0\t0\t0\t0\t0", "\t2\t3\t0\t-0.2\t0\t100\t0\t0\t0\t0\t1"),
            "mpc.branch rows 3, 2",
        ),
        (
            MINI_CASE.replace("\t2\t3\t0\t0.2\t0\t100\t0\t120\t0\t0\t1", "\t2\t3\t0\t0.2\t0\t100\t0\t120\t0\t95\t1"),
            "mpc.branch row 2 SHIFT",
        ),
    ],
    ids=["garbage", "unknown-bus", "negative-x-cancels-singular-B", "shift-out-of-range"],
)
def test_import_errors_name_the_file_and_row(tmp_path, text, where):
    path = tmp_path / "bad.m"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        import_case(path, sites=2, seed=0, gpus=720)
    assert info.value.file == str(path)
    if where:
        assert info.value.where == where
    with pytest.raises(InputError, match="no such file"):
        import_case(tmp_path / "missing.m", sites=2, seed=0, gpus=720)


# --------------------------------------------------------------------------- hand-made grids


def _grid(nodes: list[dict], lines: list[dict]) -> Scenario:
    """A scenario with only a grid (no sites) around the given substations, plants and lines."""
    full = []
    for n in nodes:
        n = {"lat": 36.0, "lon": 127.0, **n}
        if n["kind"] == "substation":
            n = {"kv": 345, "headroom_mw": 100, **n}
        full.append(n)
    return Scenario.model_validate(
        {
            "name": "grid",
            "catalog": [{"id": "r", "vendor": "x", "gpus_per_rack": 72, "it_kw_per_rack": 150, "liquid_share": 0.8}],
            "topology": {
                "nodes": full,
                "edges": [{"kind": "line", "reactance_pu": 0.1, "rating_mw": 500, **e} for e in lines],
            },
            "demand": {"tenants": [{"id": "t", "lines": [{"sku": "r", "gpus": 72}]}]},
            "policy": {"power_band_mw": {"min_mw": 0, "max_mw": 1}},
        }
    )


def _plant(pid: str, capacity: float = 1000, spare: float = 100, **kw) -> dict:
    return {"kind": "plant", "id": pid, "type": "coal", "capacity_mw": capacity, "spare_mw": spare, **kw}


def test_radial_outages_are_bridges_and_skipped():
    # g - a, triangle a-b-c, spur c-d: the step-up and the spur island buses when lost.
    scenario = _grid(
        [
            _plant("g"),
            {"kind": "substation", "id": "a"},
            {"kind": "substation", "id": "b", "load_mw": 50},
            {"kind": "substation", "id": "c"},
            {"kind": "substation", "id": "d", "load_mw": 30},
        ],
        [
            {"id": "gsu", "from": "g", "to": "a", "reactance_pu": 1e-4},
            {"id": "ab", "from": "a", "to": "b"},
            {"id": "bc", "from": "b", "to": "c"},
            {"id": "ca", "from": "c", "to": "a"},
            {"id": "cd", "from": "c", "to": "d"},
        ],
    )
    model = GridModel.from_scenario(scenario)
    assert {model.line_ids[k] for k in model.bridges()} == {"gsu", "cd"}
    assert set(grid_check.islanding_outages(scenario)) == {"gsu", "cd"}
    state = model.preexisting_state()
    screen = model.screen_n1(state.flows_mw)
    assert {model.line_ids[k] for k in screen.outages} == {"ab", "bc", "ca"}
    assert np.isfinite(screen.post_flows_mw).all()
    assert np.isnan(model.lodf()[:, model.line_index["cd"]]).all()
    inj = dict(zip(model.bus_ids, state.injections_mw))
    assert grid_check.outage_flows(scenario, inj, "cd") is None
    assert grid_check.dc_flows(scenario, inj)["cd"] == pytest.approx(30.0)  # a spur carries its load


def test_parallel_lines_split_by_susceptance_and_are_not_bridges():
    scenario = _grid(
        [_plant("g"), {"kind": "substation", "id": "a"}, {"kind": "substation", "id": "b", "load_mw": 90}],
        [
            {"id": "gsu", "from": "g", "to": "a", "reactance_pu": 1e-4},
            {"id": "l1", "from": "a", "to": "b", "reactance_pu": 0.1, "rating_mw": 100, "emergency_rating_mw": 120},
            {"id": "l2", "from": "a", "to": "b", "reactance_pu": 0.2, "rating_mw": 70, "emergency_rating_mw": 80},
        ],
    )
    model = GridModel.from_scenario(scenario)
    assert [model.line_ids[k] for k in model.bridges()] == ["gsu"]
    state = model.preexisting_state()
    flows = dict(zip(model.line_ids, state.flows_mw))
    assert flows["l1"] == pytest.approx(60.0) and flows["l2"] == pytest.approx(30.0)  # b = 10 : 5
    inj = dict(zip(model.bus_ids, state.injections_mw))
    assert grid_check.dc_flows(scenario, inj)["l1"] == pytest.approx(60.0)
    after = grid_check.outage_flows(scenario, inj, "l1")
    assert after is not None and after["l2"] == pytest.approx(90.0) and after["l1"] == 0.0
    screen = model.screen_n1(state.flows_mw)
    j = list(screen.outages).index(model.line_index["l1"])
    assert screen.post_flows_mw[model.line_index["l2"], j] == pytest.approx(90.0)
    # l2 at 90 MW exceeds its 80 MW emergency rating: a pre-existing N-1 violation ...
    assert [(v.line, v.outage) for v in screen.violations] == [("l2", "l1")]
    # ... which the no-harm rule tolerates as long as the plan does not make it worse,
    same = model.screen_n1(state.flows_mw, reference_post_mw=screen.post_flows_mw)
    assert same.violations == []
    # and flags as soon as new load at b adds to it.
    extra = np.zeros(model.n_bus)
    extra[model.bus_index["g"]], extra[model.bus_index["b"]] = 10.0, -10.0
    more = model.flows(state.injections_mw + extra)
    worse = model.screen_n1(more, reference_post_mw=screen.post_flows_mw)
    assert [(v.line, v.outage) for v in worse.violations] == [("l2", "l1")]
    assert worse.violations[0].flow_mw == pytest.approx(100.0) and worse.violations[0].limit_mw == pytest.approx(90.0)


def test_islanded_bus_is_its_own_component_and_its_load_cannot_be_served():
    scenario = _grid(
        [
            _plant("g"),
            {"kind": "substation", "id": "a", "load_mw": 50},
            {"kind": "substation", "id": "z", "load_mw": 10},
        ],
        [{"id": "gsu", "from": "g", "to": "a", "reactance_pu": 1e-4}],
    )
    model = GridModel.from_scenario(scenario)
    assert model.components[model.bus_index["z"]] != model.components[model.bus_index["a"]]
    assert model.bus_ids[model.slack[model.components[model.bus_index["z"]]]] == "z"
    with pytest.raises(InfeasibleError) as info:
        model.preexisting_state()
    assert any("islanded bus (z)" in r and "cannot be served" in r for r in info.value.reasons)
    # Flows are still defined; the imbalance of z's island is reported, not hidden.
    inj = {"g": 50.0, "a": -50.0, "z": -10.0}
    assert grid_check.dc_flows(scenario, inj) == {"gsu": pytest.approx(50.0)}
    assert grid_check.component_imbalance_mw(scenario, inj) == {"g": pytest.approx(0.0), "z": pytest.approx(-10.0)}


def test_unservable_base_limits_are_relaxed_and_reported_as_facts():
    # 100 MW must cross a 60 MW line: no dispatch avoids the overload, so the OPF relaxes.
    scenario = _grid(
        [
            _plant("g", capacity=200, spare=0),
            {"kind": "substation", "id": "a"},
            {"kind": "substation", "id": "b", "load_mw": 100},
        ],
        [
            {"id": "gsu", "from": "g", "to": "a", "reactance_pu": 1e-4},
            {"id": "ab", "from": "a", "to": "b", "rating_mw": 60},
        ],
    )
    state = GridModel.from_scenario(scenario).preexisting_state()
    assert state.relaxed
    assert [(v.line, round(v.flow_mw, 6), v.limit_mw) for v in state.overloads] == [("ab", 100.0, 60.0)]


def test_preexisting_opf_is_least_cost_within_limits():
    # Cheap plant far away behind a 70 MW line, dear plant at the load: the line binds.
    scenario = _grid(
        [
            _plant("cheap", spare=0, cost_usd_per_mwh=10),
            _plant("dear", spare=0, cost_usd_per_mwh=90),
            {"kind": "substation", "id": "a"},
            {"kind": "substation", "id": "b", "load_mw": 100},
        ],
        [
            {"id": "g1", "from": "cheap", "to": "a", "reactance_pu": 1e-4},
            {"id": "g2", "from": "dear", "to": "b", "reactance_pu": 1e-4},
            {"id": "ab", "from": "a", "to": "b", "rating_mw": 70},
        ],
    )
    model = GridModel.from_scenario(scenario)
    state = model.preexisting_state()
    assert not state.relaxed
    np.testing.assert_allclose(state.dispatch_mw, [70.0, 30.0], atol=1e-6)
    assert state.cost_usd_per_h == pytest.approx(70 * 10 + 30 * 90)
