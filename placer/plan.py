"""Plan: what a solver emits and the verifier checks, as pydantic v2 models.

A plan is self-describing: it names the scenario it was solved for (by digest), the
solver, its version, parameters and seed, and it carries every derived figure (site and
substation loads, cost terms) so that a reader can check them without re-running the
solver. The verifier (:mod:`placer.verify`) recomputes all of them from the scenario and
the rack counts in ``assignments``.

Money is USD per year in ``cost_breakdown`` and USD (present value) in ``npv``; power is MW.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from placer.scenario import Identifier, PeriodId, Text

PLAN_SCHEMA_VERSION: Literal[1] = 1

# Strict numbers, as in the scenario: "400" and true are not rack counts. Floats may be NaN or
# infinite here: the verifier judges such figures (a plan is a claim to check, not an input to
# clamp), but they must be numbers.
Int = Annotated[int, Strict()]
Real = Annotated[float, Strict()]
Flag = Annotated[bool, Strict()]
# "tenant/sku/site": three identifiers joined by slashes.
RackKey = Annotated[str, Field(max_length=400, pattern=r"^[A-Za-z0-9_.:\-]+/[A-Za-z0-9_.:\-]+/[A-Za-z0-9_.:\-]+$")]

Status = Literal["OPTIMAL", "FEASIBLE", "INFEASIBLE", "UNKNOWN", "MODEL_INVALID"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Summary(_Model):
    status: Status = Field(
        description="of the whole objective reported: OPTIMAL only when gap <= relative_gap "
        "against a valid bound of the whole problem; otherwise FEASIBLE"
    )
    placement_status: Status | None = Field(
        None,
        description="the engine's own status for the placement alone, when the engine does not model "
        "everything the objective holds (e.g. cpsat or greedy on a grid, whose re-dispatch is chosen afterwards)",
    )
    relative_gap: Real = Field(
        ge=0, le=1, allow_inf_nan=False, description="the gap OPTIMAL is proven within (policy.solver.relative_gap)"
    )
    interrupted: Flag = Field(False, description="the solve was interrupted (Ctrl-C): the plan is the incumbent then")
    solver: Identifier
    engine_choice: Text = Field("", description="why this engine ran: as requested, or what 'auto' saw")
    solver_version: Text
    seed: Int
    workers: Int
    parameters: dict[Identifier, Any] = Field(default_factory=dict, description="solver parameters as passed")
    build_seconds: Real
    solve_seconds: Real
    objective: Real = Field(
        description="objective value in objective_unit: a single period's annualised cost (the sum of "
        "cost_breakdown, USD per year); a rollout's net present value (npv.total_usd, USD)"
    )
    objective_unit: Literal["usd_per_year", "usd"] = Field(
        "usd_per_year", description="usd_per_year: annualised cost (single period); usd: net present value (rollout)"
    )
    bound: Real | None = Field(None, description="best proven lower bound on the objective, in its unit")
    gap: Real | None = Field(None, description="relative gap (objective - bound) / objective")
    gpus_placed: Int
    racks_placed: Int
    it_power_mw: Real
    facility_power_mw: Real
    power_band_mw: tuple[Real, Real]
    stranded_gpu_quarters: Int = Field(0, description="sum over periods of GPUs delivered but not live")
    notes: list[Text] = Field(default_factory=list, description="what the solver did and did not model")


class Assignment(_Model):
    tenant: Identifier
    sku: Identifier
    site: Identifier
    racks: Int = Field(ge=0)
    gpus: Int = Field(ge=0)
    it_power_mw: Real
    facility_power_mw: Real


class SiteLoad(_Model):
    site: Identifier
    racks: Int
    gpus: Int
    it_power_mw: Real
    facility_power_mw: Real
    liquid_heat_mw: Real
    air_heat_mw: Real
    it_capacity_mw: Real
    liquid_cooling_mw: Real
    air_cooling_mw: Real
    feed_n1_capacity_mw: Real = Field(description="facility power the site's feeds carry after losing the largest one")


class SubstationLoad(_Model):
    substation: Identifier
    load_mw: Real = Field(description="new facility load drawn through this substation's feeds, MW")
    headroom_mw: Real


class CostTerm(_Model):
    """One annual cost: of the placement (single period) or of the final build-out (a rollout's run rate)."""

    name: Identifier
    usd_per_year: Real
    description: Text


class OptionWorth(_Model):
    """What one built option is worth, against the same placement without it: the plan's final
    placement and its other options kept (those requiring this one also dropped), the schedule
    re-optimised by CP-SAT. Not a global optimum: another placement might do better without it."""

    method: Literal["same_placement_without_it"] = "same_placement_without_it"
    without: list[Identifier] = Field(description="the options dropped: this one and any that require it")
    status: Status = Field(
        description="the re-schedule's status; INFEASIBLE: this placement cannot be scheduled without it "
        "(deliveries, go-live deadlines or final capacity need it), so no figures"
    )
    npv_with_usd: Real = Field(
        description="the baseline: NPV (a cost, USD) of the same placement with all the plan's options, the "
        "better of the plan's schedule and the same re-schedule (so both sides are optimised alike)"
    )
    stranded_gpu_quarters_with: Int = Field(description="stranded GPU-quarters of that baseline")
    npv_without_usd: Real | None = Field(None, description="NPV (a cost, USD) of the re-scheduled plan without it")
    npv_saved_usd: Real | None = Field(None, description="npv_without_usd minus npv_with_usd, USD")
    stranded_gpu_quarters_without: Int | None = None
    stranded_gpu_quarters_saved: Int | None = Field(
        None, description="stranded_gpu_quarters_without minus stranded_gpu_quarters_with"
    )


class Investment(_Model):
    """A power option the plan builds: from this period on it is in service."""

    option: Identifier
    kind: Identifier
    period: PeriodId
    capex_usd: Real = Field(description="capital cost, USD, in this period")
    fixed_usd_per_year: Real = Field(description="fixed cost while in service, USD per year")
    worth: OptionWorth | None = Field(
        None, description="what this option is worth against the same placement without it (when evaluated)"
    )


class BuildFirst(_Model):
    """One line of the ranked 'what to build first' list: options ranked by the NPV they save."""

    rank: Int
    option: Identifier
    period: PeriodId
    capex_usd: Real
    npv_saved_usd: Real | None = Field(None, description="None: the placement needs it (ranked first)")
    stranded_gpu_quarters_saved: Int | None = None
    text: Text = Field(description="the line in the planner's words")


class NpvTerm(_Model):
    name: Identifier
    usd: Real = Field(description="present value over the whole rollout, USD")
    description: Text


class NpvPeriod(_Model):
    period: PeriodId
    discount_factor: Real = Field(description="present value of one USD paid at the start of this period")
    terms_usd: dict[Identifier, Real] = Field(description="each term's cash flow in this period, discounted, USD")
    total_usd: Real


class NpvReport(_Model):
    """A rollout's objective: net present value at the start of its first period, USD, term by term
    and period by period."""

    discount_rate_per_year: Real
    quarter_length_years: Real
    total_usd: Real = Field(description="sum of the terms: the plan's objective")
    terms: list[NpvTerm]
    periods: list[NpvPeriod]


class LineFlow(_Model):
    line: Identifier
    flow_mw: Real = Field(description="base-case DC flow, positive from the line's 'from' end")
    limit_mw: Real = Field(description="base-case limit applied: max(rating_mw, |pre-existing flow|)")
    rating_mw: Real
    loading_pct: Real = Field(description="100 * |flow| / limit")


class ContingencyLoading(_Model):
    outage: Identifier = Field(description="the line lost")
    line: Identifier = Field(description="the line loaded")
    flow_mw: Real
    limit_mw: Real = Field(description="max(emergency rating, |pre-existing post-outage flow|): the no-harm limit")
    loading_pct: Real


class Redispatch(_Model):
    plant: Identifier
    mw: Real = Field(
        description="change of output for the new load: within [0, spare_mw], or "
        "[-pre-existing output, spare_mw] when the policy allows re-dispatch down"
    )
    spare_mw: Real
    cost_usd_per_mwh: Real


class PreexistingGrid(_Model):
    """The grid before the new load: least-cost DC OPF of the existing load (facts, not faults of the plan)."""

    dispatch_mw: dict[Identifier, Real] = Field(description="plant output, within [0, capacity - spare]")
    cost_usd_per_h: Real
    relaxed: Flag = Field(description="true when base-case limits could not all hold without the new load")
    base_overloads: list[LineFlow] = Field(default_factory=list)
    n1_overloads: list[ContingencyLoading] = Field(
        default_factory=list, description="post-outage loadings above the emergency rating before any new load"
    )


class LoopIteration(_Model):
    iteration: Int
    seconds: Real
    objective: Real | None
    base_constraints_added: Int
    contingency_constraints_added: Int
    worst_violation_mw: Real


class GridReport(_Model):
    """Everything needed to recompute the flows with any DC power flow."""

    security: Literal["none", "n-0", "n-1"]
    enforced_by_solver: Flag = Field(description="whether the solver held line limits while placing")
    base_mva: Real
    monitored_lines: Int
    injections_mw: dict[Identifier, Real] = Field(
        description="net injection per bus with the new load and re-dispatch, MW"
    )
    new_load_mw: dict[Identifier, Real] = Field(description="data-center facility load per bus, MW")
    redispatch: list[Redispatch]
    preexisting: PreexistingGrid
    lines: list[LineFlow]
    worst_contingencies: list[ContingencyLoading] = Field(description="the highest post-outage loadings, worst first")
    bridges: list[Identifier] = Field(description="lines whose outage islands buses: listed and skipped")
    violations: list[ContingencyLoading] = Field(
        default_factory=list, description="no-harm violations left in the plan (base case: outage '-')"
    )
    n_minus_1: Literal["secure", "insecure", "not_checked"]
    iterations: list[LoopIteration] = Field(default_factory=list)
    constraints_added: Int = 0
    loop_seconds: Real = 0.0


class GoingLive(_Model):
    tenant: Identifier
    sku: Identifier
    site: Identifier
    racks: Int = Field(description="racks going live in this period (installed minus installed the period before)")
    gpus: Int


class SitePeriod(_Model):
    site: Identifier
    it_power_mw: Real = Field(description="IT power of the racks live at the site")
    it_available_mw: Real
    facility_power_mw: Real
    facility_available_mw: Real = Field(description="what the site's feeds carry with N-1, this period")


class PeriodReport(_Model):
    period: PeriodId
    going_live: list[GoingLive]
    installed_racks: dict[RackKey, Int] = Field(description="cumulative live racks per 'tenant/sku/site'")
    gpus_delivered: Int = Field(description="cumulative GPUs delivered by the end of this period")
    gpus_live: Int
    gpus_stranded: Int = Field(description="delivered but not yet live")
    sites: list[SitePeriod]


Digest = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]


