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
    status: Status = Field(description="of the whole objective reported: OPTIMAL only when gap <= relative_gap "
                           "against a valid bound of the whole problem; otherwise FEASIBLE")
    placement_status: Status | None = Field(
        None, description="the engine's own status for the placement alone, when the engine does not model "
        "everything the objective holds (e.g. cpsat or greedy on a grid, whose re-dispatch is chosen afterwards)")
    relative_gap: float = Field(ge=0, le=1, allow_inf_nan=False,
                                description="the gap OPTIMAL is proven within (policy.solver.relative_gap)")
    interrupted: bool = Field(False, description="the solve was interrupted (Ctrl-C): the plan is the incumbent then")
    solver: str
    engine_choice: str = Field("", description="why this engine ran: as requested, or what 'auto' saw")
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
    stranded_gpu_quarters: int = Field(0, description="sum over periods of GPUs delivered but not live")
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


class LineFlow(_Model):
    line: str
    flow_mw: float = Field(description="base-case DC flow, positive from the line's 'from' end")
    limit_mw: float = Field(description="base-case limit applied: max(rating_mw, |pre-existing flow|)")
    rating_mw: float
    loading_pct: float = Field(description="100 * |flow| / limit")


class ContingencyLoading(_Model):
    outage: str = Field(description="the line lost")
    line: str = Field(description="the line loaded")
    flow_mw: float
    limit_mw: float = Field(description="max(emergency rating, |pre-existing post-outage flow|): the no-harm limit")
    loading_pct: float


class Redispatch(_Model):
    plant: str
    mw: float = Field(description="change of output for the new load: within [0, spare_mw], or "
                      "[-pre-existing output, spare_mw] when the policy allows re-dispatch down")
    spare_mw: float
    cost_usd_per_mwh: float


class PreexistingGrid(_Model):
    """The grid before the new load: least-cost DC OPF of the existing load (facts, not faults of the plan)."""

    dispatch_mw: dict[str, float] = Field(description="plant output, within [0, capacity - spare]")
    cost_usd_per_h: float
    relaxed: bool = Field(description="true when base-case limits could not all hold without the new load")
    base_overloads: list[LineFlow] = Field(default_factory=list)
    n1_overloads: list[ContingencyLoading] = Field(
        default_factory=list, description="post-outage loadings above the emergency rating before any new load"
    )


class LoopIteration(_Model):
    iteration: int
    seconds: float
    objective: float | None
    base_constraints_added: int
    contingency_constraints_added: int
    worst_violation_mw: float


class GridReport(_Model):
    """Everything needed to recompute the flows with any DC power flow."""

    security: Literal["none", "n-0", "n-1"]
    enforced_by_solver: bool = Field(description="whether the solver held line limits while placing")
    base_mva: float
    monitored_lines: int
    injections_mw: dict[str, float] = Field(description="net injection per bus with the new load and re-dispatch, MW")
    new_load_mw: dict[str, float] = Field(description="data-center facility load per bus, MW")
    redispatch: list[Redispatch]
    preexisting: PreexistingGrid
    lines: list[LineFlow]
    worst_contingencies: list[ContingencyLoading] = Field(description="the highest post-outage loadings, worst first")
    bridges: list[str] = Field(description="lines whose outage islands buses: listed and skipped")
    violations: list[ContingencyLoading] = Field(
        default_factory=list, description="no-harm violations left in the plan (base case: outage '-')"
    )
    n_minus_1: Literal["secure", "insecure", "not_checked"]
    iterations: list[LoopIteration] = Field(default_factory=list)
    constraints_added: int = 0
    loop_seconds: float = 0.0


class GoingLive(_Model):
    tenant: str
    sku: str
    site: str
    racks: int = Field(description="racks going live in this period (installed minus installed the period before)")
    gpus: int


class SitePeriod(_Model):
    site: str
    it_power_mw: float = Field(description="IT power of the racks live at the site")
    it_available_mw: float
    facility_power_mw: float
    facility_available_mw: float = Field(description="what the site's feeds carry with N-1, this period")


class PeriodReport(_Model):
    period: str
    going_live: list[GoingLive]
    installed_racks: dict[str, int] = Field(description="cumulative live racks per 'tenant/sku/site'")
    gpus_delivered: int = Field(description="cumulative GPUs delivered by the end of this period")
    gpus_live: int
    gpus_stranded: int = Field(description="delivered but not yet live")
    sites: list[SitePeriod]


class Plan(_Model):
    schema_version: Literal[1] = PLAN_SCHEMA_VERSION
    scenario: str
    scenario_digest: str
    summary: Summary
    assignments: list[Assignment]
    sites: list[SiteLoad]
    substations: list[SubstationLoad]
    cost_breakdown: list[CostTerm]
    grid: GridReport | None = Field(None, description="DC power flow of the plan; present when the topology has lines")
    schedule: list[PeriodReport] | None = Field(None, description="the rollout, period by period (multi-period scenarios)")


def plan_json_schema() -> dict:
    return Plan.model_json_schema()
