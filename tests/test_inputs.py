"""Bad input: one clear line naming the file and the path inside it, exit 2, no output file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers import DATA


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
    "not whole racks": (
        _set(["demand", "tenants", 1, "lines", 0, "gpus"], 7201),
        "nearest valid counts: 7,200 or 7,272",
    ),
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


# --------------------------------------------------------------------------- strict numbers, ranges, files

COERCIONS = {
    "yaml yes as capacity": (
        _set(["topology", "nodes", 0, "it_capacity_mw"], "yes"),
        "topology.nodes[0].it_capacity_mw",
    ),
    "bool as capacity": (_set(["topology", "nodes", 0, "it_capacity_mw"], True), "topology.nodes[0].it_capacity_mw"),
    "string as number": (_set(["topology", "nodes", 0, "pue"], "1.3"), "topology.nodes[0].pue"),
    "float as gpus": (_set(["demand", "tenants", 1, "lines", 0, "gpus"], 7200.0), "demand.tenants[1].lines[0].gpus"),
    "string as workers": (_set(["policy", "solver", "workers"], "2"), "policy.solver.workers"),
    "int as flag": (_set(["policy", "solver", "deterministic"], 1), "policy.solver.deterministic"),
}
MAGNITUDES = {
    "capex weight 1e300": (_set(["policy", "objective", "capex_weight"], 1e300), "policy.objective.capex_weight"),
    "plant cost 1e300": (
        _set(["topology", "nodes", 4, "cost_usd_per_mwh"], 1e300),
        "topology.nodes[4].cost_usd_per_mwh",
    ),
    "time limit 1e300": (_set(["policy", "solver", "time_limit_s"], 1e300), "policy.solver.time_limit_s"),
    "site capacity 1e6 MW": (_set(["topology", "nodes", 0, "it_capacity_mw"], 1e6), "topology.nodes[0].it_capacity_mw"),
    "kv 1e5": (_set(["topology", "nodes", 2, "kv"], 1e5), "topology.nodes[2].kv"),
    "gpus 1e12": (_set(["demand", "tenants", 1, "lines", 0, "gpus"], 72 * 10**10), "demand.tenants[1].lines[0].gpus"),
    "fiber faster than light": (_set(["policy", "fiber_ms_per_km"], 0.001), "policy.fiber_ms_per_km"),
}


@pytest.mark.parametrize("case", sorted(COERCIONS) + sorted(MAGNITUDES))
def test_no_silent_coercion_and_physical_ranges(case, tmp_path):
    """In-process through the CLI entry point: exit 2, one line naming the file and the field."""
    from tests.test_fuzz import run_inprocess

    edit, where = {**COERCIONS, **MAGNITUDES}[case]
    scenario = _variant(tmp_path, edit)
    if case == "yaml yes as capacity":  # written as a bare YAML word, as a user would type it
        scenario.write_text(scenario.read_text().replace("it_capacity_mw: 'yes'", "it_capacity_mw: yes"))
        assert "it_capacity_mw: yes" in scenario.read_text()
    out = tmp_path / "plan.json"
    code, _, err = run_inprocess("solve", str(scenario), "-o", str(out))
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"{scenario}: {where}: " in lines[0], err
    assert not out.exists()


def test_yaml_12_scalars(tmp_path):
    from placer.io import read_document

    path = tmp_path / "s.yaml"
    path.write_text("a: 1e7\nb: yes\nc: on\nd: 2027-01-01\ne: true\nf: 12\n")
    assert read_document(path) == {"a": 1e7, "b": "yes", "c": "on", "d": "2027-01-01", "e": True, "f": 12}


@pytest.mark.parametrize("text, suffix", [("a: 1\na: 2\n", ".yaml"), ('{"a": 1, "a": 2}', ".json")])
def test_duplicate_keys_are_refused(text, suffix, tmp_path):
    from placer.errors import InputError
    from placer.io import read_document

    path = tmp_path / f"s{suffix}"
    path.write_text(text)
    with pytest.raises(InputError, match="duplicate key 'a'"):
        read_document(path)


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    from placer.errors import InputError
    from placer.io import read_document

    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="expands to more than"):
        read_document(path)


def test_schema_documents_the_ranges():
    from placer.scenario import json_schema

    site = json_schema()["$defs"]["Site"]["properties"]
    assert site["it_capacity_mw"]["maximum"] == 10_000 and site["it_capacity_mw"]["exclusiveMinimum"] == 0
    assert site["pue"]["minimum"] == 1 and site["pue"]["maximum"] == 3
    assert "0-10,000" in site["it_capacity_mw"]["description"]


def test_library_logs_go_to_stderr(tiny_path):
    """Used from Python (no CLI), the solver's log lines go to stderr, not into the program's stdout."""
    import subprocess
    import sys

    code = (
        "from placer.io import load_scenario; from solvers import solve; "
        f"solve(load_scenario({str(tiny_path)!r}), 'cpsat', time_limit_s=2)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "cpsat.done" in result.stderr


@pytest.mark.parametrize("suffix, syntax", [(".yaml", "YAML"), (".json", "JSON")])
def test_huge_integer_literal_is_one_line(suffix, syntax, tmp_path):
    from placer.errors import InputError
    from placer.io import read_document

    path = tmp_path / f"s{suffix}"
    path.write_text(("a: " if suffix == ".yaml" else '{"a": ') + "9" * 5000 + ("" if suffix == ".yaml" else "}"))
    with pytest.raises(InputError, match=f"invalid {syntax}: a number with more than 4,300 digits"):
        read_document(path)
