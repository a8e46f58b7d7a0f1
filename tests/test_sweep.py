"""Scenario sweeps (placer.sweep_file, placer.sweep): expansion of grids, samples and generators; a real
local Ray run of small sweeps, resumed after a result is deleted; bad sweep files as one line, exit 2.

The Ray tests share one local Ray instance (module fixture; started as ``placer sweep`` starts it), so
the module pays Ray's start-up once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from placer import overrides as ov
from placer.errors import InputError
from placer.io import load_plan, load_scenario
from placer.sweep_file import SweepFile, expand, load_sweep
from tests.helpers import DATA, REPO, run_cli

TINY = DATA / "tiny.yaml"
ROLLOUT = DATA / "rollout_toy.yaml"


def write(tmp_path: Path, doc: dict | str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))
    return path


# ---------------------------------------------------------------------------- expansion


def test_grid_is_the_cartesian_product_in_row_major_order():
    base = load_scenario(TINY)
    sweep = SweepFile.model_validate(
        {
            "base": str(TINY),
            "grid": [
                {"kind": "band", "values": [70, 80]},
                {"kind": "pue", "values": [1.1, 1.2, 1.3]},
                {"kind": "sites_removed", "sites": ["north"]},
            ],
        }
    )
    cases = expand(sweep, base)
    assert len(cases) == 2 * 3 * 2
    assert [c.labels for c in cases[:3]] == [
        {"band_max_mw": 70, "pue": 1.1, "site_removed": "none"},
        {"band_max_mw": 70, "pue": 1.1, "site_removed": "north"},
        {"band_max_mw": 70, "pue": 1.2, "site_removed": "none"},
    ]
    texts = [o.text for o in cases[1].overrides]
    assert texts == [
        "policy.power_band_mw.max_mw=70",
        "topology.nodes[id=north].pue=1.1",
        "topology.nodes[id=south].pue=1.1",
        "topology.nodes[id=north]=null",
    ]


def test_sample_is_seeded_and_within_its_range():
    base = load_scenario(TINY)
    doc: dict[str, Any] = {
        "base": str(TINY),
        "sample": {
            "n": 25,
            "seed": 7,
            "parameters": [
                {"kind": "pue", "distribution": "uniform", "low": 1.1, "high": 1.4, "digits": 3},
                {"kind": "energy_price_scale", "distribution": "normal", "mean": 1.0, "sd": 0.2, "low": 0.5},
                {"kind": "sites_removed", "distribution": "choice"},
            ],
        },
    }
    a = expand(SweepFile.model_validate(doc), base)
    b = expand(SweepFile.model_validate(doc), base)
    assert [c.labels for c in a] == [c.labels for c in b]
    assert all(1.1 <= c.labels["pue"] <= 1.4 and round(c.labels["pue"], 3) == c.labels["pue"] for c in a)
    assert all(c.labels["energy_price_scale"] >= 0.5 for c in a)
    assert {c.labels["site_removed"] for c in a} <= {"none", "north", "south"}  # include_base: the base too
    doc["sample"]["seed"] = 8
    assert [c.labels for c in expand(SweepFile.model_validate(doc), base)] != [c.labels for c in a]


def test_price_scale_multiplies_every_site():
    base = load_scenario(TINY)
    sweep = SweepFile.model_validate({"base": "x", "grid": [{"kind": "energy_price_scale", "values": [1.5]}]})
    (case,) = expand(sweep, base)
    sc = ov.apply(base, case.overrides)
    for before, after in zip(base.topology.sites, sc.topology.sites):
        assert after.energy_price_usd_per_mwh == pytest.approx(1.5 * before.energy_price_usd_per_mwh)


def test_rollout_delay_moves_each_staged_sites_stages_a_quarter():
    base = load_scenario(ROLLOUT)
    sweep = SweepFile.model_validate({"base": "x", "grid": [{"kind": "rollout_delay"}]})
    none, hall = expand(sweep, base)
    assert none.labels == {"site_delayed": "none"} and none.overrides == []
    sc = ov.apply(base, hall.overrides)
    assert [(s.site, s.period) for s in sc.rollout.site_stages] == [("hall", "2027Q2")]
    # two quarters past the horizon drops the stage
    sweep = SweepFile.model_validate({"base": "x", "grid": [{"kind": "rollout_delay", "quarters": 5}]})
    _, late = expand(sweep, base)
    assert late.overrides[0].text == "rollout.site_stages[0].period=null"


# ---------------------------------------------------------------------------- bad sweep files


def _solve_nothing_error(tmp_path: Path, doc) -> str:
    from placer.sweep import run_sweep

    path = write(tmp_path, doc)
    with pytest.raises(InputError) as info:
        run_sweep(path, tmp_path / "out")
    line = info.value.one_line()
    assert "\n" not in line
    assert not (tmp_path / "out" / "results.parquet").exists()
    return line


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {"base": "nowhere.yaml", "grid": [{"kind": "pue", "values": [1.2]}]},
            "base: 'nowhere.yaml' is neither a built-in",
        ),
        ({"base": str(TINY)}, "give exactly one of grid"),
        ({"base": str(TINY), "grid": [{"kind": "pue"}]}, "grid[0]: a grid parameter needs values"),
        ({"base": str(TINY), "grid": [{"kind": "wind", "values": [1]}]}, "grid[0].kind: Input should be 'path'"),
        (
            {"base": str(TINY), "grid": [{"kind": "pue", "values": [1.2, 3.5]}]},
            "case 1 (pue=3.5): --set topology.nodes[id=north].pue",
        ),
        (
            {"base": str(TINY), "grid": [{"kind": "path", "path": "topology.nodes[id=nowhere].pue", "values": [1.2]}]},
            "case 0 (topology.nodes[id=nowhere].pue=1.2): --set topology.nodes[id=nowhere].pue: topology.nodes: no element with id=nowhere",
        ),
        ({"base": str(TINY), "grid": [{"kind": "path", "path": "a[", "values": [1]}]}, "is not closed"),
        (
            {"base": str(TINY), "grid": [{"kind": "sites_removed", "sites": ["atlantis"]}]},
            "grid[0].sites: 'atlantis' is not a site",
        ),
        (
            {"base": str(TINY), "grid": [{"kind": "rollout_delay"}]},
            "rollout_delay needs a base scenario with a rollout",
        ),
        (
            {
                "base": str(TINY),
                "sample": {"n": 3, "parameters": [{"kind": "pue", "distribution": "uniform", "low": 2, "high": 1}]},
            },
            "low 2 exceeds high 1",
        ),
        ({"base": str(TINY), "fixed": ["policy.x=1"], "grid": [{"kind": "pue", "values": [1.2]}]}, "no such field"),
        ("base: [unclosed", "invalid YAML"),
    ],
)
def test_bad_sweep_files_are_one_line_and_solve_nothing(tmp_path, doc, expected):
    line = _solve_nothing_error(tmp_path, doc)
    assert expected in line, line
    assert str(tmp_path / "sweep.yaml") in line


def test_cli_bad_sweep_file_is_one_line_exit_2(tmp_path):
    path = write(tmp_path, {"base": str(TINY), "grid": [{"kind": "pue", "values": [9]}]})
    r = run_cli("sweep", str(path), "-o", str(tmp_path / "out"))
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(
        f"error: {path}: case 0 (pue=9): --set topology.nodes[id=north].pue: topology.nodes[0].pue: "
        "Input should be less than or equal to 3 (got 9) (id 'north')"
    )
    r = run_cli("sweep", "--schema")
    assert r.returncode == 0 and "SweepFile" in json.loads(r.stdout)["title"]


# ---------------------------------------------------------------------------- real Ray runs


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance, started as ``placer sweep`` starts one; shut down after the module."""
    import ray

    from placer.sweep import _start_ray

    _start_ray(None)
    yield ray
    ray.shutdown()


