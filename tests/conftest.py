"""Shared fixtures: scenario files and a runner for the real `placer` CLI in a subprocess.

Plain helpers (paths, ``run_cli``, report assertions) live in :mod:`tests.helpers`, which test
modules import; a conftest is not meant to be imported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import DATA, run_cli


@pytest.fixture
def tiny_path() -> Path:
    return DATA / "tiny.yaml"


@pytest.fixture
def tiny():
    from placer.io import load_scenario

    return load_scenario(DATA / "tiny.yaml")


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def output_plans(tmp_path_factory):
    """Real plans for the output commands (diff, export, map, report), solved once per session in a
    few seconds, each written to a file: ``{name: (scenario file or built-in name, plan path, scenario, plan)}``.

    ``tiny``: CP-SAT on tiny.yaml (two lines under N-1); ``rollout``: a seeded synthetic rollout with
    a meshed grid (6 sites, 4 quarters) by the MILP; ``options``: rollout_options.yaml (power options
    built); ``korea`` and ``korea-rollout``: the built-in korea-2025 and korea-2025-rollout by the
    greedy baseline (fast, verified, with the grid report and schedule of the real scenarios)."""
    from placer.io import dump_model, load_scenario
    from solvers import solve
    from topologies import builtin_scenario
    from topologies.synthetic_rollout import generate_rollout

    out = tmp_path_factory.mktemp("output-plans")
    synthetic = out / "syn-rollout.json"
    dump_model(generate_rollout(sites=6, gpus=5000, quarters=4, options=3, seed=1), synthetic)
    cases = {
        "tiny": (str(DATA / "tiny.yaml"), "cpsat"),
        "rollout": (str(synthetic), "auto"),
        "options": (str(DATA / "rollout_options.yaml"), "auto"),
        "korea": ("korea-2025", "greedy"),
        "korea-rollout": ("korea-2025-rollout", "greedy"),
    }
    plans = {}
    for name, (source, solver) in cases.items():
        scenario = builtin_scenario(source) if "/" not in source else load_scenario(source)
        plan = solve(scenario, solver, time_limit_s=10, option_worth=False)
        path = out / f"{name}.plan.json"
        path.write_text(plan.model_dump_json(indent=1))
        plans[name] = (source, path, scenario, plan)
    return plans
