"""Plan: what a solver emits and the verifier checks, as pydantic v2 models.

A plan is self-describing: it names the scenario it was solved for (by digest), the
solver, its version, parameters and seed, and it carries every derived figure (site and
substation loads, cost terms) so that a reader can check them without re-running the
solver. The verifier (:mod:`placer.verify`) recomputes all of them from the scenario and
the rack counts in ``assignments``.

Money is USD per year; power is MW.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PLAN_SCHEMA_VERSION = 1

Status = Literal["OPTIMAL", "FEASIBLE", "INFEASIBLE", "UNKNOWN", "MODEL_INVALID"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Summary(_Model):
    status: Status
    solver: str
    solver_version: str
    seed: int
    workers: int
    parameters: dict[str, Any] = Field(default_factory=dict, description="solver parameters as passed")
    build_seconds: float
    solve_seconds: float
    objective: float = Field(description="objective value, USD per year (cost plus penalties)")
    bound: float | None = Field(None, description="best proven lower bound on the objective, USD per year")
    gap: float | None = Field(None, description="relative gap (objective - bound) / objective")
    gpus_placed: int
    racks_placed: int
    it_power_mw: float
    facility_power_mw: float
    power_band_mw: tuple[float, float]
    notes: list[str] = Field(default_factory=list, description="what the solver did and did not model")


class Assignment(_Model):
    tenant: str
    sku: str
    site: str
    racks: int = Field(ge=0)
    gpus: int = Field(ge=0)
    it_power_mw: float
    facility_power_mw: float


class SiteLoad(_Model):
    site: str
    racks: int
    gpus: int
    it_power_mw: float
    facility_power_mw: float
    liquid_heat_mw: float
    air_heat_mw: float
    it_capacity_mw: float
    liquid_cooling_mw: float
    air_cooling_mw: float
    feed_n1_capacity_mw: float = Field(description="facility power the site's feeds carry after losing the largest one")


class SubstationLoad(_Model):
    substation: str
    load_mw: float = Field(description="new facility load drawn through this substation's feeds, MW")
    headroom_mw: float


class CostTerm(_Model):
    name: str
    usd_per_year: float
    description: str


class Plan(_Model):
    schema_version: Literal[1] = PLAN_SCHEMA_VERSION
    scenario: str
    scenario_digest: str
    summary: Summary
    assignments: list[Assignment]
    sites: list[SiteLoad]
    substations: list[SubstationLoad]
    cost_breakdown: list[CostTerm]


def plan_json_schema() -> dict:
    return Plan.model_json_schema()
