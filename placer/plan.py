"""Plan: what a solver emits and the verifier checks, as pydantic v2 models.

A plan is self-describing: it names the scenario it was solved for (by digest), the
solver, its version, parameters and seed, and it carries every derived figure (site and
substation loads, cost terms) so that a reader can check them without re-running the
solver. The verifier (:mod:`placer.verify`) recomputes all of them from the scenario and
the rack counts in ``assignments``.

Money is USD per year in ``cost_breakdown`` and USD (present value) in ``npv``; power is MW.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from placer.plan_layout import LayoutReport
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
    grid: GridReport | None = Field(
        None,
        description="this quarter's DC power flow, against its own network (ratings, feeds) and load (racks live, "
        "less on-site supply): every quarter but the last of a rollout on a grid; the last is the plan's grid",
    )


class Move(_Model):
    """Racks that left a site in a re-plan: the previous plan's count there minus this plan's, when positive."""

    tenant: Identifier
    sku: Identifier
    from_site: Identifier
    racks: Int = Field(ge=1, description="racks below the previous plan's count at this site (moved or removed)")


class ReplanReport(_Model):
    """A re-plan from a previous plan (``placer solve --from``): what it started from, what moved, at what cost.

    Moving a rack away from its current site is a one-off cost. A single-period objective is USD per
    year, so the plan's ``moves`` cost term annualises it with the capital recovery factor of
    ``policy.cost`` (the same as capex): ``racks_moved * move_cost_usd_per_rack * CRF``; the one-off
    total is ``move_cost_usd``, never added to the per-year terms."""

    previous_plan_digest: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")] = Field(
        description="plan_digest() of the previous plan: SHA-256 of its canonical JSON"
    )
    previous_scenario_digest: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
    move_cost_usd_per_rack: Real = Field(ge=0, description="one-off cost of moving one rack away from its site, USD")
    capital_recovery_factor: Real = Field(description="per year; annualises the one-off move cost in the objective")
    frozen_sites: list[Identifier] = Field(
        default_factory=list, description="sites that keep at least the previous plan's racks of every tenant and SKU"
    )
    moves: list[Move] = Field(description="per tenant, SKU and site: racks below the previous plan's count there")
    racks_moved: Int = Field(ge=0, description="sum of moves[*].racks")
    racks_kept: Int = Field(ge=0, description="previous racks still at their site")
    move_cost_usd: Real = Field(description="racks_moved * move_cost_usd_per_rack: one-off USD (not per year)")


class MarginalValue(_Model):
    """One binding limit's marginal value: the LP dual of its row with the plan's binaries fixed."""

    limit: Text = Field(description="the formulation's row name, e.g. site_it_capacity[sejong]")
    family: Identifier
    entities: list[Text]
    sentence: Text = Field(description="the limit in the planner's words")
    sense: Literal["upper", "lower"] = Field(description="upper: at most the limit; lower: at least the limit")
    unit: Literal["MW", "GPUs"] = Field(description="unit of the limit (and of the step)")
    limit_value: Real = Field(description="the limit's value in the model, in unit")
    plan_value: Real = Field(description="the plan's own value of the limited quantity, in unit")
    value_per_unit: Real = Field(
        description="what one more unit of room (an upper limit raised, a lower limit lowered) saves, in "
        "objective_unit per unit: USD per year per MW (single period). Local: the placement's sites and "
        "tenant-site pairs fixed, racks fractional"
    )
    step: Real = Field(description="the step of saving_per_step, in unit (10 MW; 1 % of the GPUs for a share)")
    saving_per_step: Real = Field(description="value_per_unit * step: what a step more room here would save")
    text: Text = Field(description="the line in the planner's words")


class ResolveCheck(_Model):
    """A marginal value against re-solves with the limit moved. The fixed-binary LP re-solved with a small
    probe step (``probe_step``, 1 % of ``step``) checks the dual itself: it agrees within tolerance while
    the LP's basis holds. Re-solved with the whole ``step``, it says what the step really saves with the
    sites fixed (at most the linear prediction: the LP's cost is convex in the limit). The full MILP
    re-solve (when run) may differ either way: it can re-open sites and re-round racks."""

    limit: Text
    step: Real
    predicted_saving: Real = Field(description="saving_per_step: value_per_unit * step, objective_unit")
    lp_saving: Real = Field(description="fixed-binary LP objective before minus after moving the limit by step")
    linear_over_step: Flag = Field(description="lp_saving within 1 % (or 1 USD) of predicted_saving")
    probe_step: Real
    probe_predicted_saving: Real = Field(description="value_per_unit * probe_step")
    probe_lp_saving: Real = Field(description="the LP's saving with the limit moved by probe_step")
    agrees: Flag = Field(description="probe_lp_saving within 1 % (or 1 USD) of probe_predicted_saving: the dual holds")
    milp_saving: Real | None = Field(None, description="full MILP re-solve with the limit moved by step, when run")


class MarginalValues(_Model):
    """Marginal values of the plan's binding limits (the LP duals with the integer decisions fixed)."""

    method: Text = Field(
        description="how they were computed: the plan's use/open binaries (and options) fixed, racks "
        "relaxed to fractional, the LP solved under the same grid rows, duals read per row"
    )
    objective_unit: Literal["usd_per_year", "usd"]
    value_unit: Text = Field(description="unit of value_per_unit, e.g. USD per year per MW")
    lp_objective: Real = Field(description="the fixed-binary LP's optimum, objective_unit (at most the plan's)")
    limits: list[MarginalValue] = Field(description="binding limits, largest saving first")
    checks: list[ResolveCheck] = Field(default_factory=list)
    skipped: list[Text] = Field(default_factory=list, description="rows with a dual not binding in the plan, why")


LimitKind = Literal[
    "it_capacity",
    "liquid_cooling",
    "air_cooling",
    "feed_n1",
    "substation_headroom",
    "grid_line",
    "build_rate",
    "go_live",
    "deliveries",
    "none",
]


class Binding(_Model):
    """One limit that held a site back in a quarter: it left no room for one more rack of any GPUs
    waiting for the site (``placer.critical_path``), and what lifts it."""

    limit: LimitKind = Field(
        description="it_capacity, liquid_cooling, air_cooling (the site's stage or options), feed_n1 (its "
        "feeds after losing one, with feed options and on-site supply), substation_headroom, build_rate, "
        "go_live (the tenant's earliest quarter), deliveries (nothing it takes is delivered and idle), "
        "grid_line (a waiting rack no site limit blocks, and the quarter's grid report has a monitored line "
        "with less than that rack's facility MW left of its limit, base case or no-harm after an outage: the "
        "line could keep the rack out; whether it does is not tested), none (a waiting rack that nothing "
        "blocks, no line within a rack of its limit: the schedule waits)"
    )
    element: Identifier = Field(description="the site, substation (headroom), line (grid_line) or tenant (go_live)")
    outage: Identifier | None = Field(
        None, description="grid_line: the line whose loss loads it to its limit; none in the base case"
    )
    used: Real | None = Field(None, description="what is used in the quarter: MW, or racks gone live (build rate)")
    available: Real | None = Field(None, description="the limit in force in the quarter, in the same unit")
    unit: Literal["MW", "racks", ""] = ""
    lifted_in: PeriodId | None = Field(
        None,
        description="the first later quarter the limit rises (capacities), the tenant's earliest (go_live), "
        "the next delivery of GPUs the site takes (deliveries); none when nothing lifts it",
    )
    lifted_to: Real | None = Field(None, description="the capacity from lifted_in on, MW")
    lifted_by: list[Text] = Field(
        default_factory=list,
        description="what takes effect in lifted_in: rollout.site_stages[i], rollout.upgrades[i], option ID "
        "(earliest Q), rollout.go_live[i], rollout.deliveries[i]",
    )


class HeldBack(_Model):
    """A quarter in which a site is not yet at its final rack count, and why."""

    period: PeriodId
    racks_live: Int
    racks_to_come: Int = Field(description="final racks minus racks live")
    gpus_waiting: Int = Field(
        description="GPUs delivered, not live, that the site still takes (per tenant and SKU, at most its racks to come)"
    )
    binding: list[Binding] = Field(
        description="every limit that binds; the first is the critical one: the one lifted latest"
    )


class PathStep(_Model):
    """Consecutive quarters held back by the same critical limit (and lift)."""

    limit: LimitKind
    element: Identifier
    outage: Identifier | None = Field(None, description="grid_line: the line lost (none: the base case)")
    first_period: PeriodId
    last_period: PeriodId
    available: Real | None = Field(None, description="the limit in force in first_period")
    unit: Literal["MW", "racks", ""] = ""
    lifted_in: PeriodId | None = None
    lifted_to: Real | None = None
    lifted_by: list[Text] = Field(default_factory=list)
    text: Text


class SiteCriticalPath(_Model):
    """Per site, the critical path to energisation: when its first and last racks go live and, for
    every quarter in between (from its first GPUs' delivery), what held it back."""

    site: Identifier
    final_racks: Int
    first_live: PeriodId = Field(description="the first quarter racks are live at the site")
    full: PeriodId = Field(description="the first quarter the site is at its final rack count")
    held_back: list[HeldBack]
    path: list[PathStep] = Field(description="the held-back quarters chained by their critical limit")
    text: Text = Field(description="the path in the planner's words")


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
    critical_path: list[SiteCriticalPath] | None = Field(
        None, description="per site used, the critical path to energisation (rollouts), in scenario site order"
    )
    layout: LayoutReport | None = Field(
        None, description="the rack-level layout inside each site (placer layout / solve --layout)"
    )
    replan: ReplanReport | None = Field(
        None, description="a re-plan from a previous plan (solve --from): the moves and what they cost"
    )
    marginal_values: MarginalValues | None = Field(
        None, description="what more room at each binding limit is worth (LP duals with the binaries fixed)"
    )


def plan_digest(plan: Plan) -> str:
    """SHA-256 of the plan's canonical JSON (sorted keys, no spaces): names a previous plan in a re-plan.
    O(size of the plan)."""
    payload = json.dumps(plan.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def plan_json_schema() -> dict:
    return Plan.model_json_schema()
