"""A cluster schedule (``placer schedule``'s output), as pydantic v2 models.

The decision is, per job, its **segments**: intervals ``[start_s, end_s)`` over which it holds
a fixed allocation (GPUs on fleet domains, by index into :func:`placer.fleet.fleet_from_plan`'s
order) at a fixed power cap and speed. A job's segments are consecutive runs; between two of
them it may be paused (a gap), and a segment is ``resumed`` when it starts from a checkpoint (after
a pause, or on a new allocation: a migration), which costs the job's ``checkpoint_s`` of work
again. A segment that is not resumed continues the previous one on the same allocation (only
its cap changed) and must start where that one ended.

Work: a job is complete when the sum over its segments of ``(end_s - start_s) x speed`` equals
its ``duration_s`` plus ``checkpoint_s`` per resumed segment.

Everything else (``metrics``, per-tenant shares, site peaks, per-event decision times) is a
reported figure that :mod:`placer.verify_cluster` recomputes from the segments, the workload
and the fleet -- except the decision times, which only the scheduler can measure.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from placer.scenario import Identifier, Text

Int = Annotated[int, Strict()]
Real = Annotated[float, Strict()]

JobState = Literal["completed", "unfinished", "rejected"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Segment(_Model):
    start_s: Real
    end_s: Real
    cap: Real = Field(description="power cap: the GPUs draw cap x full power")
    speed: Real = Field(description="relative speed at that cap (the SKU's power mode)")
    resumed: bool = Field(False, description="starts from a checkpoint: checkpoint_s of work is redone")
    allocation: list[tuple[Int, Int]] = Field(description="(domain index, GPUs held there)")


class JobRecord(_Model):
    id: Identifier
    state: JobState
    reason: Text = Field("", description="why rejected (can never be placed) or unfinished")
    segments: list[Segment] = Field(default_factory=list)
    first_start_s: Real | None = None
    end_s: Real | None = Field(None, description="completion time; None unless completed")


class TenantShare(_Model):
    tenant: Identifier
    quota_gpus: Int
    weight: Real
    mean_gpus_held: Real = Field(description="time-average GPUs held over the makespan")
    peak_gpus_held: Int
    share_of_quota: Real = Field(description="mean_gpus_held / quota_gpus")
    gpu_hours: Real = Field(description="GPU-hours held")


class SitePower(_Model):
    site: Identifier
    base_mw: Real
    peak_mw: Real = Field(description="highest facility draw over the schedule")
    least_headroom_mw: Real = Field(description="smallest allowance - draw over the schedule (>= 0 when held)")
    energy_mwh: Real


class Metrics(_Model):
    jobs: Int
    completed: Int
    unfinished: Int
    rejected: Int
    mean_jct_s: Real = Field(description="mean job completion time (end - arrival) over completed jobs")
    p99_jct_s: Real
    mean_queue_s: Real = Field(description="mean queueing delay (first start - arrival) over started jobs")
    p99_queue_s: Real
    makespan_s: Real = Field(description="last end minus first arrival")
    utilisation: Real = Field(description="GPU-seconds held by jobs over fleet GPUs x makespan")
    fragmentation: Real = Field(
        description="time-average share of the fleet's GPUs idle inside partly used domains (a domain with some "
        "GPUs held and some free)"
    )
    gpu_hours_lost_to_power: Real = Field(
        description="GPU-hours of work lost to power: capped segments' GPUs x (1 - speed) x time, paused jobs' GPUs x "
        "the pause, and every resume's GPUs x checkpoint_s"
    )
    gpu_hours_capped: Real = Field(description="the capping part of gpu_hours_lost_to_power")
    gpu_hours_paused: Real = Field(description="the pausing part (pauses and checkpoint redo)")
    migrations: Int = Field(description="resumed segments on an allocation other than the job's previous one")
    pauses: Int


class DecisionTimes(_Model):
    events: Int = Field(description="scheduling events (the scheduler was called)")
    mean_s: Real
    p99_s: Real
    max_s: Real
    total_s: Real


class ScheduleSummary(_Model):
    scheduler: Identifier
    scheduler_version: Text = Field(description="placer's version, and OR-Tools' for the optimising scheduler")
    seed: Int
    workers: Int
    parameters: dict[Identifier, Any] = Field(default_factory=dict)
    plan_digest: Text = Field(description="the plan's scenario digest")
    fleet_digest: Text = Field(description="placer.fleet.Fleet.digest of the fleet it ran on")
    workload_digest: Text
    power_response: Identifier = Field(description="how it meets a drop in allowance: proportional or optimised")
    wall_s: Real = Field(description="the whole simulation's wall-clock seconds")
    notes: list[Text] = Field(default_factory=list)


class ClusterSchedule(_Model):
    """Every job's segments on the fleet, with the figures the checker recomputes."""

    schema_version: Literal["placer.cluster-schedule/1"] = "placer.cluster-schedule/1"
    summary: ScheduleSummary
    metrics: Metrics
    decisions: DecisionTimes
    tenants: list[TenantShare]
    sites: list[SitePower]
    jobs: list[JobRecord]


__all__ = [
    "ClusterSchedule",
    "DecisionTimes",
    "JobRecord",
    "JobState",
    "Metrics",
    "ScheduleSummary",
    "Segment",
    "SitePower",
    "TenantShare",
]
