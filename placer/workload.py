"""A workload for the cluster scheduler, as data: jobs, tenants' quotas, site power allowances, GPU power modes.

A workload file (YAML or JSON, :func:`load_workload`) is what ``placer schedule PLAN JOBS`` plays
over the fleet of a laid-out plan (:mod:`placer.fleet`):

* **jobs** -- each with its tenant, GPU count, SKU (or any of the tenant's), arrival time,
  duration at full speed (and the user's estimate, which is all a backfilling scheduler may
  use), priority, gang rule, allowed sites, and whether it may be paused (checkpointed) at
  what cost. The gang rules:

  - ``domain``: every GPU in one NVLink domain (an NVL72 rack; an 8-GPU HGX node);
  - ``block``: whole scalable units (SUs) inside one network block: the job holds every GPU of
    ``ceil(gpus / su_gpus)`` SUs, all in one block, exclusively;
  - ``site``: any domains, all at one site;
  - ``any``: any domains anywhere (its tenant's racks; any rack when ``sharing`` is pooled).

* **tenants** -- a hard quota (GPUs held at any instant; default: the GPUs it owns in the
  fleet) and a fair-share weight;
* **power** -- each site's allowance at the meter (facility MW) over time: the base is the
  plan's facility MW at the site at full load unless given, then step changes
  (``allowance``: a time series) and curtailment events (a share of the base or an MW figure
  for a window). Events are known in advance (a grid operator's notice), so a scheduler may
  look ahead; the baselines do not;
* **power modes** per SKU -- the power caps a GPU can run at and its speed there, and its idle
  draw. The built-in curve (:data:`DEFAULT_POWER_MODES`) is an estimate (``est.``): the
  shape published for power-capped DNN training (throughput falls far more slowly than
  power near the top of the range and steeply near the bottom) with figures chosen by us.

Every time is in seconds from the workload's start (``t = 0``); every number is strict (no
string
coerced to a number) and bounded at both ends, so a bad file is refused with its path.

Complexity: validation is O(jobs + events); :meth:`Workload.digest` is O(size of the file).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

from placer.scenario import Identifier, Text

Seconds = Annotated[float, Strict(), Field(ge=0, le=1e9, allow_inf_nan=False)]
PositiveSeconds = Annotated[float, Strict(), Field(gt=0, le=1e9, allow_inf_nan=False)]
Share = Annotated[float, Strict(), Field(ge=0, le=1, allow_inf_nan=False)]
PowerMw = Annotated[float, Strict(), Field(ge=0, le=1e6, allow_inf_nan=False)]
Gpus = Annotated[int, Strict(), Field(gt=0, le=100_000_000)]

GangRule = Literal["domain", "block", "site", "any"]
Sharing = Literal["owned", "pooled"]

#: The GPU-count granularity of an NVLink domain per known SKU, where it is not the whole rack.
#: An HGX B200/B300 rack holds 4 nodes of 8 GPUs and each node is its own NVLink domain.
DEFAULT_DOMAIN_GPUS: dict[str, int] = {"hgx": 8, "hgx-b200": 8, "hgx-b300": 8, "b200": 8, "dgx-b200": 8}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PowerMode(_Model):
    """One power cap: the GPU draws ``cap`` x its full power and runs at ``speed`` x full speed."""

    cap: Annotated[float, Strict(), Field(gt=0, le=1, allow_inf_nan=False)]
    speed: Annotated[float, Strict(), Field(gt=0, le=1, allow_inf_nan=False)]


#: est.: training throughput against power cap, the shape of published power-capping
#: measurements of DNN training on data-centre GPUs (little loss down to ~80 % of TDP, then
#: steeper); the figures are ours. The idle draw is est. 20 % of full power.
DEFAULT_POWER_MODES: tuple[PowerMode, ...] = (
    PowerMode(cap=1.0, speed=1.0),
    PowerMode(cap=0.9, speed=0.98),
    PowerMode(cap=0.8, speed=0.94),
    PowerMode(cap=0.7, speed=0.87),
    PowerMode(cap=0.6, speed=0.78),
    PowerMode(cap=0.5, speed=0.67),
)
DEFAULT_IDLE_SHARE = 0.2


class SkuPower(_Model):
    """A SKU's power figures for scheduling: its power modes, idle draw and NVLink domain size."""

    sku: Identifier
    modes: list[PowerMode] = Field(
        default_factory=lambda: list(DEFAULT_POWER_MODES),
        min_length=1,
        max_length=64,
        description="power caps it can run at; must include cap 1.0 at speed 1.0; speed rises with cap",
    )
    idle_share: Share = Field(DEFAULT_IDLE_SHARE, description="an idle GPU's draw over its full draw")
    domain_gpus: Gpus | None = Field(
        None, description="GPUs per NVLink domain; default: the whole rack, or DEFAULT_DOMAIN_GPUS for HGX SKUs"
    )
    source: Text = "est."

    @model_validator(mode="after")
    def _curve(self) -> SkuPower:
        caps = [m.cap for m in self.modes]
        if len(set(caps)) != len(caps):
            raise ValueError("two power modes have the same cap")
        if not any(m.cap == 1.0 and m.speed == 1.0 for m in self.modes):
            raise ValueError("the power modes must include cap 1.0 at speed 1.0")
        ordered = sorted(self.modes, key=lambda m: m.cap)
        for lo, hi in zip(ordered, ordered[1:], strict=False):
            if lo.speed > hi.speed:
                raise ValueError(f"speed falls as the cap rises ({lo.cap} -> {hi.cap})")
        return self


