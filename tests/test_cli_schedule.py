"""`placer schedule` and `placer verify-schedule` from the command line: exit codes, output, bad input.

verify-schedule runs on the hand-built schedule of tests/test_verify_cluster.py (valid, then with one rule broken);
schedule runs the real simulator with the FIFO baselines on the tiny laid-out fleet. Bad input is one line
naming the file (and the path inside it), exit 2, nothing written.
"""

from __future__ import annotations

import json

import pytest

from placer.fleet import fleet_from_plan
from placer.io import load_plan
from tests.helpers import DATA, cli_in_process, run_cli
from tests.test_verify_cluster import _records, _schedule, _workload

PLAN = DATA / "tiny_laid_plan.json"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The base workload and its valid hand-built schedule, written to files."""
    d = tmp_path_factory.mktemp("cli-schedule")
    wl = _workload()
    fleet = fleet_from_plan(load_plan(PLAN), wl)
    sched = _schedule(fleet, wl, _records())
    (d / "jobs.json").write_text(wl.model_dump_json(indent=1))
    (d / "schedule.json").write_text(sched.model_dump_json(indent=1))
    bad = json.loads(sched.model_dump_json())
    bad["jobs"][0]["segments"][0]["allocation"] = [[6, 4], [7, 4]]  # dom over two domains
    (d / "broken.json").write_text(json.dumps(bad))
    return d


def _one_error_line(proc) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


class _Proc:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def placer(capsys):
    """The CLI in this process (no interpreter start-up): returns what a subprocess would."""

    def run(*args: str) -> _Proc:
        capsys.readouterr()
        code = cli_in_process(*args)
        got = capsys.readouterr()
        return _Proc(code, got.out, got.err)

    return run


def test_verify_schedule_valid(files):
    proc = run_cli("verify-schedule", str(PLAN), str(files / "jobs.json"), str(files / "schedule.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verified" in proc.stdout and "0 violations" in proc.stdout


def test_verify_schedule_violations(files):
    proc = run_cli("verify-schedule", str(PLAN), str(files / "jobs.json"), str(files / "broken.json"))
    assert proc.returncode == 1
    assert "GANG_DOMAIN" in proc.stdout and "job:dom/segment:0" in proc.stdout
    assert "invalid" in proc.stdout


def test_verify_schedule_json(files, capsys):
    code = cli_in_process("verify-schedule", str(PLAN), str(files / "jobs.json"), str(files / "broken.json"), "--json")
    assert code == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["valid"] and "GANG_DOMAIN" in {v["code"] for v in report["violations"]}


def test_bad_input_is_one_line_exit_2(placer, files, tmp_path):
    jobs, sched = str(files / "jobs.json"), str(files / "schedule.json")
    # a missing file
    proc = placer("verify-schedule", str(PLAN), str(tmp_path / "nope.yaml"), sched)
    assert proc.returncode == 2 and "nope.yaml" in _one_error_line(proc)
    # a plan without a layout
    plan = json.loads(PLAN.read_text())
    plan["layout"] = None
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps(plan))
    proc = placer("verify-schedule", str(flat), jobs, sched)
    line = _one_error_line(proc)
    assert proc.returncode == 2 and "flat.json" in line and "layout" in line
    # a bad workload field: a string where a number goes
    wl = json.loads((files / "jobs.json").read_text())
    wl["jobs"][2]["gpus"] = "144"
    bad_jobs = tmp_path / "bad-jobs.json"
    bad_jobs.write_text(json.dumps(wl))
    proc = placer("verify-schedule", str(PLAN), str(bad_jobs), sched)
    line = _one_error_line(proc)
    assert proc.returncode == 2 and "bad-jobs.json" in line and "jobs[2].gpus" in line
    # a schedule with an unknown field
    s = json.loads((files / "schedule.json").read_text())
    s["metrics"]["speedup"] = 2.0
    bad_sched = tmp_path / "bad-schedule.json"
    bad_sched.write_text(json.dumps(s))
    proc = placer("verify-schedule", str(PLAN), jobs, str(bad_sched))
    line = _one_error_line(proc)
    assert proc.returncode == 2 and "bad-schedule.json" in line and "metrics.speedup" in line


# --------------------------------------------------------------------------- placer schedule (the simulator)


def _small_jobs(tmp_path, **changes):
    """A dozen jobs of every gang on the tiny fleet, with a curtailment at south."""
    jobs = [
        {"id": f"j{i}", "tenant": "alpha" if i % 3 else "beta", "gpus": g, "arrival_s": 60.0 * i,
         "duration_s": 1800.0 + 300 * i, "gang": gang}
        for i, (g, gang) in enumerate(
            [(8, "domain"), (16, "any"), (72, "domain"), (144, "site"), (64, "any"), (8, "domain"),
             (576, "block"), (32, "site"), (8, "any"), (72, "domain"), (1000, "block"), (16, "domain")]
        )
    ]  # fmt: skip
    data = {
        "name": "cli-small",
        "jobs": jobs,
        "power": {"curtailments": [{"site": "south", "start_s": 600.0, "end_s": 2400.0, "share": 0.6}]},
    }
    data.update(changes)
    path = tmp_path / "small.json"
    path.write_text(json.dumps(data))
    return path


def test_schedule_fifo_blocks_writes_a_verified_schedule(tmp_path):
    jobs = _small_jobs(tmp_path)
    out = tmp_path / "schedule.json"
    proc = run_cli("schedule", str(PLAN), str(jobs), "-o", str(out), "--scheduler", "fifo-blocks", "--seed", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verified" in proc.stdout and "mean JCT" in proc.stdout and "Sites" in proc.stdout
    written = json.loads(out.read_text())
    assert written["summary"]["scheduler"] == "fifo-blocks" and written["summary"]["seed"] == 3
    assert written["metrics"]["jobs"] == 12
    # and the written file verifies on its own
    proc = run_cli("verify-schedule", str(PLAN), str(jobs), str(out))
    assert proc.returncode == 0, proc.stdout


def test_schedule_unknown_scheduler_and_response(placer, tmp_path):
    jobs = _small_jobs(tmp_path)
    out = tmp_path / "s.json"
    proc = placer("schedule", str(PLAN), str(jobs), "-o", str(out), "--scheduler", "magic")
    line = _one_error_line(proc)
    assert proc.returncode == 2 and "--scheduler" in line and "magic" in line and "fifo" in line
    proc = placer("schedule", str(PLAN), str(jobs), "-o", str(out), "--scheduler", "fifo", "--power-response", "x")
    line = _one_error_line(proc)
    assert proc.returncode == 2 and "--power-response" in line
    assert not out.exists()


def test_schedule_bad_input_writes_nothing(placer, tmp_path):
    out = tmp_path / "s.json"
    jobs = _small_jobs(tmp_path, sharing="shared")
    proc = placer("schedule", str(PLAN), str(jobs), "-o", str(out), "--scheduler", "fifo")
    line = _one_error_line(proc)
    assert proc.returncode == 2 and "small.json" in line and "sharing" in line
    proc = placer("schedule", str(PLAN), str(tmp_path / "none.json"), "-o", str(out), "--scheduler", "fifo")
    assert proc.returncode == 2 and "none.json" in _one_error_line(proc)
    proc = placer("schedule", str(PLAN), str(_small_jobs(tmp_path)), "-o", str(tmp_path), "--scheduler", "fifo")
    assert proc.returncode == 2 and "directory" in _one_error_line(proc)
    assert not out.exists()


def test_progress_logger_is_throttled():
    from structlog.testing import capture_logs

    from placer.cli_schedule import progress_logger

    ev = {"now_s": 7200.0, "queued": 3, "running": 2, "completed": 1, "rejected": 0, "decision_s": 0.0, "starts": 0}
    with capture_logs() as logs:
        progress_logger(0.0)(ev)
        quiet = progress_logger(3600.0)
        quiet(ev)
        quiet(ev)
    assert [e["event"] for e in logs] == ["schedule.progress"]
    assert logs[0]["simulated_h"] == 2.0 and logs[0]["queued"] == 3


def test_schedule_with_violations_is_written_exit_1(tmp_path):
    """A 2,880-GPU block job (five whole nvl72 SUs) fits no block of alpha's (at most 2,304 GPUs): the block-aware
    FIFO rejects it (exit 0); the block-unaware one spreads it over blocks (Slurm's 17+17+2), which the checker
    flags: the schedule is still written, exit 1."""
    jobs = tmp_path / "big-block.json"
    jobs.write_text(json.dumps({"jobs": [{"id": "train", "tenant": "alpha", "gpus": 2880, "sku": "nvl72",
                                          "arrival_s": 0.0, "duration_s": 3600.0, "gang": "block"},
                                         {"id": "small", "tenant": "alpha", "gpus": 8, "arrival_s": 0.0,
                                          "duration_s": 600.0, "gang": "domain"}]}))  # fmt: skip
    out = tmp_path / "unaware.json"
    proc = run_cli("schedule", str(PLAN), str(jobs), "-o", str(out), "--scheduler", "fifo")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "GANG_BLOCK" in proc.stdout and "job:train/segment:0" in proc.stdout and out.exists()
    aware = tmp_path / "aware.json"
    proc = run_cli("schedule", str(PLAN), str(jobs), "-o", str(aware), "--scheduler", "fifo-blocks")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = json.loads(aware.read_text())["jobs"][0]
    assert record["id"] == "train" and record["state"] == "rejected" and record["reason"]
