"""The seeded synthetic rollout (topologies/synthetic_rollout.py): valid, deterministic, solvable and
verified on a small instance (10 sites, 4 quarters, 5 options), and registered as a benchmark suite."""

from __future__ import annotations

from typing import Any

import pytest

from placer.errors import InputError
from placer.verify import verify
from topologies.synthetic_rollout import generate_rollout

SMALL: dict[str, Any] = {"sites": 10, "gpus": 20_000, "quarters": 4, "options": 5, "seed": 1}


def test_same_arguments_same_scenario_and_the_rules_hold():
    a, b = generate_rollout(**SMALL), generate_rollout(**SMALL)
    assert a.model_dump_json() == b.model_dump_json()
    assert generate_rollout(**{**SMALL, "seed": 2}).model_dump_json() != a.model_dump_json()
    r = a.rollout
    assert r is not None and len(r.periods) == 4 and len(r.options) == 5
    # every line's GPUs are delivered, in the first half of the horizon
    delivered: dict[tuple[str, str], int] = {}
    for d in r.deliveries:
        assert d.period in r.periods[:2]
        delivered[(d.tenant, d.sku)] = delivered.get((d.tenant, d.sku), 0) + d.gpus
    lines = {(t.id, ln.sku): ln.gpus for t in a.demand.tenants for ln in t.lines}
    assert delivered == lines
    # a staged site ends at its topology IT, so the final build-out has the single-period room
    sites = {s.id: s for s in a.topology.sites}
    last = {}
    for st in sorted(r.site_stages, key=lambda st: r.periods.index(st.period)):
        last[st.site] = st.it_capacity_mw
    assert last and all(mw == sites[s].it_capacity_mw for s, mw in last.items())
    # a bridge hall ends at its site's first stage
    for o in r.options:
        if o.kind == "site_stage":
            first = min(r.periods.index(st.period) for st in r.site_stages if st.site == o.element)
            assert o.until == r.periods[first]


def test_same_arguments_same_file_byte_for_byte(tmp_path):
    from placer.io import dump_model

    for name in ("a.json", "b.json"):
        dump_model(generate_rollout(**SMALL), tmp_path / name)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_power_is_short_early_and_the_final_room_is_the_single_period_scenarios():
    """Deliveries run ahead of energization (what makes the options worth building), and the fixed
    upgrades and stages restore the single-period scenario's capacities by the last quarter."""
    from solvers.problem import build_problem, effective_values
    from topologies.synthetic import generate

    sc = generate_rollout(**SMALL)
    per = build_problem(sc).periods
    skus = {k.id: k for k in sc.catalog}
    it_by = [0.0] * len(per.ids)
    for d in sc.rollout.deliveries:
        for q in range(per.ids.index(d.period), len(per.ids)):
            it_by[q] += d.gpus / skus[d.sku].gpus_per_rack * skus[d.sku].it_kw_per_rack / 1000
    usable = [
        sum(min(it, fac / s.pue) for it, fac, s in zip(per.it_cap[q], per.feed_limit[q], sc.topology.sites))
        for q in range(2)
    ]
    assert usable[0] < 0.5 * it_by[0] and usable[1] < 0.5 * it_by[1]
    assert sc.rollout.upgrades  # weak feeds and tight substations, restored by fixed upgrades
    base = generate(sites=SMALL["sites"], gpus=SMALL["gpus"], seed=SMALL["seed"])
    final = effective_values(sc, len(per.ids) - 1)
    assert final["it"] == {s.id: s.it_capacity_mw for s in base.topology.sites}
    assert final["feed"] == {e.id: e.capacity_mw for e in base.topology.edges_of_kind("feed")}
    assert final["headroom"] == {b.id: b.headroom_mw for b in base.topology.substations}


def test_small_instance_solves_verifies_and_is_deterministic():
    from solvers import solve

    sc = generate_rollout(**SMALL)
    plans = [solve(sc, "cpsat", time_limit_s=0.5, workers=1, deterministic=True, option_worth=False) for _ in range(2)]
    report = verify(sc, plans[0])
    assert report.valid, report.violations[:3]
    assert len(plans[0].investments or []) >= 2  # power is short early: options are worth building
    grid_timing = {"loop_seconds": True, "iterations": {"__all__": {"seconds"}}}
    timing = {"summary": True, "grid": grid_timing, "schedule": {"__all__": {"grid": grid_timing}}}
    assert plans[0].model_dump(exclude=timing) == plans[1].model_dump(exclude=timing)  # type: ignore[arg-type]
    assert plans[0].summary.objective == plans[1].summary.objective


@pytest.mark.parametrize("bad", [{"quarters": 1}, {"options": -1}, {"quarters": 2.5}, {"options": True}])
def test_bad_arguments_name_the_argument(bad):
    with pytest.raises(InputError) as e:
        generate_rollout(**{**SMALL, **bad})
    assert e.value.where == next(iter(bad))


def test_registered_as_a_benchmark_suite():
    from benchmarks.suites import SUITES, case_builder

    names = [c for c, _ in SUITES["rollout-syn"]]
    assert names == ["syn-rollout-s10-q4-o5", "syn-rollout-s100-q12-o50"]
    assert case_builder("rollout-syn", names[0])().model_dump_json() == generate_rollout(**SMALL).model_dump_json()
