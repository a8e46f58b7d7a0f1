"""The default hardware catalog: NVIDIA Blackwell rack-scale systems.

The catalog is vendor-neutral data, not code: a :class:`~placer.scenario.Sku` is just
GPUs per rack, IT kW per rack, the liquid share of its heat and a scalable-unit size.
Nothing in placer assumes NVIDIA. A domestic accelerator (FuriosaAI RNGD, Rebellions
ATOM/REBEL) or any other vendor's rack is one more ``Sku`` in a scenario's ``catalog``
list, with its own figures and ``source``.

Figures (each SKU's ``source`` says where it comes from; ``est.`` marks estimates):

* GB200 NVL72 -- 72 GPUs per rack (one NVLink domain). NVIDIA's DGX SuperPOD GB200
  reference architecture gives 1.2 MW per 8-rack scalable unit including networking,
  i.e. 150 kW per rack all-in (the rack alone is ~120 kW). Hybrid cooling: GPUs, CPUs
  and NVSwitch trays on liquid, the rest (PSUs, NICs, switches) on air. NVIDIA does not
  publish the liquid share of heat; 0.85 is an estimate (80--90 % is the usual quote).
* GB300 NVL72 -- 72 GPUs per rack, 132--140 kW per rack (est.); 140 kW taken to cover the
  rack's networking share. Liquid share 0.85 (est.). Transients reach ~1.4x steady state
  (est.); placement uses steady-state peak power.
* HGX/DGX B200 -- 8 GPUs and 14.3 kW max per 10U node (NVIDIA DGX B200 user guide); four
  nodes per rack = 32 GPUs, 57.2 kW, air-cooled. SuperPOD SU = 32 nodes = 8 racks.
* HGX/DGX B300 -- 8 GPUs per node, ~56 kW per 4-node rack = 32 GPUs (NVIDIA DGX
  SuperPOD B300 reference architecture); air or liquid, modelled as half liquid (est.).
  SuperPOD SU = 72 nodes = 18 racks.

Transient factors (``transient_factor``: the rack's short peak over its steady-state IT
power, carried by the power trains in the rack-level layout unless energy storage smooths it;
none is published as one number, every figure is est.): GB300 NVL72 1.4 (brief: ~1.4x);
GB200 NVL72 1.3 (est.: synchronous training steps swing a rack between idle and peak; NVIDIA
added power smoothing with in-rack energy storage only with GB300, so GB200 is taken a little
below it); HGX/DGX B300 1.3 and B200 1.2 (est.: the same GPUs in air- or liquid-cooled nodes
whose PSUs buffer more per GPU).

Prices (``price_usd_per_gpu``, with the GPU's share of rack, network and storage) are not
public: a Blackwell GPU is commonly put at USD 30,000-40,000 and a GB200 NVL72 rack at
~USD 3 M (brief, est.). With a 5-year life (est.) they give a rollout the quarterly capital
charge of a delivered GPU that is not yet live.
"""

from __future__ import annotations

from placer.scenario import Sku

DEFAULT_CATALOG: list[Sku] = [
    Sku(
        id="gb200-nvl72",
        name="NVIDIA GB200 NVL72",
        vendor="NVIDIA",
        gpus_per_rack=72,
        it_kw_per_rack=150.0,
        liquid_share=0.85,
        scalable_unit_racks=8,
        price_usd_per_gpu=42_000.0,
        life_years=5.0,
        transient_factor=1.3,
        source=(
            "NVIDIA DGX SuperPOD GB200 reference architecture: 8-rack SU = 576 GPUs, 1.2 MW incl. network "
            "(150 kW/rack; rack alone ~120 kW); liquid_share 0.85 est. (not confirmed by NVIDIA); "
            "price_usd_per_gpu 42,000 est. (brief: NVL72 rack ~USD 3 M / 72 GPUs); life 5 years est.; transient_factor 1.3 est."
        ),
    ),
    Sku(
        id="gb300-nvl72",
        name="NVIDIA GB300 NVL72",
        vendor="NVIDIA",
        gpus_per_rack=72,
        it_kw_per_rack=140.0,
        liquid_share=0.85,
        scalable_unit_racks=8,
        price_usd_per_gpu=47_000.0,
        life_years=5.0,
        transient_factor=1.4,
        source=(
            "NVIDIA GB300 NVL72 product page: 72 GPUs/rack; 140 kW/rack est. (132-140 kW); liquid_share 0.85 est.; "
            "price_usd_per_gpu 47,000 est. (Blackwell Ultra premium over GB200); life 5 years est.; transient_factor 1.4 est. (brief: ~1.4x)"
        ),
    ),
    Sku(
        id="hgx-b200",
        name="NVIDIA HGX/DGX B200 (4 nodes per rack)",
        vendor="NVIDIA",
        gpus_per_rack=32,
        it_kw_per_rack=57.2,
        liquid_share=0.0,
        scalable_unit_racks=8,
        price_usd_per_gpu=35_000.0,
        life_years=5.0,
        transient_factor=1.2,
        source=(
            "NVIDIA DGX B200 user guide: 8 GPUs, 14.3 kW max per 10U node, air-cooled; 4 nodes/rack est.; "
            "DGX SuperPOD B200 SU = 32 nodes = 256 GPUs; price_usd_per_gpu 35,000 est. (brief: USD 30,000-40,000 per "
            "Blackwell GPU); life 5 years est.; transient_factor 1.2 est."
        ),
    ),
    Sku(
        id="hgx-b300",
        name="NVIDIA HGX/DGX B300 (4 nodes per rack)",
        vendor="NVIDIA",
        gpus_per_rack=32,
        it_kw_per_rack=56.0,
        liquid_share=0.5,
        scalable_unit_racks=18,
        price_usd_per_gpu=40_000.0,
        life_years=5.0,
        transient_factor=1.3,
        source=(
            "NVIDIA DGX SuperPOD B300 reference architecture: ~56 kW per 4-node rack, SU = 72 nodes = 576 GPUs; "
            "air or liquid, liquid_share 0.5 est.; price_usd_per_gpu 40,000 est. (brief's range, "
            "Blackwell Ultra premium); life 5 years est.; transient_factor 1.3 est."
        ),
    ),
]


def default_catalog() -> list[Sku]:
    """A fresh copy of :data:`DEFAULT_CATALOG` (safe to edit)."""
    return [sku.model_copy(deep=True) for sku in DEFAULT_CATALOG]


__all__ = ["DEFAULT_CATALOG", "default_catalog"]