def test_sweep_on_local_ray_then_resume_runs_only_the_missing_case(tmp_path, local_ray):
    from placer.sweep import run_sweep
    from placer.verify import verify

    sweep = write(
        tmp_path,
        {
            "base": str(TINY),
            "solver": {"engine": "cpsat", "time_limit_s": 5, "workers": 1},
            "grid": [{"kind": "pue", "values": [1.1, 1.2, 1.3]}],
        },
    )
    out = tmp_path / "out"
    seen: list[int] = []
    outcome = run_sweep(sweep, out, on_event=lambda k, i: seen.append(i["case"].index) if k == "case" else None)
    assert (outcome.cases, outcome.ran, outcome.skipped, outcome.failed) == (3, 3, 0, 0)
    # the local instance listens on loopback only
    assert {n["NodeManagerAddress"] for n in local_ray.nodes()} == {"127.0.0.1"}
    assert sorted(seen) == [0, 1, 2]
    import pandas as pd

    table = pd.read_parquet(out / "results.parquet")
    assert len(table) == 3 and len(pd.read_csv(out / "results.csv")) == 3
    assert list(table["pue"]) == [1.1, 1.2, 1.3]
    assert table["verified"].all() and set(table["status"]) == {"OPTIMAL"}
    # facility power rises with PUE for the same IT load
    assert table["facility_power_mw"].is_monotonic_increasing
    assert {"cost_capex_usd_per_year", "cost_energy_usd_per_year", "gap", "sites_used", "solve_seconds"} <= set(table)
    assert (out / "plots" / "pue.png").stat().st_size > 10_000
    # every plan is on disk, keyed by its digest, and valid for its overridden scenario
    base = load_scenario(TINY)
    for _, row in table.iterrows():
        plan = load_plan(out / row["plan"])
        assert plan.scenario_digest == row["digest"] and plan.what_if.base_scenario_digest == base.digest()
        assert verify(ov.replay(base, plan), plan).valid

    # resume: nothing to do; then one result deleted -> only that case runs again
    again = run_sweep(sweep, out)
    assert (again.ran, again.skipped) == (0, 3)
    (out / "results" / (table["digest"][1].split(":")[1] + ".json")).unlink()
    seen.clear()
    resumed = run_sweep(sweep, out, on_event=lambda k, i: seen.append(i["case"].index) if k == "case" else None)
    assert (resumed.ran, resumed.skipped) == (1, 2) and seen == [1]
    assert pd.read_parquet(out / "results.parquet")["verified"].all()


