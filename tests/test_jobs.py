"""Job sources for the cluster scheduler: the synthetic generator, the Alibaba PAI trace loader,
the k-times fleet and the `placer jobs` commands (all on the tiny laid-out fleet; seconds)."""

from __future__ import annotations

import collections
import shutil
from pathlib import Path

import numpy as np
import pytest

from placer.errors import InputError
from placer.fleet import fleet_from_plan
from placer.io import load_plan
from placer.workload import load_workload
from tests.helpers import DATA, cli_in_process
from topologies.alibaba_trace import load_alibaba, tenant_of
from topologies.fleet_scale import scale_plan, scaled_week
from topologies.jobs_synthetic import korea_week, synthetic_workload

PLAN = DATA / "tiny_laid_plan.json"
PAI = DATA / "alibaba_pai"


@pytest.fixture(scope="module")
def plan():
    return load_plan(PLAN)


@pytest.fixture(scope="module")
def fleet(plan):
    return fleet_from_plan(plan)


@pytest.fixture(scope="module")
def week(fleet):
    return korea_week(fleet, seed=3)


def _gpu_h(jobs) -> float:
    return sum(j.gpus * j.duration_s for j in jobs) / 3600.0


# --- the synthetic generator ---------------------------------------------------------------


def test_synthetic_is_deterministic_for_a_seed(fleet):
    a = synthetic_workload(fleet, days=1.0, seed=7)
    b = synthetic_workload(fleet, days=1.0, seed=7)
    c = synthetic_workload(fleet, days=1.0, seed=8)
    assert a.digest() == b.digest()
    assert a.digest() != c.digest()


@pytest.mark.parametrize("load", [0.5, 0.95])
def test_offered_load_is_near_the_requested(fleet, load):
    days = 7.0
    wl = synthetic_workload(fleet, days=days, load=load, seed=1)
    offered = _gpu_h(wl.jobs) / (fleet.total_gpus * days * 24)
    assert offered == pytest.approx(load, rel=0.08)


def test_every_job_fits_its_tenant_and_its_gang(fleet, week):
    owned = fleet.owned_gpus()
    assert {t.tenant: t.quota_gpus for t in week.tenants} == owned
    # per (tenant, sku): the most SUs one block holds, and its SU sizes
    sus_in_block = collections.defaultdict(lambda: collections.defaultdict(set))
    for d in range(fleet.domains):
        key = (fleet.tenants[fleet.tenant[d]], fleet.skus[fleet.sku[d]])
        sus_in_block[key][int(fleet.block[d])].add(int(fleet.su[d]))
    largest_domain = collections.defaultdict(int)
    for d in range(fleet.domains):
        t = fleet.tenants[fleet.tenant[d]]
        largest_domain[t] = max(largest_domain[t], int(fleet.gpus[d]))
    for j in week.jobs:
        assert j.tenant in owned and j.gpus <= owned[j.tenant]
        if j.gang == "block":
            blocks = sus_in_block[(j.tenant, j.sku)]
            assert blocks, f"{j.id}: no SU of {j.sku} for {j.tenant}"
            fits = any(
                sum(int(fleet.su_gpus[u]) for u in sorted(us, key=lambda u: -fleet.su_gpus[u])) >= j.gpus
                for us in blocks.values()
            )
            assert fits, f"{j.id}: {j.gpus} GPUs fit no block of {j.tenant}/{j.sku}"
        elif j.gang == "domain":
            assert j.gpus <= largest_domain[j.tenant]
        if j.sites:
            assert set(j.sites) <= set(fleet.sites)


def test_the_class_mix_follows_the_traces_shape(week):
    """Most jobs are small, most GPU time is in large block jobs (Helios' finding)."""
    jobs = week.jobs
    small = [j for j in jobs if j.gang == "domain"]
    block = [j for j in jobs if j.gang == "block"]
    assert len(small) / len(jobs) > 0.6
    assert _gpu_h(block) / _gpu_h(jobs) > 0.4
    durations_h = np.array([j.duration_s for j in jobs]) / 3600
    assert np.median(durations_h) < np.mean(durations_h) / 2  # heavy tail
    assert {j.kind for j in jobs} == {"training", "inference", "batch"}


def test_estimates_exceed_durations_and_some_jobs_cannot_be_paused(week):
    assert all(j.estimate >= j.duration_s for j in week.jobs)
    assert np.mean([j.estimate / j.duration_s for j in week.jobs]) > 1.3
    fixed = [j for j in week.jobs if not j.preemptible]
    assert fixed and len(fixed) < len(week.jobs) / 2
    assert all(j.checkpoint_s == 0 for j in fixed)
    assert all(j.checkpoint_s > 0 for j in week.jobs if j.preemptible)
    assert all(not j.preemptible for j in week.jobs if j.kind == "inference")


