"""What-if overrides (placer.overrides): paths, values, removals, schema errors naming the --set,
and the CLI: the plan records the overrides, its digest covers them, verify replays them."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from placer import overrides as ov
from placer.errors import InputError
from placer.io import load_scenario
from tests.helpers import DATA, run_cli

TINY = DATA / "tiny.yaml"


@pytest.fixture(scope="module")
def tiny():
    return load_scenario(TINY)


def one(sc, text):
    return ov.apply(sc, [ov.parse(text)], file="tiny.yaml")


def test_values_are_read_as_yaml_scalars():
    assert ov.parse("a.b=150").value == 150 and isinstance(ov.parse("a.b=150").value, int)
    assert ov.parse("a.b=1.3").value == 1.3
    assert ov.parse("a.b=true").value is True
    assert ov.parse("a.b=yes").value == "yes"  # YAML 1.2: not a bool
    assert ov.parse("a.b=2027Q3").value == "2027Q3"
    assert ov.parse("a.b=[1, 2]").value == [1, 2]
    assert ov.parse("a.b=").value is None
    # the first '=' outside brackets splits path and value
    o = ov.parse("topology.nodes[id=north].name=a=b")
    assert o.path == "topology.nodes[id=north].name" and o.value == "a=b"


def test_paths_fields_indices_and_selectors(tiny):
    sc = one(tiny, "topology.nodes[id=south].it_capacity_mw=35")
    assert next(s for s in sc.topology.sites if s.id == "south").it_capacity_mw == 35
    sc = one(tiny, "policy.power_band_mw.max_mw=80")
    assert sc.policy.power_band_mw.max_mw == 80
    sc = one(tiny, "demand.tenants[0].lines[0].gpus=720")
    assert sc.demand.tenants[0].lines[0].gpus == 720
    sc = one(tiny, "topology.edges[kind=feed,from=north].capacity_mw=33")
    feed = next(e for e in sc.topology.edges if e.kind == "feed" and e.from_node == "north")
    assert feed.capacity_mw == 33


def test_digest_covers_overrides_and_base_digest_is_recorded(tiny):
    sc, record = ov.with_overrides(tiny, ["policy.power_band_mw.max_mw=80"], file="tiny.yaml")
    assert sc.digest() != tiny.digest()
    assert record.base_scenario_digest == tiny.digest()
    assert record.overrides == ["policy.power_band_mw.max_mw=80"]
    # the same override gives the same scenario; no override gives the base itself
    assert ov.with_overrides(tiny, ["policy.power_band_mw.max_mw=80"])[0].digest() == sc.digest()
    assert ov.with_overrides(tiny, []) == (tiny, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "topology.nodes[id=nowhere].pue=1.2",
            "--set topology.nodes[id=nowhere].pue: topology.nodes: no element with id=nowhere",
        ),
        ("topology.edges[kind=feed].capacity_mw=5", "elements have kind=feed"),
        ("topology.nodes[99].pue=1.2", "index out of range (topology.nodes has"),
        ("policy.power_band_mw.maxx=620", "--set policy.power_band_mw.maxx: no such field"),
        ("policy.power_band_mw.max_mw.x=1", "policy.power_band_mw.max_mw is a number, it has no field 'x'"),
        ("policy.nosuch.x=1", "policy.nosuch: no such field"),
        ("topology.nodes[id=south].pue=3.5", "topology.nodes[1].pue: Input should be less than or equal to 3"),
        ("topology.nodes[id=south].pue=high", "Input should be a valid number"),
        ("demand.tenants[0].lines[0].gpus=7200.0", "gpus"),
        ("policy.power_band_mw.min_mw=700", "min_mw 700 exceeds max_mw"),
        ("policy.power_band_mw", "is not PATH=VALUE"),
        ("[0]=1", "a path starts with a field name"),
        ("policy..x=1", "expected a field name"),
        ("policy.x[=1", "is not PATH=VALUE"),
        ("topology.nodes[id=]=1", "neither an index"),
        ("policy.a=[1, 2", "cannot read the value"),
        ("topology[\n0].x=1", "--set topology[\\n0].x: the path has a control character at character 10"),
    ],
)
def test_bad_overrides_are_one_line_naming_the_set(tiny, text, expected):
    with pytest.raises(InputError) as info:
        ov.apply(tiny, [ov.parse(text)], file="tiny.yaml")
    line = info.value.one_line()
    assert expected in line, line
    assert "\n" not in line


def test_removing_a_site_removes_its_edges(tiny):
    sc = one(tiny, "topology.nodes[id=north]=null")
    assert [s.id for s in sc.topology.sites] == ["south"]
    assert all("north" not in (e.from_node, e.to_node) for e in sc.topology.edges)


def test_removing_a_staged_site_removes_its_stages():
    rollout = load_scenario(DATA / "rollout_options.yaml")
    staged = rollout.rollout.site_stages[0].site
    sc = one(rollout, f"topology.nodes[id={staged}]=null")
    assert all(s.site != staged for s in sc.rollout.site_stages)
    assert all(o.element != staged for o in sc.rollout.options)
    assert staged not in sc.rollout.build_rate_racks_per_period


def test_removing_a_tenant_removes_its_deliveries():
    rollout = load_scenario(DATA / "rollout_multi.yaml")
    if len(rollout.demand.tenants) < 2:
        pytest.skip("needs two tenants")
    gone = rollout.demand.tenants[0].id
    sc = one(rollout, f"demand.tenants[id={gone}]=null")
    assert all(d.tenant != gone for d in sc.rollout.deliveries)


_PATH_PIECES = st.sampled_from(
    [
        "topology",
        "nodes",
        "edges",
        "demand",
        "tenants",
        "policy",
        "power_band_mw",
        "max_mw",
        "pue",
        "lines",
        "gpus",
        "x",
    ]
)
_STEP = st.one_of(
    _PATH_PIECES.map(lambda k: "." + k),
    st.integers(-3, 60).map(lambda i: f"[{i}]"),
    st.sampled_from(["[id=north]", "[id=nowhere]", "[kind=site]", "[kind=feed,from=south]", "[]", "[=]", "[id=a,]"]),
    st.text(max_size=4),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    head=_PATH_PIECES,
    steps=st.lists(_STEP, max_size=6),
    value=st.one_of(
        st.text(max_size=12), st.sampled_from(["1", "1.5", "-3", "null", "true", "[1]", "{a: 1}", "1e400"])
    ),
)
def test_any_override_is_a_scenario_or_one_input_error(tiny, head, steps, value):
    text = head + "".join(steps) + "=" + value
    try:
        sc = ov.apply(tiny, [ov.parse(text)], file="tiny.yaml")
    except InputError as exc:
        assert "\n" not in exc.one_line()
        assert exc.where and exc.where.startswith("--set")
    else:
        assert sc.name == tiny.name


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_parses_or_is_one_input_error(text):
    try:
        ov.parse(text)
    except InputError as exc:
        assert "\n" not in exc.one_line()


def test_cli_solve_with_set_records_overrides_and_verify_replays_them(tmp_path):
    out = tmp_path / "plan.json"
    r = run_cli(
        "-q", "solve", str(TINY), "--set", "topology.nodes[id=south].it_capacity_mw=35",
        "--set", "policy.power_band_mw.max_mw=80", "--time-limit", "5", "-o", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "what-if: 2 override(s)" in r.stdout
    plan = json.loads(out.read_text())
    base = load_scenario(TINY)
    assert plan["what_if"]["base_scenario_digest"] == base.digest()
    assert plan["what_if"]["overrides"] == [
        "topology.nodes[id=south].it_capacity_mw=35",
        "policy.power_band_mw.max_mw=80",
    ]
    overridden, _ = ov.with_overrides(base, plan["what_if"]["overrides"])
    assert plan["scenario_digest"] == overridden.digest() != base.digest()
    assert max(s["it_power_mw"] for s in plan["sites"] if s["site"] == "south") <= 35 + 1e-6
    # verify against the base file: the recorded overrides are applied again
    v = run_cli("verify", str(TINY), str(out))
    assert v.returncode == 0, v.stdout + v.stderr


def test_cli_bad_set_is_one_line_exit_2(tmp_path):
    out = tmp_path / "plan.json"
    r = run_cli("solve", str(TINY), "--set", "topology.nodes[id=nowhere].it_capacity_mw=150", "-o", str(out))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines == [
        f"error: {TINY}: --set topology.nodes[id=nowhere].it_capacity_mw: topology.nodes: no element with id=nowhere"
    ]
    assert "Traceback" not in r.stderr and not out.exists()