def test_rollout_delay_sweep_counts_the_stranded_quarters(tmp_path, local_ray):
    from placer.sweep import run_sweep

    sweep = write(
        tmp_path,
        {"base": str(ROLLOUT), "solver": {"time_limit_s": 10}, "grid": [{"kind": "rollout_delay"}]},
    )
    outcome = run_sweep(sweep, tmp_path / "out")
    assert outcome.failed == 0
    import pandas as pd

    table = pd.read_parquet(outcome.table).set_index("site_delayed")
    # 720 GPUs delivered in 2026Q3; the hall energised in 2027Q1 (2 quarters stranded), a quarter later: 3
    assert table.loc["none", "stranded_gpu_quarters"] == 1440
    assert table.loc["hall", "stranded_gpu_quarters"] == 2160
    assert table["verified"].all()
    assert "npv_idle_gpu_capital_usd" in table or any(c.startswith("npv_") for c in table.columns)


def test_load_sweep_reads_the_readme_example(tmp_path):
    path = write(
        tmp_path,
        "base: korea-2025\nsolver: {time_limit_s: 20}\ngrid:\n  - {kind: pue, values: [1.1, 1.2]}\n",
    )
    sweep = load_sweep(path)
    assert sweep.solver.time_limit_s == 20 and sweep.grid is not None and sweep.grid[0].values == [1.1, 1.2]


