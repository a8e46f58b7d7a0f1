"""korea-2025 end to end through the real CLI: solve, verify, tamper, export, re-import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_cli

TENANTS = {"naver": 60_000, "samsung": 50_000, "sk": 50_000, "hyundai": 50_000, "government": 50_000}


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("korea") / "plan.json"
    result = run_cli("solve", "korea-2025", "-o", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified" in result.stdout
    return out, json.loads(out.read_text())


def test_places_every_gpu_inside_the_band(solved):
    _, plan = solved
    s = plan["summary"]
    assert s["status"] == "OPTIMAL"
    assert s["gpus_placed"] == 260_000
    by_tenant: dict[str, int] = {}
    for a in plan["assignments"]:
        by_tenant[a["tenant"]] = by_tenant.get(a["tenant"], 0) + a["gpus"]
    assert by_tenant == TENANTS
    assert 580 <= s["facility_power_mw"] <= 630
    # the default engine is auto: korea-2025 has lines under N-1, so the grid-aware MILP runs
    assert s["solver"] == "milp" and s["engine_choice"].startswith("auto: ")
    assert s["solver_version"] and s["seed"] == 0 and s["workers"] == 2
    assert s["gap"] <= s["relative_gap"] and plan["grid"]["n_minus_1"] == "secure"
    assert plan["scenario_digest"].startswith("sha256:")
    assert {c["name"] for c in plan["cost_breakdown"]} >= {"capex", "energy"}


def test_verify_accepts_the_plan(solved):
    path, _ = solved
    result = run_cli("verify", "korea-2025", str(path), "--json")
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["valid"] and report["violations"] == []


def test_verify_rejects_one_rack_added(solved, tmp_path):
    _, plan = solved
    a = plan["assignments"][0]
    per_rack = a["gpus"] // a["racks"]
    a["racks"] += 1
    a["gpus"] += per_rack
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(plan))
    result = run_cli("verify", "korea-2025", str(tampered), "--json")
    assert result.returncode == 1
    codes = {v["code"] for v in json.loads(result.stdout)["violations"]}
    assert "DEMAND" in codes


def test_verify_refuses_plan_for_another_scenario(solved, tmp_path, tiny_path):
    path, _ = solved
    result = run_cli("verify", str(tiny_path), str(path))
    assert result.returncode == 2
    assert "scenario_digest" in result.stderr and "Traceback" not in result.stderr


def test_export_round_trips_to_the_same_problem(tmp_path):
    from placer.io import load_scenario
    from topologies import builtin_scenario

    listing = run_cli("scenarios")
    assert listing.returncode == 0 and "korea-2025" in listing.stdout
    out = tmp_path / "korea.yaml"
    result = run_cli("scenarios", "korea-2025", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert load_scenario(out).digest() == builtin_scenario("korea-2025").digest()


def test_exported_scenario_with_negative_capacity_is_rejected(tmp_path):
    out = tmp_path / "korea.yaml"
    assert run_cli("scenarios", "korea-2025", "-o", str(out)).returncode == 0
    data = yaml.safe_load(out.read_text())
    site = next(i for i, n in enumerate(data["topology"]["nodes"]) if n["kind"] == "site")
    data["topology"]["nodes"][site]["it_capacity_mw"] = -100
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    plan = tmp_path / "plan.json"
    result = run_cli("solve", str(out), "-o", str(plan))
    assert result.returncode == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"topology.nodes[{site}].it_capacity_mw" in lines[0]
    assert not plan.exists()


def test_schema_is_generated_from_the_models():
    result = run_cli("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "Scenario" and "topology" in schema["properties"]
    plan_schema = json.loads(run_cli("schema", "--plan").stdout)
    assert plan_schema["title"] == "Plan"


def test_cpsat_is_no_worse_than_greedy_on_korea(solved):
    from solvers import solve
    from topologies import builtin_scenario

    _, plan = solved
    greedy = solve(builtin_scenario("korea-2025"), "greedy")
    assert greedy.summary.gpus_placed == 260_000
    assert plan["summary"]["objective"] <= greedy.summary.objective + 1e-6
