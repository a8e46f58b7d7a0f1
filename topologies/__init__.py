"""Built-in scenarios, by name.

:data:`BUILTIN` maps a scenario name to a zero-argument builder returning a fresh,
validated :class:`~placer.scenario.Scenario`. Add a scenario by adding a builder here
(and a one-line description to :data:`DESCRIPTIONS`).

>>> from topologies import builtin_scenario
>>> builtin_scenario("korea-2025").name
'korea-2025'
"""

from __future__ import annotations

from collections.abc import Callable

from placer.errors import InputError
from placer.scenario import Scenario
from topologies.korea import build_korea_2025, build_korea_2025_npu, build_korea_2025_rollout

BUILTIN: dict[str, Callable[[], Scenario]] = {
    "korea-2025": build_korea_2025,
    "korea-2025-rollout": build_korea_2025_rollout,
    "korea-2025-npu": build_korea_2025_npu,
}

DESCRIPTIONS: dict[str, str] = {
    "korea-2025": (
        "Korea's 260,000 Blackwell GPUs (Naver 60k, Samsung/SK/Hyundai/government 50k each) "
        "on 14 candidate sites, 345/765 kV grid sketch, 580-630 MW facility band"
    ),
    "korea-2025-rollout": (
        "korea-2025 deployed quarter by quarter 2026Q1-2030Q4: deliveries per tenant and SKU, announced "
        "site ramps (Ulsan, Sejong, Haenam), grid upgrades, build rates; stranded GPU-quarters where power binds"
    ),
    "korea-2025-npu": (
        "korea-2025 plus capacity reserved for a domestic-NPU fleet (FuriosaAI RNGD 20,000, Rebellions ATOM "
        "19,200; SKU figures est.), band widened to 580-650 MW: what the reservation costs the Blackwells"
    ),
}


def builtin_names() -> list[str]:
    """Names of the built-in scenarios, sorted."""
    return sorted(BUILTIN)


def _unknown(name: str) -> InputError:
    return InputError(f"unknown scenario '{name}'; built-in scenarios: {', '.join(builtin_names())}", file=name)


def builtin_scenario(name: str) -> Scenario:
    """A fresh copy of the built-in scenario ``name``; :class:`InputError` if there is none."""
    try:
        builder = BUILTIN[name]
    except (KeyError, TypeError):
        raise _unknown(name) from None
    return builder()


def describe(name: str) -> str:
    """One-line description of the built-in scenario ``name``."""
    if name not in BUILTIN:
        raise _unknown(name)
    return DESCRIPTIONS.get(name) or (BUILTIN[name].__doc__ or name).strip().splitlines()[0]


__all__ = ["BUILTIN", "DESCRIPTIONS", "builtin_names", "builtin_scenario", "describe"]