@pytest.mark.slow  # starts a Ray cluster of its own (`ray start --head`), 30-60 s on 2 busy cores
def test_sweep_on_an_existing_cluster_with_address(tmp_path):
    """`--address`: the sweep runs on a cluster started apart from it (its own session and temp dir,
    ended by its process group), from another directory, so the workers get placer by py_modules."""
    import shutil
    import signal
    import socket
    import tempfile
    import time

    ray_cli = shutil.which("ray")
    if ray_cli is None:
        pytest.skip("the ray command is not on PATH")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # A short directory: Ray's Unix sockets live under it, and a socket path has at most 107 characters.
    ray_tmp = tempfile.mkdtemp(prefix="placer-ray-", dir="/tmp")
    # Ray's single-machine mode: head and driver on 127.0.0.1 only, nothing on the network.
    loopback = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    head = subprocess.Popen(
        [ray_cli, "start", "--head", "--block", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
         "--disable-usage-stats", f"--temp-dir={ray_tmp}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=loopback,
    )  # fmt: skip
    try:
        sweep = write(
            tmp_path,
            {
                "base": str(TINY),
                "solver": {"engine": "cpsat", "time_limit_s": 5},
                "grid": [{"kind": "pue", "values": [1.2, 1.3]}],
            },
        )
        env = {**loopback, "RAY_AUTH_MODE": "token", "PYTHONPATH": str(REPO)}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the head's GCS takes a while to listen
            with socket.socket() as probe:
                probe.settimeout(1)
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(1)
        time.sleep(3)  # and its raylet a little longer
        r = subprocess.run(
            [sys.executable, "-m", "placer", "sweep", str(sweep), "-o", str(tmp_path / "out"),
             "--address", f"127.0.0.1:{port}"],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=400,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        assert "2 cases (2 run, 0 already done)" in r.stdout
        import pandas as pd

        table = pd.read_parquet(tmp_path / "out" / "results.parquet")
        assert table["verified"].all() and len(table) == 2
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(ray_tmp, ignore_errors=True)


_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5000), st.floats(allow_nan=True), st.text(max_size=8),
    st.lists(st.one_of(st.integers(-2, 700), st.floats(0, 4), st.text(max_size=4)), max_size=3),
)  # fmt: skip
_PARAM = st.dictionaries(
    st.sampled_from(
        ["kind", "path", "values", "sites", "distribution", "low", "high", "mean", "sd", "name", "quarters", "min_mw", "x"]
    ),
    st.one_of(_VALUES, st.sampled_from(["pue", "band", "path", "sites_removed", "rollout_delay", "uniform", "choice",
                                        "policy.power_band_mw.max_mw", "topology.nodes[id=north].pue", "a[", "north"])),
    max_size=6,
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    grid=st.one_of(st.none(), st.lists(_PARAM, max_size=3)),
    sample=st.one_of(st.none(), st.fixed_dictionaries({"n": st.integers(-1, 5), "parameters": st.lists(_PARAM, max_size=2)})),
)  # fmt: skip
def test_any_sweep_file_expands_or_is_one_input_error(tmp_path_factory, grid, sample):
    """Whatever the file holds, preparing its cases (no solve) gives cases or one InputError line."""
    from placer.sweep import _validate_cases, resolve_base

    doc: dict[str, Any] = {"base": str(TINY)}
    if grid is not None:
        doc["grid"] = grid
    if sample is not None:
        doc["sample"] = sample
    path = write(tmp_path_factory.mktemp("fuzz"), json.dumps(doc), "sweep.json")
    try:
        sweep = load_sweep(path)
        base, _ = resolve_base(sweep, path)
        cases = expand(sweep, base)
        _validate_cases(cases, ov.scenario_data(base), str(path))
    except InputError as exc:
        assert "\n" not in exc.one_line()


@pytest.mark.parametrize("path", sorted((REPO / "benchmarks" / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_the_shipped_sweep_files_prepare_their_cases(path):
    """Each example sweep file expands into valid cases (no solve): a new user's first command works."""
    from placer.sweep import _validate_cases, resolve_base

    sweep = load_sweep(path)
    base, _ = resolve_base(sweep, path)
    cases = expand(sweep, base)
    digests, invalid = _validate_cases(cases, ov.scenario_data(base), str(path))
    assert cases and not invalid and all(digests)
    assert len(set(digests)) == len(digests)  # distinct scenarios: no case is solved twice
