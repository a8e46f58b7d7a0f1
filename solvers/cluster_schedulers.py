"""The scheduler registry: ``--scheduler NAME`` -> a factory, and the power responses by name.

:data:`SCHEDULERS` maps a name to a factory taking keyword options (``power_response``,
``seed``, ``workers``, ``time_limit_s``, and scheduler-specific ones such as
``backfill_depth``); :data:`RESPONSES` maps a power-response name to its factory. The
optimising scheduler and response register themselves here (one line each) from their own
modules; :func:`make_response` accepts a name or a ready :class:`PowerResponse`.

Complexity: look-ups only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from solvers.cluster_bestfit import bestfit_factory
from solvers.cluster_cpsat import cpsat_factory
from solvers.cluster_engine import ClusterScheduler, PowerResponse
from solvers.cluster_fifo import fifo_factory
from solvers.cluster_power import ProportionalResponse
from solvers.cluster_power_opt import optimised_factory

#: power-response name -> factory (keyword options: seed, workers, time_limit_s, migrations)
RESPONSES: dict[str, Callable[..., PowerResponse]] = {
    "proportional": lambda **_: ProportionalResponse(),
    "optimised": optimised_factory,
}


def make_response(response: str | PowerResponse, **options: Any) -> PowerResponse:
    """A power response by name (one of :data:`RESPONSES`) or as given."""
    if isinstance(response, PowerResponse):
        return response
    factory = RESPONSES.get(response)
    if factory is None:
        raise ValueError(f"unknown power response '{response}' (known: {', '.join(sorted(RESPONSES))})")
    return factory(**options)


#: scheduler name -> factory(**options) -> ClusterScheduler
SCHEDULERS: dict[str, Callable[..., ClusterScheduler]] = {
    "fifo": fifo_factory("fifo", backfill=False, blocks=False),
    "fifo-blocks": fifo_factory("fifo-blocks", backfill=False, blocks=True),
    "easy": fifo_factory("easy", backfill=True, blocks=False),
    "easy-blocks": fifo_factory("easy-blocks", backfill=True, blocks=True),
    "bestfit": bestfit_factory,
    "cpsat": cpsat_factory,
}

__all__ = ["RESPONSES", "SCHEDULERS", "make_response"]
