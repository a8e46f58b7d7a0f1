"""The cluster-scheduler contract: what a scheduler sees at an event, what it decides, what it declares.

The discrete-event simulator (:mod:`solvers.cluster_sim`) plays a workload over a fleet. At
every scheduling event it hands the scheduler a :class:`ClusterState` (read-only by
convention) and applies the :class:`Decision` it returns, in this order: pauses, cap changes,
starts. A migration is a pause and a start of the same job in one decision. The simulator
checks each decision (free GPUs, quota, the site allowance at this instant) and raises
:class:`SchedulerBug` on a bad one: a scheduler must never rely on the simulator to fix it.
The independent checker (:mod:`placer.verify_cluster`) re-checks the whole schedule anyway.

Events: job arrivals and completions (coalesced to the next multiple of the simulator's
``interval_s``, as Slurm's scheduling interval does), and allowance changes (handled at their
instant: a drop must be met when it happens).

A scheduler pairs a queue policy (which jobs start, where, at what cap) with a power response
(:class:`PowerResponse`: when a site's allowance drops below its draw, which jobs to cap, pause
or migrate). :data:`SCHEDULERS` (in :mod:`solvers.cluster_schedulers`) maps ``--scheduler``
names to factories.

Complexity: nothing here computes anything.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields

import numpy as np

from placer.fleet import Fleet
from placer.workload import Job


class SchedulerBug(RuntimeError):
    """A scheduler returned a decision the fleet cannot carry (an internal error, not bad input)."""


@dataclass(frozen=True)
class SchedulerCapabilities:
    """What a scheduler does.

    * ``backfill``: starts later jobs ahead of a blocked head when they do not delay it (EASY);
    * ``topology_aware``: honours block gangs (whole SUs in one block) and prefers whole domains;
    * ``power_aware``: chooses caps when starting jobs, beyond "fits at full power or waits";
    * ``optimising``: solves a model (CP-SAT) for its decisions;
    * ``lookahead``: uses the known future allowance (curtailment notices)."""

    backfill: bool
    topology_aware: bool
    power_aware: bool
    optimising: bool
    lookahead: bool

    def claimed(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name)]


@dataclass
class QueuedJob:
    """A job waiting to start (or to resume: ``paused``)."""

    job: Job
    remaining_s: float  # full-speed seconds of work left, incl. the checkpoint redo when paused
    paused: bool = False
    order: int = 0  # arrival order (FIFO key); a paused job keeps its own


@dataclass
class RunningJob:
    job: Job
    allocation: list[tuple[int, int]]  # (domain index, GPUs)
    cap: float
    speed: float
    since_s: float  # start of its current segment
    remaining_s: float  # full-speed seconds of work left at since_s
    site: int  # the site index of its allocation (one site unless its gang is 'any')
    started_s: float = 0.0  # start of its current run: its first start or its latest resume

    def remaining_at(self, now_s: float) -> float:
        return max(0.0, self.remaining_s - (now_s - self.since_s) * self.speed)

    def finish_at(self) -> float:
        return self.since_s + self.remaining_s / self.speed


@dataclass
class SkuPowerTable:
    """A SKU's power modes as arrays, sorted by cap ascending."""

    caps: np.ndarray
    speeds: np.ndarray
    idle_share: float


@dataclass
class ClusterState:
    """What a scheduler sees at an event.

    ``free[d]`` are the free GPUs of domain d; ``held_by_tenant`` the GPUs each tenant holds;
    ``draw_mw[s]`` each site's facility draw now and ``allowance_mw[s]`` its allowance now;
    ``allowance[s]`` the site's whole allowance step function ``[(t, mw), ...]`` (for look-ahead);
    ``power[k]`` the power table of fleet SKU k."""

    now_s: float
    fleet: Fleet
    free: np.ndarray
    queue: list[QueuedJob]
    running: dict[str, RunningJob]
    held_by_tenant: dict[str, int]
    quota_gpus: dict[str, int]
    weight: dict[str, float]
    draw_mw: np.ndarray
    allowance_mw: np.ndarray
    allowance: list[list[tuple[float, float]]]
    power: list[SkuPowerTable]
    sharing: str = "owned"


@dataclass
class Start:
    job_id: str
    allocation: list[tuple[int, int]]
    cap: float = 1.0


@dataclass
class Decision:
    pauses: list[str] = field(default_factory=list)
    caps: dict[str, float] = field(default_factory=dict)
    starts: list[Start] = field(default_factory=list)
    rejects: dict[str, str] = field(default_factory=dict)  # job id -> why it can never be placed


class PowerResponse(ABC):
    """Meets a site whose draw exceeds its allowance: returns the pauses and caps that fix it."""

    name: str

    @abstractmethod
    def respond(self, state: ClusterState, sites: list[int]) -> Decision: ...


class ClusterScheduler(ABC):
    name: str
    capabilities: SchedulerCapabilities
    response: PowerResponse

    @abstractmethod
    def decide(self, state: ClusterState) -> Decision:
        """Which queued jobs start now, where and at what cap (and any pauses, caps, rejects)."""


__all__ = [
    "ClusterScheduler",
    "ClusterState",
    "Decision",
    "PowerResponse",
    "QueuedJob",
    "RunningJob",
    "SchedulerBug",
    "SchedulerCapabilities",
    "SkuPowerTable",
    "Start",
]
