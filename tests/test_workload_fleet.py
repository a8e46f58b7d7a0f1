"""The scheduler's inputs: the workload schema (bad files refused with their path), the allowance
definition, and the fleet of NVLink domains split from a laid-out plan."""

from __future__ import annotations

import json

import numpy as np
import pytest

from placer.errors import InputError
from placer.fleet import fleet_from_plan
from placer.io import load_plan
from placer.workload import Curtailment, Job, PowerPolicy, SkuPower, Workload, allowance_steps, load_workload
from tests.helpers import DATA

PLAN = DATA / "tiny_laid_plan.json"


def _job(**kw) -> Job:
    base = {"id": "j", "tenant": "alpha", "gpus": 8, "arrival_s": 0.0, "duration_s": 60.0}
    return Job(**(base | kw))


def test_fleet_splits_racks_into_nvlink_domains():
    plan = load_plan(PLAN)
    fleet = fleet_from_plan(plan)
    assert fleet.total_gpus == plan.summary.gpus_placed == 24_800
    assert fleet.owned_gpus() == {"alpha": 17_600, "beta": 7_200}
    hgx = fleet.skus.index("hgx")
    nvl = fleet.skus.index("nvl72")
    # an HGX rack is four 8-GPU nodes; an NVL72 rack one 72-GPU domain
    assert set(fleet.gpus[fleet.sku == hgx].tolist()) == {8}
    assert set(fleet.gpus[fleet.sku == nvl].tolist()) == {72}
    assert fleet.domains == 300 + 4 * 100
    # per site: facility over IT from the plan, base allowance = the plan's facility MW
    for s in plan.sites:
        i = fleet.sites.index(s.site)
        assert fleet.pue[i] == pytest.approx(s.facility_power_mw / s.it_power_mw)
        assert fleet.base_mw[i] == pytest.approx(s.facility_power_mw)
        # every GPU at full power reproduces the plan's IT MW at the site
        it_mw = float((fleet.kw_per_gpu * fleet.gpus)[fleet.site == i].sum()) / 1000
        assert it_mw == pytest.approx(s.it_power_mw)
    # an SU's GPUs are the sum of its domains'
    su_sum = np.bincount(fleet.su, weights=fleet.gpus)
    assert np.array_equal(su_sum.astype(int), fleet.su_gpus)
    assert fleet.digest() == fleet_from_plan(load_plan(PLAN)).digest()


def test_workload_domain_size_and_base_override_change_the_fleet():
    plan = load_plan(PLAN)
    wl = Workload(jobs=[_job()], skus=[SkuPower(sku="hgx", domain_gpus=32)], power=PowerPolicy(base_mw={"north": 10.0}))
    fleet = fleet_from_plan(plan, wl)
    assert fleet.domains == 300 + 100
    assert fleet.base_mw[fleet.sites.index("north")] == 10.0
    assert fleet.digest() != fleet_from_plan(plan).digest()


def test_plan_without_layout_is_refused_with_the_command_to_run(tmp_path):
    data = json.loads(PLAN.read_text())
    data["layout"] = None
    path = tmp_path / "bare.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"bare.json: layout: the plan has no rack inventory; lay it out first"):
        fleet_from_plan(load_plan(path), plan_file=str(path))


def test_allowance_steps_lowest_active_curtailment_wins():
    wl = Workload(
        jobs=[_job()],
        power=PowerPolicy.model_validate(
            {
                "allowance": [{"site": "s", "start_s": 50.0, "mw": 80.0}],
                "curtailments": [
                    {"site": "s", "start_s": 100.0, "end_s": 300.0, "share": 0.6},
                    {"site": "s", "start_s": 200.0, "end_s": 250.0, "mw": 40.0},
                    {"site": "other", "start_s": 0.0, "end_s": 10.0, "mw": 1.0},
                ],
            }
        ),
    )
    assert allowance_steps(wl, "s", 100.0) == [
        (0.0, 100.0),
        (50.0, 80.0),
        (100.0, 60.0),
        (200.0, 40.0),
        (250.0, 60.0),
        (300.0, 80.0),
    ]
    assert allowance_steps(wl, "none", 5.0) == [(0.0, 5.0)]


@pytest.mark.parametrize(
    ("doc", "path_and_error"),
    [
        ({"jobs": [{"id": "a", "tenant": "t", "gpus": "8", "arrival_s": 0.0, "duration_s": 1.0}]}, r"jobs\[0\]\.gpus"),
        (
            {"jobs": [{"id": "a", "tenant": "t", "gpus": 8, "arrival_s": -1.0, "duration_s": 1.0}]},
            r"jobs\[0\]\.arrival_s",
        ),
        (
            {"jobs": [{"id": "a", "tenant": "t", "gpus": 8, "arrival_s": 0.0, "duration_s": 1.0, "gang": "rack"}]},
            r"jobs\[0\]\.gang",
        ),
        (
            {"jobs": [{"id": "a", "tenant": "t", "gpus": 8, "arrival_s": 0.0, "duration_s": 1.0}] * 2},
            r"jobs: 'a' appears twice",
        ),
        (
            {"jobs": [], "power": {"curtailments": [{"site": "s", "start_s": 5.0, "end_s": 1.0, "share": 0.5}]}},
            r"power\.curtailments\[0\].*end_s must be after start_s",
        ),
        (
            {"jobs": [], "power": {"curtailments": [{"site": "s", "start_s": 0.0, "end_s": 1.0}]}},
            r"power\.curtailments\[0\].*exactly one of share and mw",
        ),
        (
            {"jobs": [], "skus": [{"sku": "x", "modes": [{"cap": 0.5, "speed": 0.7}]}]},
            r"skus\[0\].*cap 1\.0 at speed 1\.0",
        ),
        (
            {
                "jobs": [],
                "skus": [
                    {
                        "sku": "x",
                        "modes": [{"cap": 1.0, "speed": 1.0}, {"cap": 0.5, "speed": 1.0}, {"cap": 0.7, "speed": 0.8}],
                    }
                ],
            },
            r"skus\[0\].*speed falls as the cap rises",
        ),
        ({"jobs": [], "sharing": "shared"}, r"sharing"),
    ],
)
def test_bad_workload_names_file_and_path(tmp_path, doc, path_and_error):
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"jobs\.json.*" + path_and_error) as e:
        load_workload(path)
    assert "\n" not in str(e.value)


def test_curtailment_share_is_of_the_base():
    c = Curtailment(site="s", start_s=0.0, end_s=1.0, share=0.5)
    wl = Workload(jobs=[], power=PowerPolicy(curtailments=[c]))
    assert allowance_steps(wl, "s", 30.0) == [(0.0, 15.0), (1.0, 30.0)]


def test_schema_command_prints_the_workload_and_schedule_schemas(cli):
    wl = cli("schema", "--workload")
    assert wl.returncode == 0 and '"Job"' in wl.stdout and '"Curtailment"' in wl.stdout
    sch = cli("schema", "--schedule")
    assert sch.returncode == 0 and '"Segment"' in sch.stdout
    both = cli("schema", "--workload", "--schedule")
    assert both.returncode == 2 and "give at most one of" in both.stderr and "Traceback" not in both.stderr