class Job(_Model):
    id: Identifier
    tenant: Identifier
    gpus: Gpus
    sku: Identifier | None = Field(None, description="the SKU it must run on; None: any one SKU of its tenant")
    arrival_s: Seconds
    duration_s: PositiveSeconds = Field(description="run time at full speed (the work, in full-speed seconds)")
    estimate_s: PositiveSeconds | None = Field(
        None, description="the user's estimate (wall-clock limit) a scheduler may use; default: duration_s"
    )
    priority: Annotated[int, Strict(), Field(ge=1, le=1000)] = Field(1, description="weight, 1-1000")
    gang: GangRule = "any"
    sites: list[Identifier] | None = Field(
        None, max_length=10_000, description="the sites it may run at (near its users); None: any"
    )
    preemptible: bool = Field(True, description="may be paused (checkpointed) and resumed, here or elsewhere")
    checkpoint_s: Seconds = Field(
        300.0, description="full-speed seconds of work lost and redone each time it is resumed from a checkpoint"
    )
    kind: Literal["training", "inference", "batch"] = "batch"

    @property
    def estimate(self) -> float:
        return self.estimate_s if self.estimate_s is not None else self.duration_s


class TenantPolicy(_Model):
    tenant: Identifier
    quota_gpus: Gpus | None = Field(None, description="most GPUs it may hold at any instant; default: GPUs it owns")
    weight: Annotated[float, Strict(), Field(gt=0, le=1e6, allow_inf_nan=False)] = Field(
        1.0, description="fair-share weight"
    )


class AllowanceStep(_Model):
    """From ``start_s`` on, the site may draw ``mw`` (until the next step)."""

    site: Identifier
    start_s: Seconds
    mw: PowerMw


class Curtailment(_Model):
    """For ``[start_s, end_s)`` the site may draw ``share`` of its base allowance, or ``mw``."""

    site: Identifier
    start_s: Seconds
    end_s: Seconds
    share: Share | None = None
    mw: PowerMw | None = None
    reason: Text = ""

    @model_validator(mode="after")
    def _one(self) -> Curtailment:
        if (self.share is None) == (self.mw is None):
            raise ValueError("give exactly one of share and mw")
        if self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        return self


class PowerPolicy(_Model):
    base_mw: dict[Identifier, PowerMw] = Field(
        default_factory=dict, description="a site's allowance at t=0; default: the plan's facility MW at the site"
    )
    allowance: list[AllowanceStep] = Field(default_factory=list, max_length=1_000_000)
    curtailments: list[Curtailment] = Field(default_factory=list, max_length=1_000_000)


class Workload(_Model):
    name: Text = ""
    source: Text = Field("", description="where the jobs come from: a generator and its seed, or a trace")
    horizon_s: PositiveSeconds | None = Field(
        None, description="the simulation stops here (jobs still running are reported unfinished); default: all done"
    )
    sharing: Sharing = Field("owned", description="owned: a job runs on its tenant's racks; pooled: on any rack")
    jobs: list[Job] = Field(max_length=10_000_000)
    tenants: list[TenantPolicy] = Field(default_factory=list, max_length=10_000)
    power: PowerPolicy = Field(default_factory=PowerPolicy)
    skus: list[SkuPower] = Field(default_factory=list, max_length=10_000)

    @model_validator(mode="after")
    def _unique(self) -> Workload:
        for what, ids in (
            ("jobs", [j.id for j in self.jobs]),
            ("tenants", [t.tenant for t in self.tenants]),
            ("skus", [s.sku for s in self.skus]),
        ):
            if len(set(ids)) != len(ids):
                seen: set[str] = set()
                dup = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
                raise ValueError(f"{what}: '{dup}' appears twice")
        return self

    def digest(self) -> str:
        """SHA-256 of the workload's canonical JSON."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()

    def sku_power(self, sku: str) -> SkuPower:
        """The SKU's power figures: as given, else the defaults."""
        for s in self.skus:
            if s.sku == sku:
                return s
        return SkuPower(sku=sku)


def load_workload(path: str | Path) -> Workload:
    """Read and validate a workload file; bad input raises InputError naming the file and path."""
    from placer.io import parse_model, read_document

    return parse_model(Workload, read_document(path), str(path))


__all__ = [
    "DEFAULT_DOMAIN_GPUS",
    "DEFAULT_IDLE_SHARE",
    "DEFAULT_POWER_MODES",
    "AllowanceStep",
    "Curtailment",
    "GangRule",
    "Job",
    "PowerMode",
    "PowerPolicy",
    "SkuPower",
    "TenantPolicy",
    "Workload",
    "allowance_steps",
    "load_workload",
]


def allowance_steps(workload: Workload, site: str, base_mw: float) -> list[tuple[float, float]]:
    """The site's allowance as a step function: ``[(t, mw), ...]`` sorted by t, from t = 0.

    The definition (shared by scheduler and checker; each evaluates it its own way): at time t
    the allowance is the latest ``power.allowance`` step at or before t (``base_mw`` before the
    first), lowered to the smallest of the curtailments active at t (``start_s <= t < end_s``;
    ``share`` is of ``base_mw``). Complexity: O(k log k) in the site's steps and events."""
    steps = sorted((a.start_s, a.mw) for a in workload.power.allowance if a.site == site)
    events = [
        (c.start_s, c.end_s, c.mw if c.mw is not None else (c.share or 0.0) * base_mw)
        for c in workload.power.curtailments
        if c.site == site
    ]
    times = sorted({0.0} | {t for t, _ in steps} | {e[0] for e in events} | {e[1] for e in events})
    out: list[tuple[float, float]] = []
    for t in times:
        level = base_mw
        for st, mw in steps:
            if st <= t:
                level = mw
        for start, end, mw in events:
            if start <= t < end:
                level = min(level, mw)
        if not out or out[-1][1] != level:
            out.append((t, level))
    return out
