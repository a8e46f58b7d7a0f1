"""Bad input: one clear line naming the file and the path inside it, exit 2, no output file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import DATA


def _variant(tmp_path: Path, edit, name: str = "bad.yaml") -> Path:
    data = yaml.safe_load((DATA / "tiny.yaml").read_text())
    edit(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _set(path: list, value):
    def edit(data):
        node = data
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value

    return edit


BAD_SCENARIOS = {
    "negative capacity": (_set(["topology", "nodes", 0, "it_capacity_mw"], -30), "topology.nodes[0].it_capacity_mw"),
    "not a number": (_set(["topology", "nodes", 0, "pue"], float("nan")), "topology.nodes[0].pue"),
    "infinite": (_set(["topology", "edges", 0, "capacity_mw"], float("inf")), "topology.edges[0].capacity_mw"),
    "unknown field": (_set(["topology", "nodes", 0, "it_capacity"], 5), "topology.nodes[0].it_capacity"),
    "missing field": (lambda d: d["topology"]["nodes"][0].pop("pue"), "topology.nodes[0].pue"),
    "unknown kind": (_set(["topology", "nodes", 0, "kind"], "warehouse"), "topology.nodes[0]"),
    "duplicate node id": (_set(["topology", "nodes", 1, "id"], "north"), "duplicate node id 'north'"),
    "edge to unknown node": (_set(["topology", "edges", 0, "to"], "nowhere"), "unknown node 'nowhere'"),
    "feed between substations": (_set(["topology", "edges", 0, "from"], "ss-s"), "a feed cannot join substation"),
    "site without feed": (lambda d: d["topology"]["edges"].pop(0), "site 'north' is not fed by any substation"),
    "not whole racks": (_set(["demand", "tenants", 1, "lines", 0, "gpus"], 7201), "nearest valid counts: 7,200 or 7,272"),
    "unknown sku": (_set(["demand", "tenants", 1, "lines", 0, "sku"], "tpu"), "unknown SKU 'tpu'"),
    "unknown metro": (_set(["demand", "tenants", 0, "latency", 0, "metro"], "paris"), "unknown metro 'paris'"),
    "unknown region": (_set(["demand", "tenants", 1, "allowed_regions"], ["mars"]), "no site is in region 'mars'"),
    "band reversed": (_set(["policy", "power_band_mw"], {"min_mw": 80, "max_mw": 70}), "min_mw 80 exceeds max_mw 70"),
    "spare above capacity": (_set(["topology", "nodes", 4, "spare_mw"], 5000), "exceeds capacity_mw"),
}


@pytest.mark.parametrize("case", sorted(BAD_SCENARIOS))
def test_bad_scenario_is_one_line_exit_2_no_file(case, tmp_path, cli):
    edit, expected = BAD_SCENARIOS[case]
    scenario = _variant(tmp_path, edit)
    out = tmp_path / "plan.json"
    result = cli("solve", str(scenario), "-o", str(out))
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert str(scenario) in lines[0] and expected in lines[0], lines[0]
    assert not out.exists()


def test_missing_file(tmp_path, cli):
    result = cli("solve", str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "p.json"))
    assert result.returncode == 2
    assert "nope.yaml: no such file" in result.stderr
    assert not (tmp_path / "p.json").exists()


def test_invalid_yaml_syntax(tmp_path, cli):
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: x\ncatalog: [\n")
    result = cli("solve", str(bad))
    assert result.returncode == 2
    assert "broken.yaml: invalid YAML at line" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_json_syntax(tmp_path, cli):
    bad = tmp_path / "broken.json"
    bad.write_text('{"name": ')
    result = cli("solve", str(bad))
    assert result.returncode == 2 and "broken.json: invalid JSON" in result.stderr


def test_unknown_builtin_scenario(cli):
    result = cli("solve", "korea-2099")
    assert result.returncode == 2
    assert "korea-2099: unknown scenario" in result.stderr and "korea-2025" in result.stderr


def test_unknown_solver(tiny_path, tmp_path, cli):
    result = cli("solve", str(tiny_path), "--solver", "magic", "-o", str(tmp_path / "p.json"))
    assert result.returncode == 2 and "unknown solver 'magic'" in result.stderr
    assert not (tmp_path / "p.json").exists()


def test_output_directory_missing(tiny_path, tmp_path, cli):
    target = tmp_path / "no" / "such" / "plan.json"
    result = cli("solve", str(tiny_path), "-o", str(target))
    assert result.returncode == 2 and "output directory does not exist" in result.stderr


def test_bad_option_value_is_one_line(tiny_path, cli):
    result = cli("solve", str(tiny_path), "--workers", "zero")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_malformed_plan_file(tiny_path, tmp_path, cli):
    plan = tmp_path / "plan.json"
    plan.write_text('{"scenario": "tiny"}')
    result = cli("verify", str(tiny_path), str(plan))
    assert result.returncode == 2
    assert "plan.json" in result.stderr and "Traceback" not in result.stderr
