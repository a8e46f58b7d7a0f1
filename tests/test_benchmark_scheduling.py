"""The scheduling benchmark suite on a tiny configuration (the tiny laid-out fleet, a quarter day,
200 queued, a 2x fleet): every case runs every registered scheduler, each schedule is checked,
and the results files are written. Timing is recorded by the suite, never asserted here."""

from __future__ import annotations

import json

import pytest

from benchmarks.runner import main as runner_main
from benchmarks.scheduling import CASES, _runs, run_child
from solvers.cluster_schedulers import SCHEDULERS
from tests.helpers import DATA

PLAN = DATA / "tiny_laid_plan.json"
TINY = ["--plan", str(PLAN), "--days", "0.25", "--queued", "200", "--scale", "2", "--scale-days", "0.1"]


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("sched-bench")
    code = runner_main(["--suite", "scheduling", "--out", str(out), *TINY, "--in-process"])
    doc = json.loads((out / "results.json").read_text())
    return code, doc, (out / "results.md").read_text()


def test_every_case_runs_every_scheduler(suite):
    _, doc, md = suite
    records = doc["records"]
    expected = _runs(list(CASES), None)
    assert [(r["case"], r["scheduler"]) for r in records] == [(c, s) for c, s, _ in expected]
    assert {r["scheduler"] for r in records} == set(SCHEDULERS)
    for r in records:
        assert r["status"] == "OK", r
        assert r["jobs"] == r["completed"] + r["unfinished"] + r["rejected"]
        assert r["events"] > 0 and r["decision_max_s"] >= r["decision_p99_s"] >= 0
    assert doc["command"].startswith("python -m benchmarks --suite scheduling")
    for case in CASES:
        assert f"### {case}" in md
    assert {r["fleet_gpus"] for r in records if r["case"] == "fleet-10x"} == {2 * 24_800}


def test_block_awareness_is_checked(suite):
    """Block-aware schedulers never break a block gang; the block-unaware baselines may, and the
    checker says so (GANG_BLOCK, expected for them)."""
    _, doc, _ = suite
    for r in doc["records"]:
        if r["topology_aware"]:
            assert "GANG_BLOCK" not in r["violation_codes"], r["violations_first"]
        assert "GANG_BLOCK" not in r["unexpected_violations"]


def test_ratios_against_easy_blocks(suite):
    _, doc, _ = suite
    for case in CASES:
        ref = [r for r in doc["records"] if r["case"] == case and r["scheduler"] == "easy-blocks" and r["is_default"]]
        assert len(ref) == 1 and ref[0]["jct_ratio_vs_easy_blocks"] == pytest.approx(1.0)
        for r in doc["records"]:
            if r["case"] == case:
                assert r["jct_ratio_vs_easy_blocks"] == pytest.approx(r["mean_jct_h"] / ref[0]["mean_jct_h"])


def test_decision_case_queues_its_jobs(suite):
    _, doc, _ = suite
    for r in (r for r in doc["records"] if r["case"] == "decision-10k"):
        assert r["max_queued"] >= 200 and r["events_with_queue"] >= 1
        assert r["unfinished"] > 0  # the 2-hour horizon stops it


def test_every_schedule_verifies_but_for_expected_block_findings(suite):
    code, doc, _ = suite
    assert all(not r["unexpected_violations"] for r in doc["records"]), [r["violations_first"] for r in doc["records"]]
    assert code == 0


def test_child_run_in_a_subprocess_matches_in_process(tmp_path):
    """The path the full suite takes: one run in a fresh `python -m benchmarks.scheduling --child`."""
    from benchmarks.scheduling import _run_one

    cfg = {
        "case": "korea-week",
        "scheduler": "easy-blocks",
        "response": None,
        "plan": str(PLAN),
        "seed": 0,
        "workers": 1,
        "days": 0.25,
        "scale": 2,
        "scale_days": 0.1,
        "queued": 100,
        "interval_s": 60.0,
    }
    child = _run_one(cfg, in_process=False, timeout_s=300)
    here = run_child(cfg)
    assert child["status"] == "OK", child.get("error")
    for key in ("jobs", "completed", "mean_jct_h", "gpu_hours_lost_to_power", "workload_digest", "fleet_digest"):
        assert child[key] == here[key]
