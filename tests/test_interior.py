"""The site interior as data (placer.interior): validation, the default, the hierarchy graph."""

from __future__ import annotations

import json

import pytest

from placer import interior as interior_mod
from placer import scenario as scenario_mod
from placer.catalog import DEFAULT_CATALOG
from placer.errors import InputError
from placer.interior import (
    Interior,
    default_interior,
    fault_limit_gpus,
    graph_with_interiors,
    hierarchy_graph,
    island_block_limit,
    path_capacity_mw,
    su_sizes,
)
from placer.io import load_scenario
from topologies import builtin_scenario
from topologies.interior_campus import campus_scenario


def test_identifier_rule_is_the_scenarios():
    from pydantic import TypeAdapter

    rule = TypeAdapter(scenario_mod.Identifier).json_schema()
    assert TypeAdapter(interior_mod.Identifier).json_schema() == rule
    assert rule["pattern"] and rule["maxLength"] == 128


def test_catalog_transient_factors_are_estimates():
    factors = {k.id: k.transient_factor for k in DEFAULT_CATALOG}
    assert factors["gb300-nvl72"] == 1.4
    assert all(f is not None and 1.0 <= f <= 1.5 for f in factors.values())
    assert all("transient_factor" in k.source and "est." in k.source for k in DEFAULT_CATALOG)


def test_default_interior_holds_every_korea_site():
    sc = builtin_scenario("korea-2025")
    for site in sc.topology.sites:
        it = default_interior(site, sc.catalog)
        assert len(it.halls) == -(-site.it_capacity_mw // 40)
        # 2N per hall: each pair carries the hall's share of the IT MW at the largest transient
        for p in it.power_paths():
            assert p.redundancy == "2n"
            assert p.capacity_mw >= site.it_capacity_mw / len(it.halls) * 1.4
        assert sum(lp.liquid_mw for lp in it.cooling_loops) >= site.liquid_cooling_mw
        assert sum(h.air_cooling_mw for h in it.halls) >= site.air_cooling_mw
        assert sum(h.rows * h.positions_per_row for h in it.halls) * 40 >= site.it_capacity_mw * 1000


def test_scenarios_without_interiors_keep_their_digest():
    sc = campus_scenario(200)
    data = sc.model_dump(mode="json", by_alias=True)
    data["topology"]["nodes"][0].pop("interior")
    plain = scenario_mod.Scenario.model_validate(data)
    explicit_none = scenario_mod.Scenario.model_validate({**data})
    assert plain.digest() == explicit_none.digest()
    assert plain.digest() != sc.digest()  # a declared interior is part of the problem


def test_hierarchy_graph():
    sc = campus_scenario(200)
    it = sc.topology.sites[0].interior
    assert it is not None
    g = hierarchy_graph("campus", it)
    kinds = {d["kind"] for _, d in g.nodes(data=True)}
    assert kinds == {"site", "hall", "power_train", "power_group", "cooling_loop", "network_block"}
    assert g.has_edge("campus/h1-a", "campus/h1-ab") and g.has_edge("campus/h1-a", "campus/hall-1")
    assert g.out_degree("campus") == 4
    full = graph_with_interiors(sc)
    assert full.nodes["campus"]["interior_declared"] is True
    assert "campus/hall-4" in full and "ss" in full


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda it: it["power_trains"][0].update(halls=["hall-9"]), "power_trains[0].halls[0]: unknown hall 'hall-9'"),
        (lambda it: it["power_trains"][1].update(group="h2-ab"), "2n group 'h1-ab' has 1 trains, not 2"),
        (lambda it: it["power_trains"][0].update(group=None), "power_trains[0].group: a '2n' train names its group"),
        (lambda it: it["cooling_loops"][0].update(wue_l_per_kwh=1.8), "a dry loop uses at most 0.5 L/kWh"),
        (lambda it: it["network_blocks"][0].update(su_slots=0), "greater than 0"),
    ],
)
def test_bad_interior_is_one_clear_line(tmp_path, mutate, message):
    data = json.loads(campus_scenario(200).model_dump_json(by_alias=True))
    mutate(data["topology"]["nodes"][0]["interior"])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as info:
        load_scenario(path)
    line = info.value.one_line()
    assert str(path) in line and "topology.nodes[0]" in line and "interior" in line
    assert message in line


def test_rules_shared_by_layout_and_verifier():
    assert path_capacity_mw("2n", [30.0, 25.0]) == 25.0
    assert path_capacity_mw("n+1", [10.0, 10.0, 10.0, 12.0]) == 30.0
    assert su_sizes(19, 8) == [8, 8, 3]
    assert fault_limit_gpus(interior_mod.LayoutPolicy(), 1728, 576) == 576  # never below one SU
    assert fault_limit_gpus(interior_mod.LayoutPolicy(), 50_000, 576) == 12_500
    assert island_block_limit(interior_mod.LayoutPolicy(), 107, 16, 12_500, 576) == 8  # ceil(107/16) + 1
    assert island_block_limit(interior_mod.LayoutPolicy(), 7, 16, 1008, 576) == 7  # one SU per block


def test_interior_model_is_in_the_schema():
    schema = json.dumps(scenario_mod.json_schema())
    for name in ("Interior", "PowerTrain", "CoolingLoop", "NetworkBlock", "LayoutPolicy"):
        assert name in schema
    assert Interior.model_json_schema()["required"] == ["halls", "power_trains", "network_blocks"]