class WhatIf(_Model):
    """The what-if overrides a plan was solved under (``placer solve ... --set PATH=VALUE``):
    ``scenario_digest`` is the overridden scenario's, this records where it came from."""

    base_scenario_digest: Digest = Field(description="digest of the scenario before the overrides")
    overrides: list[Annotated[str, Field(max_length=10_000)]] = Field(
        description="PATH=VALUE in the order applied, the value as JSON (placer.overrides)"
    )


class Plan(_Model):
    schema_version: Literal[1] = PLAN_SCHEMA_VERSION
    scenario: Identifier
    scenario_digest: Digest
    what_if: WhatIf | None = Field(None, description="the overrides applied to the base scenario, when any")
    summary: Summary
    assignments: list[Assignment]
    sites: list[SiteLoad]
    substations: list[SubstationLoad]
    cost_breakdown: list[CostTerm] = Field(
        description="annual costs, USD per year: the objective of a single period; for a rollout the final "
        "build-out's run rate (information: the rollout's objective is npv)"
    )
    npv: NpvReport | None = Field(None, description="a rollout's net present value (its objective)")
    investments: list[Investment] | None = Field(
        None, description="the power options built and when (rollouts with options): decisions the verifier checks"
    )
    build_first: list[BuildFirst] | None = Field(
        None,
        description="what to build first: the built options, those the placement needs first, then by NPV saved "
        "(largest first); present when option worth was evaluated",
    )
    grid: GridReport | None = Field(None, description="DC power flow of the plan; present when the topology has lines")
    schedule: list[PeriodReport] | None = Field(
        None, description="the rollout, period by period (multi-period scenarios)"
    )


def plan_json_schema() -> dict:
    return Plan.model_json_schema()
