"""The rack-level layout in a plan (``plan.layout``), as pydantic v2 models.

``racks`` is the rack inventory, one row per rack: site, hall, row, position, the power
trains feeding it (one for an 'n' train, both sides of a 2N pair, every train of an N+1
group), its cooling loop (none for an air-cooled rack), its network block, tenant, SKU and
SU id. The inventory is the decision; everything else here (the per-site tables of hall,
power-path, loop and block loads, each tenant's worst single-fault exposure, water) is a
reported figure that :mod:`placer.verify_layout` recomputes from the inventory.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from placer.scenario import Identifier, Text

Int = Annotated[int, Strict()]
Real = Annotated[float, Strict()]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RackPlacement(_Model):
    site: Identifier
    hall: Identifier
    row: Int = Field(description="row in the hall, from 1")
    position: Int = Field(description="position in the row, from 1")
    trains: list[Identifier] = Field(description="the power trains feeding the rack (both sides of a 2N pair)")
    loop: Identifier | None = Field(description="its cooling loop; none for an air-cooled rack")
    block: Identifier
    tenant: Identifier
    sku: Identifier
    su: Annotated[str, Field(max_length=600)] = Field(description="scalable unit id: tenant/sku/site/su-k")


class HallLoad(_Model):
    hall: Identifier
    racks: Int
    positions: Int
    it_power_mw: Real
    air_heat_mw: Real
    air_cooling_mw: Real


class PathLoad(_Model):
    """A power path: an 'n' train, a 2N pair or an N+1 group."""

    path: Identifier
    redundancy: Literal["n", "n+1", "2n"]
    trains: list[Identifier]
    steady_mw: Real = Field(description="IT power of its racks at steady state")
    peak_mw: Real = Field(description="what it carries: steady state x transient factor (or storage's peak factor)")
    capacity_mw: Real = Field(description="n: its rating; 2n: the smaller side; n+1: sum less the largest")


class LoopLoad(_Model):
    loop: Identifier
    liquid_heat_mw: Real
    liquid_mw: Real
    water_m3_per_day: Real


class BlockLoad(_Model):
    block: Identifier
    sus: Int
    su_slots: Int


class TenantExposure(_Model):
    """A tenant's worst single fault at a site."""

    tenant: Identifier
    gpus: Int = Field(description="the tenant's GPUs at the site")
    worst_fault: Text = Field(description="'loop:<id>', 'block:<id>', 'train:<id>' or '-' (no fault costs any)")
    worst_loss_gpus: Int
    worst_loss_share: Real
    limit_gpus: Int = Field(description="the most one fault may cost (policy.layout.max_fault_share, >= one SU)")
    blocks: Int = Field(description="network blocks its SUs span")
    block_limit: Int = Field(description="the most its island may span")


class SiteLayout(_Model):
    site: Identifier
    interior: Literal["declared", "default"]
    status: Literal["OPTIMAL", "FEASIBLE"]
    objective: Real
    bound: Real
    seconds: Real
    halls: list[HallLoad]
    paths: list[PathLoad]
    loops: list[LoopLoad]
    blocks: list[BlockLoad]
    water_m3_per_day: Real
    water_allowance_m3_per_day: Real | None
    exposure: list[TenantExposure]


class LayoutReport(_Model):
    """Every rack of the plan laid out inside its site."""

    racks: list[RackPlacement]
    sites: list[SiteLayout]
    seconds: Real = Field(description="wall-clock seconds of the whole layout (all sites)")
    notes: list[Text] = Field(default_factory=list)


__all__ = [
    "BlockLoad",
    "HallLoad",
    "LayoutReport",
    "LoopLoad",
    "PathLoad",
    "RackPlacement",
    "SiteLayout",
    "TenantExposure",
]