def test_submissions_follow_the_day(week):
    hours = np.array([(j.arrival_s / 3600) % 24 for j in week.jobs])
    day = ((hours >= 10) & (hours < 18)).sum()
    night = ((hours >= 22) | (hours < 6)).sum()
    assert day > 1.8 * night
    weekday = np.array([int(j.arrival_s // 86400) for j in week.jobs])
    assert (weekday == 2).sum() > 1.3 * (weekday == 6).sum()


def test_korea_week_has_two_curtailment_events(fleet, week):
    cs = week.power.curtailments
    dr = [c for c in cs if c.share == 0.65]
    line = [c for c in cs if c.share == 0.4]
    assert len(dr) == 2 and len(line) == 1
    assert len({c.site for c in dr}) == 2
    assert {(c.start_s, c.end_s) for c in dr} == {(2 * 86400 + 14 * 3600, 2 * 86400 + 18 * 3600)}
    assert line[0].end_s - line[0].start_s == 2 * 3600
    assert all(c.site in fleet.sites for c in cs)
    # a one-day stream keeps both events inside its day
    short = korea_week(fleet, seed=0, days=1.0)
    assert all(c.end_s <= 86400 for c in short.power.curtailments)


def test_bad_arguments_are_refused(fleet):
    with pytest.raises(ValueError, match="load"):
        synthetic_workload(fleet, load=0)
    with pytest.raises(ValueError, match="days"):
        synthetic_workload(fleet, days=-1)


# --- the Alibaba PAI loader ---------------------------------------------------------------


def test_alibaba_fixture_loads_and_counts_its_skips(fleet):
    res = load_alibaba(PAI, fleet)
    assert res.job_rows == 28 and res.task_rows == 32 and res.kept == 19
    assert res.skipped == {
        "jobs failed (not Terminated)": 3,
        "jobs running (not Terminated)": 1,
        "jobs waiting (not Terminated)": 1,
        "jobs without GPUs": 2,
        "jobs without tasks": 1,
        "jobs without a run time (missing or zero start/end)": 1,
        "task rows of no job in the job table": 1,
    }
    jobs = {j.id: j for j in res.workload.jobs}
    first = jobs["7aa4666ec66a5606dc763931"]  # submitted 1739100, one task of 50 % GPU for 38 s
    assert first.gpus == 1 and first.duration_s == 38.0 and first.gang == "domain"
    # t = 0 is the UTC+8 midnight before the first submission: 1739100 s is 11:05 local
    assert first.arrival_s == 11 * 3600 + 5 * 60
    big = jobs["1f0f032dd588ac7d41b1b969"]  # 8 workers x 200 % + an evaluator x 100 % -> 17 GPUs
    assert big.gpus == 17 and big.gang == "site" and big.kind == "training" and big.duration_s == 43200.0
    assert all(j.tenant in fleet.tenants for j in jobs.values())
    assert [j.arrival_s for j in res.workload.jobs] == sorted(j.arrival_s for j in res.workload.jobs)


def test_alibaba_user_maps_to_one_tenant(fleet):
    assert tenant_of("58540f191766", fleet.tenants) == tenant_of("58540f191766", fleet.tenants)
    res = load_alibaba(PAI, fleet)
    assert len({j.tenant for j in res.workload.jobs}) == 2  # six users spread over both tenants


def test_alibaba_window_and_limit(fleet):
    assert load_alibaba(PAI, fleet, max_jobs=5).kept == 5
    one_day = load_alibaba(PAI, fleet, days=1.0)
    assert 0 < one_day.kept < 19 and all(j.arrival_s < 86400 for j in one_day.workload.jobs)


def _copy_with(tmp_path: Path, name: str, edit) -> Path:
    d = tmp_path / "trace"
    shutil.copytree(PAI, d)
    p = d / name
    lines = p.read_text().splitlines()
    edit(lines)
    p.write_text("\n".join(lines) + "\n")
    return d


@pytest.mark.parametrize(
    ("name", "edit", "expected"),
    [
        (
            "pai_task_table.csv",
            lambda ls: ls.__setitem__(4, ls[4].replace(",800.0,V100M32", ",lots,V100M32")),
            r"pai_task_table.csv: row 5: column plan_gpu \('lots'\) is not a number",
        ),
        (
            "pai_job_table.csv",
            lambda ls: ls.__setitem__(2, ls[2] + ",extra"),
            r"pai_job_table.csv: row 3: 7 columns, expected 6",
        ),
        ("pai_job_table.csv", lambda ls: ls.append(ls[0]), r"pai_job_table.csv: row 29: column job_name: '7aa4.*twice"),
        (
            "pai_job_table.csv",
            lambda ls: ls.__setitem__(0, ls[0].replace("Terminated", "Done")),
            r"row 1: column status \('Done'\) is not one of",
        ),
        (
            "pai_task_table.csv",
            lambda ls: ls.__setitem__(1, ls[1].replace(",1.0,", ",-1.0,", 1)),
            r"row 2: column inst_num \(-1.0\) must be a finite number >= 0",
        ),
    ],
)
def test_alibaba_malformed_rows_are_named(tmp_path, fleet, name, edit, expected):
    d = _copy_with(tmp_path, name, edit)
    with pytest.raises(InputError, match=expected) as info:
        load_alibaba(d, fleet)
    assert "\n" not in info.value.one_line()


def test_alibaba_header_row_and_missing_files(tmp_path, fleet):
    header = "job_name,inst_id,user,status,start_time,end_time"
    d = _copy_with(tmp_path, "pai_job_table.csv", lambda ls: ls.insert(0, header))
    assert load_alibaba(d, fleet).kept == 19
    (d / "pai_task_table.csv").unlink()
    with pytest.raises(InputError, match="missing pai_task_table.csv"):
        load_alibaba(d, fleet)
    with pytest.raises(InputError, match="not a directory"):
        load_alibaba(tmp_path / "nowhere", fleet)


# --- the k-times fleet ----------------------------------------------------------------------


def test_scale_plan_replicates_the_fleet(plan, fleet):
    big = fleet_from_plan(scale_plan(plan, 3))
    assert big.total_gpus == 3 * fleet.total_gpus and big.domains == 3 * fleet.domains
    assert len(big.sites) == 3 * len(fleet.sites) and len(big.sus) == 3 * len(fleet.sus)
    assert len(big.blocks) == 3 * len(fleet.blocks)
    assert big.tenants == fleet.tenants
    assert big.owned_gpus() == {t: 3 * g for t, g in fleet.owned_gpus().items()}
    assert float(big.base_mw.sum()) == pytest.approx(3 * float(fleet.base_mw.sum()))
    assert set(fleet.sites) < set(big.sites) and "north.c2" in big.sites
    assert big.digest() != fleet.digest()
    assert fleet_from_plan(scale_plan(plan, 1)).digest() == fleet.digest()
    with pytest.raises(InputError, match="scale factor"):
        scale_plan(plan, 0)


def test_scaled_week_runs_on_the_scaled_fleet(plan):
    big, wl = scaled_week(plan, 2, days=0.5, seed=0)
    f = fleet_from_plan(big)
    assert f.total_gpus == 2 * 24_800
    assert {j.tenant for j in wl.jobs} <= set(f.tenants)
    assert all(c.site in f.sites and c.end_s <= 86400 for c in wl.power.curtailments)


# --- the commands ---------------------------------------------------------------------------


def test_cli_synth_writes_yaml_or_json(tmp_path):
    y, j = tmp_path / "jobs.yaml", tmp_path / "jobs.json"
    assert cli_in_process("jobs", "synth", str(PLAN), "-o", str(y), "--days", "0.5", "--seed", "4") == 0
    assert cli_in_process("jobs", "synth", str(PLAN), "-o", str(j), "--days", "0.5", "--seed", "4") == 0
    assert y.read_text().startswith("name:") and j.read_text().startswith("{")
    assert load_workload(y).digest() == load_workload(j).digest()
    wk = tmp_path / "week.json"
    assert cli_in_process("jobs", "synth", str(PLAN), "-o", str(wk), "--days", "1", "--korea-week") == 0
    assert len(load_workload(wk).power.curtailments) == 3


def test_cli_synth_scale_writes_the_scaled_plan(tmp_path):
    out = tmp_path / "big.json"
    assert cli_in_process("jobs", "synth", str(PLAN), "-o", str(out), "--days", "0.25", "--scale", "2") == 0
    big = load_plan(tmp_path / "big.plan.json")
    assert fleet_from_plan(big).total_gpus == 2 * 24_800


def test_cli_alibaba(tmp_path, capsys):
    out = tmp_path / "pai.json"
    assert cli_in_process("jobs", "alibaba", str(PAI), "--plan", str(PLAN), "-o", str(out)) == 0
    assert len(load_workload(out).jobs) == 19
    assert "19 jobs kept of 28 job rows" in capsys.readouterr().out


def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys):
    out = tmp_path / "x.json"
    # a plan without a layout
    assert cli_in_process("jobs", "synth", str(DATA / "tiny.yaml"), "-o", str(out)) == 2
    # a malformed trace row
    d = _copy_with(tmp_path, "pai_job_table.csv", lambda ls: ls.__setitem__(3, ls[3].replace(",1749950.0,", ",soon,")))
    assert cli_in_process("jobs", "alibaba", str(d), "--plan", str(PLAN), "-o", str(out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "row 4: column start_time ('soon') is not a number" in err[-1]
    assert not out.exists()


def test_warm_start_fills_the_fleet_at_t0(fleet, week):
    owned = fleet.owned_gpus()
    warm = [j for j in week.jobs if "-warm-" in j.id]
    assert warm and all(j.arrival_s == 0.0 for j in warm)
    for tenant, gpus in owned.items():
        held = sum(j.gpus for j in warm if j.tenant == tenant)
        assert 0.6 * gpus <= held <= 0.75 * gpus
    assert not any("-warm-" in j.id for j in synthetic_workload(fleet, days=1.0, seed=3).jobs)
    with pytest.raises(ValueError, match="warm"):
        synthetic_workload(fleet, warm=1.5)
