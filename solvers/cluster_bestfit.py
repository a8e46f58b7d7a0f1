"""Topology-aware best fit: EASY backfilling's order with best-fit, block-aware placement.

The queue policy is :class:`solvers.cluster_fifo.QueueScheduler`'s FIFO + EASY backfilling;
what changes is where a job goes (:data:`solvers.cluster_alloc.BEST`):

* a 'block' job goes to the block whose whole free SUs are the tightest fit (the fewest left
  over), largest SUs first, so big free blocks stay whole for big jobs;
* a 'site' / 'any' job goes to the site (and SKU) with the tightest free capacity; its
  whole-domain part takes whole free domains, and its remainder (all of a small job) the
  partly used domain with the fewest free GPUs that holds it, breaking a whole domain only
  when no partly used one does -- least fragmentation (the complaint of single-GPU jobs
  spread over ~33 NVL72 racks);
* a 'domain' job the partly used domain with the fewest free GPUs that holds it.

Complexity: as :mod:`solvers.cluster_fifo` (the choice is a vectorised argmin over candidates).
"""

from __future__ import annotations

from typing import Any

from solvers.cluster_alloc import BEST
from solvers.cluster_fifo import SLURM_BF_MAX_JOB_TEST, QueueScheduler


class BestFitScheduler(QueueScheduler):
    fit = BEST

    def __init__(self, **kw: Any):
        super().__init__("bestfit", backfill=True, blocks=True, **kw)


def bestfit_factory(
    *,
    power_response: Any = "proportional",
    seed: int = 0,
    workers: int = 1,
    time_limit_s: float | None = None,
    backfill_depth: int = SLURM_BF_MAX_JOB_TEST,
    **_: Any,
) -> BestFitScheduler:
    from solvers.cluster_schedulers import make_response

    return BestFitScheduler(
        response=make_response(power_response, migrations=False),
        backfill_depth=backfill_depth,
        seed=seed,
        workers=workers,
        time_limit_s=time_limit_s,
    )


__all__ = ["BestFitScheduler", "bestfit_factory"]
