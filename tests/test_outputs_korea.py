"""diff, export (every format), map and report on korea-2025 and korea-2025-rollout plans from the
default engine, as a user runs them. Marked slow: the two solves take about 20 s (korea-2025, HiGHS
to optimality) and 30 s (the rollout's time limit) on this project's 2-core machine, and the
greedy-baseline plans of the same scenarios are covered by the fast tests."""

from __future__ import annotations

import json
import zipfile

import pytest

from tests.chromium import find_chromium, load_page
from tests.helpers import run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def korea_plans(tmp_path_factory):
    out = tmp_path_factory.mktemp("korea-outputs")
    plans = {}
    for name, extra in (("korea-2025", []), ("korea-2025-rollout", ["--time-limit", "30", "--no-worth"])):
        path = out / f"{name}.json"
        r = run_cli("solve", name, "-o", str(path), *extra, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        plans[name] = path
    return plans


def test_every_output_of_both_plans(korea_plans, tmp_path):
    single, rollout = korea_plans["korea-2025"], korea_plans["korea-2025-rollout"]
    r = run_cli("diff", str(single), str(rollout), "--json")
    assert r.returncode == 0, r.stderr
    diff = json.loads(r.stdout)
    assert diff["objective"]["delta"] is None and diff["gpus_placed"]["delta"] == 0
    for name, plan in korea_plans.items():
        for out in (f"{name}.zip", f"{name}.xlsx", f"{name}.geojson", f"{name}.png", f"{name}.svg", f"{name}.html"):
            command = {"png": "map", "svg": "map", "html": "report"}.get(out.rsplit(".", 1)[1], "export")
            r = run_cli(command, str(plan), "-o", str(tmp_path / out))
            assert r.returncode == 0, (out, r.stderr)
        with zipfile.ZipFile(tmp_path / f"{name}.zip") as zf:
            assert ("schedule.csv" in zf.namelist()) == (name == "korea-2025-rollout")
        if find_chromium() is not None:
            result = load_page(tmp_path / f"{name}.html")
            assert result.problems == [] and result.content_height_px > 2000
