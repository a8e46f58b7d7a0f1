"""The `small` benchmark suite as a correctness check: every run produces a plan that verifies.

Timing is recorded by the suite, never asserted here.
"""

from __future__ import annotations

import json

from benchmarks.runner import main
from benchmarks.suites import SUITES


def test_small_suite_every_plan_verifies(tmp_path):
    code = main(
        [
            "--suite",
            "small",
            "--solver",
            "cpsat",
            "--solver",
            "milp",
            "--solver",
            "greedy",
            "--time-limit",
            "60",
            "--out",
            str(tmp_path),
        ]
    )
    doc = json.loads((tmp_path / "results.json").read_text())
    records = doc["records"]
    assert len(records) == 3 * len(SUITES["small"])
    for r in records:
        assert r["suite"] == "small"
        assert r["status"] in ("OPTIMAL", "FEASIBLE"), r
        if r["solver"] == "milp":
            assert r["valid"], r  # places under grid limits: must verify
        else:
            # engines without flows verify, unless they honestly report an insecure grid
            assert r["valid"] or (r.get("n_minus_1") == "insecure" and r.get("grid_enforced") is False), r
    assert code == 0
    assert (tmp_path / "results.md").read_text().startswith("Command: `python -m benchmarks")
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["ortools"]
